"""The simulator's aiohttp application: OAuth, notifications REST, WebSocket streaming.

Everything here runs on one asyncio event loop (``diarkit.sim.Simulator`` runs it in a
background thread). Protocol facts follow ``DESIGN.md`` section 1; topic names and the
topic parser come from ``diarkit.genesys``. Durations are seconds (``*_s``) of wall-clock
time; scheduled frame times are milliseconds of call time (see ``speed``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from diarkit.genesys import (
    HEARTBEAT_TOPIC,
    MAX_CHANNELS,
    MAX_TOPICS_PER_CHANNEL,
    SOCKET_CLOSING_TOPIC,
    ProtocolError,
    no_longer_subscribed_topic,
    parse_topic,
    token_revoked_topic,
)

from .generator import CallPlan, LazyFrame, iso_ms, new_uuid
from .ground_truth import post_call_transcript
from .ledger import FaultLog, FaultRecord, Ledger, LedgerEntry
from .wire import (
    AVAILABLE_TOPICS,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    DEFAULT_PERMISSIONS,
    HEARTBEAT_TEXT,
    PONG_TEXT,
    QUEUE_PERMISSION,
    TOPIC_PERMISSIONS,
    TRANSCRIPTION_PERMISSION,
    Channel,
    Client,
    HttpFaults,
    Json,
    Token,
    _error,
    _form_str,
    _json,
    corrupt,
    error_body,
    oauth_error,
)

#: ``install(router, server)``: adds more routes to the simulator's application (e.g.
#: ``diarkit.sim.analytics`` registers the analytics/users/queues endpoints this way).
RouteInstaller = Callable[["web.UrlDispatcher", "SimServer"], None]
#: The post-call transcript endpoints' common path.
STA_COMMUNICATION = "/api/v2/speechandtextanalytics/conversations/{conv}/communications/{comm}"
#: Installers every ``SimServer.app()`` runs after its own routes (append to extend).
EXTRA_ROUTES: list[RouteInstaller] = []


class SimServer:
    """State and handlers of one simulated Genesys Cloud org (runs on one event loop).

    Args:
        frames: every scheduled frame of the scenario, in send order (texts built when
            sent, and only for frames somebody is subscribed to).
        plans: the scenario's calls (for post-call transcripts).
        speed: call-time seconds per wall second (20.0 runs calls 20x faster).
        heartbeat_s: wall seconds between heartbeats on each socket.
        token_lifetime_s, channel_lifetime_s: wall-second lifetimes of tokens and channels.
        max_channels, max_topics: the per-client channel and per-channel topic limits.
        rate_limit: (requests, window seconds) per client on ``/api/v2``, or None.
        seed: seeds ids and fault choices.
    """

    def __init__(
        self,
        *,
        frames: list[LazyFrame],
        plans: Iterable[CallPlan],
        speed: float = 1.0,
        heartbeat_s: float = 30.0,
        token_lifetime_s: float = 86_400.0,
        channel_lifetime_s: float = 86_400.0,
        max_channels: int = MAX_CHANNELS,
        max_topics: int = MAX_TOPICS_PER_CHANNEL,
        rate_limit: tuple[int, float] | None = (300, 60.0),
        seed: int = 7,
    ) -> None:
        if speed <= 0 or heartbeat_s <= 0:
            raise ValueError("speed and heartbeat_s must be positive")
        self.frames = frames
        self.plans = {p.conversation_id: p for p in plans}
        self.speed = speed
        self.heartbeat_s = heartbeat_s
        self.token_lifetime_s = token_lifetime_s
        self.channel_lifetime_s = channel_lifetime_s
        self.max_channels = max_channels
        self.max_topics = max_topics
        self.rate_limit = rate_limit
        self.rng = random.Random(f"server-{seed}")
        self.clients: dict[str, Client] = {}
        self.tokens: dict[str, Token] = {}
        self.channels: dict[str, Channel] = {}
        self.topic_index: dict[str, set[str]] = {}
        self.ledger = Ledger()
        self.fault_log = FaultLog()
        self.http_faults = HttpFaults()
        self.heartbeats_enabled = True
        self.finished: set[str] = set()
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.base_url = ""
        self.requests: dict[str, deque[float]] = {}
        self._channel_seq = 0
        self._last_index = {f[7]: i for i, f in enumerate(frames)}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Route installers of this server only (see ``EXTRA_ROUTES``).
        self.route_installers: list[RouteInstaller] = []
        #: ``gate(conversation_id) -> reason or None``: a post-call transcript whose gate
        #: gives a reason is not ready yet (404 with that reason; ``diarkit.sim.analytics``
        #: sets it for readiness delays and transcripts that never arrive).
        self.transcript_gate: Callable[[str], str | None] | None = None
        #: ``time.monotonic()`` when the calls started (call time zero), else None.
        self.call_t0: float | None = None
        #: Wall seconds a pre-signed transcript URL stays valid (Genesys: 10 minutes).
        self.url_ttl_s = 600.0
        #: Pre-signed URL signature -> (conversation id, ``time.monotonic()`` expiry).
        self.signed_urls: dict[str, tuple[str, float]] = {}

    # ------------------------------------------------------------------ app

    def app(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application(middlewares=[self._faults_middleware])
        r = app.router
        r.add_post("/oauth/token", self.oauth_token)
        r.add_get("/api/v2/notifications/channels", self.list_channels)
        r.add_post("/api/v2/notifications/channels", self.create_channel)
        r.add_route("HEAD", "/api/v2/notifications/channels/{cid}", self.head_channel)
        sub = "/api/v2/notifications/channels/{cid}/subscriptions"
        r.add_get(sub, self.get_subscriptions)
        r.add_post(sub, self.add_subscriptions)
        r.add_put(sub, self.replace_subscriptions)
        r.add_delete(sub, self.delete_subscriptions)
        r.add_get("/api/v2/notifications/availabletopics", self.available_topics)
        r.add_get(f"{STA_COMMUNICATION}/transcripturl", self.transcript_url)
        r.add_get("/transcripts/{conv}/{comm}.json", self.transcript_document)
        r.add_get("/channels/{cid}", self.websocket)
        for install in (*EXTRA_ROUTES, *self.route_installers):
            install(r, self)
        plural = f"{STA_COMMUNICATION}/transcripturls"
        if not any(getattr(res, "canonical", None) == plural for res in r.resources()):
            r.add_get(plural, self.transcript_urls)  # unless an installer serves it
        return app

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run a background coroutine, keeping a reference until it finishes."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def fault(self, kind: str, detail: str) -> None:
        """Record (and log) one injected fault."""
        self.fault_log.add(FaultRecord(time.time(), kind, detail))

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def _faults_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if not (path.startswith("/api/v2/") or path == "/oauth/token"):
            return await handler(request)
        hf = self.http_faults
        if hf.slow > 0:
            hf.slow -= 1
            self.fault("slow_response", f"{request.method} {path} delayed {hf.slow_s:.3f} s")
            await asyncio.sleep(hf.slow_s)
        if hf.too_many > 0 and (hf.too_many_path is None or hf.too_many_path in path):
            hf.too_many -= 1
            self.fault("http_429",
                       f"{request.method} {path} -> 429, Retry-After {hf.retry_after_s}")
            return self._too_many(hf.retry_after_s)
        if hf.server_errors > 0 and hf.server_error_method in (None, request.method) and (
                hf.server_error_path is None or hf.server_error_path in path):
            hf.server_errors -= 1
            status = hf.server_error_status
            self.fault("http_5xx", f"{request.method} {path} -> {status}")
            return _error(status, "internal.server.error" if status == 500
                          else "service.unavailable", "The service is temporarily unavailable")
        return await handler(request)

    def _too_many(self, retry_after: int) -> web.Response:
        return _error(
            429, "too.many.requests.retry.after",
            f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
            headers={"Retry-After": str(retry_after)},
        )

    def _authorize(self, request: web.Request) -> Token | web.Response:
        """The request's valid token, or the 401/429 response to send instead."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _error(401, "authentication.required",
                          "No authentication bearer token specified in authorization header.")
        token = self.tokens.get(value.strip())
        if token is None:
            return _error(401, "bad.credentials", "Invalid login credentials.")
        if token.revoked:
            return _error(401, "bad.credentials", "The access token was revoked.")
        if time.monotonic() >= token.expires_at:
            return _error(401, "bad.credentials", "The access token has expired.")
        if self.rate_limit is not None:
            limit, window = self.rate_limit
            now = time.monotonic()
            seen = self.requests.setdefault(token.client_id, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= limit:
                retry = max(1, math.ceil(seen[0] + window - now))
                return self._too_many(retry)
            seen.append(now)
        return token

    # ------------------------------------------------------------------ OAuth

    async def oauth_token(self, request: web.Request) -> web.Response:
        """``POST /oauth/token``: client-credentials grant (Basic auth or form fields)."""
        form = await request.post()
        client_id = secret = None
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
                client_id, _, secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _json(oauth_error("invalid_client",
                                         "malformed Basic authorization header"), 401)
        else:
            client_id = _form_str(form, "client_id")
            secret = _form_str(form, "client_secret")
        grant = _form_str(form, "grant_type")
        if grant is None:
            return _json(oauth_error("invalid_request", "missing grant_type"), 400)
        if grant != "client_credentials":
            return _json(oauth_error("unsupported_grant_type",
                                     f"grant type {grant!r} is not supported"), 400)
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.client_secret, secret or ""):
            return _json(oauth_error("invalid_client", "client not found or bad secret"), 401)
        token = Token(
            access_token=secrets.token_urlsafe(48), token_id=new_uuid(self.rng),
            client_id=client.client_id,
            expires_at=time.monotonic() + self.token_lifetime_s,
        )
        self.tokens[token.access_token] = token
        return _json({"access_token": token.access_token, "token_type": "bearer",
                      "expires_in": int(self.token_lifetime_s)})

    # ------------------------------------------------------------------ channels

    def _channel_json(self, ch: Channel) -> Json:
        return {"connectUri": f"{self.ws_base}/channels/{ch.id}", "id": ch.id,
                "expires": iso_ms(int(ch.expires_wall * 1000))}

    @property
    def ws_base(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return "ws" + self.base_url[4:]

    def _owned(self, request: web.Request, token: Token) -> Channel | web.Response:
        ch = self.channels.get(request.match_info["cid"])
        if ch is None or ch.client_id != token.client_id:
            return _error(404, "not.found", f"Channel {request.match_info['cid']} not found")
        return ch

    async def create_channel(self, request: web.Request) -> web.Response:
        """``POST .../channels``: a new channel; the 21st of a client evicts one.

        As documented for Genesys Cloud: the channel with the oldest last-used date goes,
        channels without an active connection first.
        """
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        mine = sorted((c for c in self.channels.values() if c.client_id == token.client_id),
                      key=lambda c: (c.ws is not None and not c.ws.closed, c.last_used))
        while len(mine) >= self.max_channels:
            oldest = mine.pop(0)
            self.fault("evict_channel", f"channel {oldest.id} evicted by channel limit")
            await self.remove_channel(oldest, "evicted")
        self._channel_seq += 1
        cid = "streaming-0-" + "".join(
            self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(26))
        ch = Channel(cid, token.client_id, token.token_id, self._channel_seq,
                     time.monotonic() + self.channel_lifetime_s,
                     time.time() + self.channel_lifetime_s)
        self.channels[cid] = ch
        return _json(self._channel_json(ch))

    async def list_channels(self, request: web.Request) -> web.Response:
        """``GET .../channels``: the client's channels."""
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        mine = [self._channel_json(c) for c in self.channels.values()
                if c.token_id == token.token_id]  # other tokens' channels are not listed
        return _json({"entities": mine})

    async def head_channel(self, request: web.Request) -> web.Response:
        """``HEAD .../channels/{id}``: 200 if it exists, else 404."""
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        ch = self._owned(request, token)
        return ch if isinstance(ch, web.Response) else web.Response(status=200)

    async def remove_channel(self, ch: Channel, why: str) -> None:
        """Forget a channel (expired or evicted) and close its socket (1000)."""
        self.channels.pop(ch.id, None)
        for topic in ch.topics:
            self._unindex(topic, ch.id)
        ch.topics.clear()
        if ch.ws is not None and not ch.ws.closed:
            await ch.ws.close(code=CLOSE_NORMAL, message=f"channel {why}".encode())

    # ------------------------------------------------------------------ subscriptions

    def _index(self, topic: str, cid: str) -> None:
        self.topic_index.setdefault(topic, set()).add(cid)

    def _unindex(self, topic: str, cid: str) -> None:
        ids = self.topic_index.get(topic)
        if ids is not None:
            ids.discard(cid)
            if not ids:
                del self.topic_index[topic]

    def check_topics(self, raw: Any) -> list[str] | str:
        """Topic names of a subscriptions body ``[{"id": topic}, ...]``, or the problem."""
        checked = self.split_topics(raw)
        if isinstance(checked, str):
            return checked
        valid, bad = checked
        return valid if not bad else f"{bad[0]['rejectionReason']}"

    def split_topics(self, raw: Any) -> tuple[list[str], list[Json]] | str:
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
            problem = self.topic_problem(name)
            if problem is None:
                out.append(name)
            else:
                bad.append({"id": name, "state": "Rejected", "rejectionReason": problem})
        return out, bad

    @staticmethod
    def topic_problem(name: str) -> str | None:
        """Why a topic cannot be subscribed (unknown, malformed, a system topic), or None."""
        try:
            topic = parse_topic(name)
        except ProtocolError as exc:
            return f"invalid topic {name!r}: {exc.args[0]}"
        if topic.kind not in TOPIC_PERMISSIONS or not name.startswith("v2."):
            return f"topic {name!r} is not a subscribable topic"
        return None

    def _entities(self, ch: Channel, rejected: list[Json]) -> Json:
        permitted = [{"id": t, "state": "Permitted"} for t in ch.topics]
        return {"entities": permitted + rejected}

    def permission_check(self, ch: Channel, topics: list[str]) -> tuple[list[str], list[Json]]:
        """Split topics into (allowed, ``Rejected`` entries with the missing permissions)."""
        client = self.clients[ch.client_id]
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

    def subscribe(self, ch: Channel, topics: list[str], *, replace: bool) -> Json | str:
        """Apply a subscription change; the reply body, or an error message (too many).

        A topic newly subscribed here that another channel of the same client held moves:
        that channel loses it and gets ``v2.system.no_longer_subscribed`` (reason
        ``another_channel_subscribed``).
        """
        allowed, rejected = self.permission_check(ch, topics)
        new = dict.fromkeys(allowed) if replace else {**ch.topics, **dict.fromkeys(allowed)}
        if len(new) > self.max_topics:
            return (f"a channel holds at most {self.max_topics} topics; this request would "
                    f"give it {len(new)}")
        for t in ch.topics:
            if t not in new:
                self._unindex(t, ch.id)
        moved: dict[str, list[str]] = {}
        for t in new:
            if t in ch.topics:
                continue
            for other_id in tuple(self.topic_index.get(t, ())):
                other = self.channels.get(other_id)
                if other is None or other is ch or other.client_id != ch.client_id:
                    continue
                other.topics.pop(t, None)
                self._unindex(t, other.id)
                moved.setdefault(other.id, []).append(t)
        for t in new:
            self._index(t, ch.id)
        for other_id, lost in moved.items():
            self.spawn(self._no_longer_subscribed(other_id, lost, ch.id))
        ch.topics = new
        ch.last_used = time.monotonic()
        ch.expires_at = time.monotonic() + self.channel_lifetime_s
        ch.expires_wall = time.time() + self.channel_lifetime_s
        return self._entities(ch, rejected)

    async def _no_longer_subscribed(self, channel_id: str, topics: list[str],
                                    new_channel: str) -> None:
        ch = self.channels.get(channel_id)
        if ch is None or ch.ws is None:
            return
        corr = new_uuid(self.rng)
        topic = no_longer_subscribed_topic(channel_id)
        text = orjson.dumps({
            "topicName": topic, "version": "2",
            "eventBody": {"channelId": channel_id, "systemTopicType": "no_longer_subscribed",
                          "correlationId": corr, "reason": "another_channel_subscribed",
                          "message": f"{len(topics)} topic(s) moved to channel {new_channel}",
                          "data": {"topics": topics}},
            "metadata": {"CorrelationId": corr}}).decode()
        self.fault("no_longer_subscribed",
                   f"channel {channel_id}: {len(topics)} topic(s) moved to {new_channel}")
        await self.send(ch, topic, corr, text)

    async def _change(self, request: web.Request, *, replace: bool) -> web.Response:
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        ch = self._owned(request, token)
        if isinstance(ch, web.Response):
            return ch
        try:
            raw = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _error(400, "bad.request", f"body is not valid JSON: {exc}")
        ignore = request.query.get("ignoreErrors", "false").lower() == "true"
        checked = self.split_topics(raw)
        if isinstance(checked, str):
            return _error(400, "bad.request", checked)
        topics, invalid = checked
        if invalid and not ignore:
            return _error(400, "bad.request", str(invalid[0]["rejectionReason"]))
        if not ignore:
            # ignoreErrors defaults to false: one topic the client may not see fails the
            # whole request and nothing changes.
            _allowed, refused = self.permission_check(ch, topics)
            if refused:
                missing = sorted({p for e in refused for p in e["missingPermissions"]})
                listed = ", ".join(missing)
                return _error(
                    403, "missing.permissions",
                    "Unable to perform the requested action. You are missing the following "
                    f"permission(s): [{listed}]",
                    params={"permissions": f"[{listed}]"},
                )
        result = self.subscribe(ch, topics, replace=replace)
        if isinstance(result, str):
            return _error(400, "notification.subscription.limit.exceeded", result)
        result["entities"].extend(invalid)
        return _json(result)

    async def available_topics(self, request: web.Request) -> web.Response:
        """``GET /api/v2/notifications/availabletopics``: the topics this org offers."""
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        return _json({"entities": AVAILABLE_TOPICS})

    async def add_subscriptions(self, request: web.Request) -> web.Response:
        """``POST .../subscriptions``: add topics (extends the channel's life)."""
        return await self._change(request, replace=False)

    async def replace_subscriptions(self, request: web.Request) -> web.Response:
        """``PUT .../subscriptions``: replace the topic list (extends the channel's life)."""
        return await self._change(request, replace=True)

    async def get_subscriptions(self, request: web.Request) -> web.Response:
        """``GET .../subscriptions``: the channel's topics."""
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        ch = self._owned(request, token)
        return ch if isinstance(ch, web.Response) else _json(self._entities(ch, []))

    async def delete_subscriptions(self, request: web.Request) -> web.Response:
        """``DELETE .../subscriptions``: remove every topic (204); the channel stays.

        The real API has no call that deletes a channel: it lives on, delivering nothing,
        until it expires or the channel limit evicts it.
        """
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        ch = self._owned(request, token)
        if isinstance(ch, web.Response):
            return ch
        for t in ch.topics:
            self._unindex(t, ch.id)
        ch.topics = {}
        ch.last_used = time.monotonic()
        return web.Response(status=204)

    # ------------------------------------------------------------------ post-call

    async def transcript_urls(self, request: web.Request) -> web.Response:
        """``GET .../transcripturls`` (plural): SDK ``TranscriptUrls`` with one signed URL."""
        reply = await self.transcript_url(request)
        if reply.status != 200:
            return reply
        url = orjson.loads(reply.body)["url"]  # type: ignore[arg-type]
        conv, comm = request.match_info["conv"], request.match_info["comm"]
        return _json({"conversation": {"id": conv, "selfUri": f"/api/v2/conversations/{conv}"},
                      "communicationId": comm, "urls": [{"url": url}]})

    async def transcript_url(self, request: web.Request) -> web.Response:
        """``GET .../transcripturl``: ``{"url"}`` of a finished call's transcript, else 404.

        The URL is pre-signed and expires after ``url_ttl_s`` (600 s, as documented):
        the document then answers 403, as S3 does.
        """
        token = self._authorize(request)
        if isinstance(token, web.Response):
            return token
        conv, comm = request.match_info["conv"], request.match_info["comm"]
        plan = self.plans.get(conv)
        if plan is None or plan.communication_id != comm:
            return _error(404, "not.found", f"conversation {conv} communication {comm} not found")
        if conv not in self.finished:
            return _error(404, "not.found",
                          f"no transcript yet: conversation {conv} has not finished")
        why = self.transcript_gate(conv) if self.transcript_gate is not None else None
        if why is not None:
            return _error(404, "not.found", why)
        key = secrets.token_urlsafe(24)
        self.signed_urls[key] = (conv, time.monotonic() + self.url_ttl_s)
        expires = int(time.time() + self.url_ttl_s)
        return _json({"url": f"{self.base_url}/transcripts/{conv}/{comm}.json"
                             f"?X-Amz-Expires={int(self.url_ttl_s)}&Expires={expires}"
                             f"&Signature={key}"})

    async def transcript_document(self, request: web.Request) -> web.Response:
        """The post-call transcript JSON a ``transcripturl`` points at (pre-signed: no auth)."""
        conv = request.match_info["conv"]
        signed = self.signed_urls.get(request.query.get("Signature", ""))
        if signed is None or signed[0] != conv:
            return web.Response(status=403, text="AccessDenied: signature does not match")
        if time.monotonic() >= signed[1]:
            return web.Response(status=403, text="AccessDenied: Request has expired")
        plan = self.plans.get(conv)
        if conv not in self.finished or plan is None:
            return web.Response(status=404, text="NoSuchKey")
        return _json(post_call_transcript(plan))  # built on request: cheap, saves memory

    # ------------------------------------------------------------------ sockets

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """The channel's ``connectUri``: heartbeats, pings, subscribed events."""
        ch = self.channels.get(request.match_info["cid"])
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
        beat = self.spawn(self._heartbeat(ch, ws))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._client_message(ch, ws, msg.data)
        finally:
            beat.cancel()
            if ch.ws is ws:
                ch.ws = ch.transport = None
                ch.last_used = time.monotonic()
        return ws

    async def _heartbeat(self, ch: Channel, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_s)
            if self.heartbeats_enabled and ch.heartbeats and not ws.closed:
                await self.send(ch, HEARTBEAT_TOPIC, None, HEARTBEAT_TEXT, ws=ws)

    async def _client_message(self, ch: Channel, ws: web.WebSocketResponse, data: str) -> None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(doc, dict):
            return
        message = doc.get("message")
        if message == "ping":
            await self.send(ch, HEARTBEAT_TOPIC, None, PONG_TEXT, ws=ws)
            return
        if message not in ("subscribe", "unsubscribe"):
            return
        corr = doc.get("correlationId")
        corr = corr if isinstance(corr, str) else None
        topics = self.check_topics(doc.get("topics"))
        reply: Json
        if isinstance(topics, str):
            reply = {"result": "400", "correlationId": corr, "message": topics}
        elif message == "subscribe":
            result = self.subscribe(ch, topics, replace=False)
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
            self.subscribe(ch, remaining, replace=True)
            reply = {"result": "200", "correlationId": corr, "status": "unsubscribed"}
        await self.send(ch, "", corr, orjson.dumps(reply).decode(), ws=ws)

    async def send(
        self, ch: Channel, topic: str, correlation_id: str | None, text: str,
        *, ws: web.WebSocketResponse | None = None,
    ) -> bool:
        """Send one frame on a channel's socket and record it; False if nothing was sent."""
        ws = ws or ch.ws
        if ws is None or ws.closed:
            return False
        fault = None
        if ch.corrupt_next and topic not in ("", HEARTBEAT_TOPIC):
            fault = ch.corrupt_next.popleft()
            text = corrupt(text, fault)
            self.fault(fault, f"channel {ch.id}: {fault} frame on {topic}")
        self.ledger.append(LedgerEntry(ch.id, topic, correlation_id, time.time(), text, fault))
        try:
            await ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    # ------------------------------------------------------------------ streaming

    async def dispatch(self, frame: LazyFrame) -> int:
        """Send one scheduled frame to every connected channel subscribed to its topic."""
        ids = self.topic_index.get(frame[3])
        if not ids:
            return 0
        text = frame[5](*frame[6])
        sent = 0
        for cid in tuple(ids):
            ch = self.channels.get(cid)
            if ch is not None and await self.send(ch, frame[3], frame[4], text):
                sent += 1
        return sent

    async def run_schedule(self) -> None:
        """Send every scheduled frame at its time (call-time ms scaled by ``speed``)."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        self.call_t0 = time.monotonic()
        try:
            for i, frame in enumerate(self.frames):
                due = t0 + frame[0] / 1000.0 / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.dispatch(frame)
                if self._last_index.get(frame[7]) == i:
                    self.finished.add(frame[7])
        finally:
            self.done.set()

    async def watch_expiry(self) -> None:
        """Remove channels whose lifetime ran out (closing their sockets with 1000)."""
        period = min(0.25, max(0.02, min(self.channel_lifetime_s, self.token_lifetime_s) / 20))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for ch in [c for c in self.channels.values() if c.expires_at <= now]:
                self.fault_log.add(FaultRecord(time.time(), "channel_expired",
                                               f"channel {ch.id} expired"))
                await self.remove_channel(ch, "expired")
            for token in [t for t in self.tokens.values() if not t.ended and t.expires_at <= now]:
                token.ended = True  # channels live with the token that created them
                for ch in [c for c in self.channels.values() if c.token_id == token.token_id]:
                    self.fault_log.add(FaultRecord(
                        time.time(), "token_expired_channel",
                        f"channel {ch.id} stopped: token {token.token_id} expired"))
                    await self.remove_channel(ch, "stopped: token expired")

    # ------------------------------------------------------------------ faults

    def targets(self, channel_id: str | None) -> list[Channel]:
        """The named channel, or every channel with a connected socket."""
        if channel_id is not None:
            ch = self.channels.get(channel_id)
            if ch is None:
                raise KeyError(f"no channel {channel_id!r}")
            return [ch]
        return [c for c in self.channels.values() if c.ws is not None]

    async def drop(self, channel_id: str | None) -> int:
        """Abort sockets without a close frame (the client sees a dead connection)."""
        n = 0
        for ch in self.targets(channel_id):
            if ch.transport is not None:
                self.fault("drop_socket", f"channel {ch.id}: socket aborted")
                ch.transport.abort()
                n += 1
        return n

    async def socket_closing(self, channel_id: str | None, close_after_s: float) -> int:
        """Send ``v2.system.socket_closing`` then close with 1000 after ``close_after_s``."""
        sent = 0
        for ch in self.targets(channel_id):
            ws = ch.ws
            if ws is None:
                continue
            sent += 1
            corr = new_uuid(self.rng)
            text = orjson.dumps({
                "topicName": SOCKET_CLOSING_TOPIC, "version": "2",
                "eventBody": {"message": "The WebSocket connection will close within a minute. "
                              "Reconnect to continue receiving notifications."},
                "metadata": {"CorrelationId": corr}}).decode()
            self.fault("socket_closing", f"channel {ch.id}: closing in {close_after_s} s")
            await self.send(ch, SOCKET_CLOSING_TOPIC, corr, text, ws=ws)
            self.spawn(self._close_later(ws, close_after_s))
        return sent

    async def _close_later(self, ws: web.WebSocketResponse, delay: float) -> None:
        await asyncio.sleep(delay)
        if not ws.closed:
            await ws.close(code=CLOSE_NORMAL, message=b"socket closing for maintenance")

    async def revoke(self, access_token: str | None) -> list[str]:
        """Revoke tokens (one, or all); notify and close sockets of their channels (1008)."""
        revoked = [t for t in self.tokens.values()
                   if (access_token is None or t.access_token == access_token) and not t.revoked]
        if access_token is not None and not revoked and access_token not in self.tokens:
            raise KeyError("no such access token")
        for token in revoked:
            token.revoked = True
            self.fault("revoke_token", f"token {token.token_id} of {token.client_id} revoked")
            for ch in [c for c in self.channels.values() if c.token_id == token.token_id]:
                ws = ch.ws
                if ws is None:
                    continue
                corr = new_uuid(self.rng)
                topic = token_revoked_topic(token.token_id)
                text = orjson.dumps({
                    "topicName": topic, "version": "2",
                    "eventBody": {"channelId": ch.id, "systemTopicType": "token_revoked",
                                  "correlationId": corr, "reason": "user_tokens_revoked",
                                  "message": "Token revoked: subscriptions on this channel "
                                             "will stop"},
                    "metadata": {"CorrelationId": corr}}).decode()
                await self.send(ch, topic, corr, text, ws=ws)
                await ws.close(code=CLOSE_POLICY, message=b"token revoked")
            token.ended = True
            for ch in [c for c in self.channels.values() if c.token_id == token.token_id]:
                await self.remove_channel(ch, "stopped: token revoked")
        return [t.token_id for t in revoked]

    async def expire(self, channel_id: str | None, why: str) -> int:
        """Expire or evict channels now (socket closed with 1000; REST then says 404)."""
        chans = self.targets(channel_id) if channel_id else list(self.channels.values())
        for ch in chans:
            self.fault(f"{why}_channel", f"channel {ch.id} {why}")
            await self.remove_channel(ch, why)
        return len(chans)

    async def firehose(self, frames: list[tuple[str, str | None, str]],
                       channel_id: str | None) -> tuple[int, float]:
        """Push (topic, correlation id, text) frames as fast as possible; (sent, seconds)."""
        t = time.perf_counter()
        sent = 0
        fixed = self.channels.get(channel_id) if channel_id else None
        if channel_id and fixed is None:
            raise KeyError(f"no channel {channel_id!r}")
        for topic, corr, text in frames:
            if fixed is not None:
                sent += await self.send(fixed, topic, corr, text)
                continue
            for cid in tuple(self.topic_index.get(topic, ())):
                ch = self.channels.get(cid)
                if ch is not None:
                    sent += await self.send(ch, topic, corr, text)
        return sent, time.perf_counter() - t


__all__ = [
    "AVAILABLE_TOPICS",
    "DEFAULT_PERMISSIONS",
    "EXTRA_ROUTES",
    "QUEUE_PERMISSION",
    "TOPIC_PERMISSIONS",
    "TRANSCRIPTION_PERMISSION",
    "Channel",
    "Client",
    "HttpFaults",
    "RouteInstaller",
    "SimServer",
    "Token",
    "corrupt",
    "error_body",
    "oauth_error",
]
