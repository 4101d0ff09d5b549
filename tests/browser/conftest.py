"""Serve a notebook with Voilà on 127.0.0.1 and drive it with a real headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DIARKIT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "artifacts"
VOILA = Path(sys.executable).parent / "voila"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"voila did not listen on 127.0.0.1:{port} within {timeout_s} s")


@pytest.fixture
def voila(tmp_path):
    """Start Voilà for a notebook; yields ``serve(notebook) -> (url, out_dir)``; kills it after."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def serve(notebook: Path) -> tuple[str, Path]:
        if not CHROMIUM.exists():
            pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/test.sh`, which installs the "
                        "Debian packages chromium and chromium-driver")
        port = _free_port()
        out = tmp_path / "out"
        env = {
            **os.environ,
            "DIARKIT_INTERACTIVE": "1",  # the notebook leaves Start/Stop to the person
            "DIARKIT_NOTEBOOK_OUT": str(out),
            "MPLBACKEND": "Agg",
        }
        log = tmp_path / "voila.log"
        logs.append(log)
        with log.open("wb") as sink:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [str(VOILA), str(notebook), "--no-browser", f"--port={port}",
                 "--Voila.ip=127.0.0.1", "--token=", "--show_tracebacks=True",
                 "--ServerApp.open_browser=False"],
                cwd=notebook.parent, env=env, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(proc)
        _wait_port(port, proc, 60)
        return f"http://127.0.0.1:{port}/", out

    yield serve
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
    for log in logs:  # shown by pytest when the test failed
        if log.exists():
            print(f"--- {log} ---\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def browser():
    """A headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()
