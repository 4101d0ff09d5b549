"""Converting input files into dataset parts, one file at a time or several on threads.

``_convert_file`` reads one input's blocks (``diarkit.io.readers``), turns each into
tables (``diarkit.io.convert_tables.process_batch``) and writes them as parts, one per
UTC date of ``received_at``, raw before segments (atomic renames). ``run_inline`` and
``run_threads`` run a list of files in this process or on threads (JSON parsing,
hashing, compression and Parquet writing release the GIL), with a tqdm bar of bytes,
files and records. With fewer files than threads, the threads share the blocks of a
file (read in order under a lock, processed in parallel). ``diarkit.io.convert`` plans
the run and sums the ``FileResult``s.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .convert_tables import FileContext, process_batch
from .dataset import part_name, part_paths, write_table_atomic
from .dedupe import KnownHashes, SeenHashes
from .readers import Batch, Rejected, UnknownFormatError, iter_batches

__all__ = ["FileResult", "FileTask", "progress_bar", "run_inline", "run_threads", "session_for"]


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
class FileTask:
    """One input file of a run: where it is, where it goes, how many threads share it."""

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
class FileResult:
    """What converting one input file gave (counts are records); ``skipped``: why not."""

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


def session_for(run_id: str, index: int) -> str:
    """The ``session_id`` of the rows from input number ``index`` of run ``run_id``."""
    return f"{run_id}-{index:04d}"


def _convert_file(task: FileTask) -> FileResult:
    """Convert one input; ``task.threads`` threads share its blocks (read in order)."""
    path = Path(task.path)
    result = FileResult(task.index, task.source or task.path)
    seen = _SEEN if _SEEN is not None else SeenHashes()
    ctx = FileContext(task.source or task.path, session_for(task.run_id, task.index), seen)
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


# --------------------------------------------------------------------------- running


def progress_bar(progress: bool, nfiles: int, total: int) -> Any:
    """A tqdm bar over ``total`` input bytes of ``nfiles`` files, or ``None`` when off."""
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


def run_inline(tasks: list[FileTask], root: Path, dedupe: bool, bar: Any) -> list[FileResult]:
    """Convert files one after another in this thread (small inputs: no thread start-up).

    ``dedupe``: the dataset already has raw parts, whose hashes are loaded first.
    """
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


def run_threads(
    tasks: list[FileTask], root: Path, dedupe: bool, bar: Any, nthreads: int, sizes: dict[int, int]
) -> list[FileResult]:
    """Convert files on threads of this process: parsing, compression and Parquet writing
    release the GIL, so threads use the cores without a worker start-up cost."""
    from concurrent.futures import ThreadPoolExecutor

    state = _BarState(bar, len(tasks))
    lock = threading.Lock()

    def update(records: int, nbytes: int) -> None:
        with lock:
            state.update(records, nbytes)

    _init_worker(update, str(root), dedupe)
    results: list[FileResult] = []
    order = sorted(tasks, key=lambda t: -sizes[t.index])  # big files first: better balance
    files_at_once = max(1, min(nthreads, len(tasks)))
    for t in tasks:  # fewer files than threads: the threads share each file's blocks
        t.threads = max(1, nthreads // files_at_once)
    from . import _frames

    _frames.PARSE_THREADS[0] = False  # the converter threads already fill the cores
    try:
        with ThreadPoolExecutor(files_at_once, thread_name_prefix="diarkit-convert") as pool:
            futures: set[Future[FileResult]] = {pool.submit(_convert_file, t) for t in order}
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
