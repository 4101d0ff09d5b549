"""fleet_stats: per-call values aggregated across conversations."""

from __future__ import annotations

import pandas as pd
import pytest

from diarkit.analysis import fleet_stats, talk_stats

from ._frames import intervals


def stats():
    frames = [
        intervals({"agent": [(0, 10)], "customer": [(10, 12)]}, conversation="a"),
        intervals({"agent": [(0, 20)], "customer": [(20, 30)]}, conversation="b"),
        intervals({"agent": [(0, 30)]}, conversation="c"),
    ]
    return talk_stats(pd.concat(frames, ignore_index=True))


def metric(fleet: pd.DataFrame, speaker: str, name: str, **groups) -> pd.Series:
    mask = (fleet.speaker == speaker) & (fleet.metric == name)
    for col, value in groups.items():
        mask &= fleet[col] == value
    hit = fleet[mask]
    assert len(hit) == 1
    return hit.iloc[0]


def test_mean_of_per_call_values_and_percentiles():
    fleet = fleet_stats(stats())
    talk = metric(fleet, "agent", "talk_time_s")
    assert talk.conversations == 3 and talk["mean"] == pytest.approx(20.0)
    assert talk["min"] == 10.0 and talk["max"] == 30.0
    assert talk.p50 == pytest.approx(20.0) and talk.p90 == pytest.approx(28.0)
    customer = metric(fleet, "customer", "talk_time_s")
    assert customer.conversations == 2 and customer["mean"] == pytest.approx(6.0)


def test_call_metrics_count_each_conversation_once():
    fleet = fleet_stats(stats(), percentiles=(0.5,))
    duration = metric(fleet, "(call)", "call_duration_s")
    assert duration.conversations == 3 and duration["mean"] == pytest.approx(24.0)
    assert "p90" not in fleet.columns and "p50" in fleet.columns


def test_groups_by_queue_when_the_rows_carry_it():
    s = stats()
    s["queue_id"] = s.conversation_id.astype(str).map({"a": "q1", "b": "q1", "c": "q2"})
    fleet = fleet_stats(s)
    assert metric(fleet, "agent", "talk_time_s", queue_id="q1")["mean"] == pytest.approx(15.0)
    assert metric(fleet, "agent", "talk_time_s", queue_id="q2")["mean"] == pytest.approx(30.0)
    whole = fleet_stats(s, by=())
    assert "queue_id" not in whole.columns


def test_nan_values_are_left_out_and_bad_arguments_named():
    s = talk_stats(intervals({"agent": [(0, 4)]}, conversation="a"), speakers=["agent", "customer"])
    fleet = fleet_stats(s)
    assert metric(fleet, "customer", "turn_mean_s").conversations == 0
    with pytest.raises(ValueError, match="no column"):
        fleet_stats(s, by=["agent_id"])
    with pytest.raises(ValueError, match="0-1"):
        fleet_stats(s, percentiles=(95,))
