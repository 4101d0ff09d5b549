"""Capture against a hostile server on 127.0.0.1 (issue #14 items 9-12).

Each test scripts one misbehaviour the simulator cannot produce on purpose and checks
that the capture retries through the backoff policy with a clear message, stays alive,
and stores every frame it received.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import orjson
import psutil
import pytest
from aiohttp import web

from diarkit.capture import Capture

from .hostile import HostileServer, html_reply, json_reply, raw_frame, transcription_frame
from .simhelp import fast_backoff, gap_rows, stored_rows, wait_for

CID = str(uuid.uuid4())


def hostile_capture(srv: HostileServer, out, **kw) -> Capture:
    opts = {
        "login_base": srv.base, "api_base": srv.base, "client_id": "hostile",
        "client_secret": "secret", "heartbeat_s": 0.25, "roll_seconds": 0.5,
        "backoff_factory": fast_backoff, "conversations": [CID],
    }
    opts.update(kw)
    return Capture(out, **opts)


def wait_live(cap: Capture, timeout: float = 10.0) -> None:
    wait_for(lambda: cap.status in ("live", "error"), timeout, "capture live")
    assert cap.status == "live", cap.message


def frames_stored(out) -> list[str]:
    return [r["frame"] for r in stored_rows(out)]


def test_404_on_subscribe_after_create_goes_through_backoff(tmp_path):
    """#14.9: a 404 on the subscription call must not make a channel storm."""
    with HostileServer() as srv:
        srv.subscription_replies.extend(
            [json_reply({"message": "not found", "code": "not.found", "status": 404}, 404)]
            * 10_000)
        cap = hostile_capture(srv, tmp_path)
        cap.start()
        time.sleep(1.0)
        created_in_1s = srv.channels_created
        srv.subscription_replies.clear()
        wait_live(cap)
        stats = cap.stop()
    # fast_backoff waits 0.05, 0.1, 0.2, 0.2 ... s: about 7 attempts in a second
    assert 2 <= created_in_1s <= 12, created_in_1s
    assert stats.status == "stopped"


@pytest.mark.parametrize("value", ["inf", "1e400", "1e12", "100000", "nan", "-5"])
def test_retry_after_is_capped_shown_and_logged(tmp_path, caplog, value):
    """#14.10: huge or infinite Retry-After values wait at most the cap, and say so."""
    caplog.set_level(logging.WARNING, logger="diarkit.capture")
    with HostileServer() as srv:
        srv.channel_replies.append(json_reply(
            {"message": "Rate limit exceeded", "code": "too.many.requests.retry.after",
             "status": 429}, 429, {"Retry-After": value}))
        cap = hostile_capture(srv, tmp_path, max_retry_after_s=0.6)
        cap.start()
        seen: list[str] = []
        deadline = time.monotonic() + 10
        while cap.status != "live" and time.monotonic() < deadline:
            seen.append(cap.stats().message)
            time.sleep(0.02)
        assert cap.status == "live", cap.message
        cap.stop()
    waits = [m for m in seen if "429" in m and "retrying in" in m]
    assert waits, seen
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "429" in messages and "retrying in" in messages
    if value in ("inf", "1e400", "1e12", "100000"):
        assert "capped" in messages, messages


async def _good_then(ws: web.WebSocketResponse, request: web.Request, srv: HostileServer,
                     frames: list[str], violation: bytes | None, close_code: int | None) -> None:
    for text in frames:
        await ws.send_str(text)
        srv.sent.append(text)
    await asyncio.sleep(0.2)
    if violation is not None:
        assert request.transport is not None
        request.transport.write(violation)
        await asyncio.sleep(0.3)
        request.transport.close()
    elif close_code is not None:
        await ws.close(code=close_code, message=b"message too big")


@pytest.mark.parametrize(
    ("violation", "close_code"),
    [
        (raw_frame(0xC1, b'{"rsv1": true}'), None),  # FIN + RSV1 + text: no extension agreed
        (raw_frame(0x83, b"reserved"), None),  # reserved data opcode 0x3
        (None, 1009),  # close: message too big
    ],
    ids=["rsv1", "reserved-opcode", "close-1009"],
)
def test_socket_protocol_violation_is_a_retry(tmp_path, violation, close_code):
    """#14.11: one protocol violation or close 1009 reconnects; nothing received is lost."""
    first = [transcription_frame(CID, n) for n in range(5)]
    later = [transcription_frame(CID, n) for n in range(5, 10)]
    with HostileServer() as srv:
        srv.socket_scripts.append(
            lambda ws, req: _good_then(ws, req, srv, first, violation, close_code))
        cap = hostile_capture(srv, tmp_path)
        cap.start()
        wait_for(lambda: cap.stats().transcription_events >= 5, 10, "first frames")
        srv.push(later)
        wait_for(lambda: cap.stats().transcription_events >= 10, 10, "frames after reconnect")
        stats = cap.stop()
    assert stats.status == "stopped", stats.message
    assert stats.reconnects >= 1
    assert frames_stored(tmp_path) == first + later
    causes = [g["cause"] for g in gap_rows(tmp_path)]
    assert causes and all(c for c in causes)


@pytest.mark.parametrize(
    "bad",
    [
        html_reply(200),
        json_reply({"id": 12345, "connectUri": "ws://127.0.0.1:1/channels/x"}),
        json_reply({"id": {"nested": True}, "connectUri": "ws://127.0.0.1:1/channels/x"}),
        json_reply(["not", "an", "object"]),
        json_reply({"id": "ok-id", "connectUri": 17}),
    ],
    ids=["html-200", "id-number", "id-object", "list", "uri-number"],
)
def test_hostile_channel_reply_is_a_retry_and_frames_are_kept(tmp_path, caplog, bad):
    """#14.11: a broken REST reply after frames arrived is retried; the frames are stored."""
    caplog.set_level(logging.WARNING, logger="diarkit.capture")
    first = [transcription_frame(CID, n) for n in range(5)]
    later = [transcription_frame(CID, n) for n in range(5, 8)]
    with HostileServer() as srv:
        srv.socket_scripts.append(lambda ws, req: _good_then(ws, req, srv, first, None, 1000))
        srv.channel_replies.extend([None] * 0)  # first channel is a normal one
        cap = hostile_capture(srv, tmp_path)
        cap.start()
        wait_live(cap)
        srv.channel_replies.extend([bad, bad])  # the reconnect's next two channel POSTs
        wait_for(lambda: cap.stats().transcription_events >= 5, 10, "first frames")
        srv.push(later)
        wait_for(lambda: cap.stats().transcription_events >= 8 or cap.status == "error", 10,
                 "frames after the bad replies")
        stats = cap.stop()
    assert stats.status == "stopped", stats.message
    assert frames_stored(tmp_path) == first + later
    text = " | ".join(r.getMessage() for r in caplog.records)
    assert "unexpected reply" in text, text


def test_hostile_first_channel_reply_is_a_retry(tmp_path):
    with HostileServer() as srv:
        srv.channel_replies.extend([html_reply(200), json_reply({"id": 1})])
        cap = hostile_capture(srv, tmp_path)
        cap.start()
        wait_live(cap)
        cap.stop()
        assert srv.channels_created == 3


def test_malformed_conversation_id_in_follow_event_is_skipped(tmp_path, caplog):
    """#14.11: one bad id in a queue event must not stop a follow-mode capture."""
    caplog.set_level(logging.WARNING, logger="diarkit.capture")
    queue = str(uuid.uuid4())
    good = str(uuid.uuid4())

    def calls(conv_id: str) -> str:
        return orjson.dumps({
            "topicName": f"v2.routing.queues.{queue}.conversations.calls", "version": "2",
            "eventBody": {"id": conv_id, "participants": [
                {"id": "p1", "purpose": "customer", "state": "connected"}]},
            "metadata": {"CorrelationId": str(uuid.uuid4())}}).decode()

    with HostileServer() as srv:
        cap = hostile_capture(srv, tmp_path, conversations=(), follow_queues=[queue])
        cap.start()
        wait_live(cap)
        srv.push([calls("../bad id with spaces"), calls(good)])
        topic = f"v2.conversations.{good}.transcription"
        wait_for(lambda: any(topic in t for t in srv.channels.values()), 10,
                 "the good conversation subscribed")
        assert cap.status == "live", cap.message
        stats = cap.stop()
    assert stats.status == "stopped"
    assert len(frames_stored(tmp_path)) == 2
    assert "malformed conversation id" in " | ".join(r.getMessage() for r in caplog.records)


def test_oversized_frame_is_truncated_flagged_and_capture_goes_on(tmp_path):
    """#14.12: a frame over the limit is stored truncated and flagged; RSS stays bounded.

    The server streams a 160 MB text frame in 1 MB writes (so only the client could
    hold it whole); the client keeps its first ``max_frame_bytes`` and skips the rest.
    """
    limit = 1 << 20
    size = 160 << 20
    head = transcription_frame(CID, 0)[:-2].encode() + b', "pad": "'
    later = [transcription_frame(CID, n) for n in range(1, 4)]

    async def script(ws, req):
        t = req.transport
        t.write(bytes([0x81, 127]) + size.to_bytes(8, "big") + head)
        left = size - len(head)
        chunk = b"x" * (1 << 20)
        while left > 0:
            piece = chunk[: min(left, len(chunk))]
            t.write(piece)
            left -= len(piece)
            while t.get_write_buffer_size() > 4 << 20:
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.1)

    proc = psutil.Process()
    with HostileServer() as srv:
        srv.socket_scripts.append(script)
        cap = hostile_capture(srv, tmp_path, max_frame_bytes=limit)
        rss0 = proc.memory_info().rss
        cap.start()
        wait_for(lambda: cap.stats().frames >= 1 or cap.status == "error", 30, "big frame")
        srv.push(later)
        wait_for(lambda: cap.stats().transcription_events >= 3 or cap.status == "error", 20,
                 "frames after the big one")
        rss1 = proc.memory_info().rss
        stats = cap.stop()
    assert stats.status == "stopped", stats.message
    rows = stored_rows(tmp_path)
    assert len(rows[0]["frame"].encode()) <= limit
    assert rows[0]["error"] is not None
    assert [r["frame"] for r in rows[1:]] == later
    flagged = [g for g in gap_rows(tmp_path) if "truncated" in g["cause"]]
    assert flagged and str(size) in flagged[0]["cause"]
    assert rss1 - rss0 < 64 << 20, (rss1 - rss0) >> 20
