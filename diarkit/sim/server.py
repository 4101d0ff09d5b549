"""The simulator's aiohttp application: one simulated Genesys Cloud org's state, its route
table, and what every endpoint shares (OAuth, authorisation, rate limits, HTTP faults,
sending a frame).

Everything here runs on one asyncio event loop (``diarkit.sim.Simulator`` runs it in a
background thread). Protocol facts follow ``DESIGN.md`` section 1; topic names and the
topic parser come from ``diarkit.genesys``. Durations are seconds (``*_s``) of wall-clock
time; scheduled frame times are milliseconds of call time (see ``speed``).

``SimServer.app()`` lists every route. The handlers live by responsibility, as plain
functions taking the server: ``notifications`` (channels, subscriptions, topic and
permission checks), ``streaming`` (the channel WebSocket, the frame schedule, the
firehose), ``lifecycle`` (expiry, eviction, revocation, dropped and closing sockets) and
``transcripts`` (post-call transcript URLs and documents); ``wire`` holds the records
and response shapes they share.
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
from functools import partial
from typing import Any

from aiohttp import web

from diarkit.genesys import HEARTBEAT_TOPIC, MAX_CHANNELS, MAX_TOPICS_PER_CHANNEL

from . import lifecycle, notifications, streaming, transcripts
from .generator import CallPlan, LazyFrame, new_uuid
from .ledger import FaultLog, FaultRecord, Ledger, LedgerEntry
from .transcripts import STA_COMMUNICATION
from .wire import (
    AVAILABLE_TOPICS,
    DEFAULT_PERMISSIONS,
    QUEUE_PERMISSION,
    TOPIC_PERMISSIONS,
    TRANSCRIPTION_PERMISSION,
    Channel,
    Client,
    HttpFaults,
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
#: Installers every ``SimServer.app()`` runs after its own routes (append to extend).
EXTRA_ROUTES: list[RouteInstaller] = []
#: An endpoint of ``diarkit.sim.notifications``/``streaming``/``transcripts``:
#: ``handler(server, request)``; ``app()`` binds it to its server.
ServerHandler = Callable[["SimServer", web.Request], Awaitable[web.StreamResponse]]

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
        #: Channels created so far (numbers them).
        self.channel_seq = 0
        #: Conversation id -> index in ``frames`` of its last frame (then it has finished;
        #: ``Simulator`` resets it with the frames).
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

        def on(handler: ServerHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            return partial(handler, self)

        r.add_post("/oauth/token", self.oauth_token)
        channels = "/api/v2/notifications/channels"
        r.add_get(channels, on(notifications.list_channels))
        r.add_post(channels, on(notifications.create_channel))
        r.add_route("HEAD", f"{channels}/{{cid}}", on(notifications.head_channel))
        sub = f"{channels}/{{cid}}/subscriptions"
        r.add_get(sub, on(notifications.get_subscriptions))
        r.add_post(sub, on(notifications.add_subscriptions))
        r.add_put(sub, on(notifications.replace_subscriptions))
        r.add_delete(sub, on(notifications.delete_subscriptions))
        r.add_get("/api/v2/notifications/availabletopics", on(notifications.available_topics))
        r.add_get(f"{STA_COMMUNICATION}/transcripturl", on(transcripts.transcript_url))
        r.add_get("/transcripts/{conv}/{comm}.json", on(transcripts.transcript_document))
        r.add_get("/channels/{cid}", on(streaming.websocket))
        for install in (*EXTRA_ROUTES, *self.route_installers):
            install(r, self)
        plural = f"{STA_COMMUNICATION}/transcripturls"
        if not any(getattr(res, "canonical", None) == plural for res in r.resources()):
            r.add_get(plural, on(transcripts.transcript_urls))  # unless an installer serves it
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

    @property
    def ws_base(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return "ws" + self.base_url[4:]

    # ------------------------------------------------------------------ sending

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

    # ------------------------------------------------------------------ run and faults
    # Entry points ``diarkit.sim.Simulator`` and ``diarkit.sim.faults`` call on the loop.

    async def run_schedule(self) -> None:
        """Send every scheduled frame at its time (``streaming.run_schedule``)."""
        await streaming.run_schedule(self)

    async def firehose(self, frames: list[tuple[str, str | None, str]],
                       channel_id: str | None) -> tuple[int, float]:
        """Push frames as fast as possible; (sent, seconds) (``streaming.firehose``)."""
        return await streaming.firehose(self, frames, channel_id)

    async def watch_expiry(self) -> None:
        """Remove channels whose lifetime ran out (``lifecycle.watch_expiry``)."""
        await lifecycle.watch_expiry(self)

    def targets(self, channel_id: str | None) -> list[Channel]:
        """The named channel, or every connected one (``lifecycle.targets``)."""
        return lifecycle.targets(self, channel_id)

    async def drop(self, channel_id: str | None) -> int:
        """Abort sockets without a close frame (``lifecycle.drop``)."""
        return await lifecycle.drop(self, channel_id)

    async def socket_closing(self, channel_id: str | None, close_after_s: float) -> int:
        """``socket_closing``, then close 1000 after ``close_after_s`` s (``lifecycle``)."""
        return await lifecycle.socket_closing(self, channel_id, close_after_s)

    async def revoke(self, access_token: str | None) -> list[str]:
        """Revoke tokens (one, or all), closing their sockets 1008 (``lifecycle.revoke``)."""
        return await lifecycle.revoke(self, access_token)

    async def expire(self, channel_id: str | None, why: str) -> int:
        """Expire or evict channels now (``lifecycle.expire``)."""
        return await lifecycle.expire(self, channel_id, why)


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
