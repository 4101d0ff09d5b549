"""The on-disk dataset layout shared by capture and convert, and its atomic writers.

::

    DATASET/
      raw/date=YYYY-MM-DD/<session>-<seq:06d>.parquet       verbatim frames (RAW), the truth
      segments/date=YYYY-MM-DD/<session>-<seq:06d>.parquet  SEGMENTS derived from the raw part
                                                            of the same name (rebuildable)
      gaps/<session>.parquet                                GAPS of one capture session
      quarantine/<run>.parquet                              QUARANTINE of one convert run
      _spool/                                               capture's frames in flight

How conversations map to files: a part holds the frames of one capture session (or one
input file of a convert run) from ``seq`` onwards, in receive order; the ``date``
partition is the UTC date of the part's first ``received_at``. One conversation can
therefore span several parts, sessions and (around midnight) dates; group by
``conversation_id`` after loading, never by file. A raw part and the segments part of the
same name hold the same frames (segments carry ``session_id``/``seq`` back to raw).

Every file is written under a temporary name (``.tmp-<pid>-<name>``), fsynced, renamed
into place and the directory fsynced. Readers list only names that do not start with
``.`` or ``_``, so a dataset being written is always readable.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from diarkit.schema import GAPS, QUARANTINE, RAW

T = TypeVar("T")

RAW_DIR = "raw"
SEGMENTS_DIR = "segments"
GAPS_DIR = "gaps"
QUARANTINE_DIR = "quarantine"
SPOOL_DIR = "_spool"
TMP_PREFIX = ".tmp-"

_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,199}")
#: Columns that are unique per row: dictionary encoding would only cost time.
_NO_DICT = {"frame", "frame_hash", "error", "utterance_id", "text", "words", "raw"}


def check_name(value: str, what: str = "session id") -> str:
    """Return ``value`` if it is safe as a file-name stem, else raise ``ValueError``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not usable in a file name "
            "(letters, digits, '_', '-', '.'; must start with a letter or digit)"
        )
    return value


def part_name(session_id: str, seq: int) -> str:
    """File name of the part of ``session_id`` starting at ``seq``."""
    return f"{check_name(session_id)}-{seq:06d}.parquet"


def is_visible(name: str) -> bool:
    """True for complete files readers should see (not temporary, not hidden)."""
    return not name.startswith((".", "_")) and name.endswith(".parquet")


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's data to disk (a directory's makes renames durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(
    path: Path, *, guard: Callable[[], AbstractContextManager[None]] | None = None
) -> Iterator[Path]:
    """Yield a temporary name beside ``path`` to write; then fsync, rename, fsync the dir.

    Readers ignore the temporary name (``TMP_PREFIX``), so ``path`` appears complete or
    not at all; on an error the temporary file is removed and the error re-raised.
    ``guard``, if given, is entered around the rename alone (``changing``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{os.getpid()}-{path.name}"
    try:
        yield tmp
        fsync_path(tmp)
        with guard() if guard is not None else nullcontext():
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def write_table_atomic(table: pa.Table, path: Path, *, row_group_size: int | None = None) -> Path:
    """Write ``table`` to ``path`` as zstd Parquet: temporary name, fsync, rename, fsync dir."""
    path = Path(path)
    use_dict = [n for n in table.column_names if n not in _NO_DICT]
    with atomic_path(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            use_dictionary=use_dict,
            write_statistics=use_dict,  # min/max of long text only costs time
            row_group_size=row_group_size,
        )
    return path


def partition_date(raw: pa.Table) -> str:
    """``YYYY-MM-DD`` (UTC) of the first ``received_at`` (else ``event_time``, else today)."""
    for col in ("received_at", "event_time"):
        if col in raw.column_names and raw.num_rows:
            arr = raw.column(col)
            valid = arr.drop_null()
            if len(valid):
                value: datetime = valid[0].as_py()
                return value.astimezone(UTC).strftime("%Y-%m-%d")
    return datetime.now(UTC).strftime("%Y-%m-%d")


def part_paths(dataset: Path, date: str, name: str) -> tuple[Path, Path]:
    """The raw and segments paths of part ``name`` in partition ``date``."""
    dataset = Path(dataset)
    return (
        dataset / RAW_DIR / f"date={date}" / name,
        dataset / SEGMENTS_DIR / f"date={date}" / name,
    )


def write_raw_part(
    dataset: Path,
    raw: pa.Table,
    *,
    session_id: str,
    seq: int,
    segments: pa.Table | None = None,
) -> Path:
    """Write a raw part and its derived segments part, each atomically.

    The raw part goes to ``raw/date=<UTC date of the first received_at>/<session>-<seq>``
    and the segments flattened from it (``raw_to_segments``) to the same name under
    ``segments/``. Raw is renamed into place first: a crash in between leaves a raw part
    without segments, which ``diarkit.io.convert.rebuild`` (and every convert run)
    re-derives.

    Args:
        dataset: dataset root directory (created if missing).
        raw: a ``diarkit.schema.RAW`` table.
        session_id: capture session id (file-name safe).
        seq: ``seq`` of the part's first frame.
        segments: already derived segments of ``raw``, or ``None`` to derive them here.

    Returns:
        The path of the raw part.
    """
    from .segments import raw_to_segments

    missing = [n for n in RAW.names if n not in raw.column_names]
    if missing:
        raise ValueError(f"raw table lacks columns {missing}")
    name = part_name(session_id, seq)
    raw_path, seg_path = part_paths(Path(dataset), partition_date(raw), name)
    seg = raw_to_segments(raw) if segments is None else segments
    write_table_atomic(raw, raw_path)
    write_table_atomic(seg, seg_path)
    return raw_path


def segments_twin(dataset: Path, raw_path: Path) -> Path:
    """The segments part holding what raw part ``raw_path`` holds (same date and name)."""
    root = Path(dataset)
    return root / SEGMENTS_DIR / Path(raw_path).relative_to(root / RAW_DIR)


def ensure_segments(dataset: Path, raw_path: Path) -> bool:
    """Derive and write the segments twin of ``raw_path`` if it is missing.

    Repairs a crash between a part's two renames (raw first, then segments).

    Returns:
        True if the twin was missing and has been written.
    """
    from .segments import raw_to_segments

    seg = segments_twin(dataset, raw_path)
    if seg.exists():
        return False
    write_table_atomic(raw_to_segments(pq.read_table(raw_path)), seg)
    return True


def raw_without_segments(dataset: Path) -> list[Path]:
    """Raw parts whose segments twin is missing (a crash between a part's two renames).

    Loaders call this to notice what ``load_segments`` would silently lack; ``diarkit
    recover`` (and every convert, compact and rebuild) derives the missing twins. A part a
    running writer is between its two renames also shows up, for a moment.
    """
    root = Path(dataset)
    return [p for p in list_parts(root, RAW_DIR) if not segments_twin(root, p).exists()]


def _as_table(data: pa.Table | pd.DataFrame, schema: pa.Schema) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    cols = []
    for f in schema:
        if f.name in data.column_names:
            cols.append(data.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(data.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def write_gaps(dataset: Path, session_id: str, gaps: pa.Table | pd.DataFrame) -> Path:
    """Write (replace) the disconnection gaps of one capture session, atomically.

    Args:
        dataset: dataset root.
        session_id: capture session id; the file is ``gaps/<session>.parquet``.
        gaps: a ``diarkit.schema.GAPS`` table (Arrow or pandas), all gaps of the session.
    """
    name = f"{check_name(session_id)}.parquet"
    return write_table_atomic(_as_table(gaps, GAPS.arrow_schema()), Path(dataset) / GAPS_DIR / name)


def write_quarantine(dataset: Path, run_id: str, table: pa.Table | pd.DataFrame) -> Path:
    """Write the rejected input of one convert run to ``quarantine/<run>.parquet``."""
    name = f"{check_name(run_id, 'run id')}.parquet"
    return write_table_atomic(
        _as_table(table, QUARANTINE.arrow_schema()), Path(dataset) / QUARANTINE_DIR / name
    )


def list_parts(dataset: Path, kind: str = RAW_DIR) -> list[Path]:
    """Complete part files of ``kind`` (``raw`` or ``segments``), sorted by date and name."""
    root = Path(dataset) / kind
    if not root.is_dir():
        return []
    out = []
    for part_dir in sorted(root.iterdir()):
        if not part_dir.is_dir() or not part_dir.name.startswith("date="):
            continue
        out.extend(sorted(p for p in part_dir.iterdir() if is_visible(p.name)))
    return out


def list_files(dataset: Path, kind: str) -> list[Path]:
    """Complete files directly under ``dataset/kind`` (gaps, quarantine)."""
    root = Path(dataset) / kind
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and is_visible(p.name))


def is_dataset(path: Path) -> bool:
    """True if ``path`` is a directory laid out as a diarkit dataset."""
    path = Path(path)
    return path.is_dir() and ((path / RAW_DIR).is_dir() or (path / SEGMENTS_DIR).is_dir())


def stale_temporaries(dataset: Path) -> list[Path]:
    """Temporary files left by processes that are no longer running (safe to delete)."""
    out: list[Path] = []
    root = Path(dataset)
    if not root.is_dir():
        return out
    for p in root.rglob(f"{TMP_PREFIX}*"):
        m = re.match(rf"{re.escape(TMP_PREFIX)}(\d+)-", p.name)
        if m and not pid_alive(int(m.group(1))):
            out.append(p)
    return out


#: Folders of whole-table files (``write_table_atomic``): names, timeline, back-fill list.
_TABLE_DIRS = ("dims", "timeline", "backfill")
_OWN_TMP = re.compile(rf"{re.escape(TMP_PREFIX)}(\d+)-[0-9A-Za-z][0-9A-Za-z_.-]*\.(parquet|json)")


def diarkit_temporaries(dataset: Path) -> list[Path]:
    """Temporary files of dead diarkit processes, only where diarkit writes them.

    Only ``.tmp-<pid>-<part or file name>.parquet`` (or a compaction journal's ``.json``)
    directly in the dataset root, in ``gaps/``, ``quarantine/``, ``dims/``, ``timeline/``,
    ``backfill/`` or a ``date=`` folder of ``raw/``/``segments/`` count, and only when no
    process has that pid: a user's file elsewhere, or named otherwise, is never touched.
    """
    root = Path(dataset)
    if not root.is_dir():
        return []
    dirs = [root, root / GAPS_DIR, root / QUARANTINE_DIR, *(root / d for d in _TABLE_DIRS)]
    for kind in (RAW_DIR, SEGMENTS_DIR):
        base = root / kind
        if base.is_dir():
            dirs.extend(d for d in base.iterdir() if d.is_dir() and d.name.startswith("date="))
    out: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in d.iterdir():
            m = _OWN_TMP.fullmatch(p.name)
            if m and p.is_file() and not pid_alive(int(m.group(1))):
                out.append(p)
    return sorted(out)


def remove_stale_temporaries(dataset: Path) -> list[Path]:
    """Delete ``diarkit_temporaries`` (what a killed writer left); returns them."""
    out = diarkit_temporaries(dataset)
    for p in out:
        p.unlink(missing_ok=True)
    return out


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dataset_info(dataset: Path) -> dict[str, Any]:
    """Counts of files per area of the dataset (for summaries and tests)."""
    return {
        "raw_parts": len(list_parts(dataset, RAW_DIR)),
        "segment_parts": len(list_parts(dataset, SEGMENTS_DIR)),
        "gaps": len(list_files(dataset, GAPS_DIR)),
        "quarantine": len(list_files(dataset, QUARANTINE_DIR)),
    }


COMPACT_JOURNAL_GLOB = "_compact-*.json"
#: Parquet key-value metadata of a part written by ``compact``: a JSON list of the names
#: of the parts it replaced (including those replaced by earlier compactions).
MERGED_PARTS_KEY = b"diarkit.merged_parts"
#: Names ``compact`` gives merged parts (``c<UTC time><4 hex>-<k>.parquet``).
MERGED_NAME = re.compile(r"c\d{8}T\d{6}[0-9a-f]{4}-\d{6}\.parquet")


def merged_part_names(path: Path) -> list[str]:
    """Names of the parts a compacted part replaced (``[]`` for any other part)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(MERGED_PARTS_KEY)
    if not raw:
        return []
    names = json.loads(raw)
    return [n for n in names if isinstance(n, str)]


def find_part(dataset: Path, session_id: str, seq: int) -> Path | None:
    """The raw part that holds part ``<session>-<seq>``, even after compaction merged it.

    Capture recovery asks this before writing a leftover spool's part again: the part is
    either still under its own name (any date), or inside a part ``compact`` wrote, whose
    metadata lists the names it replaced (``MERGED_PARTS_KEY``).

    Returns:
        That file, or ``None`` when no complete part holds it.
    """
    root = Path(dataset) / RAW_DIR
    name = part_name(session_id, seq)
    for found in sorted(root.glob(f"date=*/{name}")):
        return found
    for part in list_parts(Path(dataset), RAW_DIR):
        if MERGED_NAME.fullmatch(part.name) and name in merged_part_names(part):
            return part
    return None


def session_extent(dataset: Path, session_id: str) -> tuple[int | None, datetime | None]:
    """The highest ``seq`` and latest ``received_at`` stored for ``session_id``, if any.

    Looks at the parts named after the session and at compacted parts that replaced
    some (``MERGED_PARTS_KEY``). A capture reusing a session id continues after this
    seq, so no ``(session_id, seq)`` is ever stored twice.
    """
    import pyarrow.compute as pc

    root = Path(dataset)
    name = re.compile(re.escape(check_name(session_id)) + r"-\d{6,}\.parquet")
    files = []
    for part in list_parts(root, RAW_DIR):
        if name.fullmatch(part.name) or (
            MERGED_NAME.fullmatch(part.name)
            and any(name.fullmatch(n) for n in merged_part_names(part))
        ):
            files.append(part)
    top: int | None = None
    last: datetime | None = None
    for part in files:
        try:
            t = pq.read_table(part, columns=["session_id", "seq", "received_at"])
        except FileNotFoundError:  # compacted meanwhile: its replacement is listed too
            continue
        t = t.filter(pc.equal(t["session_id"], session_id))
        if not t.num_rows:
            continue
        hi = pc.max(t["seq"]).as_py()
        when = pc.max(t["received_at"]).as_py()
        top = hi if top is None else max(top, hi)
        if when is not None:
            last = when if last is None else max(last, when)
    return top, last


def superseded_parts(dataset: Path) -> set[Path]:
    """Parts a running or unfinished compaction replaced (readers skip them).

    ``compact`` writes a journal ``_compact-<pid>.json`` naming the old parts and the new
    ones before it renames the new ones into place, raw first. Per kind: once the new
    raw part exists the old raw parts are superseded, once the new segments part exists
    the old segments parts are, even if the process died before deleting them. So a
    reader of either kind sees the old parts or the merged one, never both.
    """
    root = Path(dataset)
    out: set[Path] = set()
    for journal in root.glob(COMPACT_JOURNAL_GLOB):
        try:
            doc = json.loads(journal.read_text())
            new = [root / p for p in doc["new"]]
            old = [root / p for p in doc["old"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for kind in (RAW_DIR, SEGMENTS_DIR):
            fresh = [p for p in new if p.relative_to(root).parts[:1] == (kind,)]
            if fresh and all(p.exists() for p in fresh):
                out.update(p for p in old if p.relative_to(root).parts[:1] == (kind,))
    return out


#: A counter ``compact`` bumps at each step that changes which parts hold which rows.
GENERATION_NAME = "_diarkit.generation"


def generation(dataset: Path) -> str:
    """The dataset's compaction generation (``""`` before the first compaction)."""
    try:
        return (Path(dataset) / GENERATION_NAME).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def bump_generation(dataset: Path) -> None:
    """Advance the generation by one (odd: a change is under way; even: none)."""
    root = Path(dataset)
    now = generation(root)
    tmp = root / f"{TMP_PREFIX}{os.getpid()}-generation.json"
    tmp.write_text(str(int(now or 0) + 1))
    os.replace(tmp, root / GENERATION_NAME)


@contextmanager
def changing(dataset: Path) -> Iterator[None]:
    """Mark a change of which parts hold which rows (a seqlock, as readers use it).

    The generation is odd while the change runs and even after it, so a reader whose
    listing overlapped it (the generation was odd, or moved) takes it again. ``compact``
    wraps each rename and the deletion of what it merged in it; an odd generation left
    by a killed process is made even by the next ``repair``.
    """
    root = Path(dataset)
    if int(generation(root) or 0) % 2 == 0:
        bump_generation(root)
    try:
        yield
    finally:
        bump_generation(root)


def settle_generation(dataset: Path) -> None:
    """Make an odd generation (a change whose process died) even again."""
    if int(generation(dataset) or 0) % 2:
        bump_generation(dataset)


def _stable(root: Path, take: Callable[[], T]) -> T:
    """``take()`` (a listing) when no change ran during it: retried while the generation
    is odd or moved, for up to ~2 s (then the last listing is used)."""
    got: T | None = None
    for _ in range(1000):
        before = generation(root)
        if int(before or 0) % 2 == 0:
            got = take()
            if generation(root) == before:
                return got
        time.sleep(0.002)
    return take() if got is None else got


def readable_parts(dataset: Path, kind: str = RAW_DIR) -> list[Path]:
    """The parts of ``kind`` a reader should read now: one consistent snapshot.

    Superseded parts (``superseded_parts``) are left out, and the listing is taken again
    if a compaction changed the dataset while it was being taken (the generation moved),
    so a reader never sees a compacted part next to the parts it replaced, nor misses
    both. A part may still vanish before it is read: wrap the read in
    ``retry_vanished``.
    """
    root = Path(dataset)
    files, skip = _stable(root, lambda: (list_parts(root, kind), superseded_parts(root)))
    return [p for p in files if p not in skip]


def segments_snapshot(dataset: Path) -> tuple[list[Path], list[Path]]:
    """The segments parts to read and the raw parts whose segments are not among them.

    One consistent snapshot (as ``readable_parts``): segments are listed before raw, so a
    raw part whose twin was not yet renamed when the segments were listed is in the
    second list (its segments must be derived from it), and never both. Raw parts a
    running compaction is writing are left out (the parts they replace are still read).
    """
    root = Path(dataset)
    segs, raws, skip, pending = _stable(
        root,
        lambda: (
            list_parts(root, SEGMENTS_DIR),
            list_parts(root, RAW_DIR),
            superseded_parts(root),
            compaction_outputs(root),
        ),
    )
    have = {p for p in segs if p not in skip}
    missing = [
        r for r in raws if r not in skip and r not in pending and segments_twin(root, r) not in have
    ]
    return sorted(have), missing


def compaction_outputs(dataset: Path) -> set[Path]:
    """The parts unfinished compactions are writing (named in their journals)."""
    root = Path(dataset)
    out: set[Path] = set()
    for journal in root.glob(COMPACT_JOURNAL_GLOB):
        try:
            out.update(root / p for p in json.loads(journal.read_text())["new"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def retry_vanished(read: Callable[[], T], attempts: int = 5) -> T:
    """Call ``read`` (which lists parts and reads them) again if a part vanished meanwhile.

    A compaction deletes the parts it merged; a reader that listed them just before gets
    ``FileNotFoundError``. Listing again finds the merged part instead, so the read is
    retried (up to ``attempts`` times, then the error is raised).
    """
    for attempt in range(attempts):
        try:
            return read()
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class NotADatasetError(ValueError):
    """A path given as a dataset is none (the message names it and says what it is)."""


def require_dataset(path: Path, *, spool_ok: bool = False) -> Path:
    """``path`` if it is a diarkit dataset, else ``NotADatasetError`` saying what it is.

    Args:
        path: the directory.
        spool_ok: also accept a folder holding only ``_spool/`` (a capture killed before
            its first part), for recovery.
    """
    path = Path(path)
    if not path.exists():
        raise NotADatasetError(f"{path}: no such directory")
    if not path.is_dir():
        raise NotADatasetError(f"{path}: a file, not a dataset directory")
    if is_dataset(path) or (spool_ok and (path / SPOOL_DIR).is_dir()):
        return path
    raise NotADatasetError(
        f"{path}: not a diarkit dataset (no raw/ or segments/ folder"
        + (" and no _spool/" if spool_ok else "")
        + ")"
    )


#: The lock file of a dataset (hidden from readers: its name starts with ``_``).
LOCK_NAME = "_diarkit.lock"


class DatasetBusyError(RuntimeError):
    """Another process holds the dataset lock (the message says which and doing what)."""


@contextmanager
def dataset_lock(dataset: Path, command: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the dataset's exclusive lock while a command changes it (convert, compact,
    rebuild, recover).

    An ``fcntl.flock`` on ``DATASET/_diarkit.lock``: released by the kernel when the
    process ends, however it ends, so a killed command never leaves a stale lock.
    Readers never take it.

    Args:
        dataset: the dataset root (must exist).
        command: what this process is doing, shown to a process that finds it busy.
        wait_s: seconds to wait for the lock before giving up.

    Raises:
        DatasetBusyError: the lock is held by another process for longer than ``wait_s``.
    """
    path = Path(dataset) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    raise DatasetBusyError(
                        f"{dataset} is being changed by another diarkit command"
                        f"{f' ({holder})' if holder else ''}; run this again when it is done"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {command}".encode(), 0)
        try:
            yield
        finally:
            with suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
