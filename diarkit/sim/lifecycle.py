"""How the simulator's channels and sockets end: lifetimes, and the faults that end them.

Plain functions taking the ``SimServer``, run on its event loop: the watch that removes
channels whose lifetime ran out (or whose token expired), and the fault actions
``diarkit.sim.faults`` triggers from other threads (through ``SimServer``'s methods of
the same names): ``drop`` (socket aborted, no close frame), ``socket_closing``
(maintenance notice, then 1000), ``revoke`` (``token_revoked``, then 1008) and
``expire`` (expired or evicted now: 1000, REST then says 404). Kept together because
each one ends channels or sockets the way Genesys Cloud does, and each is recorded in
the fault log. Durations are wall seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from diarkit.genesys import SOCKET_CLOSING_TOPIC, token_revoked_topic

from .generator import new_uuid
from .ledger import FaultRecord
from .notifications import remove_channel
from .wire import CLOSE_NORMAL, CLOSE_POLICY, Channel

if TYPE_CHECKING:
    from .server import SimServer


async def watch_expiry(srv: SimServer) -> None:
    """Remove channels whose lifetime ran out (closing their sockets with 1000)."""
    period = min(0.25, max(0.02, min(srv.channel_lifetime_s, srv.token_lifetime_s) / 20))
    while True:
        await asyncio.sleep(period)
        now = time.monotonic()
        for ch in [c for c in srv.channels.values() if c.expires_at <= now]:
            srv.fault_log.add(FaultRecord(time.time(), "channel_expired",
                                          f"channel {ch.id} expired"))
            await remove_channel(srv, ch, "expired")
        for token in [t for t in srv.tokens.values() if not t.ended and t.expires_at <= now]:
            token.ended = True  # channels live with the token that created them
            for ch in [c for c in srv.channels.values() if c.token_id == token.token_id]:
                srv.fault_log.add(FaultRecord(
                    time.time(), "token_expired_channel",
                    f"channel {ch.id} stopped: token {token.token_id} expired"))
                await remove_channel(srv, ch, "stopped: token expired")


def targets(srv: SimServer, channel_id: str | None) -> list[Channel]:
    """The named channel, or every channel with a connected socket."""
    if channel_id is not None:
        ch = srv.channels.get(channel_id)
        if ch is None:
            raise KeyError(f"no channel {channel_id!r}")
        return [ch]
    return [c for c in srv.channels.values() if c.ws is not None]


async def drop(srv: SimServer, channel_id: str | None) -> int:
    """Abort sockets without a close frame (the client sees a dead connection)."""
    n = 0
    for ch in targets(srv, channel_id):
        if ch.transport is not None:
            srv.fault("drop_socket", f"channel {ch.id}: socket aborted")
            ch.transport.abort()
            n += 1
    return n


async def socket_closing(srv: SimServer, channel_id: str | None, close_after_s: float) -> int:
    """Send ``v2.system.socket_closing`` then close with 1000 after ``close_after_s``."""
    sent = 0
    for ch in targets(srv, channel_id):
        ws = ch.ws
        if ws is None:
            continue
        sent += 1
        corr = new_uuid(srv.rng)
        text = orjson.dumps({
            "topicName": SOCKET_CLOSING_TOPIC, "version": "2",
            "eventBody": {"message": "The WebSocket connection will close within a minute. "
                          "Reconnect to continue receiving notifications."},
            "metadata": {"CorrelationId": corr}}).decode()
        srv.fault("socket_closing", f"channel {ch.id}: closing in {close_after_s} s")
        await srv.send(ch, SOCKET_CLOSING_TOPIC, corr, text, ws=ws)
        srv.spawn(_close_later(ws, close_after_s))
    return sent


async def _close_later(ws: web.WebSocketResponse, delay: float) -> None:
    await asyncio.sleep(delay)
    if not ws.closed:
        await ws.close(code=CLOSE_NORMAL, message=b"socket closing for maintenance")


async def revoke(srv: SimServer, access_token: str | None) -> list[str]:
    """Revoke tokens (one, or all); notify and close sockets of their channels (1008)."""
    revoked = [t for t in srv.tokens.values()
               if (access_token is None or t.access_token == access_token) and not t.revoked]
    if access_token is not None and not revoked and access_token not in srv.tokens:
        raise KeyError("no such access token")
    for token in revoked:
        token.revoked = True
        srv.fault("revoke_token", f"token {token.token_id} of {token.client_id} revoked")
        for ch in [c for c in srv.channels.values() if c.token_id == token.token_id]:
            ws = ch.ws
            if ws is None:
                continue
            corr = new_uuid(srv.rng)
            topic = token_revoked_topic(token.token_id)
            text = orjson.dumps({
                "topicName": topic, "version": "2",
                "eventBody": {"channelId": ch.id, "systemTopicType": "token_revoked",
                              "correlationId": corr, "reason": "user_tokens_revoked",
                              "message": "Token revoked: subscriptions on this channel "
                                         "will stop"},
                "metadata": {"CorrelationId": corr}}).decode()
            await srv.send(ch, topic, corr, text, ws=ws)
            await ws.close(code=CLOSE_POLICY, message=b"token revoked")
        token.ended = True
        for ch in [c for c in srv.channels.values() if c.token_id == token.token_id]:
            await remove_channel(srv, ch, "stopped: token revoked")
    return [t.token_id for t in revoked]


async def expire(srv: SimServer, channel_id: str | None, why: str) -> int:
    """Expire or evict channels now (socket closed with 1000; REST then says 404)."""
    chans = targets(srv, channel_id) if channel_id else list(srv.channels.values())
    for ch in chans:
        srv.fault(f"{why}_channel", f"channel {ch.id} {why}")
        await remove_channel(srv, ch, why)
    return len(chans)
