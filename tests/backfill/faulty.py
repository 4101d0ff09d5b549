"""A dataset with known coverage faults, written from the simulator's frames (no socket):
a capture gap, a back-filled call and a lost ``SESSION_ENDED``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from diarkit.capture.backfill import write_backfill_part
from diarkit.io.dataset import write_gaps, write_raw_part
from diarkit.io.raw import build_raw_table
from diarkit.sim.calls import build_scenario
from diarkit.sim.frames import schedule
from diarkit.sim.ground_truth import post_call_transcript


def faulty_dataset(root: Path) -> dict[str, Any]:
    """4 calls: ``gap`` lost frames in a gap, ``filled`` too but back-filled, ``open`` lost
    its SESSION_ENDED frame, ``whole`` is intact. Returns ``{role: plan}``."""
    sc = build_scenario(seed=6, conversations=4, queues=2, call_duration_s=(80.0, 100.0),
                        stagger_s=5.0, grouping="per_frame")
    gap_call, filled, open_call, whole = sc.plans
    epoch = sc.plans[0].session_start_epoch_ms - sc.plans[0].start_ms
    t = lambda ms: datetime.fromtimestamp((epoch + ms) / 1000, UTC)  # noqa: E731
    g0 = max(gap_call.start_ms, filled.start_ms) + 20_000
    g1 = g0 + 15_000
    kept = []
    for f in schedule(sc):
        lost = (f.conversation_id in (gap_call.conversation_id, filled.conversation_id)
                and f.kind == "transcription" and g0 <= f.at_ms < g1)
        ended = (f.conversation_id == open_call.conversation_id and f.kind == "status"
                 and "SESSION_ENDED" in f.text)
        if not (lost or ended):
            kept.append(f)
    raw = build_raw_table([f.text for f in kept], session_id="cap", start_seq=0,
                          received_at=[t(f.at_ms) for f in kept], source="sim")
    write_raw_part(root, raw, session_id="cap", seq=0)
    write_gaps(root, "cap", pd.DataFrame({
        "session_id": ["cap"], "start_at": [t(g0)], "end_at": [t(g1)],
        "duration_s": [(g1 - g0) / 1000], "cause": ["network"], "channel_id": ["ch-0"],
        "conversations": [[gap_call.conversation_id, filled.conversation_id]]}))
    write_backfill_part(root, [orjson.dumps(post_call_transcript(filled))],
                        filled.conversation_id, filled.communication_id,
                        t(filled.end_ms) + timedelta(minutes=5))
    return {"gap": gap_call, "filled": filled, "open": open_call, "whole": whole}
