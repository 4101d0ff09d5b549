"""Dataset commands: one at a time, readers never fail, diarkit touches only its own files,
full and read-only disks give one clear line (#14 items 6, 8, 14; #16 item 5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from click.testing import CliRunner

from diarkit.cli import EXIT_BUSY, EXIT_IO, EXIT_USAGE, cli
from diarkit.io.convert import NoInputError, convert
from diarkit.io.dataset import DatasetBusyError, dataset_lock, list_parts
from diarkit.io.load import load_raw, load_segments
from diarkit.io.maintenance import compact

from .helpers import frames, read_only, stored_frames, tmpfs


def _small_parts(tmp_path, n_files=12, per_file=20):
    ds = tmp_path / "ds"
    everything = []
    for k in range(n_files):
        f = tmp_path / f"in{k}.jsonl"
        batch = frames(per_file, f"f{k}-")
        everything += batch
        f.write_bytes(b"\n".join(batch))
        convert([f], ds, progress=False)
    return ds, everything


def test_two_compactions_never_run_at_once(tmp_path):
    ds, everything = _small_parts(tmp_path)
    with dataset_lock(ds, "compact"), pytest.raises(DatasetBusyError, match="compact"):
        compact(ds)  # a second one finds the first holding the lock
    procs = [
        subprocess.Popen([sys.executable, "-m", "diarkit", "compact", str(ds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        p.communicate(timeout=60)
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, EXIT_BUSY])  # one after the other, or one refused
    assert stored_frames(ds) == Counter(f.decode() for f in everything)  # nothing twice
    res = CliRunner().invoke(cli, ["compact", str(ds)])
    assert res.exit_code == 0
    with dataset_lock(ds, "convert"):
        res = CliRunner().invoke(cli, ["convert", str(tmp_path / "in0.jsonl"), "-o", str(ds)])
    assert res.exit_code == EXIT_BUSY and "being changed by another diarkit command" in res.output


def test_readers_never_fail_during_compaction(tmp_path):
    ds, everything = _small_parts(tmp_path, n_files=16, per_file=10)
    n = len(everything)
    errors: list[BaseException] = []
    counts: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                counts.append((len(load_raw(ds)), len(load_segments(ds))))
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for round_ in range(6):  # compact into ever larger parts, repeatedly
            compact(ds, target_rows=40 + 30 * round_)
            time.sleep(0.01)
    finally:
        done.set()
        for t in readers:
            t.join(30)
    assert not errors, errors[0]
    assert len(counts) > 4
    assert {c[0] for c in counts} == {n}  # never a part missing, never one twice
    assert {c[1] for c in counts} == {n}


def test_convert_touches_only_what_diarkit_owns(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(frames(5)))
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    user_files = {
        mine / ".tmp-1-notes.txt": b"notes",
        mine / ".tmp-99999999-report.parquet": b"mine",
        mine / "sub" / "analysis.parquet": b"PAR1 mine",
        mine / "report.html": b"<html>",
    }
    for p, data in user_files.items():
        p.write_bytes(data)
    with pytest.raises(Exception, match="not a diarkit dataset"):
        convert([src], mine, progress=False)  # a folder of other files: refused
    # a real dataset with a user's files in it: they survive every command
    ds = tmp_path / "ds"
    convert([src], ds, progress=False)
    part_dir = list_parts(ds)[0].parent
    seg_dir = ds / "segments" / part_dir.name
    theirs = {
        ds / "notes.txt": b"hello",
        ds / ".tmp-99999999-scratch.txt": b"scratch",
        part_dir / ".tmp-99999999-user.csv": b"a,b",
        seg_dir / "my-analysis.parquet": b"not a part",
    }
    for p, data in theirs.items():
        p.write_bytes(data)
    convert([src], ds, progress=False)
    compact(ds)
    CliRunner().invoke(cli, ["rebuild", str(ds)])
    CliRunner().invoke(cli, ["recover", str(ds)])
    for p, data in {**user_files, **theirs}.items():
        assert p.read_bytes() == data, p


def test_missing_empty_and_not_a_dataset_are_one_clear_line(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(cli, ["convert", str(tmp_path / "nope.jsonl"), "-o", str(out)])
    assert res.exit_code == EXIT_USAGE and not out.exists()
    assert res.output.strip().splitlines() == [
        f"error: nothing to convert: {tmp_path / 'nope.jsonl'}: no such file or directory"
    ]
    (tmp_path / "empty").mkdir()
    res = runner.invoke(cli, ["convert", str(tmp_path / "empty"), "-o", str(out)])
    assert res.exit_code == EXIT_USAGE and "an empty folder" in res.output and not out.exists()
    with pytest.raises(NoInputError):
        convert([tmp_path / "empty"], out)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("x")
    for cmd in ("compact", "rebuild", "recover"):
        for target in (plain, tmp_path / "missing", plain / "a.txt"):
            res = runner.invoke(cli, [cmd, str(target)])
            assert res.exit_code == EXIT_USAGE, (cmd, target, res.output)
            assert len(res.output.strip().splitlines()) == 1, res.output
            assert res.output.startswith(f"error: {target}:"), res.output
    assert sorted(p.name for p in plain.iterdir()) == ["a.txt"]


def test_a_full_disk_is_one_clear_line_and_a_nonzero_exit(tmp_path):
    src = tmp_path / "in.jsonl"  # incompressible: random text in every frame
    src.write_bytes(b"\n".join(
        f.replace(b'"version":"2"', b'"version":"2","pad":"' + os.urandom(300).hex().encode()
                  + b'"')
        for f in frames(3000)
    ))
    with tmpfs(tmp_path / "small", "400k") as mnt:
        ds = mnt / "ds"
        got = subprocess.run(
            [sys.executable, "-m", "diarkit", "convert", str(src), "-o", str(ds), "--quiet"],
            capture_output=True, text=True, timeout=60,
        )
        assert got.returncode == EXIT_IO, got.stderr
        assert "Traceback" not in got.stderr
        (line,) = got.stderr.strip().splitlines()
        assert line.startswith("error: ") and "disk full" in line
        # what was written is whole: a reader loads it, a rerun elsewhere completes it
        load_raw(ds)


def test_a_read_only_dataset_is_one_clear_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(frames(50)))
    ds = tmp_path / "ds"
    for k in range(3):
        (tmp_path / f"more{k}.jsonl").write_bytes(b"\n".join(frames(5, f"m{k}")))
        convert([tmp_path / f"more{k}.jsonl"], ds, progress=False)
    (ds / "_spool").mkdir()
    shutil.copy(src, ds / "_spool" / "x.spool")  # not a spool: recover says so
    before = sorted(str(p) for p in ds.rglob("*"))
    with read_only(ds):
        for args in (["convert", str(src), "-o", str(ds)], ["compact", str(ds)],
                     ["recover", str(ds)], ["rebuild", str(ds)]):
            got = subprocess.run([sys.executable, "-m", "diarkit", *args, *(
                ["--quiet"] if args[0] == "convert" else [])],
                capture_output=True, text=True, timeout=60)
            assert got.returncode == EXIT_IO, (args, got.stdout, got.stderr)
            assert "Traceback" not in got.stderr
            (line,) = got.stderr.strip().splitlines()
            assert "read-only file system" in line, line
    assert sorted(str(p) for p in ds.rglob("*")) == before
