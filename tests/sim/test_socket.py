"""The WebSocket at each channel's connectUri: heartbeats, ping, topics, socket requests."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
import websocket

from diarkit.genesys import SubscribeReply, parse_frame, transcription_topic
from diarkit.sim import Simulator

from .conftest import close, connect, new_channel, recv_close, recv_until, subscribe


def test_heartbeats_at_the_configured_period(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        t0 = time.monotonic()
        beats = [parse_frame(ws.recv()).kind for _ in range(3)]
        elapsed = time.monotonic() - t0
    finally:
        close(ws)
    assert beats == ["heartbeat"] * 3
    assert 0.6 <= elapsed < 3.0  # period 0.3 s


def test_ping_is_answered_by_pong(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        ws.send('{"message": "ping"}')
        reply = ws.recv()
    finally:
        close(ws)
    assert parse_frame(reply).kind == "pong"
    assert sim.ledger.texts(ch["id"]) == [reply]


def test_events_only_for_subscribed_topics(sim: Simulator, api: httpx.Client) -> None:
    wanted = sim.conversation_ids[1]
    ch = new_channel(api)
    assert subscribe(api, ch["id"], [transcription_topic(wanted)]).status_code == 200
    ws = connect(sim, ch)
    try:
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        sim.faults.socket_closing(ch["id"], close_after_s=0.1)
        texts, code = recv_close(ws)
    finally:
        close(ws)
    assert code == 1000
    events = [parse_frame(t) for t in texts]
    convs = {m.conversation_id for m in events if m.kind == "transcription"}
    assert convs == {wanted}
    expected = [f.text for f in sim.frames if f.topic == transcription_topic(wanted)]
    assert [t for t, m in zip(texts, events, strict=True) if m.kind == "transcription"] == expected


def test_channel_without_subscriptions_delivers_nothing(sim: Simulator, api: httpx.Client
                                                        ) -> None:
    topics = [transcription_topic(c) for c in sim.conversation_ids]
    kept, emptied = new_channel(api), new_channel(api)
    for ch in (emptied, kept):  # the topics move to ``kept``: one channel holds a topic
        assert subscribe(api, ch["id"], topics).status_code == 200
    url = f"/api/v2/notifications/channels/{emptied['id']}/subscriptions"
    assert api.delete(url).status_code == 204
    ws = connect(sim, emptied)
    try:
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        sim.faults.socket_closing(emptied["id"], close_after_s=0.1)
        texts, code = recv_close(ws)
    finally:
        close(ws)
    assert code == 1000
    assert {parse_frame(t).kind for t in texts} <= {"heartbeat", "socket_closing"}
    assert not [e for e in sim.ledger.entries(emptied["id"]) if e.topic in topics]
    assert sim.channel_subscriptions() == {kept["id"]: topics, emptied["id"]: []}


def test_subscribe_and_unsubscribe_over_the_socket(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    t1, t2 = (transcription_topic(c) for c in sim.conversation_ids[:2])
    ws = connect(sim, ch)
    try:
        ws.send(orjson.dumps({"message": "subscribe", "topics": [t1, t2],
                              "correlationId": "sub-1"}).decode())
        reply = parse_frame(ws.recv())
        assert isinstance(reply, SubscribeReply)
        assert reply.result == 200 and reply.correlation_id == "sub-1"
        assert sim.subscriptions(ch["id"]) == [t1, t2]
        ws.send(orjson.dumps({"message": "unsubscribe", "topics": [{"id": t1}],
                              "correlationId": "u-2"}).decode())
        reply = parse_frame(ws.recv())
        assert isinstance(reply, SubscribeReply) and reply.correlation_id == "u-2"
        assert sim.subscriptions(ch["id"]) == [t2]
        ws.send(orjson.dumps({"message": "subscribe", "topics": "nope",
                              "correlationId": "bad"}).decode())
        reply = parse_frame(ws.recv())
        assert isinstance(reply, SubscribeReply) and reply.result == 400
        ws.send("not json")  # ignored, the socket stays up
        ws.send('{"message": "ping"}')
        assert parse_frame(ws.recv()).kind == "pong"
    finally:
        close(ws)


def test_socket_subscribe_rejected_without_permission(sim: Simulator) -> None:
    from .conftest import token

    sim.faults.stop_heartbeats()
    sim.add_client("limited", "pw", permissions=())
    with httpx.Client(base_url=sim.api_base,
                      headers={"Authorization": f"Bearer {token(sim, 'limited', 'pw')}"}) as api:
        ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        ws.send(orjson.dumps({"message": "subscribe",
                              "topics": [transcription_topic(sim.conversation_ids[0])],
                              "correlationId": "c"}).decode())
        reply = parse_frame(ws.recv())
    finally:
        close(ws)
    assert isinstance(reply, SubscribeReply) and reply.result == 403
    assert reply.body["entities"][0]["missingPermissions"] == ["conversation:transcription:view"]
    assert sim.subscriptions(ch["id"]) == []


def test_unknown_channel_socket_is_404(sim: Simulator) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(f"{sim.ws_base}/channels/streaming-0-nope", timeout=5)
    assert info.value.status_code == 404


def test_new_connection_replaces_the_old_one(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    old = connect(sim, ch)
    new = websocket.create_connection(ch["connectUri"], skip_utf8_validation=True, timeout=5)
    try:
        _, code = recv_close(old)
        assert code == 1000
        recv_until(new, lambda t: parse_frame(t).kind == "heartbeat")
    finally:
        close(old)
        close(new)
