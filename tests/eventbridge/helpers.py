"""Shared by the EventBridge tests: a WebSocket capture of the simulator, segment comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from diarkit.analysis import finalize
from diarkit.io.load import load_segments
from tests.capture.simhelp import (
    ledger_entries,
    make_capture,
    make_sim,
    stored_rows,
    wait_for,
    wait_live,
)

#: Segment columns that describe what was said; the rest say how it was received.
CONTENT = [
    "conversation_id",
    "communication_id",
    "utterance_id",
    "channel",
    "speaker",
    "is_final",
    "confidence",
    "start_s",
    "end_s",
    "start_at",
    "text",
    "word_count",
]


def websocket_capture(out: Path, conversations: int = 6) -> list[str]:
    """Capture the simulator's calls live over a loopback WebSocket into ``out``.

    Returns:
        The frames stored, in receive order (what EventBridge would carry).
    """
    with make_sim(conversations=conversations, call_duration_s=(40.0, 80.0), speed=80.0) as sim:
        cap = make_capture(sim, out)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        n = len(ledger_entries(sim))
        wait_for(lambda: cap.stats().transcription_events >= n, what="all frames")
        cap.stop()
    return [r["frame"] for r in stored_rows(out)]


def final_segments(dataset: Path) -> pd.DataFrame:
    """The finalized segments of a dataset, content columns only, in a canonical order."""
    seg = finalize(load_segments(dataset)).segments[CONTENT]
    out = seg.astype(
        {c: "object" for c in ("conversation_id", "communication_id", "channel", "speaker")}
    )
    return out.sort_values(["conversation_id", "communication_id", "utterance_id"]).reset_index(
        drop=True
    )
