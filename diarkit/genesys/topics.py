"""Notification topic names: build them from ids and parse them back.

Topics name concrete ids; a WebSocket channel has no wildcard topics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from .errors import ProtocolError

_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")

HEARTBEAT_TOPIC = "channel.metadata"
SOCKET_CLOSING_TOPIC = "v2.system.socket_closing"
MAX_TOPICS_PER_CHANNEL = 1000
MAX_CHANNELS = 20


class TopicKind(StrEnum):
    """What a topic carries."""

    TRANSCRIPTION = "transcription"
    QUEUE_CALLS = "queue_calls"
    USER_CALLS = "user_calls"
    CHANNEL_METADATA = "channel_metadata"
    SOCKET_CLOSING = "socket_closing"
    TOKEN_REVOKED = "token_revoked"
    NO_LONGER_SUBSCRIBED = "no_longer_subscribed"
    SYSTEM = "system"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic name: its kind and the id it names (empty when it names none)."""

    name: str
    kind: TopicKind
    id: str = ""


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it can stand in a topic name, else raise ``ValueError``.

    Ids are Genesys GUIDs in practice; any 1-128 letters, digits, ``-`` and ``_`` are
    accepted, so no dots, spaces or wildcards can corrupt the topic.
    """
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"malformed {what} {value!r}: expected 1-128 letters, digits, '-' or '_'")
    return value


def transcription_topic(conversation_id: str) -> str:
    """``v2.conversations.{id}.transcription`` (permission conversation:transcription:view)."""
    return f"v2.conversations.{check_id(conversation_id, 'conversation id')}.transcription"


def queue_calls_topic(queue_id: str) -> str:
    """``v2.routing.queues.{id}.conversations.calls``: calls entering a queue."""
    return f"v2.routing.queues.{check_id(queue_id, 'queue id')}.conversations.calls"


def user_calls_topic(user_id: str) -> str:
    """``v2.users.{id}.conversations.calls``: calls of one user (agent)."""
    return f"v2.users.{check_id(user_id, 'user id')}.conversations.calls"


def token_revoked_topic(token_id: str) -> str:
    """``v2.system.token_revoked.{id}``."""
    return f"v2.system.token_revoked.{check_id(token_id, 'token id')}"


def no_longer_subscribed_topic(channel_id: str) -> str:
    """``v2.system.no_longer_subscribed.{id}``."""
    return f"v2.system.no_longer_subscribed.{check_id(channel_id, 'channel id')}"


_PATTERNS: tuple[tuple[re.Pattern[str], TopicKind], ...] = (
    (re.compile(r"v2\.conversations\.([^.]+)\.transcription"), TopicKind.TRANSCRIPTION),
    (re.compile(r"v2\.routing\.queues\.([^.]+)\.conversations\.calls"), TopicKind.QUEUE_CALLS),
    (re.compile(r"v2\.users\.([^.]+)\.conversations\.calls"), TopicKind.USER_CALLS),
    (re.compile(r"v2\.system\.token_revoked\.([^.]+)"), TopicKind.TOKEN_REVOKED),
    (re.compile(r"v2\.system\.no_longer_subscribed\.([^.]+)"), TopicKind.NO_LONGER_SUBSCRIBED),
)


def parse_topic(name: str) -> Topic:
    """Parse a topic name into its kind and id.

    Unknown but well-formed topics come back as ``OTHER`` (or ``SYSTEM`` for
    ``v2.system.*``), never an error: the server may send topics we do not model.

    Raises:
        ProtocolError: a known topic shape with a malformed id, or a non-string name.
    """
    if not isinstance(name, str) or not name:
        raise ProtocolError("topic name must be a non-empty string", "$.topicName")
    if name == HEARTBEAT_TOPIC:
        return Topic(name, TopicKind.CHANNEL_METADATA)
    if name == SOCKET_CLOSING_TOPIC:
        return Topic(name, TopicKind.SOCKET_CLOSING)
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(name)
        if match:
            if not _ID.fullmatch(match.group(1)):
                raise ProtocolError(f"malformed id {match.group(1)!r} in topic", "$.topicName")
            return Topic(name, kind, match.group(1))
    if name.startswith("v2.system."):
        return Topic(name, TopicKind.SYSTEM)
    return Topic(name, TopicKind.OTHER)
