"""``diarkit simulate`` serves the analytics endpoints: a real process on 127.0.0.1."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from diarkit.capture.analytics import AnalyticsClient
from diarkit.capture.token import TokenSource


def _field(lines: list[str], name: str) -> str:
    for line in lines:
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name!r} not printed; got {lines}")


def test_simulate_command_serves_analytics_and_names():
    cmd = [sys.executable, "-m", "diarkit", "simulate", "--conversations", "2", "--queues", "1",
           "--agents", "2", "--speed", "50", "--duration", "30", "--start-now"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        assert proc.stdout is not None
        while time.monotonic() < deadline and not any(ln.startswith("running") for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        api, login = _field(lines, "api base"), _field(lines, "login base")
        assert re.match(r"http://127\.0\.0\.1:\d+", api)
        assert "analytics:" in "\n".join(lines)
        users = _field(lines, "users").split()
        queues = _field(lines, "queues").split()
        token = TokenSource(login, _field(lines, "client id"), _field(lines, "client secret"))
        client = AnalyticsClient(api, token, poll_s=0.05, close_tokens=True)
        try:
            user_names = client.names("users", users)
            queue_names = client.names("queues", queues)
            # the STA metrics route is served: a call still running answers 404 -> None
            assert client.conversation_metrics(_field(lines, "conversations").split()[0]) is None
        finally:
            client.close()
        assert set(user_names) == set(users) and all(user_names.values())
        assert set(queue_names) == set(queues) and all(queue_names.values())
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the documented way to stop it
        try:
            out, _ = proc.communicate(timeout=60)  # waits and closes both pipes
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)
            raise
    assert proc.returncode == 0 and "frames sent:" in out, out
