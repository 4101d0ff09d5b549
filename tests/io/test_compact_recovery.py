"""Compaction keeps parts findable by name: capture recovery after ``compact`` adds nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq

from diarkit.capture import recover_spools
from diarkit.capture.recorder import spool_to_part
from diarkit.capture.spool import SpoolWriter, spool_name
from diarkit.io.convert import compact, convert
from diarkit.io.dataset import find_part, list_parts, merged_part_names, part_name

from .conftest import transcription_frame


def _spool(dataset: Path, session: str, seq: int, frames: list[bytes]) -> Path:
    spool_dir = dataset / "_spool"
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / spool_name(session, seq)
    w = SpoolWriter(path, session, seq)
    for i, f in enumerate(frames):
        w.append(seq + i, 1_795_513_500_000_000 + (seq + i) * 1000, "ch", f)
    w.close()
    return path


def test_recovering_a_spool_whose_part_was_compacted_adds_nothing(tmp_path):
    ds = tmp_path / "ds"
    first = [transcription_frame(f"a{i}") for i in range(5)]
    second = [transcription_frame(f"b{i}") for i in range(4)]
    spool_a = _spool(ds, "sess", 0, first)
    backup = tmp_path / "a.spool"
    shutil.copy(spool_a, backup)
    assert spool_to_part(ds, spool_a).part is not None
    assert spool_to_part(ds, _spool(ds, "sess", 5, second)).part is not None
    assert compact(ds).after == 1
    (merged,) = list_parts(ds)
    assert merged.name != part_name("sess", 0)
    assert sorted(merged_part_names(merged)) == [part_name("sess", 0), part_name("sess", 5)]
    assert find_part(ds, "sess", 0) == merged == find_part(ds, "sess", 5)
    assert find_part(ds, "sess", 1) is None and find_part(ds, "other", 0) is None

    shutil.copy(backup, spool_a)  # as if capture died after the part, before the unlink
    report = recover_spools(ds)
    assert [r.reused for r in report.results] == [True]
    frames = pq.read_table(list_parts(ds)[0], columns=["frame"]).column(0).to_pylist()
    assert sorted(f.encode() for f in frames) == sorted(first + second)  # each once
    assert not spool_a.exists()


def test_a_compaction_of_compacted_parts_still_names_the_originals(tmp_path):
    ds = tmp_path / "ds"
    for k in range(2):
        src = tmp_path / f"f{k}.jsonl"
        src.write_bytes(b"\n".join(transcription_frame(f"c{k}-{i}") for i in range(30)))
    convert([tmp_path / "f0.jsonl"], ds, progress=False, chunk_bytes=8192)
    originals = [p.name for p in list_parts(ds)]
    assert len(originals) > 2
    compact(ds)
    convert([tmp_path / "f1.jsonl"], ds, progress=False, chunk_bytes=8192)
    later = [p.name for p in list_parts(ds) if p.name not in originals]
    assert compact(ds).after == 1
    (merged,) = list_parts(ds)
    names = set(merged_part_names(merged))
    assert set(originals) <= names and set(later) <= names
    session, seq = originals[0].removesuffix(".parquet").rsplit("-", 1)
    assert find_part(ds, session, int(seq)) == merged
