"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def frame_bytes():
    """Read a golden wire frame from tests/data/frames by stem name."""

    def read(name: str) -> bytes:
        return (DATA / "frames" / f"{name}.json").read_bytes()

    return read
