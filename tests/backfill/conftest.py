"""Fixtures of the back-fill and reconciliation tests."""

from __future__ import annotations

import pytest

from .bfhelp import capture_with_faults


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory):
    """One faulty capture per test module (the simulator keeps serving REST)."""
    out = tmp_path_factory.mktemp("captured") / "ds"
    cap = capture_with_faults(out)
    try:
        yield cap
    finally:
        cap.sim.stop()


