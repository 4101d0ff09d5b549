"""Property: parse_frame raises nothing but ProtocolError, whatever it is given."""

from __future__ import annotations

import contextlib

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from diarkit.genesys import ProtocolError, parse_frame

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

keys = st.sampled_from(
    [
        "topicName",
        "eventBody",
        "metadata",
        "version",
        "transcripts",
        "alternatives",
        "words",
        "utteranceId",
        "isFinal",
        "channel",
        "confidence",
        "offsetMs",
        "durationMs",
        "status",
        "conversationId",
        "participants",
        "calls",
        "result",
        "eventType",
        "start",
        "end",
        "message",
    ]
)
topics = st.sampled_from(
    [
        "channel.metadata",
        "v2.system.socket_closing",
        "v2.conversations.c1.transcription",
        "v2.routing.queues.q1.conversations.calls",
        "v2.users.u1.conversations.calls",
        "v2.system.token_revoked.t1",
        "v2.system.no_longer_subscribed.c",
        "v2.other.thing",
    ]
)
shaped = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8) | topics,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)


def _check(text: bytes | str) -> None:
    with contextlib.suppress(ProtocolError):
        parse_frame(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text):
    _check(text)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json(value):
    _check(orjson.dumps(value))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(keys, shaped, max_size=6), topics)
def test_frame_shaped_json(doc, topic):
    doc.setdefault("topicName", topic)
    _check(orjson.dumps(doc))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    _check(data)
