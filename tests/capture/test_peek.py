"""peek_topic: the topic kind read from a frame's bytes, with and without its prefix cache."""

from __future__ import annotations

import orjson

from diarkit.capture import worker as session
from diarkit.genesys import ProtocolError, TopicKind, parse_topic

TR = "v2.conversations.c1.transcription"


def frame(topic: str, body: str = "{}") -> bytes:
    return b'{"topicName": "%s", "eventBody": %s}' % (topic.encode(), body.encode())


def expected(data: bytes) -> TopicKind | None:
    """The kind by decoding the frame in full (what the capture falls back to)."""
    try:
        return parse_topic(orjson.loads(data)["topicName"]).kind
    except (orjson.JSONDecodeError, KeyError, TypeError, ProtocolError):
        return None


FRAMES = [
    frame(TR),
    frame(TR, '{"transcripts": []}'),  # same prefix: answered by the cache
    frame(TR + "x"),  # longer topic: the cached prefix ends at the closing quote
    frame("v2.conversations.c2.transcription"),
    frame("channel.metadata", '{"message": "WebSocket Heartbeat"}'),
    frame("v2.system.socket_closing"),
    frame(TR),
    b'{"eventBody": {}, "topicName": "%s"}' % TR.encode(),  # topic not first
    frame("v2.routing.queues.q1.conversations.calls"),
    b'{"topicName": "v2.conversations.c1.transcr\\u0069ption"}',  # escaped: decode it
    b'{"topicName": "v2.conversations.c1.transcr\\u0069ption", "eventBody": {}}',
    frame(TR),
    b"not json",
    frame(TR),
]


def test_peek_matches_a_full_decode_in_any_order():
    for order in (FRAMES, FRAMES[::-1], FRAMES[1::2] + FRAMES[::2]):
        session._last_peek = None
        for data in order:
            escaped = b"\\u" in data  # peek gives up on these: the caller decodes them
            assert session.peek_topic(data) == (None if escaped else expected(data)), data


def test_repeated_prefix_is_answered_without_a_search(monkeypatch):
    session._last_peek = None
    assert session.peek_topic(frame(TR)) is TopicKind.TRANSCRIPTION
    monkeypatch.setattr(session, "_TOPIC_KEY", b"no such key")  # a search would now fail
    assert session.peek_topic(frame(TR, '{"transcripts": []}')) is TopicKind.TRANSCRIPTION
    assert session.peek_topic(frame("channel.metadata")) is None
