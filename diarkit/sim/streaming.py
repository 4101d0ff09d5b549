"""The simulator's notification stream: the channel WebSocket and what is sent on it.

Plain functions taking the ``SimServer``: the ``connectUri`` socket (``/channels/{id}``:
heartbeats, ping -> pong, subscribe/unsubscribe messages answered through the
subscription model of ``diarkit.sim.notifications``), the schedule runner that sends
every scenario frame at its call time, and the firehose that pushes frames as fast as
possible. Kept apart from the REST API because it is the socket side of the protocol;
every frame goes out through ``SimServer.send`` (the ledger, corrupt-frame faults).
Frame times are milliseconds of call time, scaled to wall seconds by ``speed``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import orjson
from aiohttp import WSMsgType, web

from diarkit.genesys import HEARTBEAT_TOPIC

from .generator import LazyFrame
from .notifications import check_topics, subscribe
from .wire import CLOSE_NORMAL, HEARTBEAT_TEXT, PONG_TEXT, Channel, Json, _error

if TYPE_CHECKING:
    from .server import SimServer


async def websocket(srv: SimServer, request: web.Request) -> web.StreamResponse:
    """The channel's ``connectUri``: heartbeats, pings, subscribed events."""
    ch = srv.channels.get(request.match_info["cid"])
    if ch is None:
        return _error(404, "not.found", f"Channel {request.match_info['cid']} not found")
    # timeout: seconds to wait for the client's close reply when the server closes
    ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=4 << 20,
                               timeout=2.0)
    await ws.prepare(request)
    old = ch.ws
    ch.ws, ch.transport = ws, request.transport
    ch.last_used = time.monotonic()
    if old is not None and not old.closed:
        await old.close(code=CLOSE_NORMAL, message=b"replaced by a new connection")
    beat = srv.spawn(_heartbeat(srv, ch, ws))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _client_message(srv, ch, ws, msg.data)
    finally:
        beat.cancel()
        if ch.ws is ws:
            ch.ws = ch.transport = None
            ch.last_used = time.monotonic()
    return ws


async def _heartbeat(srv: SimServer, ch: Channel, ws: web.WebSocketResponse) -> None:
    while not ws.closed:
        await asyncio.sleep(srv.heartbeat_s)
        if srv.heartbeats_enabled and ch.heartbeats and not ws.closed:
            await srv.send(ch, HEARTBEAT_TOPIC, None, HEARTBEAT_TEXT, ws=ws)


async def _client_message(srv: SimServer, ch: Channel, ws: web.WebSocketResponse,
                          data: str) -> None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if not isinstance(doc, dict):
        return
    message = doc.get("message")
    if message == "ping":
        await srv.send(ch, HEARTBEAT_TOPIC, None, PONG_TEXT, ws=ws)
        return
    if message not in ("subscribe", "unsubscribe"):
        return
    corr = doc.get("correlationId")
    corr = corr if isinstance(corr, str) else None
    topics = check_topics(doc.get("topics"))
    reply: Json
    if isinstance(topics, str):
        reply = {"result": "400", "correlationId": corr, "message": topics}
    elif message == "subscribe":
        result = subscribe(srv, ch, topics, replace=False)
        if isinstance(result, str):
            reply = {"result": "400", "correlationId": corr, "message": result}
        else:
            rejected = [e for e in result["entities"] if e["state"] == "Rejected"]
            reply = {"result": "403" if rejected else "200", "correlationId": corr,
                     "status": "subscribed"}
            if rejected:
                reply["entities"] = rejected
                reply["message"] = "some topics were rejected: missing permissions"
    else:
        remaining = [t for t in ch.topics if t not in set(topics)]
        subscribe(srv, ch, remaining, replace=True)
        reply = {"result": "200", "correlationId": corr, "status": "unsubscribed"}
    await srv.send(ch, "", corr, orjson.dumps(reply).decode(), ws=ws)


async def dispatch(srv: SimServer, frame: LazyFrame) -> int:
    """Send one scheduled frame to every connected channel subscribed to its topic."""
    ids = srv.topic_index.get(frame[3])
    if not ids:
        return 0
    text = frame[5](*frame[6])
    sent = 0
    for cid in tuple(ids):
        ch = srv.channels.get(cid)
        if ch is not None and await srv.send(ch, frame[3], frame[4], text):
            sent += 1
    return sent


async def run_schedule(srv: SimServer) -> None:
    """Send every scheduled frame at its time (call-time ms scaled by ``speed``)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    srv.call_t0 = time.monotonic()
    try:
        for i, frame in enumerate(srv.frames):
            due = t0 + frame[0] / 1000.0 / srv.speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await dispatch(srv, frame)
            if srv._last_index.get(frame[7]) == i:
                srv.finished.add(frame[7])
    finally:
        srv.done.set()


async def firehose(srv: SimServer, frames: list[tuple[str, str | None, str]],
                   channel_id: str | None) -> tuple[int, float]:
    """Push (topic, correlation id, text) frames as fast as possible; (sent, seconds)."""
    t = time.perf_counter()
    sent = 0
    fixed = srv.channels.get(channel_id) if channel_id else None
    if channel_id and fixed is None:
        raise KeyError(f"no channel {channel_id!r}")
    for topic, corr, text in frames:
        if fixed is not None:
            sent += await srv.send(fixed, topic, corr, text)
            continue
        for cid in tuple(srv.topic_index.get(topic, ())):
            ch = srv.channels.get(cid)
            if ch is not None:
                sent += await srv.send(ch, topic, corr, text)
    return sent, time.perf_counter() - t
