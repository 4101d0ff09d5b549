"""A hostile Genesys-like server on 127.0.0.1 for capture regression tests.

It answers OAuth, channels, subscriptions and WebSocket connects like Genesys Cloud,
except where a test queues a misbehaviour: a scripted REST reply (404 after a channel was
created, HTML with 200, a channel id that is a number, a ``Retry-After`` of ``inf``), or a
socket that sends raw bytes no WebSocket server may send (RSV1 set, reserved opcode), an
oversized frame, or closes with 1009. The simulator cannot misbehave like this on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

Reply = Callable[[web.Request], web.StreamResponse]
SocketScript = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]

HEARTBEAT = b'{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}'


def transcription_frame(conversation_id: str, n: int) -> str:
    """A small valid transcription frame (distinct per ``n``)."""
    return orjson.dumps({
        "topicName": f"v2.conversations.{conversation_id}.transcription", "version": "2",
        "eventBody": {
            "eventTime": "2026-12-05T10:00:00.000Z", "organizationId": "org",
            "conversationId": conversation_id, "communicationId": "comm",
            "sessionStartTimeMs": 1_700_000_000_000, "transcriptionStartTimeMs": 1_700_000_000_000,
            "transcripts": [{
                "utteranceId": f"u{n}", "isFinal": True, "channel": "EXTERNAL",
                "alternatives": [{"confidence": 0.9, "offsetMs": n * 1000, "durationMs": 500,
                                  "transcript": f"word {n}"}],
            }],
        },
        "metadata": {"CorrelationId": str(uuid.uuid4())},
    }).decode()


def raw_frame(first_byte: int, payload: bytes) -> bytes:
    """One unmasked server frame with the given first byte (FIN/RSV/opcode) and payload."""
    n = len(payload)
    if n < 126:
        head = bytes([first_byte, n])
    elif n < 1 << 16:
        head = bytes([first_byte, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first_byte, 127]) + n.to_bytes(8, "big")
    return head + payload


class HostileServer:
    """The server and its scripts; run with ``with HostileServer() as srv:``.

    Attributes:
        channel_replies: replies for the next ``POST .../channels`` calls (then normal).
        subscription_replies: replies for the next subscription calls (then normal).
        socket_scripts: what the next WebSocket connections do (then: stream normally).
        frames: frames every normal socket sends after connecting, once per connection
            (``pending`` is shared: each frame is sent once, on whichever socket is up).
    """

    def __init__(self, heartbeat_s: float = 0.25) -> None:
        self.heartbeat_s = heartbeat_s
        self.channel_replies: deque[Reply] = deque()
        self.subscription_replies: deque[Reply] = deque()
        self.socket_scripts: deque[SocketScript] = deque()
        self.pending: deque[str] = deque()
        self.sent: list[str] = []
        self.channels_created = 0
        self.connects = 0
        self.channels: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> HostileServer:
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "hostile server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._cleanup(), loop)
            with contextlib.suppress(Exception):
                fut.result(5)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._setup())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _setup(self) -> None:
        app = web.Application()
        r = app.router
        r.add_post("/oauth/token", self.token)
        r.add_post("/api/v2/notifications/channels", self.create_channel)
        r.add_route("HEAD", "/api/v2/notifications/channels/{cid}", self.head_channel)
        sub = "/api/v2/notifications/channels/{cid}/subscriptions"
        for method in ("POST", "PUT", "GET", "DELETE"):
            r.add_route(method, sub, self.subscriptions)
        r.add_get("/channels/{cid}", self.websocket)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ REST

    async def token(self, request: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok", "token_type": "bearer",
                                  "expires_in": 86400})

    def new_channel_json(self) -> dict[str, Any]:
        cid = f"hostile-{uuid.uuid4().hex[:12]}"
        self.channels[cid] = []
        return {"id": cid, "connectUri": f"ws://127.0.0.1:{self.port}/channels/{cid}",
                "expires": "2099-01-01T00:00:00.000Z"}

    async def create_channel(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            self.channels_created += 1
            script = self.channel_replies.popleft() if self.channel_replies else None
        if script is not None:
            return script(request)
        return web.json_response(self.new_channel_json())

    async def head_channel(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if request.match_info["cid"] in self.channels else 404)

    async def subscriptions(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            script = self.subscription_replies.popleft() if self.subscription_replies else None
        if script is not None:
            return script(request)
        if request.method == "DELETE":
            return web.Response(status=204)
        body = await request.json() if request.can_read_body else []
        topics = [t["id"] for t in body]
        self.channels[request.match_info["cid"]] = topics
        return web.json_response({"entities": [{"id": t, "state": "Permitted"} for t in topics]})

    # ------------------------------------------------------------------ socket

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        with self.lock:
            self.connects += 1
            script = self.socket_scripts.popleft() if self.socket_scripts else None
        if script is not None:
            await script(ws, request)
            if ws.closed:
                return ws
        beat = asyncio.ensure_future(self._beat(ws))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and "ping" in msg.data:
                    await ws.send_str('{"topicName":"channel.metadata",'
                                      '"eventBody":{"message":"pong"}}')
        finally:
            beat.cancel()
        return ws

    async def _beat(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            while self.pending and not ws.closed:
                text = self.pending.popleft()
                await ws.send_str(text)
                self.sent.append(text)
            await ws.send_str(HEARTBEAT.decode())
            await asyncio.sleep(self.heartbeat_s)

    def push(self, frames: list[str]) -> None:
        """Queue frames for the next (or current) normal socket."""
        self.pending.extend(frames)


async def send_then(ws: web.WebSocketResponse, frames: list[str], sent: list[str]) -> None:
    """Send frames on a socket (and note them as sent)."""
    for text in frames:
        await ws.send_str(text)
        sent.append(text)
    await asyncio.sleep(0.05)


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """A scripted reply with a JSON body."""
    return lambda _r: web.Response(body=orjson.dumps(body), status=status, headers=headers,
                                   content_type="application/json")


def html_reply(status: int = 200) -> Reply:
    """A scripted reply with an HTML body (a captive portal or a proxy page)."""
    return lambda _r: web.Response(text="<html><body>Login</body></html>", status=status,
                                   content_type="text/html")
