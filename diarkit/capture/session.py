"""The capture session: ``Capture``, the supervisor of channel workers.

``Capture`` runs a supervisor thread (setup, follow-mode subscriptions, channel renewal,
moving channels to a new token before the old one expires, spool rolling by time, gap
bookkeeping) and one ``ChannelWorker`` thread per channel (``worker.py``: socket,
watchdog, reconnect). Given-up channels are released by a ``Releaser`` thread
(``release.py``). How a capture runs is one ``CaptureOptions`` (``options.py``).

What lands in ``gaps/`` besides disconnections (``cause`` says which):

- ``late_join``: a followed conversation whose call started before its transcription
  topic was subscribed (start: the earliest participant time in the call event; end:
  the subscription) -- follow mode learns of a call only when it reaches the queue;
- ``refused: <topic>: <reason> (missing permissions: ...)``: a topic the server refused
  (zero length, at the time of the refusal);
- ``frame truncated: ...``: a frame over ``max_frame_bytes`` (stored truncated).

All policy (backoff, close and error classification, topic names, message parsing) is
``diarkit.genesys``; this module only does I/O and bookkeeping.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from diarkit.genesys import (
    ConversationEvent,
    Environment,
    TranscriptionEvent,
    queue_calls_topic,
    resolve_environment,
    transcription_topic,
    user_calls_topic,
)
from diarkit.genesys.topics import MAX_CHANNELS, check_id

from . import stats as st
from .clients import OAuthClient, oauth_client, token_sources
from .errors import CaptureError, RecorderError, StoppedError, SubscriptionRejectedError
from .follow import FollowTracker, TopicPlan, conversation_of
from .follow_batch import FollowBatcher, missed_gap
from .notifications import RejectedTopic, SubscriptionResult
from .options import OPTION_NAMES, CaptureOptions
from .recorder import RawRecorder
from .token import Secret, TokenSource
from .worker import ChannelWorker, peek_topic

log = logging.getLogger("diarkit.capture")

#: Old name of ``ChannelWorker`` (kept for code that imported it).
_Worker = ChannelWorker


def new_session_id() -> str:
    """A capture session id: UTC start time plus a random suffix (sorts by time)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def _ids(value: str | Iterable[str], what: str) -> list[str]:
    """Ids from one id string or an iterable of them (a string is one id, not characters)."""
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what}: expected id strings, got {type(item).__name__}")
    return list(dict.fromkeys(items))


def conversation_start_us(doc: Any) -> int | None:
    """Earliest participant ``startTime``/``connectedTime`` of a call event, epoch µs."""
    body = doc.get("eventBody") if isinstance(doc, dict) else None
    parts = body.get("participants") if isinstance(body, dict) else None
    best: int | None = None
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        for key in ("startTime", "connectedTime"):
            value = part.get(key)
            if not isinstance(value, str):
                continue
            try:
                at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            us = int(at.timestamp() * 1_000_000)
            best = us if best is None else min(best, us)
    return best


class Capture:
    """Capture real-time transcription events into a dataset, in the foreground or a thread.

    Args:
        out: the dataset directory (``raw/``, ``segments/``, ``gaps/``, ``_spool/``).
        environment: a domain (``mypurecloud.de``), region (``eu-central-1``) or ``Environment``.
        region: a region name (``eu-central-1``), as the CLI's ``--region``; give
            ``environment`` or ``region``, not both.
        login_base: explicit OAuth base URL (simulator, proxies); with ``api_base``.
        api_base: explicit REST base URL.
        client_id: OAuth client id (client credentials grant).
        client_secret: its secret (``str`` or ``Secret``; never logged or shown).
        tokens: a ready ``TokenSource`` instead of the three above.
        clients: several OAuth clients, each ``(client_id, client_secret)`` or a ready
            ``TokenSource``, instead of the above: follow mode spreads its channels (and
            subscription requests) over them, each client with its own token, 20
            channels and ``subscription_budget_per_min``; a new channel (for topics
            given up front or followed calls) goes to the client with the fewest.
        conversations: conversation ids to capture (never dropped); one id string is one id.
        follow_queues: queue ids whose new conversations are followed (or one id string).
        follow_users: user ids whose new conversations are followed (or one id string).
        session_id: capture session id (default: UTC time + random suffix).
        options: how the capture runs (``CaptureOptions``); the keywords below override it.
        transport: httpx transport for the token and REST clients (tests).
        clock: wall clock, epoch seconds, stamping ``received_at`` and gaps (default
            ``time.time``; a sped-up simulator's ``Simulator.call_clock`` stamps its call
            time).
        **settings: any ``CaptureOptions`` field by name (``heartbeat_s=``, ``grace_s=``,
            ``roll_seconds=``, ``backoff_factory=``, ...), as before the options object.

    Raises:
        CaptureError: no credentials, or nothing to capture.
        ValueError: an invalid setting, a malformed id, or both environment and region.
        TypeError: an unknown setting.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        environment: str | Environment | None = None,
        region: str | None = None,
        login_base: str | None = None,
        api_base: str | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        tokens: TokenSource | None = None,
        clients: Sequence[tuple[str, str | Secret] | TokenSource] = (),
        conversations: str | Iterable[str] = (),
        follow_queues: str | Iterable[str] = (),
        follow_users: str | Iterable[str] = (),
        session_id: str | None = None,
        options: CaptureOptions | None = None,
        transport: Any = None,
        clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - OPTION_NAMES)
        if unknown:
            raise TypeError(f"Capture() got unknown setting(s): {', '.join(unknown)}")
        opts = (options or CaptureOptions()).replace(**settings)
        self.options = opts
        if environment is not None and region is not None:
            raise ValueError("give environment or region, not both")
        if isinstance(environment, Environment):
            env = environment
        else:
            env = resolve_environment(environment or region, login_base=login_base,
                                      api_base=api_base)
        self.environment = env
        self.clock = clock
        self.stopping = threading.Event()
        sleeper = self.stopping.wait
        sources = token_sources(
            clients, tokens=tokens, client_id=client_id, client_secret=client_secret,
            make=lambda cid, secret: TokenSource(
                env, cid, secret, transport=transport, sleep=sleeper,
                backoff_factory=opts.backoff_factory,
                max_retry_after_s=opts.max_retry_after_s))
        self.clients: list[OAuthClient] = [
            oauth_client(env, source, transport=transport, sleep=sleeper, options=opts,
                         on_wait=self._notice)
            for source in sources
        ]
        #: The first OAuth client's token source, REST client and releaser.
        self.tokens = self.clients[0].tokens
        self.notifications = self.clients[0].notifications
        self.releaser = self.clients[0].releaser
        self.conversations = _ids(conversations, "conversations")
        self.follow_queues = _ids(follow_queues, "follow_queues")
        self.follow_users = _ids(follow_users, "follow_users")
        self.requested = (
            [transcription_topic(c) for c in self.conversations]
            + [queue_calls_topic(q) for q in self.follow_queues]
            + [user_calls_topic(u) for u in self.follow_users]
        )
        if not self.requested:
            raise CaptureError("nothing to capture: give conversations, queues or users to follow")
        self.session_id = session_id or new_session_id()
        self.poll_s = min(0.2, opts.heartbeat_s / 4)
        self.drain_s = 0.2
        self.recorder = RawRecorder(
            out,
            self.session_id,
            roll_frames=opts.roll_frames,
            roll_seconds=opts.roll_seconds,
            roll_bytes=opts.roll_bytes,
            keep_heartbeats=opts.keep_heartbeats,
            recover=opts.recover,
        )
        self.tracker = FollowTracker(grace_s=opts.grace_s, pinned=frozenset(self.conversations),
                                     end_wait_s=opts.session_end_wait_s)
        self.plan = TopicPlan(per_channel=opts.max_topics_per_channel, max_channels=MAX_CHANNELS,
                              clients=len(self.clients))
        self.rejected: list[RejectedTopic] = []
        self.gaps: list[st.Gap] = []
        self.status = st.CONNECTING
        self.message = ""
        self.error: BaseException | None = None
        #: Why the timeline table was not written at the end (``options.timeline``), or None.
        self.timeline_error: str | None = None
        #: True once every channel was live at least once.
        self.went_live = False
        #: Frames stored truncated (over ``max_frame_bytes``) and ids skipped as malformed.
        self.truncated_frames = 0
        self.skipped_ids = 0
        #: Followed calls that got no subscription (each recorded as a late_join gap).
        self.missed_calls = 0
        self._lock = threading.RLock()
        self._workers: list[ChannelWorker] = []
        self._commands: queue.Queue[tuple[str, str]] = queue.Queue()
        self._gaps_dirty = False
        self._supervisor: threading.Thread | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._subscribed_once = False
        self._move_after: dict[int, float] = {}
        #: Follow mode's subscription changes waiting for the next batch (one request per
        #: channel every options.follow_batch_s) and its late joins (a call's start until
        #: its channel has the subscription); the supervisor does the requests.
        self.batcher = FollowBatcher(batch_s=opts.follow_batch_s)

    def client_of(self, index: int) -> OAuthClient:
        """The OAuth client that owns channel ``index``."""
        with self._lock:
            return self.clients[self.plan.owner(index)]

    def __repr__(self) -> str:
        return (
            f"Capture(session_id={self.session_id!r}, out={str(self.recorder.dataset)!r}, "
            f"status={self.status!r})"
        )

    # ------------------------------------------------------------------ settings (compat)

    @property
    def heartbeat_s(self) -> float:
        """The server's heartbeat period in seconds (``options.heartbeat_s``)."""
        return self.options.heartbeat_s

    @property
    def dead_after(self) -> float:
        """Heartbeat periods of silence before a socket counts as dead."""
        return self.options.dead_after

    @property
    def backoff_factory(self) -> Callable[[], Any]:
        """Retry/reconnect delays (``options.backoff_factory``)."""
        return self.options.backoff_factory

    @property
    def release_timeout_s(self) -> float:
        """Seconds ``stop()`` waits for the last subscription removals before giving up."""
        return self.releaser.timeout_s

    @release_timeout_s.setter
    def release_timeout_s(self, value: float) -> None:
        for client in self.clients:
            client.releaser.timeout_s = value

    # ------------------------------------------------------------------ public API

    @property
    def dataset(self) -> Path:
        """The dataset directory."""
        return self.recorder.dataset

    def now_us(self) -> int:
        """The capture clock now, microseconds since the epoch."""
        return int(self.clock() * 1_000_000)

    def start(self, wait: bool = False, timeout: float = 60.0) -> Capture:
        """Start capturing in a background thread.

        Args:
            wait: block until every channel is live (True) or return at once (False;
                poll ``stats()``).
            timeout: with ``wait``, seconds to wait for ``live``.

        Raises:
            CaptureError: with ``wait``: the capture ended in an error first (e.g.
                ``AuthError`` for a wrong client id or secret; the error itself is raised),
                or was not live within ``timeout`` (the message gives its last status).
        """
        if self._supervisor is not None:
            raise CaptureError("capture already started")
        self._started = time.monotonic()
        self._supervisor = threading.Thread(
            target=self._supervise, name="diarkit-capture", daemon=True
        )
        self._supervisor.start()
        if wait:
            deadline = time.monotonic() + timeout
            while self.status not in (st.LIVE, st.ERROR) and time.monotonic() < deadline:
                if not self._supervisor.is_alive():
                    break
                time.sleep(0.02)
            if self.status != st.LIVE:
                if self.error is None:
                    self.stop()
                    raise CaptureError(
                        f"capture not live after {timeout:g} s ({self.status}: {self.message})"
                    )
                self.wait(10.0)
                raise (self.error if isinstance(self.error, CaptureError)
                       else CaptureError(str(self.error)))
        return self

    def stop(self, timeout: float = 60.0) -> st.CaptureStats:
        """Stop, flush every frame into durable Parquet parts, write gaps; return the stats.

        If the supervisor has not finished within ``timeout`` seconds the status becomes
        ``error`` with a message saying frames may remain in ``_spool`` (run
        ``diarkit recover``), never ``live``.
        """
        self.stopping.set()
        self._commands.put(("stop", ""))  # wakes the supervisor now, not at its next poll
        if self._supervisor is not None:
            self._supervisor.join(timeout)
            if self._supervisor.is_alive():
                with self._lock:
                    self.status = st.ERROR
                    self.message = (
                        f"stop did not finish within {timeout:g} s; frames may remain in "
                        f"{self.recorder.spool_dir}: run `diarkit recover {self.dataset}`"
                    )
                    if self.error is None:
                        self.error = CaptureError(self.message)
        return self.stats()

    @property
    def finished(self) -> bool:
        """True when the capture has stopped and everything it received is stored."""
        sup = self._supervisor
        return sup is not None and not sup.is_alive() and self.status in (st.STOPPED, st.ERROR)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the capture ends by itself (error) or ``timeout`` s pass; True if ended."""
        if self._supervisor is None:
            return True
        self._supervisor.join(timeout)
        return not self._supervisor.is_alive()

    def run(self, duration: float | None = None) -> st.CaptureStats:
        """Capture in the foreground for ``duration`` seconds (None: until stopped).

        Raises:
            CaptureError: the capture ended in an error (after flushing what it had).
        """
        self.start()
        try:
            deadline = None if duration is None else time.monotonic() + duration
            while not self.stopping.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self.stopping.wait(0.2 if left is None else min(0.2, left))
        finally:
            result = self.stop()
        if self.error is not None:
            raise (
                self.error
                if isinstance(self.error, CaptureError)
                else CaptureError(str(self.error))
            )
        return result

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> st.CaptureStats:
        """A snapshot of the live counters (cheap; safe to poll from another thread)."""
        workers = list(self._workers)
        cs = [w.counters for w in workers]
        last = max((c.last_event_us for c in cs if c.last_event_us), default=None)
        rec = self.recorder
        meters = [c.notifications.subscription_meter for c in self.clients]
        end = self._ended if self._ended is not None else time.monotonic()
        return st.CaptureStats(
            session_id=self.session_id,
            status=self.status,
            message=self.message,
            frames=sum(c.frames for c in cs),
            transcription_events=sum(c.transcription_events for c in cs),
            utterances=rec.utterances,
            finals=rec.finals,
            heartbeats=sum(c.heartbeats for c in cs),
            active_conversations=len(self.active_conversations()),
            reconnects=sum(c.reconnects for c in cs),
            handovers=sum(c.handovers for c in cs),
            gaps=len(self.gaps),
            rejected=len(self.rejected),
            channels=len(workers),
            undecodable=sum(c.undecodable for c in cs),
            invalid=rec.invalid,
            parts=rec.parts,
            rows=rec.rows,
            bytes_written=rec.bytes_spooled,
            part_bytes=rec.part_bytes,
            last_event_at=st.utc_from_us(last),
            elapsed_s=(end - self._started) if self._started else 0.0,
            channels_released=sum(c.releaser.released for c in self.clients),
            release_failures=sum(c.releaser.failures for c in self.clients),
            refused=tuple(str(r) for r in self.rejected),
            truncated=self.truncated_frames,
            subscription_requests=sum(m.total for m in meters),
            subscription_requests_per_min=max(m.max_per_min for m in meters),
            subscription_requests_per_min_by_client=tuple(m.max_per_min for m in meters),
            missed_calls=self.missed_calls,
        )

    def active_conversations(self) -> list[str]:
        """Conversations whose transcription topic is subscribed now (and not rejected)."""
        with self._lock:
            rejected = {r.topic for r in self.rejected}
            topics = [t for chan in self.plan.channels for t in chan if t not in rejected]
        return [c for c in (conversation_of(t) for t in topics) if c]

    def channels_left_subscribed(self) -> list[str]:
        """Channels this capture subscribed whose subscriptions were not removed (yet)."""
        return [c for client in self.clients for c in client.releaser.left_subscribed()]

    # ------------------------------------------------------------------ used by workers

    def topics_of(self, index: int) -> list[str]:
        with self._lock:
            return self.plan.topics(index)

    def conversations_of(self, index: int) -> list[str]:
        return [c for c in (conversation_of(t) for t in self.topics_of(index)) if c]

    def set_status(self, status: str, message: str = "") -> None:
        with self._lock:
            if self.status in (st.ERROR, st.STOPPED):
                return
            self.status = status
            self.message = message

    def _notice(self, line: str) -> None:
        """A retry wait of the token or REST client: shown in the status (and logged)."""
        self.set_status(self.status, line)

    def worker_up(self) -> None:
        with self._lock:
            if all(w.ws is not None for w in self._workers) and self._subscribed_once:
                self.set_status(st.LIVE)
                self.went_live = True

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
                self.status = st.ERROR
                self.message = str(exc)
        log.error("capture failed: %s", exc)
        self.stopping.set()

    def note_subscriptions(self, result: SubscriptionResult, channel_id: str = "") -> None:
        """Remember refused topics (once each): in stats, the log and ``gaps/``."""
        if not result.rejected:
            return
        now = self.now_us()
        with self._lock:
            known = {r.topic for r in self.rejected}
            new = [r for r in result.rejected if r.topic not in known]
            self.rejected.extend(new)
            for r in new:
                cid = conversation_of(r.topic)
                self.gaps.append(st.Gap(now, f"refused: {r}", channel_id,
                                        [cid] if cid else [], now))
                self._gaps_dirty = True
        for r in new:
            log.warning("topic refused by the server: %s", r)

    def frame_truncated(self, worker: ChannelWorker, size: int) -> None:
        """A frame over ``max_frame_bytes`` was stored truncated: count, log, record."""
        limit = self.options.max_frame_bytes
        now = self.now_us()
        cause = (f"frame truncated: {size} bytes over the {limit}-byte limit "
                 f"(max_frame_bytes); its first {limit} bytes are stored, flagged invalid")
        with self._lock:
            self.truncated_frames += 1
            channel = worker.channel.id if worker.channel else ""
            self.gaps.append(st.Gap(now, cause, channel, self.conversations_of(worker.index),
                                    now))
            self._gaps_dirty = True
        log.warning("channel %d: %s", worker.index, cause)

    def observe(self, message: ConversationEvent | TranscriptionEvent, doc: Any = None) -> None:
        """Follow-mode bookkeeping of a call or transcription event."""
        if isinstance(message, ConversationEvent):
            try:
                check_id(message.conversation_id, "conversation id")
            except ValueError as exc:
                with self._lock:
                    self.skipped_ids += 1
                log.warning("skipped a call event on %s: %s", message.envelope.topic, exc)
                return
        with self._lock:
            new = self.tracker.observe(message, time.monotonic())
            missed = self.tracker.take_missed()
            begun = conversation_start_us(doc) if doc is not None and (new or missed) else None
            if begun is not None:
                for cid in new:
                    self.batcher.note_start(cid, begun)
        for cid in new:
            self._commands.put(("subscribe", cid))
        for cid in missed:  # came and went before this capture followed it
            self._missed_call(cid, begun, "its first call event said it had ended")

    def close_gap(self, gap: st.Gap, end_us: int, *, stopped: bool = False) -> None:
        gap.end_us = end_us
        if stopped:
            gap.cause += " (capture stopped before reconnecting)"
        with self._lock:
            self.gaps.append(gap)
            self._gaps_dirty = True

    def schedule_move(self, worker: ChannelWorker, delay_s: float) -> None:
        """Ask for another move attempt of ``worker`` after ``delay_s`` seconds."""
        with self._lock:
            self._move_after[worker.index] = time.monotonic() + delay_s

    # ------------------------------------------------------------------ supervisor

    def _supervise(self) -> None:
        for client in self.clients:
            client.releaser.start()
        try:
            self._setup()
            while not self.stopping.is_set():
                try:
                    verb, arg = self._commands.get(timeout=0.1)
                except queue.Empty:
                    pass
                else:
                    self._command(verb, arg)
                    # a burst of new calls (thousands at a busy center) is taken in one
                    # go, then one tick: not one tick (a scan of every call) per call
                    for _ in range(10_000):
                        try:
                            verb, arg = self._commands.get_nowait()
                        except queue.Empty:
                            break
                        self._command(verb, arg)
                self._tick()
        except StoppedError:
            pass
        except Exception as exc:
            self.fail(exc)
        finally:
            self._shutdown()

    def _setup(self) -> None:
        self.recorder.open()
        for client in self.clients:
            client.tokens.token()  # fail fast on bad credentials or region
        with self._lock:
            for topic in self.requested:
                self.plan.place(topic)
            count = len(self.plan.channels)
        for i in range(count):
            self._add_worker(i)
        for w in list(self._workers):
            while not w.ready.wait(0.1):
                if self.stopping.is_set():
                    return
        if self.stopping.is_set():
            return
        rejected = {r.topic for r in self.rejected}
        if rejected and all(t in rejected for t in self.requested):
            reasons = "; ".join(str(r) for r in self.rejected)
            raise SubscriptionRejectedError(
                f"every topic was rejected, nothing would be captured: {reasons}"
            )
        self._subscribed_once = True
        self.worker_up()

    def _add_worker(self, index: int) -> ChannelWorker:
        worker = ChannelWorker(self, index)
        with self._lock:
            self._workers.append(worker)
        worker.thread.start()
        return worker

    def _command(self, verb: str, arg: str) -> None:
        if verb == "subscribe":  # subscribed with the next batch (_flush_follow)
            self.batcher.subscribe(arg, time.monotonic())

    def _missed_call(self, cid: str, begun: int | None, why: str) -> None:
        """Record a followed call that got no subscription as a ``late_join`` gap.

        Nothing replays missed events: the gap (from the call's start to now, no channel)
        is what makes the call a back-fill candidate (``diarkit backfill``) instead of
        silently absent.
        """
        gap = missed_gap(cid, begun, self.now_us())
        assert gap.end_us is not None
        self.close_gap(gap, gap.end_us)
        with self._lock:
            self.missed_calls += 1
        log.warning("call %s was not subscribed (%s): recorded as a late_join gap", cid, why)

    def _flush_follow(self, now: float) -> None:
        """Send follow mode's pending subscription changes: one request per channel.

        ``FollowBatcher`` decides (see ``FollowBatcher.take``): batches go out at most
        once every ``options.follow_batch_s`` seconds; a new channel is created
        subscribed to its whole list, an existing one gets one ``POST`` of its new
        topics, or one ``PUT`` of its whole list when topics also left it. Each OAuth
        client's token sends at most ``options.subscription_budget_per_min``
        subscription requests per ``options.rate_window_s``: what does not fit waits for
        the next batch (at any load every token stays under its limit; changes wait
        longer instead). A conversation that was dropped before it could be subscribed
        is recorded as a ``late_join`` gap, never silently lost.
        """
        if self.batcher.pending_adds:  # calls over before a batch took them: recorded now
            with self._lock:
                gone = self.batcher.drop_unfollowed(self.tracker.following)
            for cid, begun in gone:
                self._missed_call(cid, begun, "its call ended before a subscription "
                                              "batch could take it")
        if not self.batcher.due(now):
            return
        budget = self.options.subscription_budget_per_min
        room = [budget - c.notifications.subscription_meter.rate(now) for c in self.clients]
        with self._lock:
            batch = self.batcher.take(now, room, self.plan)
        if batch is None:
            return  # every token spent its budget: the batch waits (and grows)
        if batch.refused:  # every channel full: reported, the rest goes on
            self.note_subscriptions(SubscriptionResult(
                (), tuple(RejectedTopic(topic, reason) for topic, reason in batch.refused)))
        for index in batch.fresh:  # created with (and subscribed to) every topic placed on it
            self._add_worker(index)
        for index, added in batch.updates:  # added None: PUT the whole list
            self._workers[index].update_topics(added)
        self._close_late_joins()

    def _close_late_joins(self, *, stopping: bool = False) -> None:
        """Record the ``late_join`` gaps of calls their channel now has (at stop: all)."""

        def in_place(index: int) -> str | None:
            w = self._workers[index]
            channel = w.channel
            if stopping:
                return channel.id if channel is not None else ""
            if not w.ready.is_set() or channel is None or w.needs_sync:
                return None
            return channel.id

        for gap in self.batcher.close_late_joins(in_place, self.now_us(), stopping=stopping):
            assert gap.end_us is not None
            self.close_gap(gap, gap.end_us)

    def _tick(self) -> None:
        self.recorder.tick()
        now = time.monotonic()
        with self._lock:
            due = self.tracker.due(now)
            touched = {self.plan.remove(transcription_topic(cid)) for cid in due}
        for index in touched:
            if index is not None:  # re-PUT with the next batch (_flush_follow)
                self.batcher.resync(index, now)
        self._flush_follow(now)
        if self.batcher.unsynced:
            self._close_late_joins()
        tokens = [self._current_token(c, now) for c in self.clients]
        for w in list(self._workers):
            if w.needs_sync:
                w.update_topics(None)
            if now >= w.renew_at:
                w.renew()
            token = tokens[self.plan.owner(w.index)]
            if (token is not None and w.channel_token is not None and not w.move_requested
                    and w.channel_token != token and now >= self._move_after.get(w.index, 0.0)):
                w.move_requested = True  # the worker moves before its next read
        if self.recorder.error is not None:
            raise self.recorder.error
        if self._gaps_dirty:
            self._write_gaps()

    def _current_token(self, client: OAuthClient, now: float) -> str | None:
        """A client's access token now (refreshed before expiry by ``TokenSource``), or None.

        A failed refresh is shown and logged, and tried again 5 s later: the channels of
        the old token keep delivering until it expires.
        """
        if now < client.token_retry_at:
            return None
        try:
            return client.tokens.token()
        except StoppedError:
            raise
        except CaptureError as exc:
            client.token_retry_at = now + 5.0
            self.set_status(self.status, f"refreshing the access token of {client.client_id}: "
                                         f"{exc}")
            log.warning("refreshing the access token of %s failed (%s); trying again in 5 s",
                        client.client_id, exc)
            return None

    def _write_gaps(self) -> None:
        import pyarrow as pa

        from diarkit.io.dataset import write_gaps
        from diarkit.schema import GAPS

        with self._lock:
            self._gaps_dirty = False
            rows = [g.row(self.session_id) for g in self.gaps]
        if rows:
            try:
                table = pa.Table.from_pylist(rows, schema=GAPS.arrow_schema())
                write_gaps(self.dataset, self.session_id, table)
            except OSError as exc:
                raise RecorderError(f"cannot write gaps of {self.session_id}: {exc}") from None

    def _write_timeline(self) -> None:
        """Rewrite the derived timeline table; a failure is logged, never fails the capture.

        Every frame is already stored in raw/ and segments/, so the timeline can be
        written again later (``diarkit rebuild``); ``timeline_error`` keeps the reason.
        """
        from diarkit.io.timeline import write_timeline

        try:
            write_timeline(self.dataset)
        except Exception as exc:
            self.timeline_error = f"{type(exc).__name__}: {exc}"
            log.warning("timeline/timeline.parquet not written (%s); the frames are stored: "
                        "`diarkit rebuild %s` writes it", self.timeline_error, self.dataset)

    def _shutdown(self) -> None:
        self.stopping.set()
        # Each worker notices within poll_s and closes its own socket (one reader per socket).
        for w in list(self._workers):
            w.thread.join(15)
        with self._lock:
            never = self.batcher.take_pending()
        for cid, begun in never:  # never subscribed: the capture stopped first
            self._missed_call(cid, begun, "the capture stopped before subscribing it")
        self._close_late_joins(stopping=True)
        try:
            self.recorder.close()
        except RecorderError as exc:
            self.fail(exc)
        try:
            self._write_gaps()
        except Exception as exc:
            self.fail(exc)
        if self.options.timeline:
            self._write_timeline()
        for client in self.clients:
            client.releaser.finish()
            for closable in (client.notifications, client.tokens):
                with contextlib.suppress(Exception):
                    closable.close()
        self._ended = time.monotonic()
        with self._lock:
            if self.status != st.ERROR:
                self.status = st.STOPPED
                self.message = ""


__all__ = ["Capture", "ChannelWorker", "OAuthClient", "conversation_start_us", "new_session_id",
           "peek_topic"]
