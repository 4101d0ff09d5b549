"""Batch conversion of capture files into a dataset: the public ``convert`` and its run.

``convert`` reads every input (files, folders, globs; format detected by content), turns
each record into a raw row and its segments, and writes them as atomic part files in the
dataset layout (``diarkit.io.dataset``). It is idempotent: a record whose ``frame_hash``
is already in the dataset (or earlier in the run) is skipped. Bad records go to
``quarantine/<run>.parquet`` with source, line, reason and text; the rest goes on.

Interruption safety: parts appear only by atomic rename, raw before segments. Every run
holds the dataset lock and starts with ``repair`` (``diarkit.io.maintenance``). A rerun
after Ctrl-C or kill therefore completes the dataset without duplicating anything.

This module holds what a run decides: which inputs (``expand_inputs``, streams copied
once), how many threads, the locked run, its summary and quarantine, and the in-memory
``read_to_tables``. Its parts live next to it: records of one file to Arrow tables in
``diarkit.io.convert_tables`` (``process_batch``); one file's blocks to parts, and files
run inline or on threads with a progress bar, in ``diarkit.io.convert_files``; the
dedupe sets in ``diarkit.io.dedupe``; compaction and rebuilding in
``diarkit.io.maintenance``. Names other code imports from here are re-exported.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from diarkit.schema import QUARANTINE

from .convert_files import FileResult, FileTask, progress_bar, run_inline, run_threads, session_for
from .convert_tables import FileContext, process_batch
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
    write_quarantine,
)
from .dedupe import KnownHashes, SeenHashes, digest_keys, hash_keys
from .maintenance import CompactSummary, compact, rebuild, repair
from .raw import RAW_SCHEMA
from .readers import CHUNK_BYTES, Rejected, UnknownFormatError, detect_format, iter_batches
from .segments import raw_to_segments

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
    tasks: list[FileTask] = []
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
            FileTask(
                i, str(p), str(root), summary.run_id, chunk_bytes, dedupe_existing, source=source
            )
        )
    sizes = {t.index: _size(Path(t.path)) for t in tasks}
    total = sum(sizes.values())
    nproc = workers if workers is not None else os.cpu_count() or 1
    if workers is None and total < PARALLEL_MIN_BYTES:
        nproc = 1
    nproc = max(1, nproc)
    bar = progress_bar(progress, len(tasks), total)
    results: list[FileResult] = []
    try:
        if nproc == 1:
            results = run_inline(tasks, root, dedupe_existing, bar)
        else:
            results = run_threads(tasks, root, dedupe_existing, bar, nproc, sizes)
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


def _finish(summary: ConvertSummary, results: list[FileResult], root: Path, t0: float) -> None:
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
        ctx = FileContext(str(p), session_for(run_id, i), seen)
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
