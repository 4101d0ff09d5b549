"""The ``diarkit demo`` job: what exists so far, end to end, and what it did."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from diarkit.genesys import parse_frame

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "frames"


def run_demo(echo: Callable[[str], None] = print) -> None:
    """Parse the golden wire frames and report each message kind."""
    for path in sorted(SAMPLE.glob("*.json")):
        message = parse_frame(path.read_bytes())
        echo(f"{path.name}: {message.kind}")
