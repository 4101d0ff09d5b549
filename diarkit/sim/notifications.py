"""The simulator's Notifications REST API: channels, subscriptions and their checks.

Plain functions taking the ``SimServer`` (``SimServer.app()`` binds the handlers to it):
``POST/GET .../channels``, ``HEAD .../channels/{id}``, ``GET/POST/PUT/DELETE
.../channels/{id}/subscriptions`` and ``GET .../availabletopics``; the subscription model
they share with the WebSocket's subscribe/unsubscribe messages (``diarkit.sim.streaming``):
topic validation, permission checks, the topic -> channel index and topics moving between
a client's channels. Kept apart from the socket and fault code because it is the REST
contract (status codes, ``ErrorBody`` and ``entities`` shapes) and nothing else.
Lifetimes are wall seconds (``time.monotonic()`` deadlines).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from diarkit.genesys import ProtocolError, no_longer_subscribed_topic, parse_topic

from .generator import iso_ms, new_uuid
from .wire import (
    AVAILABLE_TOPICS,
    CLOSE_NORMAL,
    TOPIC_PERMISSIONS,
    Channel,
    Json,
    _error,
    _json,
)

if TYPE_CHECKING:
    from .server import SimServer

# ---------------------------------------------------------------------- channels


def channel_json(srv: SimServer, ch: Channel) -> Json:
    """A channel as the REST API shows it: ``connectUri``, ``id``, ``expires``."""
    return {"connectUri": f"{srv.ws_base}/channels/{ch.id}", "id": ch.id,
            "expires": iso_ms(int(ch.expires_wall * 1000))}


def _owned(srv: SimServer, request: web.Request) -> Channel | web.Response:
    """The request's channel ``{cid}`` if its token may use it, else the error response."""
    token = srv._authorize(request)
    if isinstance(token, web.Response):
        return token
    ch = srv.channels.get(request.match_info["cid"])
    if ch is None or ch.client_id != token.client_id:
        return _error(404, "not.found", f"Channel {request.match_info['cid']} not found")
    return ch


async def create_channel(srv: SimServer, request: web.Request) -> web.Response:
    """``POST .../channels``: a new channel; the 21st of a client evicts one.

    As documented for Genesys Cloud: the channel with the oldest last-used date goes,
    channels without an active connection first.
    """
    token = srv._authorize(request)
    if isinstance(token, web.Response):
        return token
    mine = sorted((c for c in srv.channels.values() if c.client_id == token.client_id),
                  key=lambda c: (c.ws is not None and not c.ws.closed, c.last_used))
    while len(mine) >= srv.max_channels:
        oldest = mine.pop(0)
        srv.fault("evict_channel", f"channel {oldest.id} evicted by channel limit")
        await remove_channel(srv, oldest, "evicted")
    srv.channel_seq += 1
    cid = "streaming-0-" + "".join(
        srv.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(26))
    ch = Channel(cid, token.client_id, token.token_id, srv.channel_seq,
                 time.monotonic() + srv.channel_lifetime_s,
                 time.time() + srv.channel_lifetime_s)
    srv.channels[cid] = ch
    return _json(channel_json(srv, ch))


async def list_channels(srv: SimServer, request: web.Request) -> web.Response:
    """``GET .../channels``: the client's channels."""
    token = srv._authorize(request)
    if isinstance(token, web.Response):
        return token
    mine = [channel_json(srv, c) for c in srv.channels.values()
            if c.token_id == token.token_id]  # other tokens' channels are not listed
    return _json({"entities": mine})


async def head_channel(srv: SimServer, request: web.Request) -> web.Response:
    """``HEAD .../channels/{id}``: 200 if it exists, else 404."""
    ch = _owned(srv, request)
    return ch if isinstance(ch, web.Response) else web.Response(status=200)


async def remove_channel(srv: SimServer, ch: Channel, why: str) -> None:
    """Forget a channel (expired or evicted) and close its socket (1000)."""
    srv.channels.pop(ch.id, None)
    for topic in ch.topics:
        _unindex(srv, topic, ch.id)
    ch.topics.clear()
    if ch.ws is not None and not ch.ws.closed:
        await ch.ws.close(code=CLOSE_NORMAL, message=f"channel {why}".encode())


# ---------------------------------------------------------------------- topic checks


def _index(srv: SimServer, topic: str, cid: str) -> None:
    srv.topic_index.setdefault(topic, set()).add(cid)


def _unindex(srv: SimServer, topic: str, cid: str) -> None:
    ids = srv.topic_index.get(topic)
    if ids is not None:
        ids.discard(cid)
        if not ids:
            del srv.topic_index[topic]


def check_topics(raw: Any) -> list[str] | str:
    """Topic names of a subscriptions body ``[{"id": topic}, ...]``, or the problem."""
    checked = split_topics(raw)
    if isinstance(checked, str):
        return checked
    valid, bad = checked
    return valid if not bad else f"{bad[0]['rejectionReason']}"


def split_topics(raw: Any) -> tuple[list[str], list[Json]] | str:
    """(valid topic names, ``Rejected`` entries for unknown topics), or the problem.

    A body that is not a list of ``{"id": <string>}`` is a problem (400 whatever
    ``ignoreErrors`` says); unknown or unsubscribable topics are what
    ``ignoreErrors=true`` answers with ``Rejected`` entries.
    """
    if not isinstance(raw, list):
        return "body must be a JSON array of {\"id\": topic} objects"
    out: list[str] = []
    bad: list[Json] = []
    for i, item in enumerate(raw):
        name = item.get("id") if isinstance(item, dict) else item
        if not isinstance(name, str):
            return f"body[{i}]: expected {{\"id\": <topic name>}}"
        problem = topic_problem(name)
        if problem is None:
            out.append(name)
        else:
            bad.append({"id": name, "state": "Rejected", "rejectionReason": problem})
    return out, bad


def topic_problem(name: str) -> str | None:
    """Why a topic cannot be subscribed (unknown, malformed, a system topic), or None."""
    try:
        topic = parse_topic(name)
    except ProtocolError as exc:
        return f"invalid topic {name!r}: {exc.args[0]}"
    if topic.kind not in TOPIC_PERMISSIONS or not name.startswith("v2."):
        return f"topic {name!r} is not a subscribable topic"
    return None


def _entities(ch: Channel, rejected: list[Json]) -> Json:
    permitted = [{"id": t, "state": "Permitted"} for t in ch.topics]
    return {"entities": permitted + rejected}


def permission_check(srv: SimServer, ch: Channel,
                     topics: list[str]) -> tuple[list[str], list[Json]]:
    """Split topics into (allowed, ``Rejected`` entries with the missing permissions)."""
    client = srv.clients[ch.client_id]
    perms = client.permissions
    allowed, rejected = [], []
    for name in dict.fromkeys(topics):
        topic = parse_topic(name)
        need = TOPIC_PERMISSIONS.get(topic.kind, ())
        missing = [p for p in need if p not in perms or topic.id in client.hidden_ids]
        if missing:
            rejected.append({"id": name, "state": "Rejected",
                             "rejectionReason": "Missing permissions",
                             "missingPermissions": missing})
        else:
            allowed.append(name)
    return allowed, rejected


# ---------------------------------------------------------------------- subscribing


def subscribe(srv: SimServer, ch: Channel, topics: list[str], *, replace: bool) -> Json | str:
    """Apply a subscription change; the reply body, or an error message (too many).

    A topic newly subscribed here that another channel of the same client held moves:
    that channel loses it and gets ``v2.system.no_longer_subscribed`` (reason
    ``another_channel_subscribed``).
    """
    allowed, rejected = permission_check(srv, ch, topics)
    new = dict.fromkeys(allowed) if replace else {**ch.topics, **dict.fromkeys(allowed)}
    if len(new) > srv.max_topics:
        return (f"a channel holds at most {srv.max_topics} topics; this request would "
                f"give it {len(new)}")
    for t in ch.topics:
        if t not in new:
            _unindex(srv, t, ch.id)
    moved: dict[str, list[str]] = {}
    for t in new:
        if t in ch.topics:
            continue
        for other_id in tuple(srv.topic_index.get(t, ())):
            other = srv.channels.get(other_id)
            if other is None or other is ch or other.client_id != ch.client_id:
                continue
            other.topics.pop(t, None)
            _unindex(srv, t, other.id)
            moved.setdefault(other.id, []).append(t)
    for t in new:
        _index(srv, t, ch.id)
    for other_id, lost in moved.items():
        srv.spawn(_no_longer_subscribed(srv, other_id, lost, ch.id))
    ch.topics = new
    ch.last_used = time.monotonic()
    ch.expires_at = time.monotonic() + srv.channel_lifetime_s
    ch.expires_wall = time.time() + srv.channel_lifetime_s
    return _entities(ch, rejected)


async def _no_longer_subscribed(srv: SimServer, channel_id: str, topics: list[str],
                                new_channel: str) -> None:
    ch = srv.channels.get(channel_id)
    if ch is None or ch.ws is None:
        return
    corr = new_uuid(srv.rng)
    topic = no_longer_subscribed_topic(channel_id)
    text = orjson.dumps({
        "topicName": topic, "version": "2",
        "eventBody": {"channelId": channel_id, "systemTopicType": "no_longer_subscribed",
                      "correlationId": corr, "reason": "another_channel_subscribed",
                      "message": f"{len(topics)} topic(s) moved to channel {new_channel}",
                      "data": {"topics": topics}},
        "metadata": {"CorrelationId": corr}}).decode()
    srv.fault("no_longer_subscribed",
              f"channel {channel_id}: {len(topics)} topic(s) moved to {new_channel}")
    await srv.send(ch, topic, corr, text)


# ---------------------------------------------------------------------- subscription REST


async def _change(srv: SimServer, request: web.Request, *, replace: bool) -> web.Response:
    ch = _owned(srv, request)
    if isinstance(ch, web.Response):
        return ch
    try:
        raw = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return _error(400, "bad.request", f"body is not valid JSON: {exc}")
    ignore = request.query.get("ignoreErrors", "false").lower() == "true"
    checked = split_topics(raw)
    if isinstance(checked, str):
        return _error(400, "bad.request", checked)
    topics, invalid = checked
    if invalid and not ignore:
        return _error(400, "bad.request", str(invalid[0]["rejectionReason"]))
    if not ignore:
        # ignoreErrors defaults to false: one topic the client may not see fails the
        # whole request and nothing changes.
        _allowed, refused = permission_check(srv, ch, topics)
        if refused:
            missing = sorted({p for e in refused for p in e["missingPermissions"]})
            listed = ", ".join(missing)
            return _error(
                403, "missing.permissions",
                "Unable to perform the requested action. You are missing the following "
                f"permission(s): [{listed}]",
                params={"permissions": f"[{listed}]"},
            )
    result = subscribe(srv, ch, topics, replace=replace)
    if isinstance(result, str):
        return _error(400, "notification.subscription.limit.exceeded", result)
    result["entities"].extend(invalid)
    return _json(result)


async def available_topics(srv: SimServer, request: web.Request) -> web.Response:
    """``GET /api/v2/notifications/availabletopics``: the topics this org offers."""
    token = srv._authorize(request)
    if isinstance(token, web.Response):
        return token
    return _json({"entities": AVAILABLE_TOPICS})


async def add_subscriptions(srv: SimServer, request: web.Request) -> web.Response:
    """``POST .../subscriptions``: add topics (extends the channel's life)."""
    return await _change(srv, request, replace=False)


async def replace_subscriptions(srv: SimServer, request: web.Request) -> web.Response:
    """``PUT .../subscriptions``: replace the topic list (extends the channel's life)."""
    return await _change(srv, request, replace=True)


async def get_subscriptions(srv: SimServer, request: web.Request) -> web.Response:
    """``GET .../subscriptions``: the channel's topics."""
    ch = _owned(srv, request)
    return ch if isinstance(ch, web.Response) else _json(_entities(ch, []))


async def delete_subscriptions(srv: SimServer, request: web.Request) -> web.Response:
    """``DELETE .../subscriptions``: remove every topic (204); the channel stays.

    The real API has no call that deletes a channel: it lives on, delivering nothing,
    until it expires or the channel limit evicts it.
    """
    ch = _owned(srv, request)
    if isinstance(ch, web.Response):
        return ch
    for t in ch.topics:
        _unindex(srv, t, ch.id)
    ch.topics = {}
    ch.last_used = time.monotonic()
    return web.Response(status=204)
