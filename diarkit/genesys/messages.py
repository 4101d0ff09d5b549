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
from .fields import JSON, array, boolean, integer, number, obj, required_string, string, type_name
from .topics import Topic, TopicKind, parse_topic


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
class InvalidTranscript:
    """One transcript of a frame that could not be read; the frame's others still count.

    The service groups several transcripts into one frame, so one bad transcript must not
    cost the good ones. ``index`` is its position in ``eventBody.transcripts``; ``path``
    and ``reason`` say what is wrong (as a ``ProtocolError`` would); ``utterance_id`` is
    set when it could be read.
    """

    index: int
    path: str
    reason: str
    utterance_id: str | None = None

    @property
    def error(self) -> str:
        """``"<path>: <reason>"``, the text a ``ProtocolError`` would carry."""
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TranscriptionEvent:
    """``v2.conversations.{id}.transcription``: status and/or utterance versions.

    ``utterances`` are the transcripts that could be read, in frame order; ``invalid``
    the ones that could not (each invalidates only itself; a frame whose transcripts are
    all invalid fails as a whole). ``legacy`` marks the tutorial's ``{eventType,
    conversationId, transcripts}`` shape, whose seconds were converted to milliseconds.
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
    invalid: tuple[InvalidTranscript, ...] = ()


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


# --------------------------------------------------------------------------- parsers


def _words(alt: JSON, key: str, path: str) -> tuple[Word, ...]:
    out = []
    for i, raw in enumerate(array(alt, key, path)):
        p = f"{path}.{key}[{i}]"
        w = obj(raw, p)
        out.append(
            Word(
                word=string(w, "word", p) or "",
                confidence=number(w, "confidence", p),
                offset_ms=integer(w, "offsetMs", p),
                duration_ms=integer(w, "durationMs", p),
                start_time_ms=integer(w, "startTimeMs", p),
            )
        )
    return tuple(out)


def _alternative(raw: Any, path: str) -> Alternative:
    alt = obj(raw, path)
    return Alternative(
        transcript=string(alt, "transcript", path) or "",
        confidence=number(alt, "confidence", path),
        offset_ms=integer(alt, "offsetMs", path),
        duration_ms=integer(alt, "durationMs", path),
        decorated_transcript=string(alt, "decoratedTranscript", path),
        words=_words(alt, "words", path),
        decorated_words=_words(alt, "decoratedWords", path),
    )


def _utterance(raw: Any, path: str) -> Utterance:
    u = obj(raw, path)
    alts = tuple(
        _alternative(a, f"{path}.alternatives[{i}]")
        for i, a in enumerate(array(u, "alternatives", path))
    )
    return Utterance(
        utterance_id=required_string(u, "utteranceId", path),
        is_final=bool(boolean(u, "isFinal", path)),
        channel=string(u, "channel", path) or "UNKNOWN",
        alternatives=alts,
        engine_provider=string(u, "engineProvider", path),
        engine_id=string(u, "engineId", path),
        engine_name=string(u, "engineName", path),
        dialect=string(u, "dialect", path),
        agent_assist_enabled=boolean(u, "agentAssistEnabled", path),
        voice_transcription_enabled=boolean(u, "voiceTranscriptionEnabled", path),
    )


def _transcription(env: Envelope, topic: Topic, body: JSON) -> TranscriptionEvent:
    p = "$.eventBody"
    conversation_id = string(body, "conversationId", p) or topic.id
    if not conversation_id:
        raise ProtocolError("required field is missing", f"{p}.conversationId")
    status = None
    if body.get("status") is not None:
        s = obj(body["status"], f"{p}.status")
        status = SessionStatus(
            status=string(s, "status", f"{p}.status") or "UNKNOWN",
            offset_ms=integer(s, "offsetMs", f"{p}.status"),
        )
    utterances, invalid = _transcripts(array(body, "transcripts", p), f"{p}.transcripts")
    return TranscriptionEvent(
        envelope=env,
        conversation_id=conversation_id,
        communication_id=string(body, "communicationId", p),
        event_time=string(body, "eventTime", p),
        organization_id=string(body, "organizationId", p),
        session_start_time_ms=integer(body, "sessionStartTimeMs", p),
        transcription_start_time_ms=integer(body, "transcriptionStartTimeMs", p),
        program_id=string(body, "speechTextAnalyticsProgramId", p),
        status=status,
        utterances=utterances,
        invalid=invalid,
    )


def _transcripts(
    items: list[Any], path: str
) -> tuple[tuple[Utterance, ...], tuple[InvalidTranscript, ...]]:
    """The readable utterances of ``items`` and the transcripts that are not.

    A transcript without ``utteranceId`` is one of the latter: the SDK model lets it be
    absent, but without it versions of an utterance cannot be told apart.

    Raises:
        ProtocolError: there are transcripts and none of them can be read (the first
            one's error).
    """
    good: list[Utterance] = []
    bad: list[InvalidTranscript] = []
    first: ProtocolError | None = None
    for i, raw in enumerate(items):
        try:
            good.append(_utterance(raw, f"{path}[{i}]"))
        except ProtocolError as exc:
            first = first or exc
            uid = raw.get("utteranceId") if isinstance(raw, dict) else None
            bad.append(InvalidTranscript(i, exc.path, exc.reason,
                                         uid if isinstance(uid, str) else None))
    if first is not None and not good:
        raise first
    return tuple(good), tuple(bad)


#: Legacy tutorial speakers -> Genesys channels.
LEGACY_SPEAKER_CHANNELS = {"agent": "INTERNAL", "ivr": "INTERNAL", "customer": "EXTERNAL"}


def _legacy(doc: JSON) -> TranscriptionEvent:
    """The tutorial's ``{eventType, conversationId, transcripts[{speaker, text, ...}]}``."""
    conversation_id = required_string(doc, "conversationId", "$")
    event_type = string(doc, "eventType", "$") or ""
    utterances = []
    for i, raw in enumerate(array(doc, "transcripts", "$")):
        p = f"$.transcripts[{i}]"
        t = obj(raw, p)
        start = number(t, "start", p)
        end = number(t, "end", p)
        if start is not None and end is not None and end < start:
            raise ProtocolError(f"end {end} is before start {start}", f"{p}.end")
        speaker = string(t, "speaker", p)
        offset_ms = None if start is None else round(start * 1000)
        duration_ms = None if start is None or end is None else round((end - start) * 1000)
        final = boolean(t, "isFinal", p)
        utterances.append(
            Utterance(
                utterance_id=None,
                is_final=True if final is None else final,
                channel=LEGACY_SPEAKER_CHANNELS.get((speaker or "").lower(), "UNKNOWN"),
                alternatives=(
                    Alternative(
                        transcript=string(t, "text", p) or "",
                        confidence=number(t, "confidence", p),
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
        event_time=string(doc, "timestamp", "$"),
        organization_id=None,
        session_start_time_ms=None,
        transcription_start_time_ms=None,
        program_id=None,
        status=None,
        utterances=tuple(utterances),
        legacy=True,
    )


def _ref_id(part: JSON, key: str, flat: str, path: str) -> str | None:
    """Id of the SDK's ``user``/``queue`` object, or the older flat ``userId``/``queueId``."""
    ref = part.get(key)
    if ref is not None:
        return string(obj(ref, f"{path}.{key}"), "id", f"{path}.{key}")
    return string(part, flat, path)


def _participants(body: JSON, path: str) -> tuple[Participant, ...]:
    out = []
    for i, raw in enumerate(array(body, "participants", path)):
        p = f"{path}.participants[{i}]"
        part = obj(raw, p)
        state = string(part, "state", p)
        if state is None:  # real call events carry state per call leg
            calls = array(part, "calls", p)
            if calls:
                last = obj(calls[-1], f"{p}.calls[{len(calls) - 1}]")
                state = string(last, "state", f"{p}.calls[{len(calls) - 1}]")
        out.append(
            Participant(
                id=string(part, "id", p),
                purpose=string(part, "purpose", p),
                state=state,
                connected_time=string(part, "connectedTime", p),
                end_time=string(part, "endTime", p),
                user_id=_ref_id(part, "user", "userId", p),
                queue_id=_ref_id(part, "queue", "queueId", p),
            )
        )
    return tuple(out)


def parse_document(doc: Any) -> Message:
    """Parse an already-decoded frame (the JSON value) into a ``Message``.

    Raises:
        ProtocolError: wrong types or missing required fields, with the JSON path.
    """
    doc = obj(doc, "$")
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
                correlation_id=string(doc, "correlationId", "$"),
                message=string(doc, "message", "$") or string(doc, "status", "$"),
                body=doc,
            )
        if "eventType" in doc or ("conversationId" in doc and "transcripts" in doc):
            return _legacy(doc)
        raise ProtocolError("required field is missing", "$.topicName")
    topic = parse_topic(doc["topicName"])
    metadata = doc.get("metadata")
    correlation_id = None
    if metadata is not None:
        correlation_id = string(obj(metadata, "$.metadata"), "CorrelationId", "$.metadata")
    version = doc.get("version")
    if version is not None and not isinstance(version, str | int):
        raise ProtocolError(f"expected a string, got {type_name(version)}", "$.version")
    env = Envelope(topic.name, None if version is None else str(version), correlation_id)
    body_raw = doc.get("eventBody")
    kind = topic.kind
    if kind is TopicKind.OTHER:
        return UnknownMessage(env, body_raw)
    body = obj(body_raw, "$.eventBody")
    if kind is TopicKind.TRANSCRIPTION:
        return _transcription(env, topic, body)
    if kind is TopicKind.CHANNEL_METADATA:
        text = string(body, "message", "$.eventBody")
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
            conversation_id=required_string(body, "id", "$.eventBody"),
            participants=_participants(body, "$.eventBody"),
            topic_kind=kind,
            topic_id=topic.id,
        )
    # token_revoked, no_longer_subscribed and any other v2.system.* topic
    return SystemMessage(
        envelope=env,
        system_topic_type=string(body, "systemTopicType", "$.eventBody"),
        channel_id=string(body, "channelId", "$.eventBody"),
        reason=string(body, "reason", "$.eventBody"),
        message=string(body, "message", "$.eventBody"),
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
