"""genesys.calls against the official SDK: every simulated .calls body, field by field.

Each call event the simulator emits (every call kind and feature) is deserialized by
``purecloudplatformclientv2`` 269 (``QueueConversationCallEventTopicCallConversation``)
and by :func:`diarkit.genesys.calls.parse_call_body`; the typed participants must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from PureCloudPlatformClientV2.api_client import ApiClient

from diarkit.genesys import ProtocolError
from diarkit.genesys.calls import parse_call_body, parse_time
from diarkit.sim import build_scenario, schedule
from diarkit.sim.calls import CALL_KINDS

_deserialize = ApiClient()._ApiClient__deserialize  # type: ignore[attr-defined]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@pytest.fixture(scope="module")
def bodies():
    kinds = [*CALL_KINDS, "basic+hold", "basic+secure_pause"]
    scenario = build_scenario(seed=5, conversations=len(kinds), kinds=kinds,
                              call_duration_s=(60.0, 90.0))
    out = []
    for frame in schedule(scenario):
        if frame.kind == "conversation":
            out.append(orjson.loads(frame.text)["eventBody"])
    return out


def test_every_call_event_parses_like_the_sdk(bodies):
    assert len(bodies) > 50
    seen = {"held": 0, "wrapup": 0, "consult": 0, "secure": 0, "acw": 0}
    for body in bodies:
        ours = parse_call_body(body)
        sdk = _deserialize(body, "QueueConversationCallEventTopicCallConversation")
        assert ours.conversation_id == sdk.id
        assert ours.secure_pause == bool(sdk.secure_pause)
        assert len(ours.participants) == len(sdk.participants)
        for p, q in zip(ours.participants, sdk.participants, strict=True):
            assert (p.id, p.purpose, p.state, p.direction) == (q.id, q.purpose, q.state,
                                                               q.direction)
            assert p.connected_time == _utc(q.connected_time)
            assert p.end_time == _utc(q.end_time)
            assert p.start_hold_time == _utc(q.start_hold_time)
            assert p.held == bool(q.held)
            assert p.user_id == (q.user.id if q.user else None)
            assert p.user_name == (q.user.name if q.user else None)
            assert p.queue_id == (q.queue.id if q.queue else None)
            assert p.disconnect_type == q.disconnect_type
            assert p.wrapup_code == (q.wrapup.code if q.wrapup else None)
            assert p.start_acw_time == _utc(q.start_acw_time)
            assert p.end_acw_time == _utc(q.end_acw_time)
            assert p.consult_participant_id == q.consult_participant_id
            assert p.secure_pause == bool(q.secure_pause)
            assert (p.ani, p.dnis) == (q.ani, q.dnis)
            seen["held"] += p.held
            seen["wrapup"] += p.wrapup_code is not None
            seen["consult"] += p.consult_participant_id is not None
            seen["secure"] += p.secure_pause or ours.secure_pause
            seen["acw"] += p.start_acw_time is not None
    assert all(seen.values()), seen  # every feature was exercised


def test_the_older_generic_shape_is_read_from_the_last_call_leg():
    body = {
        "id": "c1",
        "participants": [
            {
                "id": "p1",
                "purpose": "agent",
                "userId": "u1",
                "queueId": "q1",
                "calls": [
                    {"state": "connected", "connectedTime": "2026-11-24T09:00:00Z"},
                    {"state": "disconnected", "held": True,
                     "connectedTime": "2026-11-24T09:00:01.500+01:00",
                     "endTime": "2026-11-24T08:05:00Z"},
                ],
            }
        ],
    }
    p = parse_call_body(body).participants[0]
    assert (p.user_id, p.queue_id, p.state, p.held) == ("u1", "q1", "disconnected", True)
    assert p.connected_time == datetime(2026, 11, 24, 8, 0, 1, 500000, tzinfo=UTC)
    assert p.disconnected and p.latest_time() == datetime(2026, 11, 24, 8, 5, tzinfo=UTC)


def test_bad_fields_name_their_json_path():
    with pytest.raises(ProtocolError, match=r"\$.eventBody.participants\[0\].user"):
        parse_call_body({"id": "c", "participants": [{"user": "u1"}]})
    with pytest.raises(ProtocolError, match=r"connectedTime.*not an ISO-8601 time"):
        parse_call_body({"id": "c", "participants": [{"connectedTime": "yesterday"}]})
    with pytest.raises(ProtocolError, match="without a time zone"):
        parse_time("2026-11-24T09:00:00", "$.x")
    with pytest.raises(ProtocolError, match=r"\$.eventBody.id"):
        parse_call_body({"participants": []})
