"""The simulator's frames, read by the official Genesys Cloud Python SDK (the oracle).

Every kind of frame the generator emits (grouped, low-latency and one-per-frame
transcripts, status-only messages, call events on queue and user topics, for every call
kind and feature) is deserialized with the SDK's own model classes
(``purecloudplatformclientv2`` 269, the ``dev`` extra), and checked strictly: a field name
the model does not have, a JSON type other than the model's ``swagger_types``, a date the
SDK cannot parse or an enum value the SDK maps to ``outdated_sdk_version`` fails the test.
The SDK itself would silently drop unknown fields, so the walk over ``attribute_map`` is
what makes it strict.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import Counter
from typing import Any

import orjson
import pytest
from PureCloudPlatformClientV2 import models
from PureCloudPlatformClientV2.api_client import ApiClient

from diarkit.genesys import parse_topic
from diarkit.sim import Scenario, build_scenario, post_call_transcript, schedule
from diarkit.sim.calls import CALL_KINDS

#: ``notificationMappings.json`` of MyPureCloud/platform-client-sdk-python: the model class
#: the SDK deserializes each topic's ``eventBody`` with.
NOTIFICATION_MAPPINGS = {
    "v2.conversations.{id}.transcription": "TranscriptionTopicTranscriptionMessage",
    "v2.routing.queues.{id}.conversations.calls": "QueueConversationCallEventTopicCallConversation",
    "v2.users.{id}.conversations.calls": "ConversationCallEventTopicCallConversation",
}
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_CLIENT = ApiClient()
_deserialize = _CLIENT._ApiClient__deserialize  # type: ignore[attr-defined]


def _regroup(scenario: Scenario, grouping: str) -> Scenario:
    return dataclasses.replace(scenario, grouping=grouping)


def model_of(topic: str) -> str:
    """The SDK model class of a topic, by its ``{id}`` pattern."""
    pattern = re.sub(_UUID, "{id}", topic)
    assert pattern in NOTIFICATION_MAPPINGS, f"topic {topic} has no SDK mapping"
    return NOTIFICATION_MAPPINGS[pattern]


@functools.cache
def _model(klass: str) -> tuple[Any, dict[str, str]]:
    model = getattr(models, klass)()
    return model, {json_name: attr for attr, json_name in model.attribute_map.items()}


def strict(value: Any, klass: str, path: str, seen: Counter[str]) -> None:
    """Fail unless ``value`` has exactly the names and JSON types of SDK type ``klass``."""
    if klass.startswith("list["):
        assert isinstance(value, list), f"{path}: expected a list for {klass}"
        for i, v in enumerate(value):
            strict(v, klass[5:-1], f"{path}[{i}]", seen)
    elif klass.startswith("dict("):
        sub = re.fullmatch(r"dict\(([^,]*), (.*)\)", klass).group(2)  # type: ignore[union-attr]
        assert isinstance(value, dict), f"{path}: expected an object for {klass}"
        for k, v in value.items():
            strict(v, sub, f"{path}.{k}", seen)
    elif klass == "str":
        assert isinstance(value, str), f"{path}: expected a string, got {value!r}"
    elif klass == "int":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r}"
    elif klass == "float":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}"
    elif klass == "bool":
        assert isinstance(value, bool), f"{path}: expected a boolean, got {value!r}"
    elif klass == "datetime":
        assert isinstance(value, str) and _ISO.match(value), f"{path}: not ISO-8601 ms UTC"
        assert _deserialize(value, "datetime").tzinfo is not None, path
    else:
        model, attr_of = _model(klass)
        assert isinstance(value, dict), f"{path}: expected an object for {klass}"
        for key, v in value.items():
            assert key in attr_of, f"{path}.{key}: {klass} has no field {key!r}"
            strict(v, model.swagger_types[attr_of[key]], f"{path}.{key}", seen)
            seen[f"{klass}.{key}"] += 1


def outdated(obj: Any, path: str = "$") -> list[str]:
    """Paths where the SDK's enum setters found a value they do not know."""
    if isinstance(obj, str):
        return [path] if obj == "outdated_sdk_version" else []
    if isinstance(obj, list):
        return [p for i, x in enumerate(obj) for p in outdated(x, f"{path}[{i}]")]
    if hasattr(obj, "swagger_types"):
        return [p for attr in obj.swagger_types for p in outdated(getattr(obj, attr),
                                                                   f"{path}.{attr}")]
    return []


def check_frame(text: str, seen: Counter[str]) -> str:
    """Check one frame like an SDK client would read it; return its model class."""
    doc = orjson.loads(text)
    assert set(doc) == {"topicName", "version", "eventBody", "metadata"}
    assert isinstance(doc["version"], str) and set(doc["metadata"]) == {"CorrelationId"}
    klass = model_of(doc["topicName"])
    body = doc["eventBody"]
    strict(body, klass, "$.eventBody", seen)
    obj = _deserialize(body, klass)
    assert isinstance(obj, getattr(models, klass))
    bad = outdated(obj)
    assert not bad, f"enum values the SDK does not know at {bad}: {text[:300]}"
    assert _CLIENT.sanitize_for_serialization(obj)  # round-trips through the SDK
    return klass


@pytest.fixture(scope="module")
def mixed():
    """Every call kind with every feature, plus a seeded mix (BOTH/UNKNOWN channels)."""
    kinds = [k + f for k in CALL_KINDS for f in ("", "+hold+secure_pause", "+early")]
    forced = build_scenario(seed=11, conversations=len(kinds), queues=3, agents=4,
                            call_duration_s=(90.0, 130.0), stagger_s=2.0, kinds=kinds)
    drawn = build_scenario(seed=12, conversations=30, queues=3, agents=5,
                           call_duration_s=(60.0, 120.0), stagger_s=2.0)
    return forced, drawn


@pytest.mark.parametrize("grouping", ["grouped", "low_latency", "per_frame"])
def test_every_frame_deserializes_with_the_sdk_models(mixed, grouping) -> None:
    seen: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    # grouped frames hold every transcript version the other modes send one or a few at a
    # time: those modes check each call event and status, and every 7th transcript frame
    every = 1 if grouping == "grouped" else 7
    n = 0
    for scenario in mixed:
        for f in schedule(_regroup(scenario, grouping)):
            if f.kind == "transcription":
                n += 1
                if n % every:
                    continue
            classes[check_frame(f.text, seen)] += 1
            if f.kind == "status":
                statuses[orjson.loads(f.text)["eventBody"]["status"]["status"]] += 1
    assert set(classes) == set(NOTIFICATION_MAPPINGS.values())
    assert statuses["SESSION_ONGOING"]
    assert statuses["SESSION_ENDED"] == sum(len(sc.plans) for sc in mixed)  # one per call
    # what the simulator claims to send, it sends (and the SDK knows each field)
    participant = "QueueConversationCallEventTopicCallMediaParticipant"
    for field in ("user", "queue", "state", "held", "startHoldTime", "connectedTime",
                  "endTime", "startAcwTime", "endAcwTime", "wrapup", "direction", "ani",
                  "dnis", "consultParticipantId", "securePause", "disconnectType",
                  "wrapupRequired", "initialState", "startTime"):
        assert seen[f"{participant}.{field}"], field
    for field in ("code", "notes", "durationSeconds", "endTime"):
        assert seen[f"QueueConversationCallEventTopicWrapup.{field}"], field
    assert seen["TranscriptionTopicTranscriptAlternative.decoratedWords"]
    assert seen["TranscriptionTopicTranscriptionMessage.transcriptionStartTimeMs"]


def test_channels_and_enums_cover_what_the_sdk_allows(mixed) -> None:
    """BOTH/UNKNOWN channels, securePause true and negative offsets all pass the SDK."""
    channels: Counter[str] = Counter()
    paused = negative = 0
    for scenario in mixed:
        for f in schedule(_regroup(scenario, "grouped")):
            body = orjson.loads(f.text)["eventBody"]
            for t in body.get("transcripts", ()):
                channels[t["channel"]] += 1
                negative += t["alternatives"][0]["offsetMs"] < 0
            paused += body.get("securePause") is True
    assert set(channels) == {"INTERNAL", "EXTERNAL", "BOTH", "UNKNOWN"}
    assert paused and negative


def test_topics_are_the_sdk_topics(mixed) -> None:
    for scenario in mixed:
        for f in schedule(_regroup(scenario, "grouped")):
            assert parse_topic(f.topic).name == f.topic
            model_of(f.topic)


#: The post-call transcript document has no SDK model (it is fetched from the pre-signed
#: URL, not through the API); its fields follow the Developer Center's transcript URL page
#: and the SDK's ``PhraseTranslation`` (``startTimeMs`` int, ``participantPurpose`` str).
_DOC = {"organizationId": str, "conversationId": str, "communicationId": str,
        "mediaType": str, "uri": str, "conversationStartTime": int, "startTime": int,
        "duration": dict, "participants": list, "transcripts": list}
_TRANSCRIPT = {"transcriptId": str, "language": str, "programId": str, "engineProvider": str,
               "engineId": str, "engineName": str, "startTime": int, "startTimeIso": str,
               "duration": dict, "phrases": list, "analytics": dict}
_PHRASE = {"text": str, "decoratedText": str, "confidence": float, "stability": float,
           "startTimeMs": int, "offset": dict, "duration": dict, "participantPurpose": str,
           "phraseIndex": int, "type": str, "words": list}
_WORD = {"word": str, "confidence": float, "startTimeMs": int, "offset": dict,
         "duration": dict}
_PARTICIPANT = {"participantPurpose": str, "participantId": str, "purpose": str, "ani": str,
                "dnis": str, "startTimeMs": int, "endTimeMs": int, "address": str,
                "userId": str, "queueId": str}


def _fields(obj: dict, spec: dict, path: str, required: set[str] | None = None) -> None:
    for key, value in obj.items():
        assert key in spec, f"{path}.{key}: not a field of the document"
        want = spec[key]
        ok = isinstance(value, int | float) if want is float else isinstance(value, want)
        assert ok and not isinstance(value, bool), f"{path}.{key}: {value!r}"
    assert (required or set()) <= set(obj), f"{path}: missing {(required or set()) - set(obj)}"


def test_post_call_document_has_the_published_fields(mixed) -> None:
    forced, _ = mixed
    for plan in forced.plans:
        doc = orjson.loads(orjson.dumps(post_call_transcript(plan)))
        _fields(doc, _DOC, "$", set(_DOC))
        assert set(doc["duration"]) == {"milliseconds"}
        for i, p in enumerate(doc["participants"]):
            _fields(p, _PARTICIPANT, f"$.participants[{i}]",
                    {"participantPurpose", "ani", "dnis", "startTimeMs", "endTimeMs"})
            assert p["participantPurpose"] in ("internal", "external")
            assert p["startTimeMs"] <= p["endTimeMs"]
        (tr,) = doc["transcripts"]
        _fields(tr, _TRANSCRIPT, "$.transcripts[0]", set(_TRANSCRIPT))
        for j, ph in enumerate(tr["phrases"]):
            path = f"$.transcripts[0].phrases[{j}]"
            _fields(ph, _PHRASE, path, set(_PHRASE))
            assert ph["offset"]["milliseconds"] == ph["startTimeMs"] - tr["startTime"] >= 0
            # the SDK's own phrase model reads the fields it shares
            obj = _deserialize(ph, "PhraseTranslation")
            assert obj.start_time_ms == ph["startTimeMs"]
            assert obj.participant_purpose in ("internal", "external")
            for k, w in enumerate(ph["words"]):
                _fields(w, _WORD, f"{path}.words[{k}]", set(_WORD))
                assert w["offset"]["milliseconds"] == w["startTimeMs"] - tr["startTime"]
        last = max((p["startTimeMs"] + p["duration"]["milliseconds"] for p in tr["phrases"]),
                   default=tr["startTime"])
        assert tr["duration"]["milliseconds"] == last - tr["startTime"]
        for s in tr["analytics"]["sentiment"]:
            assert -1 <= s["sentiment"] <= 1 and s["participant"] == "external"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: p.update(userId=p["user"]["id"]), "has no field 'userId'"),  # the old shape
    (lambda p: p.update(calls=[]), "has no field 'calls'"),
    (lambda p: p.update(state="ringing"), "enum values the SDK does not know"),
    (lambda p: p.update(held="false"), "expected a boolean"),
    (lambda p: p.update(connectedTime="2026-11-24 09:00:00"), "not ISO-8601"),
    (lambda p: p["user"].update(email="x@example.com"), "has no field 'email'"),
])
def test_the_oracle_refuses_what_the_sdk_does_not_know(mutate, message) -> None:
    sc = build_scenario(seed=3, conversations=1, kinds=["basic"], call_duration_s=(60.0, 60.0))
    frame = next(f for f in schedule(sc) if "users." in f.topic)
    check_frame(frame.text, Counter())  # as sent: accepted
    doc = orjson.loads(frame.text)
    agent = next(p for p in doc["eventBody"]["participants"] if p["purpose"] == "agent")
    mutate(agent)
    with pytest.raises(AssertionError, match=message):
        check_frame(orjson.dumps(doc).decode(), Counter())
