"""The pure packages import no I/O library; the public surface is pinned."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = ["httpx", "websocket", "matplotlib", "aiohttp", "pyarrow.parquet", "pyarrow.dataset"]


@pytest.mark.parametrize("package", ["diarkit.genesys", "diarkit.analysis"])
def test_pure_package_imports_no_io(package):
    code = (
        f"import sys; import {package}; "
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package} imported {out.stdout.strip()}"
    if package == "diarkit.analysis":  # pyarrow.compute is fine there; its I/O is not
        return
    code2 = f"import sys; import {package}; print('pyarrow' in sys.modules)"
    out2 = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True, check=True)
    assert out2.stdout.strip() == "False"


def test_cli_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "diarkit", "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage" in out.stdout and "demo" in out.stdout
