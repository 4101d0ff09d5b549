"""`diarkit convert / compact / rebuild`: thin commands over diarkit.io.convert."""

from __future__ import annotations

from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.io.dataset import list_parts

from .conftest import transcription_frame


def _input(tmp_path, bad=False):
    f = tmp_path / "frames.jsonl"
    lines = [transcription_frame(f"c{i}") for i in range(20)]
    if bad:
        lines.insert(3, b"{not json")
    f.write_bytes(b"\n".join(lines))
    return f


def test_convert_exit_code_is_zero_unless_strict(tmp_path):
    f = _input(tmp_path, bad=True)
    (tmp_path / "notes.txt").write_text("hello")
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(tmp_path), "-o", str(tmp_path / "ds"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert f"skipped {tmp_path / 'notes.txt'}: not JSON or JSON lines" in res.output
    assert "20 new, 0 duplicate, 1 quarantined" in res.output
    strict = runner.invoke(
        cli, ["convert", str(f), "-o", str(tmp_path / "ds2"), "--quiet", "--strict"]
    )
    assert strict.exit_code == 1
    assert "1 quarantined" in strict.output


def test_compact_and_rebuild_commands(tmp_path):
    f = _input(tmp_path)
    ds = tmp_path / "ds"
    runner = CliRunner()
    assert runner.invoke(cli, ["convert", str(f), "-o", str(ds), "--quiet"]).exit_code == 0
    for k in range(3):  # more small parts
        g = tmp_path / f"more{k}.jsonl"
        g.write_bytes(transcription_frame(f"m{k}"))
        runner.invoke(cli, ["convert", str(g), "-o", str(ds), "--quiet"])
    assert len(list_parts(ds)) == 4
    res = runner.invoke(cli, ["compact", str(ds)])
    assert res.exit_code == 0 and "4 raw part(s) -> 1 (23 rows merged)" in res.output
    res = runner.invoke(cli, ["rebuild", str(ds)])
    assert res.exit_code == 0 and "46 segments rebuilt" in res.output


def test_ctrl_c_leaves_a_valid_dataset_and_rerun_completes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from diarkit.io.load import load_raw

    d = tmp_path / "in"
    d.mkdir()
    for k in range(12):
        (d / f"f{k}.jsonl").write_bytes(
            b"\n".join(transcription_frame(f"k{k}-{i}") for i in range(1500))
        )
    ds = tmp_path / "ds"
    code = (
        "import sys; from diarkit.cli import cli; "
        "sys.argv = ['diarkit', 'convert', sys.argv[1], '-o', sys.argv[2], '--quiet', "
        "'--workers', '2']; cli()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(d), str(ds)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list_parts(ds)) < 2:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 130:  # interrupted mid-way (it may also have just finished)
        assert "interrupted: the dataset is valid" in err
    partial = len(load_raw(ds, columns=["seq"]))
    assert 0 < partial <= 18000
    res = CliRunner().invoke(cli, ["convert", str(d), "-o", str(ds), "--quiet"])
    assert res.exit_code == 0
    raw = load_raw(ds, columns=["frame_hash"])
    assert len(raw) == 18000 and raw["frame_hash"].is_unique
