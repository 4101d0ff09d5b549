"""The capture session: channels, WebSocket workers, watchdog, reconnect, follow mode.

``Capture`` runs a supervisor thread (setup, follow-mode subscriptions, channel renewal,
spool rolling by time, gap bookkeeping) and one worker thread per channel. A worker
receives frames with websocket-client (``skip_utf8_validation=True``), hands each one to
the ``RawRecorder`` *first*, then looks at it:

- a heartbeat watchdog declares the socket dead after ``dead_after`` heartbeat periods
  without a frame, and a ping is sent after one idle period;
- ``socket_closing`` opens the replacement connection at once, drains the old one and
  closes it; a drop reconnects with the backoff policy (first attempt at once), reusing
  the channel if it still exists, else a new channel with the subscriptions restored;
- ``token_revoked`` gets a new token and a new channel; ``no_longer_subscribed`` a new
  channel;
- every disconnection becomes a gap (last frame before it .. events flowing again);
- a channel given up for a new one, and at stop every channel the capture subscribed,
  has its subscriptions removed (``DELETE .../subscriptions``; the API cannot delete a
  channel) by a release thread, best effort: failures are logged and counted, never fatal.

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
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websocket

from diarkit.genesys import (
    Action,
    ConversationEvent,
    Decision,
    Environment,
    ProtocolError,
    SocketClosing,
    SystemMessage,
    TopicKind,
    TranscriptionEvent,
    backoff,
    classify_close,
    classify_exception,
    decode_frame,
    parse_document,
    parse_topic,
    queue_calls_topic,
    resolve_environment,
    transcription_topic,
    user_calls_topic,
)
from diarkit.genesys.topics import MAX_CHANNELS, MAX_TOPICS_PER_CHANNEL

from . import stats as st
from .errors import (
    CaptureError,
    ChannelGoneError,
    NotificationsError,
    RecorderError,
    RetryExhaustedError,
    StoppedError,
    SubscriptionRejectedError,
)
from .follow import ENDED_STATUSES, FollowTracker, TopicPlan, conversation_of
from .notifications import Channel, NotificationsClient, RejectedTopic, SubscriptionResult
from .readahead import ReadAheadWebSocket
from .recorder import RawRecorder
from .token import Secret, TokenSource

log = logging.getLogger("diarkit.capture")

PING = '{"message": "ping"}'
_TEXT = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)


def _now_us() -> int:
    return time.time_ns() // 1000


#: Frames that may end a transcription session (then parsed in full for follow mode).
_ENDED_MARKS = tuple(sorted(s.encode() for s in ENDED_STATUSES))
_TOPIC_KINDS: dict[bytes, TopicKind | None] = {}
_TOPIC_KEY = b'"topicName"'
#: The last frame's bytes up to its topic's closing quote, and that topic's kind.
_last_peek: tuple[bytes, TopicKind | None] | None = None


def peek_topic(frame: bytes) -> TopicKind | None:
    """The kind of a frame's topic without decoding the frame (None: not found or bad).

    Reads the first ``"topicName": "..."`` in the first 1 KB with plain byte searches and
    classifies it with ``diarkit.genesys.parse_topic`` (cached per topic name). A frame
    that starts with the same bytes as the last one, up to its topic's closing quote, has
    the same first topic: one ``startswith`` answers (the bulk of a stream). A frame whose
    topic cannot be peeked is decoded in full by the caller; the stored frame is never
    affected.
    """
    global _last_peek
    last = _last_peek
    if last is not None and frame.startswith(last[0]):
        return last[1]
    i = frame.find(_TOPIC_KEY, 0, 1024)
    if i < 0:
        return None
    i += 11
    j = frame.find(b'"', i, i + 64)
    if j < 0:
        return None
    k = frame.find(b'"', j + 1, j + 514)
    if k < 0:
        return None
    if frame[i:j].strip() != b":":
        return None  # not ``"topicName": "..."``: the caller parses the frame
    name = frame[j + 1 : k]
    kind: TopicKind | None
    if name in _TOPIC_KINDS:
        kind = _TOPIC_KINDS[name]
    elif b"\\" in name or not name:
        kind = None  # not a plain string value: the caller parses the frame
    else:
        try:
            kind = parse_topic(name.decode("utf-8")).kind
        except (ProtocolError, UnicodeDecodeError):
            kind = None
    if len(_TOPIC_KINDS) > 100_000:
        _TOPIC_KINDS.clear()
    _TOPIC_KINDS[name] = kind
    _last_peek = (frame[: k + 1], kind)
    return kind


def _may_end(frame: bytes) -> bool:
    if len(_ENDED_MARKS) == 1:
        return _ENDED_MARKS[0] in frame
    return any(mark in frame for mark in _ENDED_MARKS)


def _close_ws(ws: websocket.WebSocket) -> None:
    """Close a socket: a close frame when still open, and always release the OS socket."""
    with contextlib.suppress(Exception):
        ws.close(timeout=0.2)
    with contextlib.suppress(Exception):
        ws.shutdown()  # ws.close() does nothing once the server's close frame was answered


def new_session_id() -> str:
    """A capture session id: UTC start time plus a random suffix (sorts by time)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


class _Worker:
    """One channel: its socket, its thread, its counters. Owned by ``Capture``."""

    def __init__(self, capture: Capture, index: int) -> None:
        self.cap = capture
        self.index = index
        self.channel: Channel | None = None
        self.ws: websocket.WebSocket | None = None
        self.counters = st.WorkerCounters()
        self.lock = threading.RLock()  # guards channel + REST calls on it
        self.ready = threading.Event()
        self.last_frame = time.monotonic()
        self.pinged = False
        self.silent_strikes = 0
        self.renew_at = float("inf")
        self.lifetime = 0.0
        self.open_gap: st.Gap | None = None
        self.needs_sync = False
        self.in_handover = False
        self.thread = threading.Thread(
            target=self.run, name=f"diarkit-capture-ch{index}", daemon=True
        )

    # ------------------------------------------------------------------ connections

    def connect(self, uri: str) -> websocket.WebSocket:
        ws = ReadAheadWebSocket(skip_utf8_validation=True, enable_multithread=True)
        try:
            ws.connect(uri, timeout=self.cap.connect_timeout_s)
            ws.settimeout(self.cap.poll_s)
        except BaseException:
            _close_ws(ws)
            raise
        return ws

    def open_channel(self) -> None:
        """Create a channel, connect to it, then subscribe (no event can slip in between)."""
        cap = self.cap
        with self.lock:
            channel = cap.notifications.create_channel()
            ws = self.connect(channel.connect_uri)
            cap.channel_subscribed(channel.id)
            try:
                result = cap.notifications.replace_subscriptions(
                    channel.id, cap.topics_of(self.index)
                )
            except BaseException:
                _close_ws(ws)
                cap.release_channel(channel.id)  # the PUT may have landed all the same
                raise
            self.channel = channel
            self.ws = ws
            self.set_renewal()
        cap.note_subscriptions(result)

    def set_renewal(self) -> None:
        channel = self.channel
        now = time.monotonic()
        if channel is not None and channel.expires is not None:
            left = (channel.expires - datetime.now(UTC)).total_seconds()
            self.lifetime = max(left, 1.0)
        else:
            self.lifetime = 24 * 3600.0
        self.renew_at = now + self.lifetime * self.cap.renew_fraction

    def renew(self) -> None:
        """Re-subscribe the channel's topics: this extends its life (before 24 h)."""
        with self.lock:
            if self.channel is None or self.ws is None:
                return
            try:
                result = self.cap.notifications.replace_subscriptions(
                    self.channel.id, self.cap.topics_of(self.index)
                )
            except ChannelGoneError:
                self.renew_at = float("inf")  # the worker reconnects and sets a new one
                return
            except RetryExhaustedError as exc:
                self.renew_at = time.monotonic() + 1.0
                self.cap.set_status(self.cap.status, f"renewing channel: {exc}")
                return
            self.renew_at = time.monotonic() + self.lifetime * self.cap.renew_fraction
        self.cap.note_subscriptions(result)

    def update_topics(self, added: list[str] | None) -> None:
        """Add topics (POST) or, with ``added=None``, replace the list (PUT) on the channel."""
        with self.lock:
            if self.channel is None:
                return  # (re)connecting: the plan's topics are restored with the channel
            topics = self.cap.topics_of(self.index)
            try:
                if added is None:
                    result = self.cap.notifications.replace_subscriptions(self.channel.id, topics)
                else:
                    result = self.cap.notifications.add_subscriptions(self.channel.id, added)
            except ChannelGoneError:
                return  # the worker notices the drop and restores every topic
            except RetryExhaustedError as exc:
                self.needs_sync = True  # the supervisor PUTs the whole list again later
                self.cap.set_status(self.cap.status, f"updating subscriptions: {exc}")
                return
            self.needs_sync = False
        self.cap.note_subscriptions(result)

    def close_socket(self) -> None:
        ws = self.ws
        if ws is not None:
            _close_ws(ws)

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        cap = self.cap
        try:
            self.reconnect(None, initial=True)
            self.ready.set()
            while not cap.stopping.is_set():
                self.step()
        except StoppedError:
            pass
        except Exception as exc:
            cap.fail(exc)
        finally:
            self.ready.set()
            self.close_socket()
            if self.open_gap is not None:
                cap.close_gap(self, self.open_gap, _now_us(), stopped=True)
                self.open_gap = None

    def step(self) -> None:
        ws = self.ws
        assert ws is not None
        try:
            batch = ws.recv_batch() if isinstance(ws, ReadAheadWebSocket) else [ws.recv_data()]
        except websocket.WebSocketTimeoutException:
            self.idle()
            return
        except Exception as exc:
            if self.cap.stopping.is_set():
                return
            self.reconnect(classify_exception(exc))
            return
        opcode, data = batch[0]
        if len(batch) > 1 or opcode in _TEXT:  # a batch holds only data frames
            self.on_frames([payload for _, payload in batch])
        elif opcode == websocket.ABNF.OPCODE_CLOSE and not self.cap.stopping.is_set():
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            self.reconnect(classify_close(code))

    def idle(self) -> None:
        cap = self.cap
        silent = time.monotonic() - self.last_frame
        if silent >= cap.heartbeat_s * cap.dead_after:
            self.silent_strikes += 1
            action = Action.RETRY if self.silent_strikes < 2 else Action.NEW_CHANNEL
            self.reconnect(Decision(action, f"silent socket: no frame for {silent:.1f} s"))
        elif silent >= cap.heartbeat_s and not self.pinged and self.ws is not None:
            self.pinged = True
            with contextlib.suppress(Exception):
                self.ws.send(PING)

    # ------------------------------------------------------------------ frames

    def on_frame(self, data: bytes) -> None:
        """``on_frames`` of one frame."""
        self.on_frames([data])

    def on_frames(self, frames: list[bytes]) -> None:
        """Spool frames received together first (one ``writev``), then look at each.

        Transcription frames (the bulk) are not decoded here: their topic is read from
        the envelope by ``peek_topic`` and only frames that may end a session are parsed
        (follow mode needs them). Utterances, finals and invalid frames are counted from
        the authoritative parse (``diarkit.io``) when their Parquet part is written.
        """
        cap = self.cap
        received = _now_us()
        channel = self.channel
        cap.recorder.append_batch(frames, channel.id if channel else "", received)
        c = self.counters
        c.frames += len(frames)
        c.last_frame_us = received
        self.last_frame = time.monotonic()
        self.pinged = False
        self.silent_strikes = 0
        if self.open_gap is not None:
            cap.close_gap(self, self.open_gap, received)
            self.open_gap = None
        transcriptions = 0
        for data in frames:
            kind = peek_topic(data)
            if kind is TopicKind.TRANSCRIPTION:
                transcriptions += 1
                if not _may_end(data):
                    continue
            self.look_at(data, kind, received)
        if transcriptions:
            c.transcription_events += transcriptions
            c.last_event_us = received

    def look_at(self, data: bytes, kind: TopicKind | None, received: int) -> None:
        """Decode a spooled frame that is not a plain transcription frame and act on it."""
        c = self.counters
        try:
            doc = decode_frame(data)
        except ProtocolError:
            c.undecodable += 1
            return
        if kind is None and isinstance(doc, dict) and isinstance(doc.get("topicName"), str):
            with contextlib.suppress(ProtocolError):
                kind = parse_topic(doc["topicName"]).kind
            if kind is TopicKind.TRANSCRIPTION:
                c.transcription_events += 1
                c.last_event_us = received
        if kind is TopicKind.CHANNEL_METADATA:
            body = doc.get("eventBody") if isinstance(doc, dict) else None
            if isinstance(body, dict) and body.get("message") == "pong":
                c.pongs += 1
            else:
                c.heartbeats += 1
            return
        self.dispatch(doc)

    def dispatch(self, doc: Any) -> None:
        try:
            message = parse_document(doc)
        except ProtocolError:
            return  # stored raw and flagged at roll time
        cap = self.cap
        if isinstance(message, ConversationEvent):
            self.counters.conversation_events += 1
            cap.observe(message)
        elif isinstance(message, TranscriptionEvent):
            cap.observe(message)
        elif isinstance(message, SocketClosing):
            self.counters.system += 1
            self.handover()
        elif isinstance(message, SystemMessage):
            self.counters.system += 1
            if message.topic_kind is TopicKind.TOKEN_REVOKED:
                self.reconnect(Decision(Action.NEW_TOKEN, "token revoked"))
            elif message.topic_kind is TopicKind.NO_LONGER_SUBSCRIBED:
                reason = message.reason or message.message or "no longer subscribed"
                self.reconnect(Decision(Action.NEW_CHANNEL, f"no longer subscribed: {reason}"))

    # ------------------------------------------------------------------ handover / reconnect

    def handover(self) -> None:
        """``socket_closing``: connect again now, drain the old socket, then close it."""
        channel = self.channel
        old = self.ws
        if channel is None or old is None or self.in_handover:
            return
        try:
            new = self.connect(channel.connect_uri)
        except Exception:
            return  # keep the old socket; when it goes, the normal reconnect runs
        self.ws = new
        self.counters.handovers += 1
        self.in_handover = True
        try:
            old.settimeout(self.cap.drain_s)
            deadline = time.monotonic() + self.cap.drain_s * 5
            while time.monotonic() < deadline:
                try:
                    opcode, data = old.recv_data()
                except Exception:
                    break
                if opcode in _TEXT:
                    self.on_frame(data)
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
        finally:
            self.in_handover = False
            _close_ws(old)

    def reconnect(self, decision: Decision | None, *, initial: bool = False) -> None:
        """Re-establish the channel after ``decision`` (None: first connection).

        Waits with the backoff policy between failed attempts (the first is immediate),
        records the disconnection as an open gap, and raises ``CaptureError`` for fatal
        failures and ``StoppedError`` when the capture stops meanwhile.
        """
        cap = self.cap
        old_channel = self.channel
        if decision is not None:
            self.close_socket()
            if self.open_gap is None:
                start = self.counters.last_frame_us or _now_us()
                self.open_gap = st.Gap(
                    start_us=start,
                    cause=decision.reason,
                    channel_id=old_channel.id if old_channel else "",
                    conversations=cap.conversations_of(self.index),
                )
            cap.set_status(st.RECONNECTING, f"{decision.reason}; reconnecting")
        with self.lock:
            self.ws = None
            if decision is not None and decision.action is not Action.RETRY:
                self.channel = None
        action = Action.NEW_CHANNEL if decision is None else decision.action
        delays = cap.backoff_factory()
        while True:
            if cap.stopping.is_set():
                raise StoppedError("capture stopped while reconnecting")
            if action is Action.FATAL:
                reason = decision.reason if decision is not None else "fatal"
                raise CaptureError(f"channel {old_channel.id if old_channel else '?'}: {reason}")
            try:
                if action is Action.NEW_TOKEN:
                    cap.tokens.invalidate()
                    action = Action.NEW_CHANNEL
                if action is Action.RETRY and old_channel is not None:
                    if cap.notifications.channel_exists(old_channel.id):
                        ws = self.connect(old_channel.connect_uri)
                        with self.lock:
                            self.channel = old_channel
                            self.ws = ws
                    else:
                        action = Action.NEW_CHANNEL
                        continue
                else:
                    self.open_channel()
                break
            except ChannelGoneError:
                action = Action.NEW_CHANNEL
                continue
            except (NotificationsError, RetryExhaustedError) as exc:
                if isinstance(exc, NotificationsError) and 400 <= exc.status < 500:
                    raise
                reason = str(exc)
            except (CaptureError, StoppedError):
                raise
            except Exception as exc:
                d = classify_exception(exc)
                if d.action is Action.FATAL:
                    raise CaptureError(f"reconnecting: {d.reason}") from None
                if d.action is not Action.RETRY:
                    action = d.action
                reason = d.reason
            wait = next(delays)
            cap.set_status(st.RECONNECTING, f"{reason}; retrying in {wait:.1f} s")
            if cap.stopping.wait(wait):
                raise StoppedError("capture stopped while reconnecting")
        if old_channel is not None and (self.channel is None or self.channel.id != old_channel.id):
            cap.release_channel(old_channel.id)  # its socket is closed: nothing reads it now
        self.last_frame = time.monotonic()
        self.pinged = False
        if not initial:
            self.counters.reconnects += 1
            if self.open_gap is not None:
                cap.close_gap(self, self.open_gap, _now_us())
                self.open_gap = None
        cap.worker_up()


class Capture:
    """Capture real-time transcription events into a dataset, in the foreground or a thread.

    Args:
        out: the dataset directory (``raw/``, ``segments/``, ``gaps/``, ``_spool/``).
        environment: a domain (``mypurecloud.de``), region (``eu-central-1``) or ``Environment``.
        login_base: explicit OAuth base URL (simulator, proxies); with ``api_base``.
        api_base: explicit REST base URL.
        client_id: OAuth client id (client credentials grant).
        client_secret: its secret (``str`` or ``Secret``; never logged or shown).
        tokens: a ready ``TokenSource`` instead of the three above.
        conversations: conversation ids to capture (never dropped).
        follow_queues: queue ids whose new conversations are followed.
        follow_users: user ids whose new conversations are followed.
        session_id: capture session id (default: UTC time + random suffix).
        heartbeat_s: the server's heartbeat period in seconds (30 on Genesys Cloud).
        dead_after: heartbeat periods without a frame before the socket counts as dead.
        grace_s: seconds a followed conversation stays subscribed after it ended.
        roll_frames: roll spools after this many frames ...
        roll_seconds: ... or this many seconds.
        roll_bytes: ... or this many bytes.
        keep_heartbeats: store heartbeat/pong frames too (default: only count them).
        max_topics_per_channel: topics per channel before another channel is opened.
        renew_fraction: re-subscribe a channel after this fraction of its lifetime.
        backoff_factory: reconnect delays in seconds (default ``diarkit.genesys.backoff``).
        transport: httpx transport for the token and REST clients (tests).
        recover: recover leftover spools of earlier sessions at start.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        environment: str | Environment | None = None,
        login_base: str | None = None,
        api_base: str | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        tokens: TokenSource | None = None,
        conversations: Iterable[str] = (),
        follow_queues: Iterable[str] = (),
        follow_users: Iterable[str] = (),
        session_id: str | None = None,
        heartbeat_s: float = 30.0,
        dead_after: float = 2.5,
        grace_s: float = 10.0,
        roll_frames: int = 10_000,
        roll_seconds: float = 5.0,
        roll_bytes: int = 32 << 20,
        keep_heartbeats: bool = False,
        max_topics_per_channel: int = MAX_TOPICS_PER_CHANNEL,
        renew_fraction: float = 0.8,
        backoff_factory: Callable[[], Iterator[float]] = backoff,
        transport: Any = None,
        recover: bool = True,
    ) -> None:
        if isinstance(environment, Environment):
            env = environment
        else:
            env = resolve_environment(environment, login_base=login_base, api_base=api_base)
        self.environment = env
        self.stopping = threading.Event()
        sleeper = self.stopping.wait
        if tokens is None:
            if not client_id or client_secret is None:
                raise CaptureError(
                    "no OAuth client credentials: set GENESYS_CLIENT_ID and "
                    "GENESYS_CLIENT_SECRET (or pass client_id/client_secret)"
                )
            tokens = TokenSource(
                env,
                client_id,
                client_secret,
                transport=transport,
                sleep=sleeper,
                backoff_factory=backoff_factory,
            )
        self.tokens = tokens
        self.notifications = NotificationsClient(
            env, tokens, transport=transport, sleep=sleeper, backoff_factory=backoff_factory
        )
        #: Seconds ``stop()`` waits for the last subscription removals before giving up.
        self.release_timeout_s = 10.0
        self._release_abort = threading.Event()
        self._releaser = NotificationsClient(  # own client: retries outlive ``stopping``
            env,
            tokens,
            transport=transport,
            sleep=self._release_abort.wait,
            backoff_factory=backoff_factory,
            max_attempts=3,
        )
        self._releases: queue.Queue[str | None] = queue.Queue()
        self._release_thread: threading.Thread | None = None
        self._subscribed: dict[str, None] = {}  # every channel we subscribed, in order
        self._released: set[str] = set()
        self._release_failures = 0
        self.conversations = [c for c in dict.fromkeys(conversations)]
        self.follow_queues = list(dict.fromkeys(follow_queues))
        self.follow_users = list(dict.fromkeys(follow_users))
        self.requested = (
            [transcription_topic(c) for c in self.conversations]
            + [queue_calls_topic(q) for q in self.follow_queues]
            + [user_calls_topic(u) for u in self.follow_users]
        )
        if not self.requested:
            raise CaptureError("nothing to capture: give conversations, queues or users to follow")
        self.session_id = session_id or new_session_id()
        self.heartbeat_s = heartbeat_s
        self.dead_after = dead_after
        self.renew_fraction = renew_fraction
        self.backoff_factory = backoff_factory
        self.poll_s = min(0.2, heartbeat_s / 4)
        self.drain_s = 0.2
        self.connect_timeout_s = 10.0
        self.recorder = RawRecorder(
            out,
            self.session_id,
            roll_frames=roll_frames,
            roll_seconds=roll_seconds,
            roll_bytes=roll_bytes,
            keep_heartbeats=keep_heartbeats,
            recover=recover,
        )
        self.tracker = FollowTracker(grace_s=grace_s, pinned=frozenset(self.conversations))
        self.plan = TopicPlan(per_channel=max_topics_per_channel, max_channels=MAX_CHANNELS)
        self.rejected: list[RejectedTopic] = []
        self.gaps: list[st.Gap] = []
        self.status = st.CONNECTING
        self.message = ""
        self.error: BaseException | None = None
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        self._commands: queue.Queue[tuple[str, str]] = queue.Queue()
        self._gaps_dirty = False
        self._supervisor: threading.Thread | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._subscribed_once = False

    def __repr__(self) -> str:
        return (
            f"Capture(session_id={self.session_id!r}, out={str(self.recorder.dataset)!r}, "
            f"status={self.status!r})"
        )

    # ------------------------------------------------------------------ public API

    @property
    def dataset(self) -> Path:
        """The dataset directory."""
        return self.recorder.dataset

    def start(self) -> Capture:
        """Start capturing in a background thread; returns at once (poll ``stats()``)."""
        if self._supervisor is not None:
            raise CaptureError("capture already started")
        self._started = time.monotonic()
        self._supervisor = threading.Thread(
            target=self._supervise, name="diarkit-capture", daemon=True
        )
        self._supervisor.start()
        return self

    def stop(self, timeout: float = 60.0) -> st.CaptureStats:
        """Stop, flush every frame into durable Parquet parts, write gaps; return the stats."""
        self.stopping.set()
        self._commands.put(("stop", ""))  # wakes the supervisor now, not at its next poll
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        return self.stats()

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
            channels_released=len(self._released),
            release_failures=self._release_failures,
        )

    def active_conversations(self) -> list[str]:
        """Conversations whose transcription topic is subscribed now (and not rejected)."""
        with self._lock:
            rejected = {r.topic for r in self.rejected}
            topics = [t for chan in self.plan.channels for t in chan if t not in rejected]
        return [c for c in (conversation_of(t) for t in topics) if c]

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

    def channel_subscribed(self, channel_id: str) -> None:
        """Remember a channel we subscribe topics on (its subscriptions go at stop)."""
        with self._lock:
            self._subscribed[channel_id] = None

    def release_channel(self, channel_id: str) -> None:
        """Queue removing a given-up channel's subscriptions (returns at once)."""
        self._releases.put(channel_id)

    def channels_left_subscribed(self) -> list[str]:
        """Channels this capture subscribed whose subscriptions were not removed (yet)."""
        with self._lock:
            return [c for c in self._subscribed if c not in self._released]

    def worker_up(self) -> None:
        with self._lock:
            if all(w.ws is not None for w in self._workers) and self._subscribed_once:
                self.set_status(st.LIVE)

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
                self.status = st.ERROR
                self.message = str(exc)
        self.stopping.set()

    def note_subscriptions(self, result: SubscriptionResult) -> None:
        if not result.rejected:
            return
        with self._lock:
            known = {r.topic for r in self.rejected}
            self.rejected.extend(r for r in result.rejected if r.topic not in known)

    def observe(self, message: ConversationEvent | TranscriptionEvent) -> None:
        with self._lock:
            new = self.tracker.observe(message, time.monotonic())
        for cid in new:
            self._commands.put(("subscribe", cid))

    def close_gap(
        self, worker: _Worker, gap: st.Gap, end_us: int, *, stopped: bool = False
    ) -> None:
        gap.end_us = end_us
        if stopped:
            gap.cause += " (capture stopped before reconnecting)"
        with self._lock:
            self.gaps.append(gap)
            self._gaps_dirty = True

    # ------------------------------------------------------------------ supervisor

    def _supervise(self) -> None:
        self._release_thread = threading.Thread(
            target=self._release_loop, name="diarkit-capture-release", daemon=True
        )
        self._release_thread.start()
        try:
            self._setup()
            while not self.stopping.is_set():
                try:
                    verb, arg = self._commands.get(timeout=0.1)
                except queue.Empty:
                    pass
                else:
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
        self.tokens.token()  # fail fast on bad credentials or region
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

    def _add_worker(self, index: int) -> _Worker:
        worker = _Worker(self, index)
        with self._lock:
            self._workers.append(worker)
        worker.thread.start()
        return worker

    def _command(self, verb: str, arg: str) -> None:
        if verb != "subscribe":
            return
        topic = transcription_topic(arg)
        try:
            with self._lock:
                index, is_new = self.plan.place(topic)
        except ValueError as exc:  # every channel full: report it, keep capturing the rest
            self.note_subscriptions(SubscriptionResult((), (RejectedTopic(topic, str(exc)),)))
            return
        if is_new:
            self._add_worker(index)
        else:
            self._workers[index].update_topics([topic])

    def _tick(self) -> None:
        self.recorder.tick()
        now = time.monotonic()
        with self._lock:
            due = self.tracker.due(now)
            touched = {self.plan.remove(transcription_topic(cid)) for cid in due}
        for index in touched:
            if index is not None:
                self._workers[index].update_topics(None)
        for w in list(self._workers):
            if w.needs_sync:
                w.update_topics(None)
            if now >= w.renew_at:
                w.renew()
        if self.recorder.error is not None:
            raise self.recorder.error
        if self._gaps_dirty:
            self._write_gaps()

    def _release_loop(self) -> None:
        """Remove the subscriptions of queued channels until ``None`` (best effort).

        ``DELETE .../channels/{id}/subscriptions`` is all the API offers: there is no call
        that deletes a channel. A channel already gone (404) counts as released; any other
        failure is logged and counted, and the channel is tried again at stop.
        """
        while True:
            cid = self._releases.get()
            if cid is None:
                return
            with self._lock:
                if cid in self._released:
                    continue
            try:
                self._releaser.remove_subscriptions(cid)
            except ChannelGoneError:
                pass  # expired or evicted: nothing is subscribed on it any more
            except Exception as exc:  # never fail or block the capture over a cleanup
                with self._lock:
                    self._release_failures += 1
                log.warning("could not remove the subscriptions of channel %s: %s", cid, exc)
                continue
            with self._lock:
                self._released.add(cid)

    def _finish_releases(self) -> None:
        """Wait up to ``release_timeout_s`` for the queued removals, then cut retries short."""
        thread = self._release_thread
        if thread is None:
            return
        self._releases.put(None)
        thread.join(self.release_timeout_s)
        if thread.is_alive():
            self._release_abort.set()
            thread.join(2.0)

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

    def _shutdown(self) -> None:
        self.stopping.set()
        # Each worker notices within poll_s and closes its own socket (one reader per socket).
        for w in list(self._workers):
            w.thread.join(15)
        for cid in self.channels_left_subscribed():  # the sockets are closed by now
            self.release_channel(cid)
        try:
            self.recorder.close()
        except RecorderError as exc:
            self.fail(exc)
        try:
            self._write_gaps()
        except Exception as exc:
            self.fail(exc)
        self._finish_releases()
        for client in (self.notifications, self._releaser, self.tokens):
            with contextlib.suppress(Exception):
                client.close()
        self._ended = time.monotonic()
        with self._lock:
            if self.status != st.ERROR:
                self.status = st.STOPPED
                self.message = ""
