"""Pure bookkeeping of follow mode and of topics spread over channels; no I/O, no clock.

``FollowTracker`` decides which conversations to subscribe and when to drop them;
``TopicPlan`` decides which channel holds which topic (at most ``per_channel`` each).
Callers pass the current time in seconds (any monotonic clock).
"""

from __future__ import annotations

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
    ended_at: float | None = None


@dataclass(slots=True)
class FollowTracker:
    """Conversations learnt from queue/user call topics (or given up front).

    A conversation is added when a call event names it and not every participant has
    left; it is dropped ``grace_s`` seconds after its transcription reported
    ``SESSION_ENDED`` or all participants disconnected (late final utterances may still
    arrive in the grace period). Conversations given explicitly are never dropped.
    """

    grace_s: float = 10.0
    pinned: frozenset[str] = frozenset()
    _live: dict[str, _Followed] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)

    def observe(self, message: Message, now: float) -> list[str]:
        """Update from one message; return conversation ids that are new (to subscribe)."""
        if isinstance(message, ConversationEvent):
            cid = message.conversation_id
            followed = self._live.get(cid)
            if message.ended:
                if followed is not None and followed.ended_at is None:
                    followed.ended_at = now
                return []
            if followed is None and cid not in self._done and cid not in self.pinned:
                self._live[cid] = _Followed(cid, now)
                return [cid]
            return []
        if isinstance(message, TranscriptionEvent):
            followed = self._live.get(message.conversation_id)
            if (
                followed is not None
                and followed.ended_at is None
                and message.status is not None
                and message.status.status in ENDED_STATUSES
            ):
                followed.ended_at = now
        return []

    def due(self, now: float) -> list[str]:
        """Conversations whose grace period is over: forget them and return their ids."""
        out = [
            f.conversation_id
            for f in self._live.values()
            if f.ended_at is not None and now - f.ended_at >= self.grace_s
        ]
        for cid in out:
            del self._live[cid]
            self._done.add(cid)
        return out

    @property
    def active(self) -> list[str]:
        """Followed conversations not yet dropped."""
        return list(self._live)


@dataclass(slots=True)
class TopicPlan:
    """Which channel (by index) holds which topics; at most ``per_channel`` topics each."""

    per_channel: int = 1000
    max_channels: int = 20
    channels: list[list[str]] = field(default_factory=list)

    def place(self, topic: str) -> tuple[int, bool]:
        """Put ``topic`` on the first channel with room; return (index, channel_is_new).

        Raises:
            ValueError: every channel is full and a new one would exceed ``max_channels``
                (a 21st channel would evict the oldest).
        """
        for i, topics in enumerate(self.channels):
            if topic in topics:
                return i, False
        for i, topics in enumerate(self.channels):
            if len(topics) < self.per_channel:
                topics.append(topic)
                return i, False
        if len(self.channels) >= self.max_channels:
            raise ValueError(
                f"cannot subscribe {topic}: {self.max_channels} channels of "
                f"{self.per_channel} topics are full (a new channel would evict the oldest)"
            )
        self.channels.append([topic])
        return len(self.channels) - 1, True

    def remove(self, topic: str) -> int | None:
        """Remove ``topic``; return the index of the channel that held it (None: none did)."""
        for i, topics in enumerate(self.channels):
            if topic in topics:
                topics.remove(topic)
                return i
        return None

    def topics(self, index: int) -> list[str]:
        """The topics of channel ``index``."""
        return list(self.channels[index])


def conversation_of(topic: str) -> str | None:
    """The conversation id of a transcription topic, else None."""
    parsed = parse_topic(topic)
    return parsed.id if parsed.kind is TopicKind.TRANSCRIPTION else None


__all__ = ["FollowTracker", "TopicPlan", "conversation_of", "transcription_topic"]
