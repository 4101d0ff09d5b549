"""The durable raw recorder: spool every frame first, roll spools into Parquet parts.

Order of operations (DESIGN.md sections 2 and 5):

1. ``append_batch`` writes the frames received together verbatim to the current spool in
   one unbuffered ``writev`` (they now survive ``kill -9``) and only then returns;
2. a spool rolls after ``roll_frames`` frames, ``roll_bytes`` bytes or ``roll_seconds``
   seconds: its index trailer is appended (``SpoolWriter.seal``), it is fsynced on the
   sync thread, and a new spool takes the next frames;
3. converter threads turn each rolled spool into a Parquet part (raw + segments, via
   ``diarkit.io.frame_buffer``) in a roller process or in this one, written by
   ``diarkit.io.dataset.write_raw_part`` (temp file, fsync, rename), and delete the spool
   only after the part is durable.

A part is named after its session and first sequence number, so recovering a spool
whose part was already written (a crash between rename and unlink) finds the part and
only deletes the spool: every spooled frame appears exactly once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import RecorderError
from .roller import Roller, RollerDied
from .spool import (
    SUFFIX,
    SpoolContents,
    SpoolFormatError,
    SpoolIndex,
    SpoolWriter,
    is_locked,
    read_spool,
    spool_name,
)

SPOOL_DIR = "_spool"
NOT_STORED_KINDS = frozenset({"heartbeat", "pong"})


@dataclass(frozen=True, slots=True)
class PartResult:
    """What converting one spool did: the part written (None: nothing to store), counts."""

    spool: Path
    part: Path | None
    frames: int
    stored: int
    invalid: int
    reused: bool = False
    problem: str | None = None
    utterances: int = 0
    finals: int = 0


@dataclass(slots=True)
class RecoveryReport:
    """Spools recovered from ``DATASET/_spool``: parts written, frames, problems, skipped."""

    results: list[PartResult] = field(default_factory=list)
    skipped_live: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Temporary files of dead processes removed; ``capture_down`` gap files written.
    removed: list[Path] = field(default_factory=list)
    gaps: list[Path] = field(default_factory=list)
    #: Raw parts whose missing segments twin was derived.
    repaired: list[Path] = field(default_factory=list)

    @property
    def damaged(self) -> list[PartResult]:
        """Spools not fully read (kept beside their part with ``DAMAGED_SUFFIX``)."""
        return [r for r in self.results if r.problem]

    @property
    def frames(self) -> int:
        """Frames read back from the recovered spools."""
        return sum(r.frames for r in self.results)

    def summary(self) -> str:
        """One line: spools, frames, parts and problems."""
        parts = sum(1 for r in self.results if r.part is not None)
        text = (
            f"recovered {len(self.results)} spool(s): {self.frames} frame(s) into {parts} part(s)"
        )
        if self.removed:
            text += f"; {len(self.removed)} dead temporary file(s) removed"
        if self.repaired:
            text += f"; {len(self.repaired)} missing segments part(s) derived"
        if self.gaps:
            text += f"; {len(self.gaps)} capture_down gap(s) recorded"
        if self.skipped_live:
            text += f"; {len(self.skipped_live)} live spool(s) of a running capture left alone"
        problems = [r.problem for r in self.results if r.problem] + self.failed
        if problems:
            text += "; problems: " + " | ".join(problems)
        return text


def _existing_part(dataset: Path, session_id: str, seq: int) -> Path | None:
    from diarkit.io.dataset import find_part  # also finds it inside a compacted part

    return find_part(dataset, session_id, seq)


def spool_to_part(
    dataset: Path,
    spool: Path,
    *,
    keep_heartbeats: bool = False,
    index: SpoolIndex | None = None,
) -> PartResult:
    """Turn one closed spool into a durable raw Parquet part, then delete the spool.

    Idempotent: when the part of this spool (same session and first sequence number)
    already exists, it is kept and only the spool is deleted. ``index`` is the trailer
    its writer sealed it with (``SpoolIndex.load``); without one (recovery) the spool is
    read record by record (``read_spool``).

    Raises:
        SpoolFormatError: the file is not a spool.
        OSError: writing the part failed; the spool is left in place.
    """
    import pyarrow.compute as pc

    from diarkit.io.dataset import ensure_segments, fsync_path, write_raw_part
    from diarkit.io.frame_buffer import tables_from_frame_buffer

    contents = read_spool(spool) if index is None else index.load()
    part: Path | None = None
    stored = invalid = utterances = finals = 0
    reused = False
    if len(contents):
        part = _existing_part(dataset, contents.session_id, contents.start_seq)
        if part is not None and not _holds_spool(part, contents):
            raise SpoolConflictError(
                f"{spool}: part {part.name} already exists with other frames (a reused "
                "session id?); the spool is kept, nothing was overwritten"
            )
        if part is not None:
            reused = True
            ensure_segments(dataset, part)  # a crash between the two renames
        else:
            tables = tables_from_frame_buffer(
                contents.data,
                contents.starts,
                contents.ends,
                session_id=contents.session_id,
                seqs=contents.seqs,
                received_us=contents.received_us,
                source_codes=contents.source_codes,
                source_names=contents.source_names,
                drop_kinds=frozenset() if keep_heartbeats else NOT_STORED_KINDS,
            )
            raw, segments = tables.raw, tables.segments
            stored = raw.num_rows
            invalid = int(pc.sum(pc.equal(raw["kind"], "invalid")).as_py() or 0)
            if stored:
                utterances = segments.num_rows
                finals = int(pc.sum(segments["is_final"]).as_py() or 0)
                part = write_raw_part(
                    dataset,
                    raw,
                    session_id=contents.session_id,
                    seq=contents.start_seq,
                    segments=segments,
                )
    problem = contents.problem
    if contents.complete:
        spool.unlink(missing_ok=True)
    else:  # never delete what was not fully read: keep it, out of recovery's way
        kept = spool.with_name(spool.name + DAMAGED_SUFFIX)
        os.replace(spool, kept)
        problem = f"{problem}; the spool is kept as {kept}"
    fsync_path(spool.parent)
    return PartResult(
        spool,
        part,
        len(contents),
        stored,
        invalid,
        reused,
        problem,
        utterances,
        finals,
    )


class SpoolConflictError(RuntimeError):
    """A spool's part name is taken by a part holding other frames (nothing overwritten)."""


#: Suffix a damaged spool is kept under after its intact records became a part.
DAMAGED_SUFFIX = ".damaged"


def _holds_spool(part: Path, contents: SpoolContents) -> bool:
    """True if ``part`` holds this spool's frames: a row of the spool's session within its
    seq range whose frame hash is that of the spool's frame (heartbeats are not stored,
    so the first stored row may come after the spool's first frame)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from diarkit.io.raw import frame_hash

    table = pq.read_table(part, columns=["session_id", "seq", "frame_hash"])
    seq = table["seq"]
    mask = pc.and_(
        pc.equal(table["session_id"], contents.session_id),
        pc.and_(
            pc.greater_equal(seq, int(contents.seqs[0])),
            pc.less_equal(seq, int(contents.seqs[-1])),
        ),
    )
    rows = table.filter(mask)
    if rows.num_rows == 0:
        return False
    at = int(rows["seq"][0].as_py())
    i = int(np.searchsorted(contents.seqs, at))
    if i >= len(contents.seqs) or int(contents.seqs[i]) != at:
        return False
    frame = contents.data[int(contents.starts[i]) : int(contents.ends[i])]
    return bool(rows["frame_hash"][0].as_py() == frame_hash(frame))


def recover_spools(
    dataset: str | Path, *, keep_heartbeats: bool = False, exclude: frozenset[Path] = frozenset()
) -> RecoveryReport:
    """Recover every leftover spool of ``DATASET/_spool`` into raw parts (``diarkit recover``).

    Spools still locked by a running capture are left alone. A torn last record (OS
    crash mid-write) is reported in the result's ``problem``; every complete record is
    kept. A file that is not a spool is reported and left in place.
    """
    from diarkit.io.dataset import remove_stale_temporaries

    dataset = Path(dataset)
    report = RecoveryReport()
    spool_dir = dataset / SPOOL_DIR
    if not spool_dir.is_dir():
        return report
    report.removed = remove_stale_temporaries(dataset)
    dead: dict[str, int | None] = {}
    for path in sorted(spool_dir.glob(f"*{SUFFIX}")):
        if path in exclude:
            continue
        if is_locked(path):
            report.skipped_live.append(path)
            continue
        try:
            last = _last_received_us(path)
            result = spool_to_part(dataset, path, keep_heartbeats=keep_heartbeats)
        except FileNotFoundError:
            continue  # converted meanwhile by the capture that wrote it
        except (SpoolFormatError, SpoolConflictError) as exc:
            report.failed.append(str(exc))
            continue
        report.results.append(result)
        sid = last[0]
        if sid is not None:
            prev = dead.get(sid)
            dead[sid] = last[1] if prev is None else max(prev, last[1] or prev)
    for sid, last_us in dead.items():
        gap = _write_down_gap(dataset, sid, last_us)
        if gap is not None:
            report.gaps.append(gap)
    return report


def recover_dataset(dataset: str | Path, *, keep_heartbeats: bool = False) -> RecoveryReport:
    """``diarkit recover``: recover leftover spools and repair what a crash left, locked.

    Holds the dataset lock (``diarkit.io.dataset.dataset_lock``) while it recovers every
    spool of a dead capture (``recover_spools``) and derives the segments twin of any raw
    part that lacks it (a crash between a part's two renames).

    Raises:
        NotADatasetError: ``dataset`` has none of ``raw/``, ``segments/``, ``_spool/``.
        DatasetBusyError: another command is changing the dataset.
        OSError: the disk is full or read-only (every spool not converted stays).
    """
    from diarkit.io.dataset import (
        dataset_lock,
        ensure_segments,
        raw_without_segments,
        require_dataset,
    )

    root = require_dataset(Path(dataset), spool_ok=True)
    with dataset_lock(root, "recover"):
        report = recover_spools(root, keep_heartbeats=keep_heartbeats)
        for part in raw_without_segments(root):
            if ensure_segments(root, part):
                report.repaired.append(part)
    return report


def _last_received_us(path: Path) -> tuple[str | None, int | None]:
    """Session id and last receive time (us) of a spool, read before it is converted."""
    try:
        contents = read_spool(path)
    except (SpoolFormatError, OSError):
        return None, None
    last = int(contents.received_us.max()) if len(contents) else None
    return contents.session_id, last


def _write_down_gap(dataset: Path, session_id: str, last_us: int | None) -> Path | None:
    """Record the downtime of a dead capture session in ``gaps/``.

    The gap runs from the session's last spooled frame (else its last stored frame) to
    now (this recovery, which a new capture runs at its start), cause ``capture_down``.
    It goes to ``gaps/<session>.down-<end us>.parquet``, beside the session's own gaps.
    """
    from datetime import UTC, datetime

    import pyarrow as pa

    from diarkit.io.dataset import GAPS_DIR, session_extent, write_table_atomic
    from diarkit.schema import GAPS

    start: datetime | None = None
    if last_us is not None:
        start = datetime.fromtimestamp(last_us / 1e6, UTC)
    else:
        start = session_extent(dataset, session_id)[1]
    if start is None:
        return None
    end = datetime.now(UTC)
    table = pa.Table.from_pylist(
        [
            {
                "session_id": session_id,
                "start_at": start,
                "end_at": end,
                "duration_s": max(0.0, (end - start).total_seconds()),
                "cause": CAPTURE_DOWN,
                "channel_id": None,
                "conversations": None,
            }
        ],
        schema=GAPS.arrow_schema(),
    )
    name = f"{session_id}.down-{int(end.timestamp() * 1e6)}.parquet"
    return write_table_atomic(table, dataset / GAPS_DIR / name)


#: ``cause`` of the gap between a dead capture session's last frame and its recovery.
CAPTURE_DOWN = "capture_down"


def describe_os_error(exc: OSError, doing: str) -> str:
    """A clear message for a file-system failure: disk full, permissions, or the errno text."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        cause = "disk full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        cause = "permission denied" if exc.errno != errno.EROFS else "read-only file system"
    else:
        cause = exc.strerror or str(exc)
    return f"{doing}{where}: {cause}"


class RawRecorder:
    """Thread-safe durable recorder of one capture session's frames into a dataset.

    Args:
        dataset: the dataset directory (created if missing).
        session_id: the capture session id (names spools and parts).
        roll_frames: roll a spool after this many frames.
        roll_bytes: ... or after this many spool bytes.
        roll_seconds: ... or this many seconds after its first frame.
        sync_seconds: fsync the current spool at most this often (never per frame).
        keep_heartbeats: store heartbeat and pong frames too (default: count only).
        recover: recover leftover spools of earlier sessions when opening.
        clock: monotonic clock in seconds.
        roller: ``"process"`` converts spools in a child process (``roller.Roller``), off
            the receiving process's GIL, falling back to this process if the child dies;
            ``"thread"`` converts them in a thread of this process.
        roller_min_frames: in process mode, spools smaller than this are converted in
            this process until the roller has started (a slow capture never pays for
            starting a Python process, ~0.6 s of CPU).
        rollers: roller processes converting spools in parallel (process mode).
    """

    def __init__(
        self,
        dataset: str | Path,
        session_id: str,
        *,
        roll_frames: int = 10_000,
        roll_bytes: int = 32 << 20,
        roll_seconds: float = 5.0,
        sync_seconds: float = 1.0,
        keep_heartbeats: bool = False,
        recover: bool = True,
        clock: Callable[[], float] = time.monotonic,
        roller: str = "process",
        roller_min_frames: int = 2_000,
        rollers: int = 2,
    ) -> None:
        if roller not in ("process", "thread"):
            raise ValueError(f"roller must be 'process' or 'thread', not {roller!r}")
        from diarkit.io.dataset import check_name

        check_name(session_id)  # before anything is written: it names spools and parts
        self.roller = roller
        self.roller_min_frames = roller_min_frames
        #: Converter threads, each with its own roller process (one in thread mode).
        self._rollers: list[Roller | None] = [None] * (
            max(1, rollers) if roller == "process" else 1
        )
        self._roller_failures = 0
        self.dataset = Path(dataset)
        self.session_id = session_id
        self.roll_frames = roll_frames
        self.roll_bytes = roll_bytes
        self.roll_seconds = roll_seconds
        self.sync_seconds = sync_seconds
        self.keep_heartbeats = keep_heartbeats
        self._recover = recover
        self._clock = clock
        self._lock = threading.Lock()
        self._spool: SpoolWriter | None = None
        self._spool_opened = 0.0
        self._last_sync = 0.0
        self._next_seq = 0
        self._queue: queue.Queue[SpoolWriter | None] = queue.Queue()
        #: Rolled spools after their fsync (and its error, if any), for the converter.
        self._synced: queue.Queue[tuple[SpoolWriter, OSError | None] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._sync_thread: threading.Thread | None = None
        self.error: RecorderError | None = None
        self.recovery = RecoveryReport()
        #: Frames appended to spools.
        self.frames = 0
        #: Bytes written to spools.
        self.bytes_spooled = 0
        #: Raw parts written, rows stored in them, and invalid frames among those rows.
        self.parts = 0
        self.rows = 0
        self.invalid = 0
        #: Bytes of the raw parts written.
        self.part_bytes = 0
        #: Utterance versions (segments) and final ones in the parts written.
        self.utterances = 0
        self.finals = 0
        self.on_part: Callable[[PartResult], None] | None = None

    @property
    def spool_dir(self) -> Path:
        """``DATASET/_spool``."""
        return self.dataset / SPOOL_DIR

    @property
    def next_seq(self) -> int:
        """The sequence number the next frame gets."""
        return self._next_seq

    def open(self) -> RecoveryReport:
        """Create the dataset, recover leftover spools and open the first spool.

        Raises:
            RecorderError: the dataset cannot be created or written (permissions, disk).
        """
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            if self._recover:
                self.recovery = recover_spools(self.dataset, keep_heartbeats=self.keep_heartbeats)
            with self._lock:
                self._next_seq = max(self._next_seq, self._first_free_seq())
                self._open_spool()
        except OSError as exc:
            raise RecorderError(
                describe_os_error(exc, f"cannot record into {self.dataset}")
            ) from None
        self._sync_thread = threading.Thread(
            target=self._sync_loop, name=f"diarkit-spool-sync-{self.session_id}", daemon=True
        )
        self._sync_thread.start()
        self._threads = [
            threading.Thread(
                target=self._convert_loop,
                args=(slot,),
                name=f"diarkit-recorder-{self.session_id}-{slot}",
                daemon=True,
            )
            for slot in range(len(self._rollers))
        ]
        for t in self._threads:
            t.start()
        return self.recovery

    def _first_free_seq(self) -> int:
        """The seq after everything this session id already has in the dataset.

        A reused ``session_id`` continues its numbering, so no part name and no
        ``(session_id, seq)`` is taken twice; a spool of the same id held by a running
        capture is refused.

        Raises:
            RecorderError: another running capture records under this session id.
        """
        from diarkit.io.dataset import session_extent

        top, _ = session_extent(self.dataset, self.session_id)
        nxt = 0 if top is None else top + 1
        for path in self.spool_dir.glob(f"{self.session_id}-*"):
            if path.suffix == SUFFIX and is_locked(path):
                raise RecorderError(
                    f"session id {self.session_id!r} is in use by a running capture "
                    f"({path}); choose another --session-id"
                )
            try:
                got = read_spool(path)
            except (SpoolFormatError, OSError):
                continue
            if got.session_id == self.session_id:
                nxt = max(nxt, got.start_seq + 1, int(got.seqs.max(initial=-1)) + 1)
        return nxt

    def _open_spool(self) -> None:
        path = self.spool_dir / spool_name(self.session_id, self._next_seq)
        self._spool = SpoolWriter(path, self.session_id, self._next_seq)
        self._spool_opened = self._last_sync = self._clock()

    def append(self, frame: bytes, source: str = "", received_us: int | None = None) -> int:
        """Spool one frame verbatim (in the OS before this returns); return its seq.

        Args:
            frame: the frame exactly as received.
            source: the channel id it came from.
            received_us: receive time, microseconds since the epoch (UTC); now if None.

        Raises:
            RecorderError: the spool cannot be written, or an earlier roll failed.
        """
        return self.append_batch([frame], source, received_us)

    def append_batch(
        self, frames: Sequence[bytes], source: str = "", received_us: int | None = None
    ) -> int:
        """Spool frames received together in one ``writev``; return the first one's seq.

        A batch never straddles two spools; a spool rolls after the batch that reaches
        ``roll_frames`` or ``roll_bytes``.

        Args:
            frames: the frames exactly as received, in order.
            source: the channel id they came from.
            received_us: receive time, microseconds since the epoch (UTC); now if None.

        Raises:
            RecorderError: as ``append``.
        """
        if received_us is None:
            received_us = time.time_ns() // 1000
        with self._lock:
            if self.error is not None:
                raise self.error
            spool = self._spool
            if spool is None:
                raise RecorderError("recorder is not open")
            seq = self._next_seq
            try:
                self.bytes_spooled += spool.append_batch(seq, received_us, source, frames)
            except OSError as exc:
                done = getattr(exc, "frames_written", 0)  # whole records before the failure
                self.frames += done
                self._next_seq = seq + done
                self._fail(describe_os_error(exc, f"cannot write spool {spool.path}"))
            self._next_seq = seq + len(frames)
            self.frames += len(frames)
            if spool.frames >= self.roll_frames or spool.bytes >= self.roll_bytes:
                self._roll_locked()
            return seq

    def _fail(self, message: str) -> None:
        kept = f"; {self.frames} frame(s) already spooled are kept and recoverable"
        self.error = RecorderError(message + kept)
        raise self.error

    def tick(self) -> None:
        """Roll a spool that is ``roll_seconds`` old, else fsync it once per ``sync_seconds``.

        The fsync runs outside the recorder lock, so receiving never waits for the disk.

        Raises:
            RecorderError: as ``append``.
        """
        with self._lock:
            if self.error is not None:
                raise self.error
            spool = self._spool
            if spool is None or spool.frames == 0:
                return
            now = self._clock()
            if now - self._spool_opened >= self.roll_seconds:
                self._roll_locked()
                return
            if now - self._last_sync < self.sync_seconds:
                return
            self._last_sync = now
        try:
            spool.sync()
        except OSError as exc:
            with self._lock:
                self._fail(describe_os_error(exc, f"cannot fsync spool {spool.path}"))

    def roll(self) -> None:
        """Start a new spool now (if the current one holds frames); convert the old one."""
        with self._lock:
            if self._spool is not None and self._spool.frames:
                self._roll_locked()

    def _roll_locked(self) -> None:
        # Only swap files here; the converter thread fsyncs and closes the old spool, so
        # the receiving thread never waits for the disk.
        spool = self._spool
        assert spool is not None
        try:
            spool.seal()  # the index trailer: conversion needs no walk, memory stays flat
        except OSError as exc:
            self._spool = None
            self._queue.put(spool)  # converted by reading it back, or by recovery
            self._fail(describe_os_error(exc, f"cannot write the index of {spool.path}"))
        try:
            self._open_spool()
        except OSError as exc:
            self._spool = None
            self._queue.put(spool)
            self._fail(describe_os_error(exc, f"cannot open a new spool in {self.spool_dir}"))
        self._queue.put(spool)

    def _sync_loop(self) -> None:
        # fsync each rolled spool (durable against an OS crash too) while the converter
        # is still busy with the previous one; the file stays open, and so its lock.
        while True:
            spool = self._queue.get()
            if spool is None:
                self._synced.put(None)
                return
            error: OSError | None = None
            try:
                spool.sync()
            except OSError as exc:
                error = exc
            self._synced.put((spool, error))

    def _convert_loop(self, slot: int) -> None:
        while True:
            item = self._synced.get()
            if item is None:
                roller = self._rollers[slot]
                if roller is not None:
                    roller.close()
                    self._rollers[slot] = None
                return
            spool, sync_error = item
            try:
                self._convert(spool, sync_error, slot)
            finally:
                with contextlib.suppress(OSError):
                    spool.close()

    def _convert(self, spool: SpoolWriter, sync_error: OSError | None, slot: int) -> None:
        """Convert one rolled spool into a part; failures set ``error``, never raise."""
        path = spool.path
        try:
            # Keep the file open, and so its lock, until converted: no other process's
            # recovery can race us.
            if sync_error is not None:
                raise sync_error
            result = self._convert_spool(spool, slot)
        except OSError as exc:
            with self._lock:
                if self.error is None:
                    msg = describe_os_error(exc, f"cannot write the raw part of {path.name}")
                    self.error = RecorderError(
                        msg + f"; spool {path} is kept for `diarkit recover`"
                    )
            return
        except Exception as exc:  # a bug must not lose the spool: it stays for recovery
            with self._lock:
                if self.error is None:
                    self.error = RecorderError(
                        f"converting {path} failed: {type(exc).__name__}: {exc}; "
                        "the spool is kept for `diarkit recover`"
                    )
            return
        size = 0
        if result.part is not None and not result.reused:
            with contextlib.suppress(OSError):
                size = result.part.stat().st_size
        with self._lock:  # several converter threads
            self.parts += result.part is not None and not result.reused
            self.rows += result.stored
            self.invalid += result.invalid
            self.utterances += result.utterances
            self.finals += result.finals
            self.part_bytes += size
        if self.on_part is not None:
            self.on_part(result)

    def _convert_spool(self, spool: SpoolWriter, slot: int) -> PartResult:
        """``spool_to_part`` in this slot's roller process, or here (thread mode, roller died)."""
        roller = self._rollers[slot]
        use_roller = roller is not None or spool.frames >= self.roller_min_frames
        if self.roller == "process" and use_roller and self._roller_failures < 2:
            try:
                if roller is None:
                    roller = Roller(self.dataset, keep_heartbeats=self.keep_heartbeats)
                    self._rollers[slot] = roller
                result: PartResult = roller.convert(spool.path, spool.sealed)
                return result
            except RollerDied:
                with self._lock:
                    self._roller_failures += 1
                self._rollers[slot] = None  # spool_to_part is idempotent: finish it here
        return spool_to_part(
            self.dataset, spool.path, keep_heartbeats=self.keep_heartbeats, index=spool.sealed
        )

    def close(self) -> None:
        """Roll the last spool, wait until every spool is a durable part, stop the thread.

        Raises:
            RecorderError: a spool could not be converted (it stays for ``diarkit recover``).
        """
        with self._lock:
            spool = self._spool
            if spool is not None:
                if spool.frames:
                    with contextlib.suppress(RecorderError):
                        self._roll_locked()
                    spool = self._spool
                if spool is not None:
                    try:
                        spool.close()
                        spool.path.unlink()
                    except OSError:
                        pass
                self._spool = None
        if self._sync_thread is not None:
            self._queue.put(None)  # the sync thread passes it on and stops
            self._sync_thread.join()
            self._sync_thread = None
            for _ in self._threads[1:]:
                self._synced.put(None)  # one stop per converter thread
        for t in self._threads:
            t.join()
        self._threads = []
        if self.error is not None:
            raise self.error
