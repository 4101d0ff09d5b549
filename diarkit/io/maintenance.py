"""Dataset maintenance: repair after a crash, compaction, rebuilding segments.

``repair`` makes an interrupted dataset consistent (run by every dataset-changing
command before it changes anything); ``compact`` merges small parts; ``rebuild``
re-derives every segments part from its raw part. The commands that change a dataset
hold its lock (``diarkit.io.dataset.dataset_lock``) while they run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from diarkit.schema import SEGMENTS

from .dataset import (
    _NO_DICT,
    COMPACT_JOURNAL_GLOB,
    MERGED_PARTS_KEY,
    RAW_DIR,
    SEGMENTS_DIR,
    atomic_path,
    changing,
    dataset_lock,
    ensure_segments,
    list_parts,
    merged_part_names,
    part_name,
    pid_alive,
    remove_stale_temporaries,
    require_dataset,
    segments_twin,
    settle_generation,
    write_table_atomic,
)
from .segments import raw_to_segments


def repair(dataset: str | Path) -> list[str]:
    """Make an interrupted dataset consistent again; returns what was done, one line each.

    Removes temporary files of dead diarkit processes (``dataset.diarkit_temporaries``:
    only diarkit's own names where diarkit writes), completes or rolls back compactions
    whose process died, derives segments for raw parts that lack them and removes
    segments parts whose raw part is gone, if they are provably diarkit's (a part name
    and the segments columns); any other file is left alone and named.
    """
    root = Path(dataset)
    done: list[str] = []
    for tmp in remove_stale_temporaries(root):
        done.append(f"removed temporary file {tmp}")
    for journal in sorted(root.glob(COMPACT_JOURNAL_GLOB)):
        done.extend(_finish_journal(root, journal))
    settle_generation(root)  # a compaction killed mid-change left it odd
    raw_parts = list_parts(root, RAW_DIR)
    raw_rel = {p.relative_to(root / RAW_DIR) for p in raw_parts}
    for seg in list_parts(root, SEGMENTS_DIR):
        if seg.relative_to(root / SEGMENTS_DIR) not in raw_rel:
            if _is_own_segments_part(seg):
                seg.unlink()
                done.append(f"removed segments part without raw part {seg}")
            else:
                done.append(f"left alone {seg}: not a diarkit segments part")
    for raw_path in raw_parts:
        if ensure_segments(root, raw_path):
            done.append(f"derived missing segments {segments_twin(root, raw_path)}")
    return done


_PART_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]*-\d{6,}\.parquet")


def _is_own_segments_part(path: Path) -> bool:
    """True for a file diarkit wrote as a segments part: its name and its columns."""
    if not _PART_NAME.fullmatch(path.name):
        return False
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, ValueError, pa.ArrowException):
        return False
    return set(SEGMENTS.names) - {"words"} <= names


def _finish_journal(root: Path, journal: Path) -> list[str]:
    m = journal.stem.removeprefix("_compact-")
    if m.isdigit() and _alive(int(m)):
        return []
    try:
        doc = json.loads(journal.read_text())
        new = [root / p for p in doc["new"]]
        old = [root / p for p in doc["old"]]
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)
        return [f"removed unreadable compaction journal {journal}"]
    if all(p.exists() for p in new):
        for p in old:
            p.unlink(missing_ok=True)
        msg = f"completed interrupted compaction ({len(old)} old parts removed)"
    else:
        for p in new:
            p.unlink(missing_ok=True)
        msg = "rolled back interrupted compaction"
    journal.unlink(missing_ok=True)
    return [msg]


def _alive(pid: int) -> bool:
    """True if another live process has this pid (our own pid counts as gone)."""
    return pid != os.getpid() and pid_alive(pid)


# --------------------------------------------------------------------------- rebuild/compact


def rebuild(dataset: str | Path, *, progress: bool = False, timeline: bool = False) -> int:
    """Re-derive every segments part from its raw part; returns the number of segments.

    Use after changing the flattening rules; raw parts are not touched. Holds the
    dataset lock. With ``timeline`` (``diarkit rebuild`` sets it) the derived
    ``timeline/timeline.parquet`` is rewritten at the end
    (:func:`diarkit.io.timeline.write_timeline`; loads the segments in memory).

    Raises:
        NotADatasetError: ``dataset`` is not a diarkit dataset.
        DatasetBusyError: another command is changing it.
        OSError: the disk is full or read-only (parts are replaced atomically).
    """
    root = require_dataset(Path(dataset))
    with dataset_lock(root, "rebuild"):
        total = _rebuild(root, progress)
        if timeline:
            from .timeline import write_timeline

            write_timeline(root)
        return total


def _rebuild(root: Path, progress: bool) -> int:
    repair(root)
    parts = list_parts(root, RAW_DIR)
    total = 0
    it: Iterable[Path] = parts
    if progress:
        from tqdm import tqdm

        it = tqdm(parts, unit="part", leave=False)
    for raw_path in it:
        seg = raw_to_segments(pq.read_table(raw_path))
        write_table_atomic(seg, root / SEGMENTS_DIR / raw_path.relative_to(root / RAW_DIR))
        total += seg.num_rows
    return total


@dataclass
class CompactSummary:
    """What ``compact`` did: parts before and after, per kind (raw and segments each)."""

    before: int
    after: int
    rows: int


def compact(
    dataset: str | Path, *, target_bytes: int = 256 << 20, target_rows: int = 2_000_000
) -> CompactSummary:
    """Merge small part files, per date partition, without changing content.

    Consecutive complete parts (raw with its segments twin) are streamed into merged
    parts of up to ``target_bytes`` (uncompressed raw size) / ``target_rows`` rows; rows
    keep their order and values. A journal (``_compact-<pid>.json``) makes it safe to
    interrupt: readers skip replaced parts as soon as their replacement exists, and the
    next ``repair`` finishes or rolls back. Holds the dataset lock, so two compactions
    (or a compaction and a convert) never run at once.

    Raises:
        NotADatasetError: ``dataset`` is not a diarkit dataset.
        DatasetBusyError: another command is changing it.
        OSError: the disk is full or read-only (the dataset stays as it was).
    """
    root = require_dataset(Path(dataset))
    with dataset_lock(root, "compact"):
        return _compact(root, target_bytes, target_rows)


def _compact(root: Path, target_bytes: int, target_rows: int) -> CompactSummary:
    repair(root)
    before = len(list_parts(root, RAW_DIR))
    rows = 0
    by_date: dict[str, list[Path]] = {}
    for p in list_parts(root, RAW_DIR):
        seg = root / SEGMENTS_DIR / p.relative_to(root / RAW_DIR)
        if seg.exists():
            by_date.setdefault(p.parent.name, []).append(p)
    stamp = f"c{datetime.now(UTC):%Y%m%dT%H%M%S}{secrets.token_hex(2)}"
    k = 0
    for date_dir, parts in by_date.items():
        groups: list[list[Path]] = [[]]
        size = nrows = 0
        for p in parts:
            meta = pq.ParquetFile(p).metadata
            psize = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            if groups[-1] and (size + psize > target_bytes or nrows + meta.num_rows > target_rows):
                groups.append([])
                size = nrows = 0
            groups[-1].append(p)
            size += psize
            nrows += meta.num_rows
        for group in groups:
            if len(group) < 2:
                continue
            name = part_name(stamp, k)
            k += 1
            rows += _merge(root, date_dir, group, name)
    return CompactSummary(before, len(list_parts(root, RAW_DIR)), rows)


def _merge(root: Path, date_dir: str, group: list[Path], name: str) -> int:
    new_raw = root / RAW_DIR / date_dir / name
    new_seg = root / SEGMENTS_DIR / date_dir / name
    olds_raw = list(group)
    olds_seg = [root / SEGMENTS_DIR / p.relative_to(root / RAW_DIR) for p in group]
    journal = root / f"_compact-{os.getpid()}.json"
    rel = [str(p.relative_to(root)) for p in (new_raw, new_seg)]
    old_rel = [str(p.relative_to(root)) for p in olds_seg + olds_raw]
    tmp_j = root / f".tmp-{os.getpid()}-journal.json"
    tmp_j.write_text(json.dumps({"new": rel, "old": old_rel}))
    os.replace(tmp_j, journal)
    replaced = [n for p in olds_raw for n in (p.name, *merged_part_names(p))]
    # each rename, and the deletions, run as a change readers see (dataset.changing):
    # a listing that overlapped one is taken again (readable_parts, segments_snapshot)
    def guard() -> AbstractContextManager[None]:
        return changing(root)

    meta = {MERGED_PARTS_KEY: json.dumps(replaced).encode()}
    rows = _stream_concat(olds_raw, new_raw, meta, guard=guard)
    _stream_concat(olds_seg, new_seg, guard=guard)
    with changing(root):
        for p in olds_seg + olds_raw:
            p.unlink(missing_ok=True)
        journal.unlink()
    return rows


def _stream_concat(
    sources: list[Path],
    dest: Path,
    metadata: dict[bytes, bytes] | None = None,
    *,
    guard: Callable[[], AbstractContextManager[None]] | None = None,
) -> int:
    """Concatenate Parquet files into ``dest`` atomically, one source in memory at a time.

    ``metadata`` replaces the schema's key-value metadata of ``dest`` when given.
    """
    schema = pq.read_schema(sources[0])
    if metadata is not None:
        schema = schema.with_metadata(metadata)
    rows = 0
    use_dict = [n for n in schema.names if n not in _NO_DICT]
    with (
        atomic_path(dest, guard=guard) as tmp,
        pq.ParquetWriter(tmp, schema, compression="zstd", use_dictionary=use_dict) as w,
    ):
        for src in sources:
            t = pq.read_table(src, schema=schema).replace_schema_metadata(schema.metadata)
            w.write_table(t)
            rows += t.num_rows
    return rows
