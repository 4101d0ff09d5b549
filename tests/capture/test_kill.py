"""`diarkit capture` as a real subprocess: SIGKILL at random moments, SIGTERM summary."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from diarkit.capture.spool import read_spool
from diarkit.io.dataset import list_parts

from .simhelp import HEARTBEAT_S, ledger_entries, make_sim, stored_rows, wait_for


def capture_cmd(sim, out: Path, session: str, *extra: str) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "diarkit",
        "capture",
        "--login-base",
        sim.login_base,
        "--api-base",
        sim.api_base,
        "--out",
        str(out),
        "--heartbeat",
        str(HEARTBEAT_S),
        "--session-id",
        session,
        "--quiet",
        *extra,
    ]
    for cid in sim.conversation_ids:
        args += ["--conversation", cid]
    return args


def env_for(sim) -> dict[str, str]:
    return {
        **os.environ,
        "GENESYS_CLIENT_ID": sim.client_id,
        "GENESYS_CLIENT_SECRET": sim.client_secret,
    }


def start_when_subscribed(sim, timeout: float = 30.0) -> None:
    """Start the calls once the capture (a subprocess, slow to start on a busy machine)
    has subscribed, so no call is over before it listens (a no-op once started)."""
    wait_for(sim.has_subscriber, timeout, "the capture to subscribe")
    sim.start_conversations()


def spooled_frames(out: Path, session: str) -> int:
    """Transcription frames of ``session`` in its spools and parts now."""
    n = 0
    for p in (out / "_spool").glob(f"{session}-*.spool"):
        with contextlib.suppress(OSError, ValueError):
            n += sum(b".transcription" in f for f in read_spool(p).frames)
    for p in list_parts(out):
        if p.name.startswith(f"{session}-"):
            with contextlib.suppress(OSError, ValueError):
                n += pq.read_metadata(p).num_rows
    return n


def snapshot(out: Path, session: str) -> Counter:
    """Every frame of ``session`` that reached a spool or a part (the process is dead)."""
    frames: Counter = Counter()
    for p in (out / "_spool").glob(f"{session}-*.spool"):
        frames.update((session, s, f.decode()) for s, f in zip(*_seq_frames(p), strict=True))
    for p in list_parts(out):
        if p.name.startswith(f"{session}-"):
            for r in pq.read_table(p, columns=["seq", "frame"]).to_pylist():
                frames[(session, r["seq"], r["frame"])] = 1  # a reused part counts once
    return frames


def _seq_frames(path: Path):
    c = read_spool(path)
    return c.seqs, c.frames


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(20261124)
    out = tmp_path / "ds"
    expected: Counter = Counter()
    # calls long enough (16-19 s of wall time) for four captures started one by one
    with make_sim(conversations=6, speed=25.0, call_duration_s=(400.0, 480.0)) as sim:
        for run in range(4):
            session = f"kill{run}"
            proc = subprocess.Popen(
                capture_cmd(sim, out, session, "--roll-seconds", "0.2"),
                env=env_for(sim),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                start_when_subscribed(sim)
                wait_for(lambda s=session: spooled_frames(out, s) > 0, 30, "spooled frames")
                time.sleep(rng.uniform(0.05, 0.6))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            # What reached the disk before the kill: the next start must keep exactly that.
            # (A part without its spool is a roll that completed; with it, one that did not.)
            expected.update(snapshot(out, session))
        # every frame a capture stored was sent before its kill: the ledger now holds it
        # (the calls need not run to their end, ~10 s more, for that)
        sent = Counter(e.text for e in ledger_entries(sim))
    result = subprocess.run(
        [sys.executable, "-m", "diarkit", "recover", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((out / "_spool").glob("*.spool")) == []
    rows = stored_rows(out)
    got = Counter((r["session_id"], r["seq"], r["frame"]) for r in rows)
    heartbeats = Counter({k: v for k, v in expected.items() if '"channel.metadata"' in k[2]})
    assert got == expected - heartbeats  # every spooled frame exactly once
    assert len(rows) > 8  # the simulated calls open with IVR/queue time: few frames early
    assert not Counter(r["frame"] for r in rows) - sent  # and each was really sent
    assert {r["session_id"] for r in rows} == {f"kill{i}" for i in range(4)}


def test_sigterm_flushes_and_prints_summary(tmp_path):
    out = tmp_path / "ds"
    with make_sim(conversations=2, speed=40.0) as sim:
        proc = subprocess.Popen(
            capture_cmd(sim, out, "term1"),
            env=env_for(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            start_when_subscribed(sim)
            wait_for(lambda: spooled_frames(out, "term1") >= 5, 30, "spooled frames")
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        secret = sim.client_secret
    assert proc.returncode == 0, stdout + stderr
    assert "stopped by SIGTERM" in stdout
    assert "capture term1 stopped" in stdout and "transcription events" in stdout
    rows = stored_rows(out)
    assert len(rows) >= 5 and list((out / "_spool").glob("*.spool")) == []
    assert secret not in stdout + stderr


LIMITED = (
    "import resource, runpy, signal, sys; "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024)); "
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "  # write() then fails with EFBIG
    "sys.argv[0] = 'diarkit'; runpy.run_module('diarkit', run_name='__main__')"
)


def test_write_failure_stops_capture_with_clear_message_and_keeps_frames(tmp_path):
    out = tmp_path / "ds"
    with make_sim(conversations=3, speed=40.0, call_duration_s=(120.0, 160.0)) as sim:
        cmd = capture_cmd(sim, out, "full1", "--roll-seconds", "60", "--duration", "30")
        assert cmd[1:3] == ["-m", "diarkit"]
        proc = subprocess.Popen(
            [cmd[0], "-c", LIMITED, *cmd[3:]],
            env=env_for(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            start_when_subscribed(sim)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            proc.kill()
    text = stdout + stderr
    assert proc.returncode == 1, text
    assert "error: cannot write spool" in text and "File too large" in text
    assert "already spooled are kept and recoverable" in text
    spooled = spooled_frames(out, "full1")
    assert spooled > 0
    # the count printed covers every frame kept (its exactness, records on disk against
    # the count, is tested on a full tmpfs in tests/reliability/test_recovery.py)
    said = int(re.search(r"(\d+) frame\(s\) already spooled", text).group(1))
    assert said >= spooled
    result = subprocess.run(
        [sys.executable, "-m", "diarkit", "recover", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = stored_rows(out)
    assert sum(".transcription" in r["frame"] for r in rows) == spooled
