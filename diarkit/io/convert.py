"""Batch conversion of capture files into a dataset.

``convert`` reads every input (files, folders, globs; format detected by content), turns
each record into a raw row and its segments, and writes them as atomic part files in the
dataset layout (``diarkit.io.dataset``). It is idempotent: a record whose ``frame_hash``
is already in the dataset (or earlier in the run) is skipped. Bad records go to
``quarantine/<run>.parquet`` with source, line, reason and text; the rest goes on.

Interruption safety: parts appear only by atomic rename, raw before segments. Every run
holds the dataset lock and starts with ``repair`` (``diarkit.io.maintenance``). A rerun
after Ctrl-C or kill therefore completes the dataset without duplicating anything. The
dedupe sets live in ``diarkit.io.dedupe``; compaction and rebuilding in
``diarkit.io.maintenance`` (re-exported here).

Parallelism: input files are converted on threads (JSON parsing, hashing of large frames,
compression and Parquet writing release the GIL); with fewer files than threads, the
threads share the blocks of a file (read in order under a lock, processed in parallel).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from diarkit.schema import QUARANTINE, RAW, UTC_TS

from .dataset import (
    GAPS_DIR,
    QUARANTINE_DIR,
    RAW_DIR,
    SEGMENTS_DIR,
    NotADatasetError,
    dataset_lock,
    is_dataset,
    list_files,
    list_parts,
    part_name,
    part_paths,
    write_quarantine,
    write_table_atomic,
)
from .dedupe import KnownHashes, SeenHashes, digest_keys, hash_keys
from .formats import export_segment_columns, import_rows
from .maintenance import CompactSummary, compact, rebuild, repair
from .raw import (
    RAW_SCHEMA,
    STA_TRANSCRIPT_TOPIC,
    TUTORIAL_EXPORT_TOPIC,
    assemble_raw,
    digests_hex,
    envelope_columns,
    flag_bad_utf8,
    frame_digests,
    parse_frames,
    texts_checked,
)
from .readers import CHUNK_BYTES, Batch, Rejected, UnknownFormatError, detect_format, iter_batches
from .segments import raw_to_segments, segments_from_parsed, segments_from_rows

__all__ = [
    "CompactSummary",
    "ConvertError",
    "ConvertSummary",
    "KnownHashes",
    "SeenHashes",
    "compact",
    "convert",
    "digest_keys",
    "expand_inputs",
    "hash_keys",
    "process_batch",
    "read_to_tables",
    "rebuild",
    "repair",
]

#: Inputs smaller than this in total are converted in-process (no worker start-up cost).
PARALLEL_MIN_BYTES = 8 << 20


class ConvertError(RuntimeError):
    """Raised by ``convert(strict=True)`` when input was skipped or quarantined.

    The conversion itself completed; ``summary`` says what was written.
    """

    def __init__(self, summary: ConvertSummary) -> None:
        super().__init__(
            f"{summary.quarantined} record(s) quarantined, {len(summary.skipped)} input(s) skipped"
        )
        self.summary = summary


@dataclass
class ConvertSummary:
    """What a ``convert`` run did; counts are records (frames or documents) unless named."""

    run_id: str
    dataset: Path
    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    records: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    segments: int = 0
    parts: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    repaired: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def clean(self) -> bool:
        """True when nothing was skipped or quarantined."""
        return not self.skipped and not self.quarantined

    def lines(self) -> list[str]:
        """Human-readable summary lines (the CLI prints them)."""
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        out = [f"skipped {path}: {reason}" for path, reason in self.skipped]
        out.append(
            f"{'interrupted' if self.interrupted else 'converted'} {self.files} file(s), "
            f"{self.records:,} records in {self.seconds:.1f} s ({rate:,.0f}/s, "
            f"{self.bytes_read / max(self.seconds, 1e-9) / 1e6:,.1f} MB/s): "
            f"{self.written:,} new, {self.duplicates:,} duplicate, "
            f"{self.quarantined:,} quarantined; {self.segments:,} segments in "
            f"{self.parts} part(s) -> {self.dataset}"
        )
        if self.quarantined:
            out.append(f"quarantine: {self.dataset / QUARANTINE_DIR / (self.run_id + '.parquet')}")
        return out


# --------------------------------------------------------------------------- per batch


@dataclass
class _FileContext:
    source: str
    session_id: str
    seen: SeenHashes
    next_seq: int = 0


def _import_rejections(raw: pa.Table, source: str) -> list[Rejected]:
    topics = raw.column("topic").to_pylist()
    out: list[Rejected] = []
    for i, topic in enumerate(topics):
        if topic not in (TUTORIAL_EXPORT_TOPIC, STA_TRANSCRIPT_TOPIC):
            continue
        doc = orjson.loads(raw.column("frame")[i].as_py())
        line = raw.column("line")[i].as_py()
        for reason, element in import_rows(doc)[1]:
            out.append(Rejected(source, line, reason, orjson.dumps(element).decode()))
    return out


def process_batch(
    batch: Batch, ctx: _FileContext
) -> tuple[pa.Table, pa.Table, list[Rejected], int]:
    """Raw rows, segments, rejections and duplicate count of one batch (no I/O).

    Records already in ``ctx.seen`` are dropped as duplicates; new ones are added to it.
    """
    rejected = list(batch.rejected)
    if batch.raw is not None:  # a dataset input: rows as stored
        raw = batch.raw.select(RAW.names).cast(RAW_SCHEMA)
        digests = [bytes.fromhex(h) for h in raw.column("frame_hash").to_pylist()]
        keep = _dedupe(digests, ctx.seen)
        dup = int(len(digests) - keep.sum())
        raw = raw.filter(pa.array(keep))
        return raw, raw_to_segments(raw), rejected, dup
    blobs = batch.blobs
    n = len(blobs)
    empty = RAW_SCHEMA.empty_table()
    if n == 0:
        return empty, raw_to_segments(empty), rejected, 0
    if batch.topics is not None:
        return _process_imports(batch, ctx)
    # Dedupe first: a rerun over converted input hashes it and parses nothing.
    digests = frame_digests(blobs)
    new = _dedupe(digests, ctx.seen)
    dup = int(n - new.sum())
    frames = batch.frames
    buffer = batch.buffer
    lines = batch.lines
    seqs = np.arange(batch.start_seq, batch.start_seq + n, dtype=np.int64)
    if dup == n:
        return empty, raw_to_segments(empty), rejected, dup
    if dup:
        idx = np.flatnonzero(new)
        blobs = [blobs[i] for i in idx]
        digests = [digests[i] for i in idx]
        frames = None if frames is None else frames.take(pa.array(idx))
        buffer = None if buffer is None else b"\n".join(blobs)
        lines = None if lines is None else lines[idx]
        seqs = seqs[idx]
    parsed = parse_frames(blobs, buffer) if buffer is not None else None  # bad lines: bisected
    env, ok = envelope_columns(blobs, parsed, documents=True)
    if frames is None:  # the block's one-cast check failed (or never ran): row by row
        frames, bad_utf8 = texts_checked(pa.array(blobs, pa.binary()))
        env = flag_bad_utf8(env, bad_utf8)
    received = env["event_time"]  # the call time the data carries; never the file's mtime
    if batch.received_at is not None:  # a time the input format carries (EventBridge)
        given = batch.received_at if not dup else batch.received_at.take(pa.array(idx))
        received = pc.coalesce(given.cast(UTC_TS), received)
    raw = assemble_raw(
        frames,
        digests_hex(digests),
        env,
        session_id=ctx.session_id,
        start_seq=0,
        received_at=received,
        source=ctx.source,
        lines=lines,
    )
    raw = raw.set_column(raw.schema.get_field_index("seq"), "seq", pa.array(seqs))
    invalid = pc.fill_null(pc.equal(env["kind"], "invalid"), False).to_numpy(zero_copy_only=False)
    if invalid.any():
        idx = np.flatnonzero(invalid)
        errors = env["error"].take(pa.array(idx)).to_pylist()
        texts = frames.take(pa.array(idx)).to_pylist()
        bad_lines = [None] * len(idx) if lines is None else lines[idx].tolist()
        rejected.extend(
            Rejected(ctx.source, ln, err, txt)
            for ln, err, txt in zip(bad_lines, errors, texts, strict=True)
            if txt.strip(" \t\r\n")  # a blank line is no record: skipped, not rejected
        )
        mask = pa.array(~invalid)
        raw = raw.filter(mask)
        if parsed is not None:
            parsed = parsed.filter(mask)
            ok = ok.filter(mask)
    segments = segments_from_parsed(raw, parsed, ok if parsed is not None else None)
    if pc.any(
        pc.is_in(raw.column("topic"), pa.array([TUTORIAL_EXPORT_TOPIC, STA_TRANSCRIPT_TOPIC]))
    ).as_py():
        rejected.extend(_import_rejections(raw, ctx.source))
    return raw, segments, rejected, dup


def _process_imports(
    batch: Batch, ctx: _FileContext
) -> tuple[pa.Table, pa.Table, list[Rejected], int]:
    """``process_batch`` of import rows (``diarkit.io.documents``).

    Every row is parsed once (orjson): an element row whose element is not valid JSON,
    or not a valid segment/phrase, is quarantined with its verbatim text and not stored;
    a document row is stored and its bad parts are quarantined. Runs of well-formed
    export segments become segment columns vectorised (``export_segment_columns``).
    """
    assert batch.topics is not None and batch.element_at is not None
    rejected = list(batch.rejected)
    blobs = batch.blobs
    n = len(blobs)
    digests = frame_digests(blobs)
    new = _dedupe(digests, ctx.seen)
    dup = int(n - new.sum())
    lines = batch.lines if batch.lines is not None else np.zeros(n, np.int64)
    topics, element_at = batch.topics, batch.element_at
    # Parse (validate) every row; export segments are then flattened vectorised, and
    # their parsed objects dropped at once (they would dominate the batch's memory).
    docs: dict[int, Any] = {}
    fast: list[int] = []
    loads = orjson.loads
    for i in np.flatnonzero(new).tolist():
        try:
            doc = loads(blobs[i])
        except orjson.JSONDecodeError:
            rejected.append(_invalid_import(blobs[i], element_at[i], int(lines[i]), ctx.source))
            continue
        if element_at[i] >= 0 and topics[i] == TUTORIAL_EXPORT_TOPIC:
            fast.append(i)
        docs[i] = None if fast and fast[-1] == i else doc
    fast_cols = export_segment_columns([blobs[i][element_at[i] : -1] for i in fast])
    if fast_cols is None:  # a bad segment among them: each goes through the checks
        for i in fast:
            docs[i] = loads(blobs[i])
        fast = []
    fast_set = set(fast)
    keep: list[int] = []
    derived: dict[int, list[dict[str, Any]]] = {}
    cids: list[str | None] = []
    times: dict[int, float | None] = {}  # kept row -> epoch ms the data itself gives
    fast_cid = iter(fast_cols["conversation_id"].to_pylist() if fast_cols else [])
    for i, doc in docs.items():
        if i in fast_set:
            keep.append(i)
            cids.append(next(fast_cid))
            continue
        rows, errors = import_rows(doc)
        line = int(lines[i])
        at = element_at[i]
        if errors and at >= 0:
            text = blobs[i][at:-1].decode("utf-8")
            rejected.extend(Rejected(ctx.source, line, reason, text) for reason, _ in errors)
            continue
        for reason, element in errors:
            rejected.append(Rejected(ctx.source, line, reason, orjson.dumps(element).decode()))
        derived[len(keep)] = rows
        keep.append(i)
        cid = rows[0]["conversation_id"] if rows else doc.get("conversationId")
        cids.append(cid if isinstance(cid, str) else None)
        times[len(keep) - 1] = _data_time_ms(rows, doc)
    m = len(keep)
    columns: dict[int, dict[str, pa.Array]] = {}
    if fast_cols is not None and fast:
        # fast rows keep their order; split them into runs of consecutive raw rows
        pos = np.flatnonzero(np.isin(np.asarray(keep), np.asarray(fast)))
        runs = np.split(np.arange(len(pos)), np.flatnonzero(np.diff(pos) != 1) + 1)
        for run in runs:
            sel = pa.array(run, pa.int64())
            columns[int(pos[run[0]])] = {k: v.take(sel) for k, v in fast_cols.items()}
    kept = [blobs[i] for i in keep]
    env = {
        "topic": pa.array([topics[i] for i in keep], pa.string()),
        "kind": pa.array(["transcription"] * m, pa.string()),
        "conversation_id": pa.array(cids, pa.string()),
        "event_time": pa.nulls(m, UTC_TS),
        "error": pa.nulls(m, pa.string()),
    }
    raw = assemble_raw(
        pa.array(kept, pa.binary()).cast(pa.string()),  # valid UTF-8: orjson parsed it
        digests_hex([digests[i] for i in keep]),
        env,
        session_id=ctx.session_id,
        start_seq=0,
        received_at=_ms_times(times, m),
        source=ctx.source,
        lines=lines[keep],
    )
    seqs = np.asarray(keep, dtype=np.int64) + batch.start_seq
    raw = raw.set_column(raw.schema.get_field_index("seq"), "seq", pa.array(seqs))
    return raw, segments_from_rows(raw, derived, columns), rejected, dup


def _data_time_ms(rows: list[dict[str, Any]], doc: Any) -> float | None:
    """The time an import row's data gives (epoch ms): its earliest phrase start, else
    the document's ``conversationStartTime``; ``None`` when it gives none."""
    starts = [r["start_at_ms"] for r in rows if isinstance(r.get("start_at_ms"), int | float)]
    if starts:
        return float(min(starts))
    if isinstance(doc, dict):
        value = doc.get("conversationStartTime")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _ms_times(times: dict[int, float | None], n: int) -> pa.Array:
    """``received_at`` of ``n`` import rows from epoch ms (null where unknown)."""
    us = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    for k, ms in times.items():
        if ms is not None and abs(ms) < 2**53 / 1000:
            us[k] = round(ms * 1000)
            valid[k] = True
    return pa.array(us, pa.int64(), mask=~valid).cast(UTC_TS)


def _invalid_import(blob: bytes, at: int, line: int, source: str) -> Rejected:
    """The rejection of an import row that is not valid JSON (its element, for a row)."""
    if at < 0:
        try:
            orjson.loads(blob)
        except orjson.JSONDecodeError as exc:
            return Rejected(source, line, f"$: not valid JSON ({exc})", _text(blob))
    element = blob[at:-1]
    path = blob[len(b'{"path":"') : blob.index(b'"', len(b'{"path":"'))].decode()
    try:
        orjson.loads(element)
        reason = f"{path}: not valid JSON (its context)"
    except orjson.JSONDecodeError as exc:
        reason = f"{path}: not valid JSON ({exc})"
    return Rejected(source, line, reason, _text(element))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _dedupe(digests: list[bytes], seen: SeenHashes) -> np.ndarray:
    """Mask of records to keep: not seen before (they are claimed in ``seen``)."""
    return seen.claim(digest_keys(digests))


# --------------------------------------------------------------------------- writing


def _write_parts(
    dataset: Path, raw: pa.Table, segments: pa.Table, session: str, written: int = 0
) -> list[Path]:
    """Write raw + segments, one part per UTC date of ``received_at``; raw first.

    Parts are named ``<session>-<first seq>`` after the input file's convert session;
    rows read from another dataset keep their own session and seq, so their parts are
    numbered by position instead. An existing part is never overwritten.
    """
    if raw.num_rows == 0:
        return []
    dates = _dates(raw.column("received_at"))
    uniq = pc.unique(dates).to_pylist()
    out: list[Path] = []
    for date in uniq:
        if len(uniq) == 1:
            r, s = raw, segments
        else:
            r = raw.filter(pc.equal(dates, date))
            sd = _dates(segments.column("received_at"), fallback=_fallback_date(raw))
            s = segments.filter(pc.equal(sd, date))
        first = r.column("seq")[0].as_py()
        if r.column("session_id")[0].as_py() != session:
            first = written + len(out)  # dataset input: number by position in the input
        raw_path, seg_path = part_paths(dataset, date, part_name(session, first))
        while raw_path.exists() or seg_path.exists():
            first += 1
            raw_path, seg_path = part_paths(dataset, date, part_name(session, first))
        write_table_atomic(r, raw_path)
        write_table_atomic(s, seg_path)
        out.append(raw_path)
    return out


def _fallback_date(raw: pa.Table) -> str:
    """Partition date of rows without a time: the batch's first known date, else today."""
    known = raw.column("received_at").drop_null()
    if len(known):
        return str(known[0].as_py().astimezone(UTC).strftime("%Y-%m-%d"))
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _dates(times: pa.ChunkedArray | pa.Array, fallback: str | None = None) -> pa.Array:
    """``YYYY-MM-DD`` (UTC) partition of each row; rows without a time get ``fallback``
    (the batch's first known date, else the conversion day)."""
    dates = pc.strftime(times, "%Y-%m-%d")
    if dates.null_count:
        if fallback is None:
            known = dates.drop_null()
            fallback = known[0].as_py() if len(known) else datetime.now(UTC).strftime("%Y-%m-%d")
        dates = pc.fill_null(dates, fallback)
    return dates


@dataclass
class _Task:
    index: int
    path: str
    dataset: str
    run_id: str
    chunk_bytes: int
    dedupe_existing: bool
    threads: int = 1
    #: The input as the user named it, when ``path`` is a copy of a stream (a FIFO).
    source: str | None = None


@dataclass
class _Result:
    index: int
    path: str
    records: int = 0
    written: int = 0
    duplicates: int = 0
    segments: int = 0
    bytes_read: int = 0
    parts: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: str | None = None


_PROGRESS: Any = None
_POOL = pa.default_memory_pool()
_SEEN: SeenHashes | None = None
#: Set on Ctrl-C so that converter threads stop at the next block.
_STOP = threading.Event()


def _init_worker(progress: Any, dataset: str, dedupe_existing: bool) -> None:
    global _PROGRESS, _SEEN
    _PROGRESS = progress
    _SEEN = SeenHashes(KnownHashes.of_dataset(Path(dataset)) if dedupe_existing else None)


def _report(records: int, nbytes: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS(records, nbytes)


def _session_for(run_id: str, index: int) -> str:
    return f"{run_id}-{index:04d}"


def _convert_file(task: _Task) -> _Result:
    """Convert one input; ``task.threads`` threads share its blocks (read in order)."""
    path = Path(task.path)
    result = _Result(task.index, task.source or task.path)
    seen = _SEEN if _SEEN is not None else SeenHashes()
    ctx = _FileContext(task.source or task.path, _session_for(task.run_id, task.index), seen)
    dataset = Path(task.dataset)
    read_lock = threading.Lock()
    result_lock = threading.Lock()
    batches = iter_batches(path, task.chunk_bytes)
    parts: list[tuple[int, str]] = []

    def next_batch() -> Batch | None:
        with read_lock:  # blocks are read, numbered and counted in file order
            batch = next(batches, None)
            if batch is not None:
                batch.start_seq = ctx.next_seq
                ctx.next_seq += len(batch.blobs) if batch.raw is None else batch.raw.num_rows
            return batch

    def work() -> None:
        while (batch := next_batch()) is not None:
            if _STOP.is_set():
                raise KeyboardInterrupt
            raw, seg, rejected, dup = process_batch(batch, ctx)
            written = _write_parts(dataset, raw, seg, ctx.session_id, batch.start_seq)
            stored, derived = raw.num_rows, seg.num_rows
            del raw, seg
            _POOL.release_unused()  # mimalloc keeps freed pages otherwise (RSS stays flat)
            n = len(batch.blobs) if batch.raw is None else batch.raw.num_rows
            with result_lock:
                result.records += n
                result.duplicates += dup
                result.rejected.extend(rejected)
                result.bytes_read += batch.nbytes
                result.written += stored
                result.segments += derived
                parts.extend((batch.start_seq, str(p)) for p in written)
            _report(n, batch.nbytes)

    try:
        if task.threads <= 1:
            work()
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(task.threads, thread_name_prefix="diarkit-block") as pool:
                for f in [pool.submit(work) for _ in range(task.threads)]:
                    f.result()
    except UnknownFormatError as exc:
        result.skipped = str(exc).removeprefix(f"{path}: ")
    result.parts = [p for _, p in sorted(parts)]
    return result


# --------------------------------------------------------------------------- inputs


def expand_inputs(
    inputs: Iterable[str | Path], exclude: Path | None = None
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files and dataset directories named by ``inputs`` (files, folders, globs).

    Folders that are not datasets are searched recursively; hidden names are skipped;
    anything under ``exclude`` (the output dataset) is left out.

    Returns:
        The paths in order without repeats, and ``(input, reason)`` for inputs not found.
    """
    out: list[Path] = []
    missing: list[tuple[str, str]] = []
    excl = exclude.resolve() if exclude is not None else None

    def add(p: Path) -> None:
        rp = p.resolve()
        if excl is not None and (rp == excl or excl in rp.parents):
            return
        if rp not in seen:
            seen.add(rp)
            out.append(p)

    seen: set[Path] = set()
    from .dataset import is_dataset

    for item in inputs:
        p = Path(item)
        if p.exists():
            candidates = [p]
        elif any(c in str(item) for c in "*?["):
            candidates = [Path(g) for g in sorted(glob.glob(str(item), recursive=True))]
            if not candidates:
                missing.append((str(item), "no file matches this pattern"))
        else:
            missing.append((str(item), "no such file or directory"))
            candidates = []
        for c in candidates:
            if c.is_dir() and not is_dataset(c):
                found = 0
                for f in sorted(c.rglob("*")):
                    rel = f.relative_to(c).parts
                    if f.is_file() and not any(part.startswith((".", "_")) for part in rel):
                        add(f)
                        found += 1
                if not found:
                    missing.append((str(c), "an empty folder (no files in it)"))
            else:
                add(c)
    return out, missing


# --------------------------------------------------------------------------- convert


def _new_run_id() -> str:
    return f"cv{datetime.now(UTC):%Y%m%dT%H%M%S}{secrets.token_hex(2)}"


def convert(
    inputs: Iterable[str | Path] | str | Path,
    dataset: str | Path,
    *,
    strict: bool = False,
    workers: int | None = None,
    progress: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
    timeline: bool = False,
) -> ConvertSummary:
    """Convert capture files into the dataset at ``dataset`` (created if missing).

    Args:
        inputs: files, folders (searched recursively; a dataset folder is read as one)
            and glob patterns.
        dataset: output dataset directory.
        strict: raise ``ConvertError`` at the end if anything was skipped or quarantined.
        workers: threads converting in parallel (files, or blocks of one file); default:
            the CPU count when the input is larger than ``PARALLEL_MIN_BYTES``.
        progress: show a tqdm progress bar (files, records, records/s) on stderr.
        chunk_bytes: block size for reading JSON lines (bytes).
        timeline: at the end, rewrite the derived ``timeline/timeline.parquet``
            (:func:`diarkit.io.timeline.write_timeline`: the reconciled, attributed final
            utterances that SQL tools read; ``diarkit convert`` does by default). That
            step loads the dataset's segments in memory, unlike the conversion itself.

    Returns:
        A ``ConvertSummary``. Interrupting (Ctrl-C) leaves a valid dataset, re-raises
        ``KeyboardInterrupt``; rerunning completes the conversion.

    Input that can be read only once (a FIFO, ``<(...)``) is copied to a temporary file
    of the dataset first. ``received_at`` of every stored row is the time its data gives
    (a frame's ``eventTime``, a phrase's start), never the file's modification time, and
    null when the data has none.

    Raises:
        ConvertError: with ``strict=True`` when input was skipped or quarantined.
        NoInputError: no input exists or every folder is empty (nothing is created).
        NotADatasetError: ``dataset`` is a file, or a folder of other files.
        DatasetBusyError: another command is changing the dataset.
        OSError: the disk is full or read-only; every part already written is whole.
    """
    t0 = time.perf_counter()
    root = Path(dataset)
    if isinstance(inputs, str | Path):
        inputs = [inputs]
    paths, missing = expand_inputs(inputs, exclude=root)
    if not paths:  # nothing to convert: say why, and create nothing
        raise NoInputError(
            "nothing to convert: "
            + "; ".join(f"{p}: {why}" for p, why in missing or [("inputs", "none given")])
        )
    if root.exists() and not root.is_dir():
        raise NotADatasetError(f"{root}: a file, not a dataset directory")
    if root.is_dir() and not is_dataset(root) and not _only_dataset_names(root):
        raise NotADatasetError(
            f"{root}: a folder with other files that is not a diarkit dataset; "
            "choose a new or empty folder (diarkit only writes where it knows every file)"
        )
    (root / RAW_DIR).mkdir(parents=True, exist_ok=True)  # a dataset from now on
    with dataset_lock(root, "convert"):
        summary = ConvertSummary(_new_run_id(), root)
        summary.skipped.extend(missing)
        streams: list[Path] = []
        try:
            _convert_locked(summary, paths, root, streams, workers, progress, chunk_bytes, t0)
        finally:
            for tmp in streams:
                tmp.unlink(missing_ok=True)
        if timeline:  # derived: rebuilt from raw/ and segments/ whenever they change
            from .timeline import write_timeline

            write_timeline(root)
    if strict and not summary.clean:
        raise ConvertError(summary)
    return summary


def _convert_locked(
    summary: ConvertSummary,
    paths: list[Path],
    root: Path,
    streams: list[Path],
    workers: int | None,
    progress: bool,
    chunk_bytes: int,
    t0: float,
) -> None:
    """The body of ``convert`` while it holds the dataset lock."""
    summary.repaired = repair(root)
    tasks: list[_Task] = []
    dedupe_existing = bool(list_parts(root, RAW_DIR))
    for i, p in enumerate(paths):
        source = None
        try:
            if _is_stream(p):  # a FIFO or <(...): read once, into a file of ours
                source, p = str(p), _copy_stream(p, root, i)
                streams.append(p)
            detect_format(p)
        except (UnknownFormatError, OSError) as exc:
            shown = source or str(p)
            reason = str(exc).removeprefix(f"{p}: ")
            summary.skipped.append((shown, reason.replace(str(p), shown)))
            continue
        tasks.append(
            _Task(i, str(p), str(root), summary.run_id, chunk_bytes, dedupe_existing, source=source)
        )
    sizes = {t.index: _size(Path(t.path)) for t in tasks}
    total = sum(sizes.values())
    nproc = workers if workers is not None else os.cpu_count() or 1
    if workers is None and total < PARALLEL_MIN_BYTES:
        nproc = 1
    nproc = max(1, nproc)
    bar = _bar(progress, len(tasks), total)
    results: list[_Result] = []
    try:
        if nproc == 1:
            results = _run_inline(tasks, root, dedupe_existing, bar)
        else:
            results = _run_threads(tasks, root, dedupe_existing, bar, nproc, sizes)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        if bar is not None:
            bar.close()
        _finish(summary, results, root, t0)


def _only_dataset_names(root: Path) -> bool:
    """True when every entry of ``root`` is a name diarkit gives in a dataset (``raw``,
    ``segments``, ``gaps``, ``quarantine``, or ``_...`` like ``_spool``): a capture killed
    before its first part leaves such a folder."""
    own = {RAW_DIR, SEGMENTS_DIR, GAPS_DIR, QUARANTINE_DIR}
    return all(p.name in own or p.name.startswith("_") for p in root.iterdir())


class NoInputError(FileNotFoundError):
    """``convert`` found nothing to convert (paths missing, empty folders); nothing was
    created."""


def _is_stream(path: Path) -> bool:
    """True for an input that can be read only once (a FIFO, a pipe, a character device)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _copy_stream(path: Path, root: Path, index: int) -> Path:
    """Read a stream input to its end into a temporary file of the dataset (flat memory).

    Format detection then reads the copy's start without consuming the stream, and a
    FIFO is opened exactly once (a second open would wait for a writer forever).
    """
    tmp = root / f".tmp-{os.getpid()}-stream-{index:04d}.json"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return tmp


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in list_parts(p, RAW_DIR))
    return p.stat().st_size


def _bar(progress: bool, nfiles: int, total: int) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"0/{nfiles} files", leave=False)


class _BarState:
    def __init__(self, bar: Any, nfiles: int) -> None:
        self.bar, self.nfiles, self.files, self.records = bar, nfiles, 0, 0
        self.t0 = time.perf_counter()

    def update(self, records: int, nbytes: int) -> None:
        self.records += records
        if self.bar is not None:
            rate = self.records / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_description(f"{self.files}/{self.nfiles} files", refresh=False)
            self.bar.set_postfix_str(
                f"{self.records:,} frames, {rate:,.0f} frames/s", refresh=False
            )
            self.bar.update(nbytes)

    def file_done(self) -> None:
        self.files += 1
        if self.bar is not None:
            self.bar.set_description(f"{self.files}/{self.nfiles} files")


def _run_inline(tasks: list[_Task], root: Path, dedupe: bool, bar: Any) -> list[_Result]:
    state = _BarState(bar, len(tasks))
    _init_worker(state.update, str(root), dedupe)
    results = []
    try:
        for t in tasks:
            results.append(_convert_file(t))
            state.file_done()
    finally:
        _init_worker(None, str(root), False)
    return results


def _run_threads(
    tasks: list[_Task], root: Path, dedupe: bool, bar: Any, nthreads: int, sizes: dict[int, int]
) -> list[_Result]:
    """Convert files on threads of this process: parsing, compression and Parquet writing
    release the GIL, so threads use the cores without a worker start-up cost."""
    from concurrent.futures import ThreadPoolExecutor

    state = _BarState(bar, len(tasks))
    lock = threading.Lock()

    def update(records: int, nbytes: int) -> None:
        with lock:
            state.update(records, nbytes)

    _init_worker(update, str(root), dedupe)
    results: list[_Result] = []
    order = sorted(tasks, key=lambda t: -sizes[t.index])  # big files first: better balance
    files_at_once = max(1, min(nthreads, len(tasks)))
    for t in tasks:  # fewer files than threads: the threads share each file's blocks
        t.threads = max(1, nthreads // files_at_once)
    from . import _frames

    _frames.PARSE_THREADS[0] = False  # the converter threads already fill the cores
    try:
        with ThreadPoolExecutor(files_at_once, thread_name_prefix="diarkit-convert") as pool:
            futures: set[Future[_Result]] = {pool.submit(_convert_file, t) for t in order}
            try:
                while futures:
                    done, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    for f in done:
                        results.append(f.result())
                        with lock:
                            state.file_done()
            except BaseException:
                _STOP.set()
                for f in futures:
                    f.cancel()
                raise
    finally:
        _frames.PARSE_THREADS[0] = True
        _STOP.clear()
        _init_worker(None, str(root), False)
    return results


def _finish(summary: ConvertSummary, results: list[_Result], root: Path, t0: float) -> None:
    results.sort(key=lambda r: r.index)
    rejected: list[Rejected] = []
    for r in results:
        if r.skipped:
            summary.skipped.append((r.path, r.skipped))
            continue
        summary.files += 1
        summary.records += r.records
        summary.written += r.written
        summary.duplicates += r.duplicates
        summary.segments += r.segments
        summary.bytes_read += r.bytes_read
        summary.parts += len(r.parts)
        rejected.extend(r.rejected)
    summary.quarantined = _write_rejected(root, summary.run_id, rejected)
    summary.seconds = time.perf_counter() - t0


def _write_rejected(root: Path, run_id: str, rejected: list[Rejected]) -> int:
    """Write new rejections (not already quarantined by an earlier run); returns count."""
    if not rejected:
        return 0
    known: set[tuple[Any, ...]] = set()
    for f in list_files(root, QUARANTINE_DIR):
        t = pq.read_table(f, columns=["source", "line", "reason", "raw"])
        known.update(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True))
    fresh = [r for r in rejected if (r.source, r.line, r.reason, r.raw) not in known]
    if fresh:
        table = pa.table(
            {
                "run_id": [run_id] * len(fresh),
                "source": [r.source for r in fresh],
                "line": pa.array([r.line for r in fresh], pa.int64()),
                "reason": [r.reason for r in fresh],
                "raw": [r.raw for r in fresh],
            },
            schema=QUARANTINE.arrow_schema(),
        )
        write_quarantine(root, run_id, table)
    return len(rejected)


# --------------------------------------------------------------------------- in memory


def read_to_tables(
    inputs: Iterable[str | Path], *, progress: bool = False
) -> tuple[pa.Table, pa.Table]:
    """Read inputs into raw and segments tables in memory (nothing written; deduped).

    Raises:
        UnknownFormatError: an input is no known format.
    """
    del progress
    paths, missing = expand_inputs(inputs)
    if missing:
        raise FileNotFoundError("; ".join(f"{p}: {why}" for p, why in missing))
    raws, segs = [], []
    seen = SeenHashes()
    run_id = _new_run_id()
    for i, p in enumerate(paths):
        ctx = _FileContext(str(p), _session_for(run_id, i), seen)
        for batch in iter_batches(p):
            batch.start_seq = ctx.next_seq
            ctx.next_seq += len(batch.blobs) if batch.raw is None else batch.raw.num_rows
            raw, seg, _rej, _dup = process_batch(batch, ctx)
            raws.append(raw)
            segs.append(seg)
    raw_all = pa.concat_tables(raws) if raws else RAW_SCHEMA.empty_table()
    seg_all = (
        pa.concat_tables(segs).unify_dictionaries().combine_chunks()
        if segs
        else raw_to_segments(RAW_SCHEMA.empty_table())
    )
    return raw_all, seg_all
