"""``reconcile`` and ``names`` against the simulator, library and CLI: zero disagreement where
diarkit and the simulator's analytics agree by construction, the faulty calls named."""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from diarkit.capture.analytics import load_names, reconcile_dataset
from diarkit.capture.backfill import backfill_until
from diarkit.cli import cli

from .bfhelp import client_of, copy_dataset, utterance_finals

pytestmark = pytest.mark.timeout(240)
FAST = {"retry_delays_s": (0.2,), "give_up_after_s": 5.0}


def test_reconcile_names_the_calls_a_fault_made_differ_and_agrees_after_backfill(
        captured, tmp_path):
    ds = copy_dataset(captured, tmp_path / "ds")
    with client_of(captured.sim) as client:
        live_only = reconcile_dataset(str(ds), client, threshold_s=0.5, mode="query")
        backfill_until(ds, client, wait_s=20.0, **FAST)
        after = reconcile_dataset(str(ds), client, threshold_s=0.5, mode="query")
        as_job = reconcile_dataset(str(ds), client, threshold_s=0.5, mode="job")
    stored = utterance_finals([r["frame"] for r in captured.stored])
    truth = {(p.conversation_id, u.utterance_id) for p in captured.sim.scenario.plans
             for u in p.utterances if u.kind not in ("empty", "paused")}
    lost_by_call = {cid for cid, _u in truth - stored}
    # before back-fill: the calls that lost speech disagree on talk and silence, no other
    # (live capture's duration is the SESSION_ENDED frame's offset: the session's end)
    per = live_only.comparison.per_call
    speech = per[per["metric"].isin(["agent_s", "customer_s", "overtalk_s", "silence_s"])]
    named = set(speech.loc[speech["beyond"], "conversation_id"])
    assert named and named <= lost_by_call
    assert set(live_only.comparison.disagreeing) >= named
    # the call without a transcript has no STA metrics either: compared on duration/hold only
    never_rows = per[per["conversation_id"] == captured.never]
    assert set(never_rows["metric"]) <= {"duration_s", "hold_s"}
    # after back-fill: zero disagreement; talk, silence, overtalk, hold equal to the ms.
    # The call without a transcript keeps live capture's duration, its SESSION_ENDED
    # frame's offset (the session's real end): it agrees too, unless a fault lost that
    # frame (then the end is unknown live and only that figure may differ).
    from diarkit.capture.backfill import live_views

    never_ended = any(v.ended for v in live_views(ds) if v.conversation_id == captured.never)
    rest = after.comparison.per_call
    if not never_ended:
        rest = rest[~((rest["conversation_id"] == captured.never)
                      & (rest["metric"] == "duration_s"))]
    assert not rest["beyond"].any(), rest[rest["beyond"]]
    dur = rest[rest["metric"] == "duration_s"]
    assert len(dur) >= len(captured.sim.conversation_ids) - 1
    assert (dur["diff"].abs() < 0.05).all(), dur
    fleet = after.comparison.fleet.set_index("metric")
    assert (fleet.drop(index="duration_s")["beyond"] == 0).all()
    assert (fleet.drop(index="duration_s")["mad_s"].abs() < 1e-3).all(), fleet
    assert set(fleet.index) >= {"agent_s", "customer_s", "overtalk_s", "silence_s", "hold_s"}
    pd.testing.assert_frame_equal(after.comparison.fleet, as_job.comparison.fleet)
    assert as_job.mode == "job" and after.mode == "query"


def _cli_env(sim):
    return {"GENESYS_CLIENT_ID": sim.client_id, "GENESYS_CLIENT_SECRET": sim.client_secret}


def test_cli_backfill_reconcile_and_names(captured, tmp_path):
    ds = copy_dataset(captured, tmp_path / "ds")
    sim = captured.sim
    base = ["--api-base", sim.api_base, "--login-base", sim.login_base]
    runner = CliRunner(env=_cli_env(sim))
    listed = runner.invoke(cli, ["backfill", str(ds), "--list"])
    assert listed.exit_code == 0 and captured.never in listed.output
    res = runner.invoke(cli, ["backfill", str(ds), *base, "--retry-delay", "0.2",
                              "--give-up-after", "5", "--wait", "20"])
    assert res.exit_code == 0, res.output
    assert "1 unavailable" in res.output and "still pending" not in res.output
    out = tmp_path / "fleet.json"
    res = runner.invoke(cli, ["reconcile", str(ds), *base, "--format", "json", "--out",
                              str(out), "--threshold", "0.5"])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())
    assert {r["metric"] for r in rows} >= {"agent_s", "silence_s", "hold_s"}
    assert all(r["beyond"] == 0 for r in rows if r["metric"] != "duration_s")
    res = runner.invoke(cli, ["reconcile", str(ds), *base, "--per-call", "--format", "csv"])
    assert res.exit_code == 0 and res.output.startswith("conversation_id,metric,diarkit")
    res = runner.invoke(cli, ["reconcile", str(ds), *base, "--conversation", captured.late])
    assert "no call beyond the threshold" in res.output, res.output
    res = runner.invoke(cli, ["names", str(ds), *base, "--kind", "users", "--kind", "queues"])
    assert res.exit_code == 0, res.output
    users = load_names(str(ds), "users")
    # conversations mode records no call events: names come from the back-filled transcripts
    assert set(users) == {p.user_id for p in sim.scenario.plans if p.user_id}
    from diarkit.capture.analytics import add_names

    named = add_names(pd.DataFrame({"user_id": [*users, "unknown-user", None]}), str(ds))
    assert named["user_name"].tolist()[:-2] == [users[u] for u in users]
    assert named["user_name"].tolist()[-2] == "unknown-user"  # unknown ids keep their id
    table = pq.read_table(ds / "dims" / "queues.parquet")
    assert table.column_names == ["id", "name", "resolved_at"] and table.num_rows >= 1
    # errors are clean: no credentials, unknown environment
    bare = CliRunner(env={k: "" for k in _cli_env(sim)})
    res = bare.invoke(cli, ["reconcile", str(ds), *base])
    assert res.exit_code != 0 and "GENESYS_CLIENT_ID" in res.output
    res = runner.invoke(cli, ["names", str(ds), "--env", "nowhere.example"])
    assert res.exit_code != 0 and "nowhere.example" in res.output
    assert os.path.exists(ds / "backfill" / "pending.parquet")


def test_capture_backfill_wait_runs_backfill_after_the_capture(tmp_path):
    from diarkit.capture.backfill import coverage_table, load_pending
    from diarkit.sim.analytics import AnalyticsSim
    from diarkit.sim.faults import PlannedFault

    from .bfhelp import analytics_sim

    sim = analytics_sim(AnalyticsSim(), conversations=3, autostart=True,
                        start_delay_s=1.5, stagger_s=3.0,
                        fault_plan=[PlannedFault(0.4, "drop"), PlannedFault(0.45, "drop")])
    with sim:
        ds = tmp_path / "ds"
        res = CliRunner(env=_cli_env(sim)).invoke(cli, [
            "capture", "--api-base", sim.api_base, "--login-base", sim.login_base,
            "--heartbeat", "0.25", "--roll-seconds", "0.5", "--duration", "10", "--quiet",
            "--out", str(ds), *[a for c in sim.conversation_ids for a in ("--conversation", c)],
            "--backfill-wait", "10"])
    assert res.exit_code == 0, res.output
    assert "need back-fill" in res.output, res.output
    pend = load_pending(ds)
    assert len(pend) >= 1 and (pend["state"] == "done").all(), (res.output, pend)
    cov = coverage_table(ds)
    assert cov["complete"].all(), (res.output, cov)


def test_reconcile_takes_holds_from_the_datasets_call_events(tmp_path):
    """A follow-mode capture records call events: diarkit's holds come from its own
    conversation model (``hold_source = "events"``), an independent measure of tHeld."""
    from diarkit.sim.analytics import AnalyticsSim

    from .bfhelp import analytics_sim, make_capture, wait_for, wait_live

    sim = analytics_sim(AnalyticsSim(), conversations=6, seed=5, speed=20.0, stagger_s=5.0,
                        call_duration_s=(40.0, 70.0))
    out = tmp_path / "ds"
    with sim:
        cap = make_capture(sim, out, follow_queues=sim.queue_ids, follow_users=sim.user_ids,
                           clock=sim.call_clock)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(60)
        wait_for(lambda: cap.stats().active_conversations == 0, what="calls dropped")
        assert cap.stop().status == "stopped"
        with client_of(sim) as client:
            backfill_until(out, client, wait_s=10.0, **FAST)
            events = reconcile_dataset(str(out), client, hold_from="events")
            analytics = reconcile_dataset(str(out), client, hold_from="analytics")
        truth_hold = {p.conversation_id: sum(e - s for s, e in p.holds_ms) / 1000
                      for p in sim.scenario.plans}
    from diarkit.io.load import load_conversation_model

    convs = load_conversation_model(out).conversations
    model_hold = dict(zip(convs["conversation_id"].astype(str), convs["hold_s"], strict=True))
    described = set(convs.loc[convs["event_count"] > 0, "conversation_id"].astype(str))
    assert (events.diarkit["hold_source"] == "events").all()
    assert (analytics.diarkit["hold_source"] == "analytics").all()
    per = events.comparison.per_call
    hold = per[per["metric"] == "hold_s"].set_index("conversation_id")
    # compared: exactly the calls the dataset's call events describe
    assert set(hold.index) == described and len(described) >= 3
    # Genesys's side is the simulator's truth; diarkit's is its own conversation model's
    for cid in described:
        want = truth_hold[cid]
        assert hold.loc[cid, "genesys"] == pytest.approx(want, abs=1e-3)
        assert hold.loc[cid, "diarkit"] == pytest.approx(model_hold[cid], abs=0.01)
    # every call where the two differ beyond the threshold is named
    differ = {c for c in described if abs(model_hold[c] - truth_hold[c]) > 1.0}
    assert differ <= set(events.comparison.disagreeing)
    # with the details' own hold segments, hold agrees by construction
    a = analytics.comparison.per_call
    assert not a[(a["metric"] == "hold_s") & a["beyond"]].shape[0]
