"""Follow-mode bookkeeping and topic spreading: pure logic, no sockets."""

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
