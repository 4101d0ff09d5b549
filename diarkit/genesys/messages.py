"""Typed, immutable messages parsed from Notifications WebSocket text frames.

``parse_frame`` is the single entry point: one text frame in, one ``Message`` out, or a
``ProtocolError`` naming the JSON path of what is wrong. Unknown extra fields and
``null`` values are normal input; unknown topics become ``UnknownMessage`` (kept, never
dropped). Times keep the wire's units: milliseconds (``*_ms``) and ISO-8601 strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ProtocolError
from .topics import Topic, TopicKind, parse_topic

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields every notification shares."""

    topic: str
    version: str | None
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``channel.metadata`` "WebSocket Heartbeat", about every 30 s."""

    envelope: Envelope
    kind: str = "heartbeat"


@dataclass(frozen=True, slots=True)
class Pong:
    """``channel.metadata`` "pong": the answer to a client ``{"message": "ping"}``."""

    envelope: Envelope
    kind: str = "pong"


@dataclass(frozen=True, slots=True)
class SocketClosing:
    """``v2.system.socket_closing``: the server closes within about a minute; reconnect now."""

    envelope: Envelope
    body: JSON
    kind: str = "socket_closing"


@dataclass(frozen=True, slots=True)
class SystemMessage:
    """Other ``v2.system.*`` topics (``token_revoked``, ``no_longer_subscribed``, ...)."""

    envelope: Envelope
    system_topic_type: str | None
    channel_id: str | None
    reason: str | None
    message: str | None
    topic_kind: TopicKind
    body: JSON
    kind: str = "system"


@dataclass(frozen=True, slots=True)
class SubscribeReply:
    """The server's answer to a subscribe/unsubscribe request sent over the socket.

    ``result`` is an HTTP-like status (200 on success).
    """

    result: int
    correlation_id: str | None
    message: str | None
    body: JSON
    kind: str = "subscribe_reply"


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in milliseconds relative to the session start."""

    word: str
    confidence: float | None
    offset_ms: int | None
    duration_ms: int | None
    start_time_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Alternative:
    """One recognition hypothesis of an utterance; times in ms from the session start."""

    transcript: str
    confidence: float | None
    offset_ms: int | None
    duration_ms: int | None
    decorated_transcript: str | None = None
    words: tuple[Word, ...] = ()
    decorated_words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class Utterance:
    """One version of an utterance; later versions of the same id supersede earlier ones.

    ``channel`` is ``INTERNAL`` (agent/IVR), ``EXTERNAL`` (customer), ``BOTH`` or
    ``UNKNOWN``. ``speaker`` is only set by the legacy tutorial format.
    """

    utterance_id: str | None
    is_final: bool
    channel: str
    alternatives: tuple[Alternative, ...]
    engine_provider: str | None = None
    engine_id: str | None = None
    engine_name: str | None = None
    dialect: str | None = None
    agent_assist_enabled: bool | None = None
    voice_transcription_enabled: bool | None = None
    speaker: str | None = None

    @property
    def best(self) -> Alternative | None:
        """The first (most likely) alternative, if any."""
        return self.alternatives[0] if self.alternatives else None


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """Transcription session status; ``offset_ms`` from the session start."""

    status: str
    offset_ms: int | None


@dataclass(frozen=True, slots=True)
class TranscriptionEvent:
    """``v2.conversations.{id}.transcription``: status and/or utterance versions.

    ``legacy`` marks the tutorial's ``{eventType, conversationId, transcripts}`` shape,
    whose seconds were converted to milliseconds here.
    """

    envelope: Envelope
    conversation_id: str
    communication_id: str | None
    event_time: str | None
    organization_id: str | None
    session_start_time_ms: int | None
    transcription_start_time_ms: int | None
    program_id: str | None
    status: SessionStatus | None
    utterances: tuple[Utterance, ...]
    legacy: bool = False
    kind: str = "transcription"


@dataclass(frozen=True, slots=True)
class Participant:
    """One participant of a conversation; times are ISO-8601 strings as sent."""

    id: str | None
    purpose: str | None
    state: str | None
    connected_time: str | None
    end_time: str | None
    user_id: str | None = None
    queue_id: str | None = None

    @property
    def disconnected(self) -> bool:
        """True once the participant has left (terminated/disconnected or has an end)."""
        return self.end_time is not None or (self.state or "").lower() in (
            "disconnected",
            "terminated",
        )


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    """Queue or user ``conversations.calls`` topics: the conversation and participants."""

    envelope: Envelope
    conversation_id: str
    participants: tuple[Participant, ...]
    topic_kind: TopicKind
    topic_id: str
    kind: str = "conversation"

    @property
    def ended(self) -> bool:
        """True when every participant has disconnected."""
        return bool(self.participants) and all(p.disconnected for p in self.participants)


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A well-formed notification on a topic we do not model; kept, never dropped."""

    envelope: Envelope
    body: Any
    kind: str = "unknown"


Message = (
    Heartbeat
    | Pong
    | SocketClosing
    | SystemMessage
    | SubscribeReply
    | TranscriptionEvent
    | ConversationEvent
    | UnknownMessage
)

#: Every value of ``Message.kind``, plus ``invalid`` for frames that fail to parse.
MESSAGE_KINDS = (
    "heartbeat",
    "pong",
    "socket_closing",
    "system",
    "subscribe_reply",
    "transcription",
    "conversation",
    "unknown",
    "invalid",
)


# --------------------------------------------------------------------------- field access


def _obj(value: Any, path: str) -> JSON:
    if not isinstance(value, dict):
        raise ProtocolError(f"expected an object, got {_type(value)}", path)
    return value


def _list(obj: JSON, key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"expected an array, got {_type(value)}", f"{path}.{key}")
    return value


def _str(obj: JSON, key: str, path: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ProtocolError("required field is missing", f"{path}.{key}")
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {_type(value)}", f"{path}.{key}")
    return value


def _req_str(obj: JSON, key: str, path: str) -> str:
    value = _str(obj, key, path, required=True)
    assert value is not None
    return value


def _int(obj: JSON, key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"expected a number, got {_type(value)}", f"{path}.{key}")
    return int(value)


def _float(obj: JSON, key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"expected a number, got {_type(value)}", f"{path}.{key}")
    return float(value)


def _bool(obj: JSON, key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ProtocolError(f"expected true or false, got {_type(value)}", f"{path}.{key}")
    return value


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


# --------------------------------------------------------------------------- parsers


def _words(alt: JSON, key: str, path: str) -> tuple[Word, ...]:
    out = []
    for i, raw in enumerate(_list(alt, key, path)):
        p = f"{path}.{key}[{i}]"
        w = _obj(raw, p)
        out.append(
            Word(
                word=_str(w, "word", p) or "",
                confidence=_float(w, "confidence", p),
                offset_ms=_int(w, "offsetMs", p),
                duration_ms=_int(w, "durationMs", p),
                start_time_ms=_int(w, "startTimeMs", p),
            )
        )
    return tuple(out)


def _alternative(raw: Any, path: str) -> Alternative:
    alt = _obj(raw, path)
    return Alternative(
        transcript=_str(alt, "transcript", path) or "",
        confidence=_float(alt, "confidence", path),
        offset_ms=_int(alt, "offsetMs", path),
        duration_ms=_int(alt, "durationMs", path),
        decorated_transcript=_str(alt, "decoratedTranscript", path),
        words=_words(alt, "words", path),
        decorated_words=_words(alt, "decoratedWords", path),
    )


def _utterance(raw: Any, path: str) -> Utterance:
    u = _obj(raw, path)
    alts = tuple(
        _alternative(a, f"{path}.alternatives[{i}]")
        for i, a in enumerate(_list(u, "alternatives", path))
    )
    return Utterance(
        utterance_id=_req_str(u, "utteranceId", path),
        is_final=bool(_bool(u, "isFinal", path)),
        channel=_str(u, "channel", path) or "UNKNOWN",
        alternatives=alts,
        engine_provider=_str(u, "engineProvider", path),
        engine_id=_str(u, "engineId", path),
        engine_name=_str(u, "engineName", path),
        dialect=_str(u, "dialect", path),
        agent_assist_enabled=_bool(u, "agentAssistEnabled", path),
        voice_transcription_enabled=_bool(u, "voiceTranscriptionEnabled", path),
    )


def _transcription(env: Envelope, topic: Topic, body: JSON) -> TranscriptionEvent:
    p = "$.eventBody"
    conversation_id = _str(body, "conversationId", p) or topic.id
    if not conversation_id:
        raise ProtocolError("required field is missing", f"{p}.conversationId")
    status = None
    if body.get("status") is not None:
        s = _obj(body["status"], f"{p}.status")
        status = SessionStatus(
            status=_str(s, "status", f"{p}.status") or "UNKNOWN",
            offset_ms=_int(s, "offsetMs", f"{p}.status"),
        )
    utterances = tuple(
        _utterance(u, f"{p}.transcripts[{i}]") for i, u in enumerate(_list(body, "transcripts", p))
    )
    return TranscriptionEvent(
        envelope=env,
        conversation_id=conversation_id,
        communication_id=_str(body, "communicationId", p),
        event_time=_str(body, "eventTime", p),
        organization_id=_str(body, "organizationId", p),
        session_start_time_ms=_int(body, "sessionStartTimeMs", p),
        transcription_start_time_ms=_int(body, "transcriptionStartTimeMs", p),
        program_id=_str(body, "speechTextAnalyticsProgramId", p),
        status=status,
        utterances=utterances,
    )


#: Legacy tutorial speakers -> Genesys channels.
LEGACY_SPEAKER_CHANNELS = {"agent": "INTERNAL", "ivr": "INTERNAL", "customer": "EXTERNAL"}


def _legacy(doc: JSON) -> TranscriptionEvent:
    """The tutorial's ``{eventType, conversationId, transcripts[{speaker, text, ...}]}``."""
    conversation_id = _req_str(doc, "conversationId", "$")
    event_type = _str(doc, "eventType", "$") or ""
    utterances = []
    for i, raw in enumerate(_list(doc, "transcripts", "$")):
        p = f"$.transcripts[{i}]"
        t = _obj(raw, p)
        start = _float(t, "start", p)
        end = _float(t, "end", p)
        if start is not None and end is not None and end < start:
            raise ProtocolError(f"end {end} is before start {start}", f"{p}.end")
        speaker = _str(t, "speaker", p)
        offset_ms = None if start is None else round(start * 1000)
        duration_ms = None if start is None or end is None else round((end - start) * 1000)
        final = _bool(t, "isFinal", p)
        utterances.append(
            Utterance(
                utterance_id=None,
                is_final=True if final is None else final,
                channel=LEGACY_SPEAKER_CHANNELS.get((speaker or "").lower(), "UNKNOWN"),
                alternatives=(
                    Alternative(
                        transcript=_str(t, "text", p) or "",
                        confidence=_float(t, "confidence", p),
                        offset_ms=offset_ms,
                        duration_ms=duration_ms,
                    ),
                ),
                speaker=speaker,
            )
        )
    return TranscriptionEvent(
        envelope=Envelope(topic=event_type, version=None, correlation_id=None),
        conversation_id=conversation_id,
        communication_id=None,
        event_time=_str(doc, "timestamp", "$"),
        organization_id=None,
        session_start_time_ms=None,
        transcription_start_time_ms=None,
        program_id=None,
        status=None,
        utterances=tuple(utterances),
        legacy=True,
    )


def _participants(body: JSON, path: str) -> tuple[Participant, ...]:
    out = []
    for i, raw in enumerate(_list(body, "participants", path)):
        p = f"{path}.participants[{i}]"
        part = _obj(raw, p)
        state = _str(part, "state", p)
        if state is None:  # real call events carry state per call leg
            calls = _list(part, "calls", p)
            if calls:
                last = _obj(calls[-1], f"{p}.calls[{len(calls) - 1}]")
                state = _str(last, "state", f"{p}.calls[{len(calls) - 1}]")
        out.append(
            Participant(
                id=_str(part, "id", p),
                purpose=_str(part, "purpose", p),
                state=state,
                connected_time=_str(part, "connectedTime", p),
                end_time=_str(part, "endTime", p),
                user_id=_str(part, "userId", p),
                queue_id=_str(part, "queueId", p),
            )
        )
    return tuple(out)


def parse_document(doc: Any) -> Message:
    """Parse an already-decoded frame (the JSON value) into a ``Message``.

    Raises:
        ProtocolError: wrong types or missing required fields, with the JSON path.
    """
    doc = _obj(doc, "$")
    if "topicName" not in doc:
        if "result" in doc:
            result = doc["result"]
            if isinstance(result, bool) or not isinstance(result, int | str):
                raise ProtocolError("expected an HTTP-like status", "$.result")
            try:
                result = int(result)
            except ValueError:
                raise ProtocolError("expected an HTTP-like status", "$.result") from None
            return SubscribeReply(
                result=result,
                correlation_id=_str(doc, "correlationId", "$"),
                message=_str(doc, "message", "$") or _str(doc, "status", "$"),
                body=doc,
            )
        if "eventType" in doc or ("conversationId" in doc and "transcripts" in doc):
            return _legacy(doc)
        raise ProtocolError("required field is missing", "$.topicName")
    topic = parse_topic(doc["topicName"])
    metadata = doc.get("metadata")
    correlation_id = None
    if metadata is not None:
        correlation_id = _str(_obj(metadata, "$.metadata"), "CorrelationId", "$.metadata")
    version = doc.get("version")
    if version is not None and not isinstance(version, str | int):
        raise ProtocolError(f"expected a string, got {_type(version)}", "$.version")
    env = Envelope(topic.name, None if version is None else str(version), correlation_id)
    body_raw = doc.get("eventBody")
    kind = topic.kind
    if kind is TopicKind.OTHER:
        return UnknownMessage(env, body_raw)
    body = _obj(body_raw, "$.eventBody")
    if kind is TopicKind.TRANSCRIPTION:
        return _transcription(env, topic, body)
    if kind is TopicKind.CHANNEL_METADATA:
        text = _str(body, "message", "$.eventBody")
        if text == "pong":
            return Pong(env)
        if text is not None and "heartbeat" in text.lower():
            return Heartbeat(env)
        return UnknownMessage(env, body)
    if kind is TopicKind.SOCKET_CLOSING:
        return SocketClosing(env, body)
    if kind in (TopicKind.QUEUE_CALLS, TopicKind.USER_CALLS):
        return ConversationEvent(
            envelope=env,
            conversation_id=_req_str(body, "id", "$.eventBody"),
            participants=_participants(body, "$.eventBody"),
            topic_kind=kind,
            topic_id=topic.id,
        )
    # token_revoked, no_longer_subscribed and any other v2.system.* topic
    return SystemMessage(
        envelope=env,
        system_topic_type=_str(body, "systemTopicType", "$.eventBody"),
        channel_id=_str(body, "channelId", "$.eventBody"),
        reason=_str(body, "reason", "$.eventBody"),
        message=_str(body, "message", "$.eventBody"),
        topic_kind=kind,
        body=body,
    )


def decode_frame(text: str | bytes) -> Any:
    """Decode a frame's JSON; ``ProtocolError`` (path ``$``) when it is not valid JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None


def parse_frame(text: str | bytes) -> Message:
    """Parse one WebSocket text frame into a typed, immutable ``Message``.

    Raises:
        ProtocolError: the frame is not JSON, has wrong types or lacks required fields;
            the error's ``path`` names where (``$.eventBody.transcripts[0].isFinal``).
    """
    return parse_document(decode_frame(text))
