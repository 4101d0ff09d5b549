"""The channel worker: one notification channel, its WebSocket and its thread.

A worker receives frames with websocket-client (``skip_utf8_validation=True``), hands each
one to the ``RawRecorder`` *first*, then looks at it:

- a heartbeat watchdog declares the socket dead after ``dead_after`` heartbeat periods
  without a frame, and a ping is sent after one idle period;
- ``socket_closing`` opens the replacement connection at once, drains the old one and
  closes it; a drop reconnects with the backoff policy (first attempt at once), reusing
  the channel if it still exists, else a new channel with the subscriptions restored;
- ``token_revoked`` gets a new token and a new channel; ``no_longer_subscribed`` a new
  channel;
- before the access token that created its channel expires (channels live with their
  token), the worker *moves*: a new channel made with the new token, subscribed to the
  same topics and connected, then the old one unsubscribed, drained and closed: no gap;
- every disconnection becomes a gap (last frame before it .. events flowing again);
- a reply or frame no server should send (a protocol violation, close 1009, a REST reply
  that is HTML or has the wrong types) is a retry with the backoff policy and a clear
  message, never the end of the capture; frames already received are spooled already;
- a frame over ``max_frame_bytes`` is spooled truncated (it then fails to parse and is
  flagged invalid) and recorded in ``gaps/`` with its real size.

All policy (backoff, close and error classification, topic names, message parsing) is
``diarkit.genesys``; this module only does I/O and bookkeeping.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import websocket

from diarkit.genesys import (
    Action,
    ConversationEvent,
    Decision,
    ProtocolError,
    SocketClosing,
    SystemMessage,
    TopicKind,
    TranscriptionEvent,
    classify_close,
    classify_exception,
    decode_frame,
    parse_document,
    parse_topic,
)

from . import stats as st
from .errors import (
    CaptureError,
    ChannelGoneError,
    NotificationsError,
    RetryExhaustedError,
    StoppedError,
)
from .follow import ENDED_STATUSES
from .notifications import Channel
from .readahead import ReadAheadWebSocket

if TYPE_CHECKING:
    from .session import Capture

log = logging.getLogger("diarkit.capture")

PING = '{"message": "ping"}'
_TEXT = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)

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


def close_ws(ws: websocket.WebSocket) -> None:
    """Close a socket: a close frame when still open, and always release the OS socket."""
    with contextlib.suppress(Exception):
        ws.close(timeout=0.2)
    with contextlib.suppress(Exception):
        ws.shutdown()  # ws.close() does nothing once the server's close frame was answered


def socket_decision(decision: Decision) -> Decision:
    """A socket-level decision the capture survives: a protocol error becomes a retry.

    ``classify_close``/``classify_exception`` call a protocol violation (RSV bits, a
    reserved opcode, close 1002/1003/1007/1009/1010) fatal; one bad frame from a server
    or a proxy must not end a capture, so it reconnects (on a new channel, in case the
    old one is what is broken) through the backoff policy.
    """
    if decision.action is Action.FATAL:
        return Decision(Action.NEW_CHANNEL, f"protocol error from the server: {decision.reason}")
    return decision


class ChannelWorker:
    """One channel: its socket, its thread, its counters. Owned by ``Capture``."""

    def __init__(self, capture: Capture, index: int) -> None:
        self.cap = capture
        self.index = index
        self.channel: Channel | None = None
        #: The access token the channel was created with (it stops when that token does).
        self.channel_token: str | None = None
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
        #: Set by the supervisor when the token changed: move to a new channel.
        self.move_requested = False
        #: Delays between reconnects that delivered nothing (reset by a received frame).
        self._flaps: Iterator[float] | None = None
        self._frames_since_connect = 0
        #: Delays between losses of our topics to another channel (see ``taken_back``).
        self._kicks: Iterator[float] | None = None
        self._kicked_at = 0.0
        self.thread = threading.Thread(
            target=self.run, name=f"diarkit-capture-ch{index}", daemon=True
        )

    @property
    def client(self) -> Any:
        """The OAuth client (token, REST client, releaser) that owns this channel."""
        return self.cap.client_of(self.index)

    # ------------------------------------------------------------------ connections

    def connect(self, uri: str) -> websocket.WebSocket:
        opts = self.cap.options
        ws = ReadAheadWebSocket(skip_utf8_validation=True, enable_multithread=True,
                                max_frame_bytes=opts.max_frame_bytes)
        try:
            ws.connect(uri, timeout=opts.connect_timeout_s)
            ws.settimeout(self.cap.poll_s)
        except BaseException:
            close_ws(ws)
            raise
        self._frames_since_connect = 0
        return ws

    def new_channel(self) -> tuple[Channel, websocket.WebSocket, str, Any]:
        """Create a channel with the current token, connect, subscribe our topics.

        Returns (channel, socket, token, subscription result). Connecting before
        subscribing means no event can slip in between.
        """
        cap = self.cap
        token = self.client.tokens.token()
        channel = self.client.notifications.create_channel()
        ws = self.connect(channel.connect_uri)
        self.client.releaser.subscribed(channel.id)
        try:
            result = self.client.notifications.replace_subscriptions(
                channel.id, cap.topics_of(self.index))
        except BaseException:
            close_ws(ws)
            self.client.releaser.release(channel.id)  # the PUT may have landed all the same
            raise
        return channel, ws, token, result

    def open_channel(self) -> None:
        """A new channel for this worker (see ``new_channel``)."""
        with self.lock:
            channel, ws, token, result = self.new_channel()
            self.channel = channel
            self.channel_token = token
            self.ws = ws
            self.set_renewal()
        self.cap.note_subscriptions(result, channel.id)

    def set_renewal(self) -> None:
        channel = self.channel
        now = time.monotonic()
        if channel is not None and channel.expires is not None:
            left = (channel.expires - datetime.now(UTC)).total_seconds()
            self.lifetime = max(left, 1.0)
        else:
            self.lifetime = 24 * 3600.0
        self.renew_at = now + self.lifetime * self.cap.options.renew_fraction

    def renew(self) -> None:
        """Re-subscribe the channel's topics: this extends its life (before 24 h)."""
        with self.lock:
            if self.channel is None or self.ws is None:
                return
            try:
                result = self.client.notifications.replace_subscriptions(
                    self.channel.id, self.cap.topics_of(self.index)
                )
            except ChannelGoneError:
                self.renew_at = float("inf")  # the worker reconnects and sets a new one
                return
            except (RetryExhaustedError, NotificationsError) as exc:
                self.renew_at = time.monotonic() + 1.0
                self.cap.set_status(self.cap.status, f"renewing channel: {exc}")
                return
            self.renew_at = time.monotonic() + self.lifetime * self.cap.options.renew_fraction
            cid = self.channel.id
        self.cap.note_subscriptions(result, cid)

    def update_topics(self, added: list[str] | None) -> None:
        """Add topics (POST) or, with ``added=None``, replace the list (PUT) on the channel."""
        with self.lock:
            if self.channel is None:
                return  # (re)connecting: the plan's topics are restored with the channel
            topics = self.cap.topics_of(self.index)
            try:
                if added is None:
                    result = self.client.notifications.replace_subscriptions(
                        self.channel.id, topics)
                else:
                    result = self.client.notifications.add_subscriptions(self.channel.id, added)
            except ChannelGoneError:
                return  # the worker notices the drop and restores every topic
            except (RetryExhaustedError, NotificationsError) as exc:
                if isinstance(exc, NotificationsError) and 400 <= exc.status < 500:
                    raise
                self.needs_sync = True  # the supervisor PUTs the whole list again later
                self.cap.set_status(self.cap.status, f"updating subscriptions: {exc}")
                return
            self.needs_sync = False
            cid = self.channel.id
        self.cap.note_subscriptions(result, cid)

    def close_socket(self) -> None:
        ws = self.ws
        if ws is not None:
            close_ws(ws)

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        cap = self.cap
        try:
            self.reconnect(None, initial=True)
            self.ready.set()
            while not cap.stopping.is_set():
                if self.move_requested:
                    self.move()
                self.step()
        except StoppedError:
            pass
        except Exception as exc:
            cap.fail(exc)
        finally:
            self.ready.set()
            self.close_socket()
            if self.open_gap is not None:
                cap.close_gap(self.open_gap, cap.now_us(), stopped=True)
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
            self.reconnect(socket_decision(classify_exception(exc)))
            return
        opcode, data = batch[0]
        if len(batch) > 1 or opcode in _TEXT:  # a batch holds only data frames
            self.on_frames([payload for _, payload in batch])
            if isinstance(ws, ReadAheadWebSocket):
                for size in ws.pop_truncated():
                    self.cap.frame_truncated(self, size)
        elif opcode == websocket.ABNF.OPCODE_CLOSE and not self.cap.stopping.is_set():
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            self.reconnect(socket_decision(classify_close(code)))

    def idle(self) -> None:
        cap = self.cap
        silent = time.monotonic() - self.last_frame
        heartbeat = cap.options.heartbeat_s
        if silent >= heartbeat * cap.options.dead_after:
            self.silent_strikes += 1
            action = Action.RETRY if self.silent_strikes < 2 else Action.NEW_CHANNEL
            self.reconnect(Decision(action, f"silent socket: no frame for {silent:.1f} s"))
        elif silent >= heartbeat and not self.pinged and self.ws is not None:
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
        received = cap.now_us()
        channel = self.channel
        cap.recorder.append_batch(frames, channel.id if channel else "", received)
        c = self.counters
        c.frames += len(frames)
        c.last_frame_us = received
        self.last_frame = time.monotonic()
        self.pinged = False
        self.silent_strikes = 0
        self._frames_since_connect += len(frames)
        self._flaps = None
        if self.open_gap is not None:
            cap.close_gap(self.open_gap, received)
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
            cap.observe(message, doc)
        elif isinstance(message, TranscriptionEvent):
            cap.observe(message, doc)
        elif isinstance(message, SocketClosing):
            self.counters.system += 1
            self.handover()
        elif isinstance(message, SystemMessage):
            self.counters.system += 1
            current = self.channel.id if self.channel is not None else None
            if message.channel_id and current and message.channel_id != current:
                # about a channel this worker already left (e.g. the topics it moved to
                # the new channel during a move): nothing to do
                log.info("channel %d: %s about former channel %s ignored", self.index,
                         message.topic_kind, message.channel_id)
                return
            if message.topic_kind is TopicKind.TOKEN_REVOKED:
                reason = message.reason or "token revoked"
                self.reconnect(Decision(Action.NEW_TOKEN, f"token revoked ({reason})"))
            elif message.topic_kind is TopicKind.NO_LONGER_SUBSCRIBED:
                reason = message.reason or message.message or "no longer subscribed"
                self.taken_back(reason)
                self.reconnect(Decision(Action.NEW_CHANNEL, f"no longer subscribed: {reason}"))

    def taken_back(self, reason: str) -> None:
        """Our current channel lost its topics to another channel of this client.

        Another capture with the same OAuth client subscribing the same topics would take
        them back at once, and the two would fight: each loss within a minute of the last
        waits a growing backoff delay before re-subscribing (shown and logged).
        """
        cap = self.cap
        now = time.monotonic()
        if self._kicks is None or now - self._kicked_at > 60.0:
            self._kicks = cap.options.backoff_factory()
            self._kicked_at = now
            return  # the first loss: re-subscribe at once
        self._kicked_at = now
        wait = next(self._kicks)
        line = (f"no longer subscribed ({reason}): another channel of this OAuth client took "
                f"the topics again; re-subscribing in {wait:.1f} s")
        cap.set_status(st.RECONNECTING, line)
        log.warning("channel %d: %s", self.index, line)
        if cap.stopping.wait(wait):
            raise StoppedError("capture stopped while waiting to re-subscribe")

    # ------------------------------------------------------------------ handover / move

    def drain(self, old: websocket.WebSocket, periods: float = 5.0) -> None:
        """Read what is still in flight on a socket given up for another one, then close it.

        Reads until the socket is quiet for ``drain_s`` seconds, it closes, or
        ``periods * drain_s`` seconds passed (the new socket waits meanwhile: its frames
        queue in the OS, nothing is lost).
        """
        self.in_handover = True
        try:
            old.settimeout(self.cap.drain_s)
            deadline = time.monotonic() + self.cap.drain_s * periods
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
            close_ws(old)

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
        self.drain(old)

    def move(self) -> None:
        """Move to a channel of the current token before the old token (and channel) stop.

        The new channel is created, connected and subscribed first; only then are the old
        channel's subscriptions removed and its socket drained and closed, so no event
        falls between the two (an event sent in the overlap arrives on both channels and
        is stored twice, once per channel: the ledger of what was sent says the same).
        A failure leaves the old channel in place and tries again after a backoff delay.
        """
        self.move_requested = False
        old_channel, old_ws = self.channel, self.ws
        if old_channel is None or old_ws is None:
            return
        try:
            if self.client.tokens.token() == self.channel_token:
                # The channel is already the current token's: the supervisor compared a
                # token read at the start of its tick, or a channel token a reconnect was
                # about to replace (a token_revoked reconnect makes its new channel with
                # the new token). Moving again would only swap one channel of the same
                # token for another (seen under load as a second move after a revoke).
                return
            with self.lock:
                channel, ws, token, result = self.new_channel()
                self.channel, self.channel_token, self.ws = channel, token, ws
                self.set_renewal()
        except (StoppedError, CaptureError, OSError, websocket.WebSocketException) as exc:
            if isinstance(exc, StoppedError):
                raise
            log.warning("channel %d: moving to a channel of the new token failed (%s); "
                        "keeping %s for now", self.index, exc, old_channel.id)
            self.cap.schedule_move(self, 1.0)
            return
        self.cap.note_subscriptions(result, channel.id)
        self.counters.handovers += 1
        self.client.releaser.release_now(old_channel.id)  # nothing more arrives on it
        self.drain(old_ws, periods=2.0)  # only frames sent before the DELETE are in flight
        log.info("channel %d moved from %s to %s before its token expired", self.index,
                 old_channel.id, channel.id)

    # ------------------------------------------------------------------ reconnect

    def reconnect(self, decision: Decision | None, *, initial: bool = False) -> None:
        """Re-establish the channel after ``decision`` (None: first connection).

        Every failed attempt waits with the backoff policy (the first attempt after a
        disconnection is immediate, unless the connection before it delivered nothing:
        then it waits too, so a server that breaks each connection at once cannot make a
        reconnect storm). Records the disconnection as an open gap; shows and logs each
        retry with its cause; raises ``CaptureError`` for fatal failures (a 4xx other than
        404 from the REST API, e.g. missing permissions) and ``StoppedError`` when the
        capture stops meanwhile.
        """
        cap = self.cap
        old_channel = self.channel
        if decision is not None:
            self.close_socket()
            if self.open_gap is None:
                start = self.counters.last_frame_us or cap.now_us()
                self.open_gap = st.Gap(
                    start_us=start,
                    cause=decision.reason,
                    channel_id=old_channel.id if old_channel else "",
                    conversations=cap.conversations_of(self.index),
                )
            cap.set_status(st.RECONNECTING, f"{decision.reason}; reconnecting")
            log.warning("channel %d: %s; reconnecting", self.index, decision.reason)
        with self.lock:
            self.ws = None
            if decision is not None and decision.action is not Action.RETRY:
                self.channel = None
                # no channel, no channel token: the supervisor asks no move of a worker
                # whose next channel is made with the current token anyway
                self.channel_token = None
        action = Action.NEW_CHANNEL if decision is None else decision.action
        delays = cap.options.backoff_factory()
        if decision is not None and self._frames_since_connect == 0:
            if self._flaps is None:
                self._flaps = cap.options.backoff_factory()
            wait = next(self._flaps)
            cap.set_status(st.RECONNECTING,
                           f"{decision.reason}; the last connection delivered nothing; "
                           f"reconnecting in {wait:.1f} s")
            if cap.stopping.wait(wait):
                raise StoppedError("capture stopped while reconnecting")
        while True:
            if cap.stopping.is_set():
                raise StoppedError("capture stopped while reconnecting")
            if action is Action.FATAL:
                reason = decision.reason if decision is not None else "fatal"
                raise CaptureError(f"channel {old_channel.id if old_channel else '?'}: {reason}")
            try:
                if action is Action.NEW_TOKEN:
                    self.client.tokens.invalidate()
                    action = Action.NEW_CHANNEL
                if action is Action.RETRY and old_channel is not None:
                    if self.client.notifications.channel_exists(old_channel.id):
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
            except ChannelGoneError as exc:
                action = Action.NEW_CHANNEL  # e.g. 404 on subscribing a channel just made
                reason = str(exc)
            except (NotificationsError, RetryExhaustedError) as exc:
                if isinstance(exc, NotificationsError) and 400 <= exc.status < 500:
                    raise
                reason = str(exc)
            except (CaptureError, StoppedError):
                raise
            except Exception as exc:
                d = classify_exception(exc)
                if d.action is not Action.RETRY and d.action is not Action.FATAL:
                    action = d.action
                reason = d.reason if d.action is not Action.FATAL else (
                    f"unexpected failure: {type(exc).__name__}: {exc}")
                if d.action is Action.FATAL:
                    action = Action.NEW_CHANNEL
            wait = next(delays)
            line = f"{reason}; retrying in {wait:.1f} s"
            cap.set_status(st.RECONNECTING if not initial else st.CONNECTING, line)
            log.warning("channel %d: %s", self.index, line)
            if cap.stopping.wait(wait):
                raise StoppedError("capture stopped while reconnecting")
        if old_channel is not None and (self.channel is None or self.channel.id != old_channel.id):
            # its socket is closed: nothing reads it now
            self.client.releaser.release(old_channel.id)
        self.last_frame = time.monotonic()
        self.pinged = False
        if not initial:
            self.counters.reconnects += 1
            if self.open_gap is not None:
                cap.close_gap(self.open_gap, cap.now_us())
                self.open_gap = None
        cap.worker_up()
