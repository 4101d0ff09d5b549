"""Pure bookkeeping of follow mode and of topics spread over channels; no I/O, no clock.

``FollowTracker`` decides which conversations to subscribe and when to drop them;
``TopicPlan`` decides which channel holds which topic (at most ``per_channel`` each)
and which OAuth client owns each channel (at most ``max_channels`` each).
Callers pass the current time in seconds (any monotonic clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from diarkit.genesys import (
    ConversationEvent,
    Message,
    TopicKind,
    TranscriptionEvent,
    parse_topic,
    transcription_topic,
)

ENDED_STATUSES = frozenset({"SESSION_ENDED"})


@dataclass(slots=True)
class _Followed:
    conversation_id: str
    first_seen: float
    last_seen: float
    #: when a call event first said every participant had left (None: not yet)
    call_ended_at: float | None = None
    #: transcription sessions seen, by communication id: True once SESSION_ENDED
    sessions: dict[str | None, bool] = field(default_factory=dict)
    session_ended_at: float | None = None

    def due_at(self, grace_s: float, end_wait_s: float) -> float | None:
        """When to drop this conversation (None: not yet known)."""
        sessions_over = bool(self.sessions) and all(self.sessions.values())
        if self.call_ended_at is not None:
            if sessions_over and self.session_ended_at is not None:
                return max(self.call_ended_at, self.session_ended_at) + grace_s
            # the call is over but its transcription has not said SESSION_ENDED yet:
            # grouped transcripts come up to ~35 s after the words, so wait for them
            return max(self.call_ended_at, self.last_seen) + end_wait_s
        if sessions_over:  # the call-end event was never seen (e.g. lost in a gap)
            return self.last_seen + max(end_wait_s, 300.0)
        return None


@dataclass(slots=True)
class FollowTracker:
    """Conversations learnt from queue/user call topics (or given up front).

    A conversation is added when a call event names it and not every participant has
    left. It is dropped ``grace_s`` seconds after both its call ended (a call event with
    every participant disconnected) and every transcription session it reported said
    ``SESSION_ENDED``. The transcription service groups transcripts in windows of about
    35 s, so the last transcripts and ``SESSION_ENDED`` come *after* the call ends: a
    call that ended without ``SESSION_ENDED`` stays subscribed ``end_wait_s`` seconds
    after its last event (then it is dropped and back-fill lists it: no session end).
    A conversation whose sessions all ended but whose call-end event never came is
    dropped ``max(end_wait_s, 300)`` seconds after its last event. Conversations given
    explicitly (``pinned``) are never dropped.

    A call first seen already ended (every participant gone: it came and went while the
    capture was not following it) is not subscribed; :meth:`take_missed` returns it
    once, so the capture can record it as a ``late_join`` gap for back-fill.
    """

    grace_s: float = 10.0
    pinned: frozenset[str] = frozenset()
    end_wait_s: float = 60.0
    _live: dict[str, _Followed] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)
    _missed: list[str] = field(default_factory=list)

    def observe(self, message: Message, now: float) -> list[str]:
        """Update from one message; return conversation ids that are new (to subscribe)."""
        if isinstance(message, ConversationEvent):
            cid = message.conversation_id
            followed = self._live.get(cid)
            if followed is not None:
                followed.last_seen = now
                if message.ended and followed.call_ended_at is None:
                    followed.call_ended_at = now
                return []
            if cid in self._done or cid in self.pinned:
                return []
            if message.ended:
                self._done.add(cid)
                self._missed.append(cid)
                return []
            self._live[cid] = _Followed(cid, now, now)
            return [cid]
        if isinstance(message, TranscriptionEvent):
            followed = self._live.get(message.conversation_id)
            if followed is None:
                return []
            followed.last_seen = now
            comm = message.communication_id
            ended = message.status is not None and message.status.status in ENDED_STATUSES
            if ended:
                followed.sessions[comm] = True
                followed.session_ended_at = now
            else:
                followed.sessions.setdefault(comm, False)
        return []

    def due(self, now: float) -> list[str]:
        """Conversations whose time to drop has come: forget them and return their ids."""
        out = []
        for f in self._live.values():
            at = f.due_at(self.grace_s, self.end_wait_s)
            if at is not None and now >= at:
                out.append(f.conversation_id)
        for cid in out:
            del self._live[cid]
            self._done.add(cid)
        return out

    def forget(self, conversation_id: str) -> None:
        """Stop following a conversation now (it is not to be subscribed any more)."""
        if self._live.pop(conversation_id, None) is not None:
            self._done.add(conversation_id)

    def take_missed(self) -> list[str]:
        """Calls first seen already ended (each returned once): never followed."""
        out, self._missed = self._missed, []
        return out

    def ended_call(self, conversation_id: str) -> bool:
        """True when a call event said every participant of this followed call left."""
        f = self._live.get(conversation_id)
        return f is not None and f.call_ended_at is not None

    def following(self, conversation_id: str) -> bool:
        """True while ``conversation_id`` is followed (not dropped yet)."""
        return conversation_id in self._live

    @property
    def active(self) -> list[str]:
        """Followed conversations not yet dropped."""
        return list(self._live)


@dataclass(slots=True)
class TopicPlan:
    """Which channel (by index) holds which topics, and which OAuth client owns it.

    At most ``per_channel`` topics per channel and ``max_channels`` channels per client
    (``clients`` of them); ``owners[i]`` is the client of channel ``i``.
    """

    per_channel: int = 1000
    max_channels: int = 20
    clients: int = 1
    channels: list[list[str]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    _where: dict[str, int] = field(default_factory=dict)  # topic -> channel index

    def place(
        self,
        topic: str,
        *,
        can_use: Callable[[int], bool] | None = None,
        can_open: Callable[[int], bool] | None = None,
    ) -> tuple[int, bool] | None:
        """Put ``topic`` on a channel; return (index, channel_is_new), or None to wait.

        The first channel with room that ``can_use(index)`` allows takes it; else a new
        channel of the client with the fewest channels (lowest index first) among those
        under ``max_channels`` that ``can_open(client)`` allows. ``None``: a channel or
        client with room exists but none may be used now (e.g. out of request budget).

        Raises:
            ValueError: every channel of every client is full (a new channel would
                exceed ``max_channels``; a 21st evicts the oldest).
        """
        known = self._where.get(topic)
        if known is not None:
            return known, False
        room = False
        for i, topics in enumerate(self.channels):
            if len(topics) < self.per_channel:
                room = True
                if can_use is None or can_use(i):
                    topics.append(topic)
                    self._where[topic] = i
                    return i, False
        counts = [self.owners.count(k) for k in range(self.clients)]
        open_ok = [k for k in range(self.clients) if counts[k] < self.max_channels]
        if not open_ok and not room:
            raise ValueError(
                f"cannot subscribe {topic}: {self.max_channels} channels of "
                f"{self.per_channel} topics are full"
                + (f" on each of {self.clients} OAuth clients" if self.clients > 1 else "")
                + " (a new channel would evict the oldest)"
            )
        allowed = [k for k in open_ok if can_open is None or can_open(k)]
        if not allowed:
            return None
        client = min(allowed, key=lambda k: (counts[k], k))
        self.channels.append([topic])
        self.owners.append(client)
        self._where[topic] = len(self.channels) - 1
        return len(self.channels) - 1, True

    def remove(self, topic: str) -> int | None:
        """Remove ``topic``; return the index of the channel that held it (None: none did)."""
        index = self._where.pop(topic, None)
        if index is not None:
            self.channels[index].remove(topic)
        return index

    def topics(self, index: int) -> list[str]:
        """The topics of channel ``index``."""
        return list(self.channels[index])

    def owner(self, index: int) -> int:
        """The OAuth client (index) that owns channel ``index``."""
        return self.owners[index]


def conversation_of(topic: str) -> str | None:
    """The conversation id of a transcription topic, else None."""
    parsed = parse_topic(topic)
    return parsed.id if parsed.kind is TopicKind.TRANSCRIPTION else None


__all__ = ["FollowTracker", "TopicPlan", "conversation_of", "transcription_topic"]
