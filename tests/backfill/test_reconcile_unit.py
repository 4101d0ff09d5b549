"""Pure reconciliation logic with hand-computed expectations (no sockets, no files)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from diarkit.analysis.reconcile import (
    COVERAGE_COLUMNS,
    PARTITION,
    LiveView,
    compare_metrics,
    coverage,
    merge_sources,
    partition_table,
    speech_partition,
    sta_seconds,
)


def iv(*pairs):
    return (np.array([a for a, _ in pairs], dtype=float),
            np.array([b for _, b in pairs], dtype=float))


def test_speech_partition_by_hand():
    # call of 20 s: IVR 0-4 (prompt 0.5-3.5 and the customer 3-4 inside it), queue 4-6,
    # agent 6-10, customer 9-12 (overtalk 9-10), hold 13-15 (agent speech there is hold),
    # silence elsewhere (12-13 and 15-20)
    internal = iv((0.5, 3.5), (6, 10), (14, 14.5))
    external = iv((3, 4), (9, 12))
    phases = {"ivr": iv((0, 4)), "queue": iv((4, 6)), "hold": iv((13, 15))}
    got = speech_partition(internal, external, 20.0, phases)
    assert got == {"agent_s": 3.0, "customer_s": 2.0, "overtalk_s": 1.0, "silence_s": 6.0,
                   "ivr_s": 4.0, "acd_s": 2.0, "other_s": 2.0}
    assert sum(got.values()) == 20.0
    # without phases everything is speech or silence; speech past the end is cut
    got = speech_partition(internal, iv((18, 25)), 20.0)
    assert got["agent_s"] == 3.0 + 4.0 + 0.5 and got["customer_s"] == 2.0
    assert got["ivr_s"] == got["acd_s"] == got["other_s"] == 0.0
    assert math.isclose(sum(got.values()), 20.0)
    assert speech_partition(internal, external, 0.0) == dict.fromkeys(PARTITION, 0.0)


def test_partition_table_ignores_blank_text_and_marks_unknown_hold():
    seg = pd.DataFrame({"conversation_id": ["a", "a", "a", "b"],
                        "channel": ["INTERNAL", "EXTERNAL", "INTERNAL", "EXTERNAL"],
                        "start_s": [0.0, 2.0, 5.0, 0.0], "end_s": [1.0, 3.0, 6.0, 4.0],
                        "text": ["hello", "hi", "  ", "yes"]})
    phases = pd.DataFrame({"conversation_id": ["a"], "phase": ["hold"], "start_s": [8.0],
                           "end_s": [9.0]})
    t = partition_table(seg, {"a": 10.0, "b": 5.0}, phases).set_index("conversation_id")
    assert t.loc["a", "agent_s"] == 1.0 and t.loc["a", "customer_s"] == 1.0
    assert t.loc["a", "silence_s"] == 7.0 and t.loc["a", "hold_s"] == 1.0
    assert t.loc["b", "customer_s"] == 4.0 and math.isnan(t.loc["b", "hold_s"])


def test_compare_metrics_threshold_is_strict_and_fleet_figures_by_hand():
    d = pd.DataFrame({"conversation_id": ["a", "b", "c"], "agent_s": [10.0, 20.0, 30.0],
                      "hold_s": [np.nan, 5.0, 0.0]})
    g = pd.DataFrame({"conversation_id": ["a", "b", "c"], "agent_s": [9.0, 22.5, 30.0],
                      "hold_s": [4.0, 5.0, 0.0]})
    cmp = compare_metrics(d, g, threshold_s=1.0, metrics=("agent_s", "hold_s"))
    per = cmp.per_call.set_index(["conversation_id", "metric"])
    assert per.loc[("a", "agent_s"), "diff"] == 1.0
    assert not per.loc[("a", "agent_s"), "beyond"]  # exactly the threshold: not beyond
    assert per.loc[("b", "agent_s"), "beyond"]
    assert ("a", "hold_s") not in per.index  # unknown on one side: not compared
    fleet = cmp.fleet.set_index("metric")
    assert fleet.loc["agent_s", "calls"] == 3
    assert fleet.loc["agent_s", "bias_s"] == pytest.approx((1.0 - 2.5 + 0.0) / 3)
    assert fleet.loc["agent_s", "mad_s"] == pytest.approx((1.0 + 2.5 + 0.0) / 3)
    assert fleet.loc["agent_s", "beyond"] == 1 and fleet.loc["hold_s", "calls"] == 2
    assert cmp.disagreeing == ["b"]
    with pytest.raises(ValueError, match="threshold_s"):
        compare_metrics(d, g, threshold_s=-1)


def test_coverage_by_hand():
    views = [
        LiveView("a", ((0.0, 10.0), (30.0, 40.0), (35.0, 45.0)), 100.0, True),
        LiveView("b", ((50.0, float("inf")),), 60.0, False),
        LiveView("c", (), 80.0, True),
        LiveView("d", ((0.0, float("inf")),), float("nan"), False),
    ]
    cov = coverage(views, {"a": 100.0, "e": 30.0}).set_index("conversation_id")
    assert list(cov.reset_index().columns) == list(COVERAGE_COLUMNS)
    a = cov.loc["a"]
    assert (a["live_s"], a["backfill_s"], a["unknown_s"]) == (75.0, 25.0, 0.0)
    assert a["coverage_live"] == 0.75 and a["complete"]
    b = cov.loc["b"]  # no back-fill, session never ended: the tail is unknown, not complete
    assert b["unknown_s"] == 10.0 and b["coverage_unknown"] == pytest.approx(1 / 6)
    assert not b["complete"]
    assert cov.loc["c", "coverage_live"] == 1.0 and cov.loc["c", "complete"]
    assert cov.loc["d", "coverage_unknown"] == 1.0 and not cov.loc["d", "complete"]
    assert cov.loc["e", "coverage_backfill"] == 1.0 and cov.loc["e", "complete"]


def _seg(rows):
    cols = ["conversation_id", "communication_id", "utterance_id", "channel", "is_final",
            "start_s", "end_s", "start_at", "text", "session_id", "order"]
    df = pd.DataFrame(rows, columns=cols)
    df["start_at"] = pd.to_datetime(df["start_at"], utc=True)
    # the rest of a segments table (diarkit.schema.SEGMENTS), as load_segments gives it
    df["speaker"] = df["channel"].map({"INTERNAL": "agent", "EXTERNAL": "customer"}).fillna(
        df["channel"].str.lower())
    for col in ("conversation_id", "communication_id", "channel", "speaker", "session_id"):
        df[col] = df[col].astype("category")
    df["confidence"] = 0.9
    df["word_count"] = df["text"].str.split().str.len().astype("int32")
    df["seq"] = df["order"]
    df["received_at"] = df["start_at"]
    return df


def test_merge_sources_fills_only_what_live_missed():
    t0 = pd.Timestamp("2026-11-24T09:00:00Z")
    at = lambda s: t0 + pd.Timedelta(seconds=s)  # noqa: E731
    live = "cap-1"
    bf = "backfill-c1"
    seg = _seg([
        # live: final, partial-then-final, a partial that never became final, a BOTH row
        ("k", "c1", "u1", "INTERNAL", True, 1.0, 3.0, at(1.0), "hello there", live, 0),
        ("k", "c1", "u2", "EXTERNAL", False, 4.0, 5.0, at(4.0), "i want", live, 1),
        ("k", "c1", "u2", "EXTERNAL", True, 4.0, 6.0, at(4.0), "i want help", live, 2),
        ("k", "c1", "u3", "INTERNAL", False, 20.0, 21.0, at(20.0), "let me", live, 3),
        ("k", "c1", "u4", "BOTH", True, 30.0, 31.0, at(30.0), "okay", live, 4),
        # post-call phrases on their own clock (0.6 s later), one per utterance + a missed one
        ("k", "c1", "c1:0", "INTERNAL", True, 1.6, 3.6, at(1.0), "hello there", bf, 0),
        ("k", "c1", "c1:1", "EXTERNAL", True, 4.6, 6.6, at(4.0), "i want help", bf, 1),
        ("k", "c1", "c1:2", "EXTERNAL", True, 10.6, 12.6, at(10.0), "my bill", bf, 2),
        ("k", "c1", "c1:3", "INTERNAL", True, 20.6, 22.6, at(20.0), "let me check", bf, 3),
        ("k", "c1", "c1:4", "EXTERNAL", True, 30.6, 31.6, at(30.0), "okay", bf, 4),
    ])
    out = merge_sources(seg)
    got = list(zip(out["text"], out["source"].astype(str), out["start_s"], strict=True))
    assert got == [("hello there", "both", 1.0), ("i want help", "both", 4.0),
                   ("my bill", "backfill", 10.0), ("let me check", "backfill", 20.0),
                   ("okay", "both", 30.0)]
    # no back-fill at all: live finals stay live, the never-final partial is kept (live)
    only_live = merge_sources(seg[seg["session_id"] == live])
    assert only_live["source"].astype(str).tolist() == ["live"] * 4
    assert "let me" in only_live["text"].tolist()
    # a back-channel inside the other side's speech is not taken for it
    seg2 = _seg([
        ("k", "c1", "u1", "INTERNAL", True, 0.0, 10.0, at(0.0), "long answer", live, 0),
        ("k", "c1", "c1:0", "INTERNAL", True, 0.0, 10.0, at(0.0), "long answer", bf, 0),
        ("k", "c1", "c1:1", "EXTERNAL", True, 4.0, 4.4, at(4.0), "mm hmm", bf, 1),
    ])
    assert merge_sources(seg2)["source"].astype(str).tolist() == ["both", "backfill"]


def test_sta_seconds():
    pm = {"agentDurationPercentage": 50.0, "customerDurationPercentage": 25.0}
    got = sta_seconds(pm, 120.0)
    assert got["agent_s"] == 60.0 and got["customer_s"] == 30.0
    assert math.isnan(got["silence_s"])


def test_report_sections_render():
    from diarkit.report.builder import Report
    from diarkit.report.reconcile import add_coverage_section, add_reconcile_section

    d = pd.DataFrame({"conversation_id": ["a", "b"], "agent_s": [10.0, 20.0]})
    g = pd.DataFrame({"conversation_id": ["a", "b"], "agent_s": [10.0, 25.0]})
    cmp = compare_metrics(d, g, threshold_s=1.0, metrics=("agent_s",))
    cov = coverage([LiveView("a", ((0.0, 5.0),), 50.0, True)], {})
    r = add_coverage_section(add_reconcile_section(Report("t"), cmp), cov)
    html = r.to_html()
    assert "diarkit vs Genesys" in html and "agent talking alone" in html
    assert "Calls beyond the threshold" in html and "Coverage" in html
    assert "Calls not completely covered" in html
