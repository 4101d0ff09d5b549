"""``Simulator``: a simulated Genesys Cloud org on 127.0.0.1, in a background thread.

    with Simulator(seed=7, conversations=12, speed=20.0) as sim:
        ...  # token from sim.login_base, REST at sim.api_base, sockets at connectUri

The server runs its own asyncio event loop in a daemon thread; every public method is
safe to call from other threads. Wall-clock durations are seconds (``*_s``); ``speed``
is call-time seconds per wall second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from .faults import Faults, PlannedFault
from .generator import (
    LazyFrame,
    Scenario,
    ScheduledFrame,
    build_scenario,
    iter_scheduled,
    lazy_schedule,
    materialize,
)
from .ground_truth import CHANNEL_SPEAKER, post_call_transcript, truth_utterances, write_rttm
from .ledger import FaultLog, Ledger
from .server import DEFAULT_PERMISSIONS, Client, RouteInstaller, SimServer

DEFAULT_CLIENT_ID = "diarkit-sim-client"
DEFAULT_CLIENT_SECRET = "diarkit-sim-secret"


@dataclass(frozen=True, slots=True)
class FirehoseResult:
    """Outcome of ``Simulator.firehose``: frames handed to sockets and wall seconds taken."""

    frames: int
    seconds: float

    @property
    def rate(self) -> float:
        """Frames per second."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


class Simulator:
    """A simulated Genesys Cloud org: OAuth, notifications REST and WebSocket, calls, faults.

    Args:
        seed: seeds the calls, ids and fault choices: same seed, same frames.
        conversations: number of simulated calls.
        queues, agents: how many queue and user ids the calls spread over.
        speed: call-time seconds per wall second (1.0 real time; 20-200 for tests).
        heartbeat_s: wall seconds between heartbeats on each socket (Genesys: 30).
        call_duration_s: (min, max) length of each call in call-time seconds.
        stagger_s: mean call-time seconds between call starts (0: all start together).
        grouping: how transcripts are batched into frames (``diarkit.sim.calls.GROUPINGS``:
            ``grouped`` within ~35 s, the documented default; ``low_latency`` ~3-5 s;
            ``per_frame`` one transcript per frame).
        kinds: call kinds given to calls in turn (``diarkit.sim.calls.CALL_KINDS``, with
            ``+hold`` etc.); None: the seeded mix.
        autostart: start the calls by itself ``start_delay_s`` after the server is up;
            with False, call ``start_conversations()`` (after subscribing).
        start_delay_s: wall seconds between server start and call start (autostart).
        token_lifetime_s, channel_lifetime_s: wall-second lifetimes (Genesys: 24 h each).
        max_channels, max_topics: per-client channel and per-channel topic limits.
        rate_limit: (requests, window seconds) per client on ``/api/v2``; None for no limit.
        host, port: where to listen (port 0: a free port).
        epoch_ms: epoch ms of the call clock's zero (default: wall clock at call start).
        client_id, client_secret, permissions: the demo OAuth client.
        fault_plan: faults to trigger at wall seconds after the calls start.
        chaos_every_s: also trigger a seeded random fault about this often (seconds).
        ledger_maxlen: keep only the newest entries in the ledger (None: all).
        routes: extra route installers ``install(router, server)`` for this simulator
            (``diarkit.sim.server.EXTRA_ROUTES`` holds those every simulator gets).
        schedule: builds the frames to send instead of the scenario's calls, given the
            call clock's epoch ms: a sorted list of ``diarkit.sim.frames.LazyFrame``
            (benchmarks of thousands of light calls; give ``conversations=0``).
    """

    def __init__(
        self,
        seed: int = 7,
        conversations: int = 12,
        queues: int = 2,
        agents: int = 6,
        speed: float = 20.0,
        heartbeat_s: float = 30.0,
        *,
        call_duration_s: tuple[float, float] = (120.0, 480.0),
        stagger_s: float = 5.0,
        grouping: str = "grouped",
        kinds: Sequence[str] | None = None,
        autostart: bool = True,
        start_delay_s: float = 1.0,
        token_lifetime_s: float = 86_400.0,
        channel_lifetime_s: float = 86_400.0,
        max_channels: int = 20,
        max_topics: int = 1000,
        rate_limit: tuple[int, float] | None = (300, 60.0),
        host: str = "127.0.0.1",
        port: int = 0,
        epoch_ms: int | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        permissions: Iterable[str] = DEFAULT_PERMISSIONS,
        fault_plan: Sequence[PlannedFault] = (),
        chaos_every_s: float | None = None,
        ledger_maxlen: int | None = None,
        routes: Sequence[RouteInstaller] = (),
        schedule: Callable[[int], list[LazyFrame]] | None = None,
    ) -> None:
        self.seed = seed
        self._scenario_args = {
            "seed": seed, "conversations": conversations, "queues": queues, "agents": agents,
            "call_duration_s": call_duration_s, "stagger_s": stagger_s,
            "grouping": grouping, "kinds": kinds,
        }
        self._fixed_epoch = epoch_ms
        self._schedule = schedule
        self.scenario: Scenario = build_scenario(
            **self._scenario_args, epoch_ms=epoch_ms or int(time.time() * 1000)  # type: ignore[arg-type]
        )
        self.speed = speed
        self.autostart = autostart
        self.start_delay_s = start_delay_s
        self.host = host
        self._port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.fault_plan = tuple(fault_plan)
        self.chaos_every_s = chaos_every_s
        self._server = SimServer(
            frames=[], plans=self.scenario.plans, speed=speed,
            heartbeat_s=heartbeat_s,
            token_lifetime_s=token_lifetime_s, channel_lifetime_s=channel_lifetime_s,
            max_channels=max_channels, max_topics=max_topics, rate_limit=rate_limit, seed=seed,
        )
        self._server.ledger = Ledger(ledger_maxlen)
        self._server.route_installers.extend(routes)
        self._server.clients[client_id] = Client(client_id, client_secret,
                                                 frozenset(permissions))
        self.faults = Faults(self._server, self._run, seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._done = threading.Event()
        self._startup_error: BaseException | None = None
        self._schedule_started = False
        self._call_epoch_ms: int | None = None
        self.port = 0

    # ------------------------------------------------------------------ identity

    @property
    def login_base(self) -> str:
        """OAuth base URL, ``http://127.0.0.1:<port>`` (POST ``/oauth/token`` there)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """REST base URL, ``http://127.0.0.1:<port>`` (``/api/v2/...`` there)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        """WebSocket base, ``ws://127.0.0.1:<port>``; channels live at ``/channels/<id>``."""
        return f"ws://{self.host}:{self.port}"

    @property
    def conversation_ids(self) -> list[str]:
        """Ids of the simulated conversations, in start order."""
        return list(self.scenario.conversation_ids)

    @property
    def queue_ids(self) -> list[str]:
        """Queue ids the calls arrive on."""
        return list(self.scenario.queue_ids)

    @property
    def user_ids(self) -> list[str]:
        """User (agent) ids that take the calls."""
        return list(self.scenario.user_ids)

    @property
    def ledger(self) -> Ledger:
        """Every frame sent on any socket: channel, topic, correlation id, time, text."""
        return self._server.ledger

    @property
    def fault_log(self) -> FaultLog:
        """Every injected fault, in order."""
        return self._server.fault_log

    def add_client(self, client_id: str, client_secret: str,
                   permissions: Iterable[str] = DEFAULT_PERMISSIONS,
                   hidden_ids: Iterable[str] = ()) -> None:
        """Configure another OAuth client (e.g. one lacking a permission).

        ``hidden_ids``: queue/user/conversation ids outside the client's divisions; their
        topics are refused for the permission they need (one queue the client may not see).
        """
        self._server.clients[client_id] = Client(client_id, client_secret, frozenset(permissions),
                                                 frozenset(hidden_ids))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> Simulator:
        """Start the server thread; returns when it listens (raises if it cannot)."""
        if self._thread is not None:
            return self
        if self._started.is_set():
            raise RuntimeError("a Simulator runs once; create a new one to start again")
        self._thread = threading.Thread(target=self._main, name="diarkit-sim", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"simulator did not start within {timeout} s")
        if self._startup_error is not None:
            raise RuntimeError(f"simulator failed to start: {self._startup_error}") from (
                self._startup_error)
        if self.autostart:
            self._call_soon(self._autostart())
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every socket, stop the server and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            with contextlib.suppress(Exception):  # still stop the loop below
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:  # reported by start()
            self._startup_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _setup(self) -> None:
        app = self._server.app()
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._server.base_url = self.api_base
        self._server.spawn(self._server.watch_expiry())

    async def _shutdown(self) -> None:
        s = self._server
        for ch in list(s.channels.values()):
            if ch.ws is not None and not ch.ws.closed:
                await ch.ws.close(code=1001, message=b"simulator stopping")
        tasks = list(s._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the server loop from another thread and return its result."""
        if self._loop is None or not self._loop.is_running():
            coro.close()
            raise RuntimeError("simulator is not running (use `with Simulator(...) as sim:`)")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call_soon(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._server.spawn, coro)

    # ------------------------------------------------------------------ conversations

    async def _autostart(self) -> None:
        await asyncio.sleep(self.start_delay_s)
        await self._begin_async()

    def start_conversations(self, timeout: float = 120.0) -> None:
        """Start the calls now (with ``autostart=False``; a no-op once they started).

        The frames are planned in a worker thread first (texts are built as they are sent),
        so the server keeps answering meanwhile; the call clock starts after that.
        """
        self._run(self._begin_async(), timeout)

    async def _begin_async(self) -> None:
        if self._schedule_started:
            return
        self._schedule_started = True
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(None, self._render)
        s = self._server
        s.frames = frames
        s.plans = {p.conversation_id: p for p in self.scenario.plans}
        s._last_index = {f[7]: i for i, f in enumerate(frames)}
        task = s.spawn(s.run_schedule())
        task.add_done_callback(lambda _t: self._done.set())
        if self.fault_plan or self.chaos_every_s:
            s.spawn(self._run_faults())

    def _render(self) -> list[LazyFrame]:
        """Shift the call clock to now (unless ``epoch_ms`` was given) and plan frames."""
        if self._schedule is not None:
            epoch = self._fixed_epoch or int(time.time() * 1000)
            self._call_epoch_ms = epoch
            return self._schedule(epoch)
        if self._fixed_epoch is None:  # same ids and words: only the clock moves
            epoch = int(time.time() * 1000)
            plans = tuple(dataclasses.replace(p, session_start_epoch_ms=epoch + p.start_ms)
                          for p in self.scenario.plans)
            self.scenario = dataclasses.replace(self.scenario, plans=plans)
            self._call_epoch_ms = epoch
        else:
            self._call_epoch_ms = self._fixed_epoch
        return lazy_schedule(self.scenario)

    @property
    def call_epoch_ms(self) -> int | None:
        """Epoch ms of call time zero (frames' ``at_ms`` count from it); None before the
        calls start."""
        return self._call_epoch_ms

    def call_clock(self) -> float:
        """The simulated calls' clock now, epoch seconds (``Capture(clock=sim.call_clock)``).

        Call time runs ``speed`` times faster than the wall clock from the moment the calls
        start, from the epoch their timestamps use; before the calls start it is the wall
        clock. A capture stamping ``received_at`` with it puts frames and call events on
        the same clock as the timestamps inside them.
        """
        t0 = self._server.call_t0
        epoch = self._call_epoch_ms
        if t0 is None or epoch is None:
            return time.time()
        return epoch / 1000.0 + (time.monotonic() - t0) * self.speed

    async def _run_faults(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        plan = sorted(self.fault_plan, key=lambda f: f.at_s)
        rng = self.faults.rng
        next_chaos = (rng.expovariate(1 / self.chaos_every_s) if self.chaos_every_s else None)
        from .faults import CHAOS_KINDS

        while plan or next_chaos is not None:
            now = loop.time() - t0
            if plan and (next_chaos is None or plan[0].at_s <= next_chaos):
                item = plan.pop(0)
                at, kind, count = item.at_s, item.kind, item.count
            else:
                assert next_chaos is not None and self.chaos_every_s
                at, kind, count = next_chaos, rng.choice(CHAOS_KINDS), 1
                next_chaos += rng.expovariate(1 / self.chaos_every_s)
                if self._done.is_set():
                    next_chaos = None
            if at > now:
                await asyncio.sleep(at - now)
            try:
                await loop.run_in_executor(None, self.faults.trigger, kind, count)
            except Exception as exc:  # one failed fault must not stop the plan
                self._server.fault("error", f"{kind} x{count} failed: {exc!r}")

    @property
    def frames(self) -> list[ScheduledFrame]:
        """Every scheduled frame, texts built (empty until the calls start)."""
        return [materialize(f) for f in self._server.frames]

    def wait_for_conversations_done(self, timeout: float | None = None) -> bool:
        """Block until every scheduled frame was sent; False on timeout (seconds)."""
        return self._done.wait(timeout)

    @property
    def finished_conversations(self) -> set[str]:
        """Ids of calls whose last frame was sent (their transcripts are available)."""
        return set(self._server.finished)

    # ------------------------------------------------------------------ channels

    def channel_ids(self, connected: bool = False) -> list[str]:
        """Ids of existing channels (only those with a connected socket if ``connected``)."""
        return [c.id for c in list(self._server.channels.values())
                if not connected or (c.ws is not None and not c.ws.closed)]

    def subscriptions(self, channel_id: str) -> list[str]:
        """Topics a channel is subscribed to."""
        return list(self._server.channels[channel_id].topics)

    def channel_subscriptions(self, client_id: str | None = None) -> dict[str, list[str]]:
        """Every existing channel (of one client, or all) and its topics, read on the loop.

        A channel missing here is gone (expired or evicted: HEAD says 404); one with an
        empty list exists but delivers nothing.
        """
        return dict(self._run(self._channel_subscriptions(client_id)))

    async def _channel_subscriptions(self, client_id: str | None) -> dict[str, list[str]]:
        return {c.id: list(c.topics) for c in self._server.channels.values()
                if client_id is None or c.client_id == client_id}

    def has_subscriber(self) -> bool:
        """True when a connected channel is subscribed to a topic that carries calls."""
        return bool(self._run(self._has_subscriber(), 5.0))

    async def _has_subscriber(self) -> bool:
        return any(c.ws is not None and not c.ws.closed and c.topics
                   for c in self._server.channels.values())

    def wait_connected(self, channel_id: str, timeout: float = 5.0) -> bool:
        """Block until ``channel_id`` has a connected socket; False on timeout (seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if channel_id in self.channel_ids(connected=True):
                return True
            time.sleep(0.01)
        return False

    # ------------------------------------------------------------------ ground truth

    @property
    def ground_truth(self) -> list[dict[str, Any]]:
        """Who really spoke when: one row per spoken utterance (seconds from session start).

        Keys: ``conversation_id``, ``speaker`` (agent/customer), ``party`` (ivr/agent/
        customer), ``channel``, ``start_s``, ``end_s``, ``text``, ``utterance_id``.
        """
        return [
            {"conversation_id": p.conversation_id, "speaker": CHANNEL_SPEAKER[u.party],
             "party": u.party, "channel": u.channel, "start_s": u.start_ms / 1000,
             "end_s": u.end_ms / 1000, "text": u.text, "utterance_id": u.utterance_id}
            for p in self.scenario.plans for u in truth_utterances(p)
        ]

    def write_rttm(self, path: str | Path, *, by: str = "channel") -> Path:
        """Write the ground truth as RTTM (seconds from session start); returns the path."""
        return write_rttm(self.scenario.plans, path, by=by)

    def post_call_transcript(self, conversation_id: str) -> dict[str, Any]:
        """The post-call Speech and Text Analytics transcript document of one call."""
        for plan in self.scenario.plans:
            if plan.conversation_id == conversation_id:
                return post_call_transcript(plan)
        raise KeyError(f"no simulated conversation {conversation_id!r}")

    def communication_id(self, conversation_id: str) -> str:
        """The communication id of a simulated call (for the transcripturl endpoint)."""
        for plan in self.scenario.plans:
            if plan.conversation_id == conversation_id:
                return plan.communication_id
        raise KeyError(f"no simulated conversation {conversation_id!r}")

    # ------------------------------------------------------------------ firehose

    def firehose(
        self,
        n_frames: int = 100_000,
        *,
        conversation_id: str | None = None,
        frames: Sequence[str] | None = None,
        channel_id: str | None = None,
        seed: int | None = None,
        timeout: float = 600.0,
    ) -> FirehoseResult:
        """Push frames as fast as possible and wait until handed to the sockets.

        Blocks, so the receiving client must read in another thread or process (the
        socket buffers fill up otherwise); see ``start_firehose`` for a non-blocking form.
        """
        return self.start_firehose(n_frames, conversation_id=conversation_id, frames=frames,
                                   channel_id=channel_id, seed=seed).result(timeout)

    def start_firehose(
        self,
        n_frames: int = 100_000,
        *,
        conversation_id: str | None = None,
        frames: Sequence[str] | None = None,
        channel_id: str | None = None,
        seed: int | None = None,
    ) -> concurrent.futures.Future[FirehoseResult]:
        """Start pushing frames as fast as possible; each is recorded in the ledger.

        Frames go to every channel subscribed to their topic, or all to ``channel_id``.
        Without ``frames``, ``n_frames`` transcription frames are generated first (not
        timed) for ``conversation_id`` (default: the first simulated conversation), so a
        client subscribed to that conversation's transcription topic receives them all.

        Returns:
            A future of how many frames were handed to sockets and the wall seconds taken
            (timed from the first send; generation is not timed).
        """
        if frames is None:
            cid = conversation_id or (self.conversation_ids or ["firehose-conversation"])[0]
            items: list[tuple[str, str | None, str]] = []
            for f in iter_scheduled(conversations=None, seed=self.seed if seed is None else seed,
                                    conversation_id=cid, call_duration_s=(60.0, 240.0)):
                if f.kind != "conversation":
                    items.append((f.topic, f.correlation_id, f.text))
                    if len(items) >= n_frames:
                        break
        else:
            items = [_topic_of(t) for t in frames]
        if self._loop is None or not self._loop.is_running():
            raise RuntimeError("simulator is not running (use `with Simulator(...) as sim:`)")
        inner = asyncio.run_coroutine_threadsafe(self._server.firehose(items, channel_id),
                                                 self._loop)
        outer: concurrent.futures.Future[FirehoseResult] = concurrent.futures.Future()

        def done(f: concurrent.futures.Future[tuple[int, float]]) -> None:
            if f.exception() is not None:
                outer.set_exception(f.exception())
            else:
                outer.set_result(FirehoseResult(*f.result()))

        inner.add_done_callback(done)
        return outer

    def replay(self, frames: Sequence[str], channel_id: str | None = None,
               timeout: float = 600.0) -> FirehoseResult:
        """Send the given frame texts as fast as possible and wait (see ``firehose``)."""
        return self.firehose(frames=frames, channel_id=channel_id, timeout=timeout)

    def start_replay(self, frames: Sequence[str], channel_id: str | None = None
                     ) -> concurrent.futures.Future[FirehoseResult]:
        """Start sending the given frame texts as fast as possible (see ``start_firehose``)."""
        return self.start_firehose(frames=frames, channel_id=channel_id)

    def __repr__(self) -> str:
        return (f"Simulator(seed={self.seed}, conversations={len(self.scenario.plans)}, "
                f"api_base={self.api_base!r})")


def _topic_of(text: str) -> tuple[str, str | None, str]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ("", None, text)
    if not isinstance(doc, dict):
        return ("", None, text)
    meta = doc.get("metadata")
    corr = meta.get("CorrelationId") if isinstance(meta, dict) else None
    return (str(doc.get("topicName", "")), corr if isinstance(corr, str) else None, text)


__all__ = ["FirehoseResult", "Simulator"]
