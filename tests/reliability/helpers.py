"""Shared helpers of the reliability tests: frames, reading a dataset back, mounts."""

from __future__ import annotations

import contextlib
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from diarkit.io.dataset import list_files, list_parts, superseded_parts
from tests.io.conftest import transcription_frame


def frames(n: int, prefix: str = "c") -> list[bytes]:
    """``n`` distinct valid transcription frames (one line each)."""
    return [
        transcription_frame(f"{prefix}{i}", utterances=1, offset_ms=1000 + i) for i in range(n)
    ]


def stored(ds: Path, kind: str = "raw", columns: list[str] | None = None) -> list[dict]:
    """Every row of the dataset's visible parts of ``kind`` (superseded ones skipped)."""
    skip = superseded_parts(ds)
    rows: list[dict] = []
    for p in list_parts(ds, kind):
        if p not in skip:
            rows.extend(pq.read_table(p, columns=columns).to_pylist())
    return rows


def stored_frames(ds: Path) -> Counter:
    """The frame texts stored in raw parts, with their multiplicity."""
    return Counter(r["frame"] for r in stored(ds, columns=["frame"]))


def quarantined(ds: Path) -> list[dict]:
    """Every quarantined record."""
    return [r for p in list_files(ds, "quarantine") for r in pq.read_table(p).to_pylist()]


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (skips the test where mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if got.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here: {got.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` bind-mounted read-only onto itself (root ignores chmod; skips when mounting
    is not permitted)."""
    got = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(path), str(path)], capture_output=True, text=True
    )
    if got.returncode:
        pytest.skip(f"a read-only bind mount is not permitted here: {got.stderr.strip()}")
    try:
        # older util-linux needs a remount for the ro flag to take effect on a bind mount
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=False)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
