"""Scanning a dataset for back-fill candidates: reasons, positions, communication ids."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from diarkit.capture.backfill import LATE_JOIN_MS, find_candidates, live_views, scan_live
from diarkit.io.convert import convert
from diarkit.io.dataset import write_gaps
from diarkit.io.load import load_raw
from diarkit.sim.generator import build_scenario, schedule


def _dataset(tmp_path, keep):
    """A converted dataset of three simulated calls' frames, filtered by ``keep``."""
    scenario = build_scenario(seed=3, conversations=3, call_duration_s=(60.0, 90.0))
    frames = [f for f in schedule(scenario) if keep(scenario, f)]
    src = tmp_path / "frames.jsonl"
    src.write_text("\n".join(f.text for f in frames) + "\n", encoding="utf-8")
    ds = tmp_path / "ds"
    convert([src], ds, progress=False)
    return scenario, ds


def test_reasons_positions_and_status_only_conversations(tmp_path):
    def keep(scenario, f):
        _a, b, c = scenario.conversation_ids
        if f.kind == "conversation":
            return False
        if f.conversation_id == b:  # status frames only: no segment anchors its clock
            return f.kind == "status"
        if f.conversation_id == c:  # joined late: nothing of its first 30 s
            plan = scenario.plans[2]
            return f.at_ms - plan.start_ms > 30_000
        return True

    scenario, ds = _dataset(tmp_path, keep)
    a, b, c = scenario.conversation_ids
    convs = scan_live(ds)
    # b: positions come from the frames' status.offsetMs; its communication id too
    assert len(convs[b].positions_ms) and convs[b].positions_ms.min() <= LATE_JOIN_MS
    assert convs[b].communications == {scenario.plans[1].communication_id}
    assert convs[a].ended_ms is not None and convs[b].ended_ms is not None
    cand = find_candidates(ds).set_index("conversation_id")
    assert a not in cand.index and b not in cand.index  # complete: nothing to back-fill
    assert cand.loc[c, "reasons"] == "late_join"
    view = {v.conversation_id: v for v in live_views(ds)}
    lo, hi = view[c].missing[0]
    assert lo == 0 and 30 <= hi <= 30 + 40  # up to the first frame received (<= 35 s window)
    # a gap while every call was subscribed touches the calls under way, with a range
    raw = load_raw(ds, columns=["conversation_id", "received_at"])
    mid = raw["received_at"].min() + (raw["received_at"].max() - raw["received_at"].min()) / 2
    write_gaps(ds, "s1", pd.DataFrame({
        "session_id": ["s1"], "start_at": [mid], "end_at": [mid + timedelta(milliseconds=1)],
        "duration_s": [0.001], "cause": ["network error"], "channel_id": ["ch"],
        "conversations": [[a, b, c]]}))
    cand = find_candidates(ds).set_index("conversation_id")
    assert "gap" in cand.loc[a, "reasons"]
