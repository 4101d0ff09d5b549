"""Recovery keeps everything that reached the disk (#14 items 3, 4, 5 and 15)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from diarkit.capture.recorder import (
    DAMAGED_SUFFIX,
    RawRecorder,
    recover_dataset,
    spool_to_part,
)
from diarkit.capture.roller import Roller, child_environment
from diarkit.capture.spool import SpoolWriter, read_spool, spool_name
from diarkit.cli import cli
from diarkit.io import dataset as dataset_mod
from diarkit.io.dataset import list_files, list_parts, raw_without_segments, segments_twin
from diarkit.io.load import load_segments

from .helpers import frames, stored, tmpfs

T0 = 1_780_000_000_000_000  # receive times, microseconds since the epoch


def _spool(ds, session, good, start=0, batch=50):
    path = ds / "_spool" / spool_name(session, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = SpoolWriter(path, session, start)
    for i in range(0, len(good), batch):
        w.append_batch(start + i, T0 + i, "ch", good[i : i + batch])
    w.close()
    return path


@pytest.mark.parametrize("damage", ["zeroed page", "flipped byte"])
def test_a_spool_damaged_in_the_middle_keeps_every_intact_record(tmp_path, damage):
    ds = tmp_path / "ds"
    good = frames(1000)
    path = _spool(ds, "dmg", good)
    data = bytearray(path.read_bytes())
    mid = len(data) // 3
    if damage == "zeroed page":
        start = mid - mid % 4096
        data[start : start + 4096] = bytes(4096)
    else:
        data[mid] ^= 0x01
    path.write_bytes(bytes(data))
    intact = Counter(read_spool(path).frames)
    assert 900 < len(intact) < 1000  # records after the damage are read too
    res = CliRunner().invoke(cli, ["recover", str(ds)])
    assert res.exit_code == 1, res.output  # done, with a problem to look at
    assert "damaged range(s)" in res.output and "skipped" in res.output
    got = Counter(r["frame"].encode() for r in stored(ds))
    assert got == intact  # every intact record, once
    assert set(got) <= set(good)
    # never deleted: kept out of recovery's way, a second recover adds nothing
    kept = path.with_name(path.name + DAMAGED_SUFFIX)
    assert kept.exists() and not path.exists()
    assert CliRunner().invoke(cli, ["recover", str(ds)]).exit_code == 0
    assert Counter(r["frame"].encode() for r in stored(ds)) == intact


def test_recover_repairs_a_crash_between_the_two_renames(tmp_path):
    ds = tmp_path / "ds"
    good = frames(30)
    path = _spool(ds, "ren", good)
    copy = path.read_bytes()
    result = spool_to_part(ds, path)
    seg = segments_twin(ds, result.part)
    expected = pq.read_table(seg)
    seg.unlink()  # the crash: raw renamed into place, segments not, spool not deleted
    path.write_bytes(copy)
    assert raw_without_segments(ds) == [result.part]  # what loading can notice
    # and does: the missing segments are derived in memory, no row silently lacking
    assert len(load_segments(ds)) == expected.num_rows
    report = recover_dataset(ds)
    assert report.results[0].reused and not report.failed
    assert pq.read_table(seg).equals(expected) and raw_without_segments(ds) == []
    assert len(stored(ds)) == 30 and not path.exists()
    # also without a spool left: recover derives any missing twin
    seg.unlink()
    assert recover_dataset(ds).repaired == [result.part] and seg.exists()


@pytest.mark.parametrize("bad", ["../../x", "/abs/x", "a b", "a\nb", "", ".hidden", "x/y"])
def test_session_ids_are_checked_before_anything_is_written(tmp_path, bad):
    with pytest.raises(ValueError, match="not usable in a file name"):
        RawRecorder(tmp_path / "ds", bad)
    assert not (tmp_path / "ds").exists() and list(tmp_path.iterdir()) == []
    if not bad:
        return  # the CLI reads an empty --session-id as "none given": a generated one
    got = subprocess.run(
        [sys.executable, "-m", "diarkit", "capture", "--out", str(tmp_path / "ds"),
         "--login-base", "http://127.0.0.1:9", "--api-base", "http://127.0.0.1:9",
         "--conversation", "c1", "--session-id", bad, "--quiet"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "GENESYS_CLIENT_ID": "id", "GENESYS_CLIENT_SECRET": "s"},
    )
    assert got.returncode != 0 and "not usable in a file name" in got.stdout + got.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_reused_session_id_never_drops_or_overwrites(tmp_path):
    ds = tmp_path / "ds"
    first, second, third = frames(120, "a"), frames(90, "b"), frames(40, "c")
    rec = RawRecorder(ds, "same", roller="thread", roll_frames=50)
    rec.open()
    for f in first:
        rec.append(f, "ch")
    rec.close()
    # a killed run of the same id: its spool stays behind
    _spool(ds, "same", third, start=500)
    rec = RawRecorder(ds, "same", roller="thread", roll_frames=50)
    rec.open()  # recovers the leftover spool, then continues after everything stored
    assert rec.next_seq == 540
    for f in second:
        rec.append(f, "ch")
    rec.close()
    rows = stored(ds)
    keys = Counter((r["session_id"], r["seq"]) for r in rows)
    assert max(keys.values()) == 1  # no (session_id, seq) twice
    assert Counter(r["frame"].encode() for r in rows) == Counter(first + second + third)


def test_a_spool_whose_part_name_holds_other_frames_is_kept(tmp_path):
    ds = tmp_path / "ds"
    rec = RawRecorder(ds, "clash", roller="thread")
    rec.open()
    for f in frames(5, "a"):
        rec.append(f, "ch")
    rec.close()
    path = _spool(ds, "clash", frames(5, "b"))  # same session and seq 0, other frames
    report = recover_dataset(ds)
    assert "already exists with other frames" in report.failed[0]
    assert path.exists() and len(stored(ds)) == 5


def test_recover_removes_dead_temporaries_and_records_the_downtime(tmp_path):
    ds = tmp_path / "ds"
    rec = RawRecorder(ds, "down", roller="thread")
    rec.open()
    rec.append_batch(frames(5), "ch", received_us=T0)
    rec.close()
    dead = subprocess.run([sys.executable, "-c", "print(__import__('os').getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    part_dir = list_parts(ds)[0].parent
    stale = part_dir / f".tmp-{dead}-down-000099.parquet"
    stale.write_bytes(b"half a part")
    tables = [ds / d / f".tmp-{dead}-{d}.parquet" for d in ("backfill", "dims", "timeline")]
    for t in tables:  # half-written pending list, names, timeline table
        t.parent.mkdir()
        t.write_bytes(b"half a table")
    users = part_dir / f".tmp-{dead}-notes.txt"  # not a name diarkit writes: left alone
    users.write_text("mine")
    _spool(ds, "down", frames(3, "z"), start=5)  # the killed session's last frames
    report = recover_dataset(ds)
    assert sorted(report.removed) == sorted([stale, *tables]) and users.exists()
    assert not any(p.exists() for p in [stale, *tables])
    (gap_file,) = report.gaps
    (gap,) = pq.read_table(gap_file).to_pylist()
    assert gap["session_id"] == "down" and gap["cause"] == "capture_down"
    assert gap["start_at"].timestamp() == pytest.approx((T0 + 0) / 1e6)
    assert gap["duration_s"] > 0 and gap_file in list_files(ds, "gaps")


def test_roller_children_do_not_inherit_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("MY_API_TOKEN", "t0ken")
    assert "GENESYS_CLIENT_SECRET" not in child_environment(os.environ)
    roller = Roller(tmp_path, keep_heartbeats=False)
    proc = f"/proc/{roller._proc.pid}"
    try:
        # Between fork and exec the child still shows the parent's command line and
        # environment: read the environment once its own arguments (the dataset) show.
        mine = b"\0" + os.fsencode(tmp_path) + b"\0"
        deadline = time.monotonic() + 10
        while mine not in Path(proc, "cmdline").read_bytes():
            assert time.monotonic() < deadline, "the roller child never started"
            time.sleep(0.005)
        environ = Path(proc, "environ").read_bytes()
    finally:
        roller.kill()
    assert b"s3cr3t-value" not in environ and b"t0ken" not in environ
    assert b"PYTHONPATH=" in environ


def test_the_spooled_count_after_a_failed_write_is_exact(tmp_path):
    with tmpfs(tmp_path / "small", "256k") as mnt:
        rec = RawRecorder(mnt / "ds", "full", roller="thread", roll_frames=10**6,
                          roll_bytes=1 << 30)
        rec.open()
        sent = 0
        with pytest.raises(Exception, match=r"(\d+) frame\(s\) already spooled") as err:
            for _ in range(10_000):
                rec.append_batch(frames(7, f"x{sent}"), "ch")
                sent += 7
        said = int(__import__("re").search(r"(\d+) frame\(s\) already spooled",
                                           str(err.value)).group(1))
        (spool,) = (mnt / "ds" / "_spool").glob("*.spool")
        on_disk = len(read_spool(spool))
        assert said == on_disk == rec.frames and said >= sent
        dataset_mod.fsync_path(spool)  # (still readable after the failure)
