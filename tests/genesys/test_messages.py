"""Golden wire frames parsed field by field, and malformed frames rejected with a path."""

from __future__ import annotations

import dataclasses
import itertools

import orjson
import pytest

from diarkit.genesys import (
    ConversationEvent,
    Heartbeat,
    Pong,
    ProtocolError,
    SocketClosing,
    SubscribeReply,
    SystemMessage,
    TopicKind,
    TranscriptionEvent,
    UnknownMessage,
    parse_frame,
)

CID = "7c1e3f2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"


def test_heartbeat(frame_bytes):
    msg = parse_frame(frame_bytes("heartbeat"))
    assert isinstance(msg, Heartbeat)
    assert msg.kind == "heartbeat"
    assert msg.envelope.topic == "channel.metadata"


def test_pong(frame_bytes):
    msg = parse_frame(frame_bytes("pong"))
    assert isinstance(msg, Pong)


def test_socket_closing(frame_bytes):
    msg = parse_frame(frame_bytes("socket_closing"))
    assert isinstance(msg, SocketClosing)
    assert msg.envelope.correlation_id == "6a1f2a3c-9d6e-4f53-a0a2-8e1f7c2b3d4e"
    assert msg.envelope.version == "2"
    assert "close" in msg.body["message"]


def test_token_revoked(frame_bytes):
    msg = parse_frame(frame_bytes("token_revoked"))
    assert isinstance(msg, SystemMessage)
    assert msg.topic_kind is TopicKind.TOKEN_REVOKED
    assert msg.system_topic_type == "token_revoked"
    assert msg.channel_id == "streaming-0-fmtdmf8cdis7jh14udg5p89t6z"
    assert msg.reason == "The access token was revoked"
    assert msg.message.startswith("Token revoked")


def test_transcription_partial_and_final_on_both_channels(frame_bytes):
    msg = parse_frame(frame_bytes("transcription"))
    assert isinstance(msg, TranscriptionEvent)
    assert not msg.legacy
    assert msg.conversation_id == CID
    assert msg.communication_id == "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
    assert msg.organization_id == "0d2a4b6c-8e0f-4a1b-b3c5-d7e9f1a3b5c7"
    assert msg.event_time == "2026-11-24T10:15:42.318Z"
    assert msg.session_start_time_ms == 1795513500000
    assert msg.transcription_start_time_ms == 1795513500250
    assert msg.program_id == "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    assert msg.status.status == "SESSION_ONGOING" and msg.status.offset_ms == 42318
    assert msg.envelope.correlation_id == "c0ffee00-1234-4abc-8def-0123456789ab"
    partial, final = msg.utterances
    assert (partial.is_final, partial.channel) == (False, "EXTERNAL")
    assert (final.is_final, final.channel) == (True, "INTERNAL")
    assert partial.utterance_id == "0f9e8d7c-6b5a-4c3d-a2e1-f0a9b8c7d6e5"
    assert partial.engine_provider == "GENESYS" and partial.engine_id == "r2d2"
    assert partial.engine_name == "Genesys Native" and partial.dialect == "en-US"
    assert partial.agent_assist_enabled is False and partial.voice_transcription_enabled is True
    alt = partial.best
    assert alt.confidence == pytest.approx(0.71)
    assert (alt.offset_ms, alt.duration_ms) == (40120, 900)
    assert alt.transcript == "i would like" and alt.decorated_transcript == "I would like"
    assert [w.word for w in alt.words] == ["i", "would", "like"]
    assert alt.words[0].start_time_ms == 1795513540120 and alt.words[1].start_time_ms is None
    assert alt.words[2].confidence == pytest.approx(0.68)
    assert [w.word for w in alt.decorated_words] == ["I", "would", "like"]
    fin = final.best
    assert fin.transcript == "thank you for calling how can i help"
    assert len(fin.words) == 8 and fin.decorated_words == ()
    assert sum(w.duration_ms for w in fin.words) <= fin.duration_ms


def test_status_only_session_ended(frame_bytes):
    msg = parse_frame(frame_bytes("session_ended"))
    assert isinstance(msg, TranscriptionEvent)
    assert msg.status.status == "SESSION_ENDED" and msg.status.offset_ms == 363004
    assert msg.utterances == ()
    assert msg.program_id is None


def test_queue_conversation_event(frame_bytes):
    msg = parse_frame(frame_bytes("queue_conversation"))
    assert isinstance(msg, ConversationEvent)
    assert msg.topic_kind is TopicKind.QUEUE_CALLS
    assert msg.topic_id == "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
    assert msg.conversation_id == CID
    customer, acd, agent = msg.participants
    assert customer.purpose == "customer" and customer.state == "connected"
    assert customer.connected_time == "2026-11-24T10:15:00.000Z" and not customer.disconnected
    assert acd.state == "disconnected" and acd.end_time == "2026-11-24T10:15:20.000Z"
    assert acd.disconnected
    assert agent.purpose == "agent" and agent.user_id == "4d5e6f7a-8b9c-4d0e-a1f2-b3c4d5e6f7a8"
    assert not msg.ended


def test_legacy_tutorial_event(frame_bytes):
    msg = parse_frame(frame_bytes("legacy_tutorial"))
    assert isinstance(msg, TranscriptionEvent)
    assert msg.legacy and msg.conversation_id == "conv-12345"
    assert msg.envelope.topic == "conversation.transcription.update"
    agent, customer = msg.utterances
    assert agent.speaker == "agent" and agent.channel == "INTERNAL" and agent.is_final
    assert customer.speaker == "customer" and customer.channel == "EXTERNAL"
    assert not customer.is_final
    assert agent.utterance_id is None
    assert (agent.best.offset_ms, agent.best.duration_ms) == (500, 2750)
    assert agent.best.confidence == pytest.approx(0.94)
    assert agent.best.transcript.startswith("Thank you")


def test_subscribe_reply(frame_bytes):
    msg = parse_frame(frame_bytes("subscribe_reply"))
    assert isinstance(msg, SubscribeReply)
    assert msg.result == 200 and msg.correlation_id == "sub-1"


def test_unknown_topic_is_kept(frame_bytes):
    msg = parse_frame(frame_bytes("unknown_topic"))
    assert isinstance(msg, UnknownMessage)
    assert msg.body["presenceDefinition"]["systemPresence"] == "Available"


def test_messages_are_immutable(frame_bytes):
    msg = parse_frame(frame_bytes("transcription"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.conversation_id = "x"  # type: ignore[misc]


def test_nulls_and_extra_fields_are_normal(frame_bytes):
    doc = orjson.loads(frame_bytes("transcription"))
    doc["eventBody"]["status"] = None
    doc["eventBody"]["newField"] = [1, 2]
    doc["eventBody"]["transcripts"][0]["alternatives"][0]["words"] = None
    doc["eventBody"]["transcripts"][0]["isFinal"] = None
    msg = parse_frame(orjson.dumps(doc))
    assert msg.status is None
    assert msg.utterances[0].best.words == ()
    assert msg.utterances[0].is_final is False


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["eventBody"].update(transcripts={}), "$.eventBody.transcripts"),
        (lambda d: d.update(eventBody=[]), "$.eventBody"),
        (lambda d: d.update(topicName=17), "$.topicName"),
        (lambda d: d.update(metadata="x"), "$.metadata"),
        (
            lambda d: d["eventBody"].update(sessionStartTimeMs=True),
            "$.eventBody.sessionStartTimeMs",
        ),
    ],
)
def test_malformed_frames_name_the_path(frame_bytes, mutate, path):
    doc = orjson.loads(frame_bytes("transcription"))
    mutate(doc)
    with pytest.raises(ProtocolError) as info:
        parse_frame(orjson.dumps(doc))
    assert info.value.path == path
    assert path in str(info.value)


#: Ways one transcript can be malformed, with the path its error names (relative to it).
BAD_TRANSCRIPTS = [
    (lambda t: t.update(isFinal="yes"), ".isFinal"),
    (lambda t: t["alternatives"][0].update(confidence="hi"), ".alternatives[0].confidence"),
    (lambda t: t.pop("utteranceId"), ".utteranceId"),
    (lambda t: t["alternatives"][0]["words"].__setitem__(1, 5), ".alternatives[0].words[1]"),
    (lambda t: t.update(alternatives={}), ".alternatives"),
]


@pytest.mark.parametrize(("mutate", "where"), BAD_TRANSCRIPTS)
def test_one_malformed_transcript_invalidates_only_itself(frame_bytes, mutate, where):
    doc = orjson.loads(frame_bytes("transcription"))
    transcripts = doc["eventBody"]["transcripts"]
    transcripts.extend(orjson.loads(orjson.dumps(transcripts)))  # a grouped frame: 2 more
    for k, t in enumerate(transcripts):
        t["utteranceId"] = f"u{k}"
    mutate(transcripts[1])
    msg = parse_frame(orjson.dumps(doc))
    assert [u.utterance_id for u in msg.utterances] == [f"u{k}" for k in range(len(transcripts))
                                                        if k != 1]
    (bad,) = msg.invalid
    assert bad.index == 1 and bad.path == f"$.eventBody.transcripts[1]{where}"
    assert bad.error == f"{bad.path}: {bad.reason}"
    assert bad.utterance_id == (None if where == ".utteranceId" else "u1")


@pytest.mark.parametrize(("mutate", "where"), BAD_TRANSCRIPTS)
def test_a_frame_whose_every_transcript_is_malformed_fails_naming_the_first(
    frame_bytes, mutate, where
):
    doc = orjson.loads(frame_bytes("transcription"))
    for t in doc["eventBody"]["transcripts"]:
        mutate(t)
    with pytest.raises(ProtocolError) as info:
        parse_frame(orjson.dumps(doc))
    assert info.value.path == f"$.eventBody.transcripts[0]{where}"


def test_null_transcript_is_invalid_alone(frame_bytes):
    doc = orjson.loads(frame_bytes("transcription"))
    doc["eventBody"]["transcripts"].insert(0, None)
    msg = parse_frame(orjson.dumps(doc))
    assert len(msg.utterances) == len(doc["eventBody"]["transcripts"]) - 1
    assert [(b.index, b.path) for b in msg.invalid] == [(0, "$.eventBody.transcripts[0]")]


def test_grouped_frames_of_the_simulator_parse_with_interleaved_versions():
    from diarkit.sim import build_scenario, schedule

    sc = build_scenario(seed=4, conversations=2, kinds=["basic", "conference+early"],
                        call_duration_s=(120.0, 150.0))
    interleaved = negative = early = 0
    for f in schedule(sc):
        msg = parse_frame(f.text)
        if msg.kind != "transcription" or not msg.utterances:
            continue
        assert not msg.invalid
        ids = [u.utterance_id for u in msg.utterances]
        # several utterances per frame, their versions interleaved
        interleaved += any(a != b and a in ids[i + 1:] for i, (a, b) in
                           enumerate(itertools.pairwise(ids)))
        negative += any(u.best.offset_ms < 0 for u in msg.utterances)
        early += msg.transcription_start_time_ms < msg.session_start_time_ms
    assert interleaved and negative and early  # transcription began before the session


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (b"not json", "$"),
        (b'{"topicName": "v2.conversations.abc.transcription"', "$"),
        (b"[1, 2]", "$"),
        (b'{"eventBody": {}}', "$.topicName"),
        (b'{"topicName": "v2.conversations.a b.transcription", "eventBody": {}}', "$.topicName"),
        (
            b'{"topicName": "v2.routing.queues.q1.conversations.calls", "eventBody": {}}',
            "$.eventBody.id",
        ),
        (b'{"eventType": "x", "transcripts": []}', "$.conversationId"),
        (
            b'{"eventType": "x", "conversationId": "c", "transcripts": [{"start": 5, "end": 2}]}',
            "$.transcripts[0].end",
        ),
        (b'{"result": "oops"}', "$.result"),
    ],
)
def test_malformed_text(text, path):
    with pytest.raises(ProtocolError) as info:
        parse_frame(text)
    assert info.value.path == path
