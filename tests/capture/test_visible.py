"""Failures a person can see (#13.7), Ctrl-C pressed many times (#14.13), the simulator
waiting for a subscriber (#16.4) and the world-readable secret file warning (#14.15)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from diarkit.capture.runner import run_capture
from diarkit.capture.token import read_secret_file
from diarkit.cli import cli
from diarkit.sim.runner import run_simulate

from .simhelp import gap_rows, stored_rows, wait_for
from .simhelp import make_dense_sim as make_sim

ENV = {"GENESYS_CLIENT_ID": "cid", "GENESYS_CLIENT_SECRET": "secret-value-123"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_host_shows_each_retry_and_exits_nonzero(tmp_path):
    """#13.7: a wrong host shows the cause at once and a timed capture exits 1."""
    port = _free_port()  # nothing listens there
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    result = CliRunner(env=ENV).invoke(cli, [
        "capture", "--login-base", base, "--api-base", base, "--conversation", "c1",
        "--out", str(tmp_path / "d"), "--duration", "1.5", "--quiet"])
    took = time.monotonic() - t0
    assert result.exit_code == 1, result.output
    out = result.output
    retries = [line for line in out.splitlines() if "retrying in" in line]
    assert retries, out
    assert "Connection refused" in retries[0] or "ConnectError" in retries[0], out
    assert "never went live" in out or "error:" in out
    assert took < 15


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--heartbeat", "0"], "--heartbeat"),
        (["--heartbeat", "-3"], "--heartbeat"),
        (["--duration", "-1"], "--duration"),
        (["--duration", "0"], "--duration"),
        (["--env", "mypurecloud.de", "--region", "eu-central-1"], "not both"),
    ],
)
def test_capture_options_are_validated_with_one_clear_line(tmp_path, args, needle):
    result = CliRunner(env=ENV).invoke(cli, [
        "capture", "--conversation", "c1", "--out", str(tmp_path / "d"), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "d").exists()


def test_capture_that_saw_no_calls_warns(tmp_path, monkeypatch):
    with make_sim() as sim:  # calls never start
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", sim.client_secret)
        lines: list[str] = []
        code = run_capture(
            tmp_path, login_base=sim.login_base, api_base=sim.api_base,
            client_id=sim.client_id, conversations=sim.conversation_ids,
            duration=1.0, status_line=False, echo=lines.append, heartbeat_s=0.25,
        )
    assert code == 0, lines
    assert any(line.startswith("warning: no transcription event") for line in lines), lines


def test_wrong_secret_is_one_clear_error_line(tmp_path):
    """#16.5: a wrong secret's error is printed once (stdout and stderr together), unredacted."""
    with make_sim() as sim:
        env = {**os.environ, "GENESYS_CLIENT_SECRET": "not-the-secret"}
        proc = subprocess.run(
            [sys.executable, "-m", "diarkit", "capture", "--login-base", sim.login_base,
             "--api-base", sim.api_base, "--client-id", sim.client_id, "--conversation",
             sim.conversation_ids[0], "--out", str(tmp_path / "d"), "--duration", "3"],
            env=env, capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    both = proc.stdout + proc.stderr
    assert both.count("invalid_client") == 1, both
    errors = [line for line in both.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"client '{sim.client_id}'" in errors[0], both
    assert "not-the-secret" not in both


def test_simulate_waits_for_a_subscriber_and_prints_a_capture_command(tmp_path, monkeypatch):
    """#16.4: calls start once a capture subscribed; the printed command works as given."""
    lines: list[str] = []
    done = threading.Event()

    def sleep(seconds: float) -> None:
        # once the capture is done, stop the simulator as Ctrl-C does (duration_s=25 is
        # only a bound: a plain ``done.wait`` would spin the loop until it ran out)
        if done.wait(seconds):
            raise KeyboardInterrupt

    def serve() -> None:
        run_simulate(seed=5, conversations=2, speed=60.0, heartbeat_s=0.25,
                     call_duration_s=(20.0, 30.0), stagger_s=1.0, duration_s=25.0,
                     echo=lines.append, sleep=sleep)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    wait_for(lambda: any("diarkit capture" in line for line in lines), 20, "capture command")
    time.sleep(1.0)
    assert not any("starting the calls" in line for line in lines), lines
    command = next(line.strip() for line in lines if "diarkit capture" in line)
    env = dict(re.findall(r"(GENESYS_\w+)=(\S+)", command))
    args = command.split(" diarkit ", 1)[1].split()
    args[args.index("--out") + 1] = str(tmp_path / "d")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner(env=env).invoke(cli, [*args, "--duration", "4", "--quiet"])
    done.set()
    thread.join(30)
    assert not thread.is_alive() and lines[-2] == "stopping", lines[-3:]
    assert any("starting the calls" in line for line in lines), lines
    assert result.exit_code == 0, result.output
    assert "warning: no transcription event" not in result.output
    rows = stored_rows(tmp_path / "d")
    assert any(r["kind"] == "transcription" for r in rows)
    assert not [g for g in gap_rows(tmp_path / "d") if g["cause"].startswith("refused")]


def test_world_readable_secret_file_warns(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="diarkit.capture")
    f = tmp_path / "secret.txt"
    f.write_text("s3cret-value\n")
    f.chmod(0o644)
    assert read_secret_file(f).reveal() == "s3cret-value"
    assert "can be read by other users" in caplog.text and "chmod 600" in caplog.text
    assert "s3cret-value" not in caplog.text
    caplog.clear()
    f.chmod(0o600)
    read_secret_file(f)
    assert "other users" not in caplog.text


def test_ctrl_c_pressed_many_times_stores_everything_or_says_recover(tmp_path):
    """#14.13: five quick SIGINTs: exit 0 only with every frame stored and no spool left."""
    with make_sim(conversations=3, speed=40.0, call_duration_s=(200.0, 300.0)) as sim:
        out = tmp_path / "d"
        env = {**os.environ, "GENESYS_CLIENT_ID": sim.client_id,
               "GENESYS_CLIENT_SECRET": sim.client_secret}
        proc = subprocess.Popen(
            [sys.executable, "-m", "diarkit", "capture", "--login-base", sim.login_base,
             "--api-base", sim.api_base, "--heartbeat", "0.25", "--roll-seconds", "0.5",
             *[a for c in sim.conversation_ids for a in ("--conversation", c)],
             "--out", str(out), "--quiet"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: sim.channel_ids(connected=True) != [], 20, "capture connected")
            sim.start_conversations()
            wait_for(lambda: len(sim.ledger.snapshot()) > 200, 20, "frames flowing")
            for _ in range(5):
                proc.send_signal(signal.SIGINT)
                time.sleep(0.03)
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    spool = out / "_spool"
    left = [p for p in spool.iterdir()] if spool.exists() else []
    assert "Traceback" not in output, output
    assert proc.returncode == 0 or (proc.returncode == 1 and "diarkit recover" in output), (
        proc.returncode, output)
    if proc.returncode == 0:
        # it says it stopped cleanly: then nothing is left unstored and nothing is "live"
        assert not left, (output, left)
        # the later presses may land after the stop finished (then ignored): either is fine
        assert re.search(r"stopped by SIGINT( \(pressed \d times\))?\n", output), output
        assert " live after" not in output and "stopped after" in output, output
        rows = stored_rows(out)
        assert rows and f"stored rows {len(rows)} " in output, output
