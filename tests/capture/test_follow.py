"""Follow-mode bookkeeping and topic spreading (pure), and follow mode's batched
subscriptions against the live simulator on 127.0.0.1 (which enforces 300 requests per
minute per client, 429 beyond)."""

from __future__ import annotations

import json

import pytest

from diarkit.capture.follow import FollowTracker, TopicPlan, conversation_of
from diarkit.genesys import parse_frame


def call_event(cid: str, *, ended: bool) -> object:
    state = "disconnected" if ended else "connected"
    body = {"id": cid, "participants": [{"purpose": p, "state": state} for p in ("a", "b")]}
    topic = "v2.routing.queues.q1.conversations.calls"
    return parse_frame(json.dumps({"topicName": topic, "eventBody": body}))


def status_event(cid: str, status: str) -> object:
    body = {"conversationId": cid, "status": {"offsetMs": 1, "status": status}}
    topic = f"v2.conversations.{cid}.transcription"
    return parse_frame(json.dumps({"topicName": topic, "eventBody": body}))


def test_new_conversations_are_added_once_and_dropped_after_grace():
    t = FollowTracker(grace_s=5.0)
    assert t.observe(call_event("c1", ended=False), 0.0) == ["c1"]
    assert t.observe(call_event("c1", ended=False), 1.0) == []
    assert t.observe(call_event("c2", ended=False), 1.0) == ["c2"]
    assert t.observe(status_event("c1", "SESSION_ONGOING"), 2.0) == []
    assert t.observe(status_event("c1", "SESSION_ENDED"), 3.0) == []
    assert t.observe(call_event("c2", ended=True), 4.0) == []
    assert t.due(7.9) == []
    assert t.due(8.0) == ["c1"]
    assert t.due(9.0) == ["c2"]
    assert t.active == []
    # a late call event for a dropped conversation does not resubscribe it
    assert t.observe(call_event("c1", ended=False), 10.0) == []


def test_ended_before_seen_and_pinned_are_not_followed():
    t = FollowTracker(grace_s=0.0, pinned=frozenset({"pin"}))
    assert t.observe(call_event("gone", ended=True), 0.0) == []
    assert t.observe(call_event("pin", ended=False), 0.0) == []
    assert t.due(100.0) == [] and t.active == []


def test_topic_plan_spreads_over_channels_and_refuses_a_21st():
    plan = TopicPlan(per_channel=2, max_channels=2)
    assert plan.place("a") == (0, True)
    assert plan.place("b") == (0, False)
    assert plan.place("a") == (0, False)
    assert plan.place("c") == (1, True)
    assert plan.place("d") == (1, False)
    with pytest.raises(ValueError, match="channels of 2 topics are full"):
        plan.place("e")
    assert plan.remove("a") == 0 and plan.remove("zzz") is None
    assert plan.place("e") == (0, False)
    assert plan.topics(0) == ["b", "e"]


def test_conversation_of_uses_topic_parser():
    assert conversation_of("v2.conversations.abc-1.transcription") == "abc-1"
    assert conversation_of("v2.routing.queues.q.conversations.calls") is None


# ---------------------------------------------------------------- live: batched follow mode


def _follow_run(tmp_path, *, conversations, budget=240, batch_s=0.5, **sim_kw):
    from tests.capture.simhelp import (
        check_no_duplicates_and_losses_in_gaps,
        make_capture,
        make_sim,
        stored_rows,
        wait_for,
        wait_live,
    )

    with make_sim(conversations=conversations, **sim_kw) as sim:
        cap = make_capture(sim, tmp_path, grace_s=0.2, follow_queues=sim.queue_ids,
                           follow_batch_s=batch_s, subscription_budget_per_min=budget)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(40)
        wait_for(lambda: cap.stats().active_conversations == 0, what="calls dropped")
        stats = cap.stop()
        ids = set(sim.conversation_ids)
        check_no_duplicates_and_losses_in_gaps(sim, tmp_path)
    found = {r["conversation_id"] for r in stored_rows(tmp_path) if r["kind"] == "transcription"}
    return stats, cap, ids, found


def test_follow_batches_a_burst_of_new_calls_into_few_requests(tmp_path):
    """40 calls starting together: far fewer subscription requests than changes (80)."""
    stats, cap, ids, found = _follow_run(
        tmp_path, conversations=40, stagger_s=0.2, call_duration_s=(60.0, 120.0), speed=30.0
    )
    assert found == ids  # every call followed: none missed
    # one request per batch per channel, instead of one per new call and one per drop
    assert 0 < stats.subscription_requests < len(ids)
    assert stats.subscription_requests_per_min <= 240
    assert cap.notifications.retries == 0  # the simulator never answered 429


def test_follow_stays_under_a_tight_budget_without_missing_a_call(tmp_path):
    """Two captures follow the same 12 calls at once, each with its own OAuth client: one
    batched (1-second batches, a budget of 10 requests a minute), one subscribing each
    change at once (as before batching). The batched one stays within 10 requests in any
    minute where the other needs ~2.5x that, and captures every call the other does.

    (A call whose speech all precedes its queue event is caught by neither: follow mode
    learns of a call from its queue event.)
    """
    from tests.capture.simhelp import make_capture, make_sim, stored_rows, wait_for, wait_live

    # speed 10: a batch's 1 s wait is 10 s of call time (a live capture waits 1 s)
    with make_sim(conversations=12, stagger_s=1.0, call_duration_s=(80.0, 120.0),
                  speed=10.0) as sim:
        sim.add_client("each", "pw")
        caps = {
            "batched": make_capture(sim, tmp_path / "batched", grace_s=0.2,
                                    follow_queues=sim.queue_ids, follow_batch_s=1.0,
                                    subscription_budget_per_min=10),
            "each": make_capture(sim, tmp_path / "each", grace_s=0.2, client_id="each",
                                 client_secret="pw", follow_queues=sim.queue_ids,
                                 follow_batch_s=0.0),
        }
        for cap in caps.values():
            cap.start()
        for cap in caps.values():
            wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(40)
        for cap in caps.values():
            wait_for(lambda c=cap: c.stats().active_conversations == 0, what="calls dropped")
        stats = {k: cap.stop() for k, cap in caps.items()}
        ids = set(sim.conversation_ids)
    found = {
        k: {r["conversation_id"] for r in stored_rows(tmp_path / k) if r["kind"] == "transcription"}
        for k in caps
    }
    assert len(found["each"]) >= len(ids) - 2
    assert found["batched"] >= found["each"]
    assert stats["batched"].subscription_requests_per_min <= 10
    assert stats["each"].subscription_requests_per_min > 2 * 10
    assert caps["batched"].notifications.retries == 0
