"""Amazon EventBridge envelopes around Genesys Cloud notifications (pure: no I/O, no clock).

Genesys Cloud's EventBridge integration delivers each notification as an event::

    {"version": "0", "id": "<event id>", "detail-type": "v2.conversations.{id}.transcription",
     "source": "aws.partner/genesys.com/cloud/<orgId>/<suffix>", "account": "...",
     "time": "2026-12-05T09:00:00Z", "region": "us-east-1", "resources": [],
     "detail": {"topicName": ..., "version": "2", "eventBody": {...},
                "metadata": {"CorrelationId": ...}, "timestamp": "..."}}

``detail`` is the Notifications WebSocket frame plus ``timestamp``, so the frame parser
(:func:`diarkit.genesys.parse_frame`) reads it unchanged. :func:`parse_envelope` returns
the envelope's fields and the ``detail`` text *verbatim*: the exact characters of the
``detail`` value in the event, so a redelivered event (same ``id``, same body) yields the
same frame bytes and the same ``frame_hash``. Delivery is at least once and unordered:
dedupe by :attr:`EventBridgeEvent.id`.

:func:`iter_envelopes` splits a Kinesis Data Firehose object into events: envelopes one
per line, or concatenated with no delimiter (Firehose's default), or any mix. A damaged
record is reported with its byte offset and the reading resumes at the next envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError
from .fields import JSON, type_name

#: ``source`` of Genesys Cloud partner events: ``aws.partner/genesys.com/cloud/<org>/<suffix>``.
SOURCE_PREFIX = "aws.partner/genesys.com/cloud/"
_SOURCE = re.compile(r"aws\.partner/genesys\.com/cloud/([^/]+)/(.+)")
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
#: Where a Firehose object's next envelope starts (used to resume after damage).
_NEXT_ENVELOPE = re.compile(r"\{\s*\"")
_VERSION_FIRST = re.compile(r"\{\s*\"version\"\s*:\s*\"0\"")


@dataclass(frozen=True, slots=True)
class EventBridgeEvent:
    """One EventBridge event: envelope fields and the notification frame inside it.

    Attributes:
        id: the event id (the same on every delivery and retry of one event).
        detail_type: ``detail-type``: the topic pattern the rule matched.
        source: ``aws.partner/genesys.com/cloud/<orgId>/<suffix>``.
        organization_id: the ``<orgId>`` of ``source`` (None for another source).
        time: ``time`` (ISO-8601, second precision) as sent.
        account: the AWS account id.
        region: the AWS region.
        replay_name: ``replay-name`` of an event re-sent by an archive replay, else None.
        detail: the ``detail`` value's text, verbatim (UTF-8): the notification frame.
        detail_doc: ``detail`` decoded.
    """

    id: str
    detail_type: str
    source: str
    organization_id: str | None
    time: str | None
    account: str | None
    region: str | None
    replay_name: str | None
    detail: bytes
    detail_doc: JSON

    @property
    def topic(self) -> str | None:
        """``detail.topicName``."""
        value = self.detail_doc.get("topicName")
        return value if isinstance(value, str) else None

    @property
    def timestamp(self) -> str | None:
        """``detail.timestamp``: when Genesys published the notification (ISO-8601)."""
        value = self.detail_doc.get("timestamp")
        return value if isinstance(value, str) else None


def _ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return i if m is None else m.end()


def object_members(text: str, start: int = 0) -> tuple[dict[str, tuple[Any, int, int]], int]:
    """Decode the JSON object at ``text[start:]`` member by member, keeping each value's span.

    Args:
        text: JSON text.
        start: index where the object (or whitespace before it) starts.

    Returns:
        ``({key: (value, value_start, value_end)}, end)``: the decoded members with the
        character span of each value in ``text``, and the index just after the object's
        closing brace. A repeated key keeps its last value, as JSON decoders do.

    Raises:
        ProtocolError: not a JSON object, or invalid JSON (the message gives the
            character offset).
    """
    i = _ws(text, start)
    if text[i : i + 1] != "{":
        got = text[i : i + 1] or "end of input"
        raise ProtocolError(f"expected an object at offset {i}, got {got!r}")
    members: dict[str, tuple[Any, int, int]] = {}
    i = _ws(text, i + 1)
    if text[i : i + 1] == "}":
        return members, i + 1
    while True:
        if text[i : i + 1] != '"':
            raise ProtocolError(f"not valid JSON: expected a member name at offset {i}")
        try:
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"not valid JSON: {exc}") from None
        i = _ws(text, i)
        if text[i : i + 1] != ":":
            raise ProtocolError(f"not valid JSON: expected ':' at offset {i}")
        i = _ws(text, i + 1)
        try:
            value, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"not valid JSON: {exc}", f"$.{key}") from None
        members[key] = (value, i, end)
        i = _ws(text, end)
        sep = text[i : i + 1]
        if sep == ",":
            i = _ws(text, i + 1)
        elif sep == "}":
            return members, i + 1
        else:
            raise ProtocolError(f"not valid JSON: expected ',' or '}}' at offset {i}")


def _required(members: dict[str, tuple[Any, int, int]], key: str) -> str:
    if key not in members or members[key][0] is None:
        raise ProtocolError("required field is missing", f"$.{key}")
    value = members[key][0]
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {type_name(value)}", f"$.{key}")
    if not value:
        raise ProtocolError("must not be empty", f"$.{key}")
    return value


def _optional(members: dict[str, tuple[Any, int, int]], key: str) -> str | None:
    value = members.get(key, (None, 0, 0))[0]
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {type_name(value)}", f"$.{key}")
    return value


def event_from_members(members: dict[str, tuple[Any, int, int]], text: str) -> EventBridgeEvent:
    """The event of an envelope decoded by :func:`object_members` from ``text``.

    Raises:
        ProtocolError: a required envelope field (``id``, ``detail-type``, ``source``,
            ``detail``) is missing or of the wrong type, or ``detail`` is not a frame (no
            string ``topicName``); the message names the JSON path.
    """
    event_id = _required(members, "id")
    detail_type = _required(members, "detail-type")
    source = _required(members, "source")
    if "detail" not in members:
        raise ProtocolError("required field is missing", "$.detail")
    detail, d0, d1 = members["detail"]
    if not isinstance(detail, dict):
        raise ProtocolError(f"expected an object, got {type_name(detail)}", "$.detail")
    topic = detail.get("topicName")
    if not isinstance(topic, str) or not topic:
        what = "required field is missing" if topic is None else "expected a non-empty string"
        raise ProtocolError(what, "$.detail.topicName")
    m = _SOURCE.fullmatch(source)
    return EventBridgeEvent(
        id=event_id,
        detail_type=detail_type,
        source=source,
        organization_id=m.group(1) if m else None,
        time=_optional(members, "time"),
        account=_optional(members, "account"),
        region=_optional(members, "region"),
        replay_name=_optional(members, "replay-name"),
        detail=text[d0:d1].encode("utf-8"),
        detail_doc=detail,
    )


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"not valid UTF-8 at byte {exc.start}") from None


def parse_envelope(data: str | bytes) -> EventBridgeEvent:
    """Parse one EventBridge event (an SQS message body, a line of a Firehose object).

    Only the envelope is checked here; ``detail`` is a notification frame that
    :func:`diarkit.genesys.parse_frame` parses (and may reject, as it would a WebSocket
    frame). A BOM-free UTF-8 JSON object is expected; whitespace around it is allowed.

    Raises:
        ProtocolError: not JSON, not one object, or a missing or mistyped envelope field;
            the message names the JSON path (``$.detail.topicName``).
    """
    text = _text(data)
    members, end = object_members(text)
    if _ws(text, end) != len(text):
        raise ProtocolError(f"unexpected data after the event at offset {end}")
    return event_from_members(members, text)


def wrap_frame(
    frame: str | bytes,
    *,
    event_id: str,
    organization_id: str,
    time: str,
    account: str = "123456789012",
    region: str = "us-east-1",
    suffix: str = "transcription",
    timestamp: str | None = None,
) -> str:
    """The EventBridge event Genesys Cloud sends for a notification frame (tests, samples).

    ``detail`` is the frame's members plus ``timestamp`` (default: ``time``); the envelope
    members come in EventBridge's order. ``detail-type`` is the frame's topic pattern
    (the conversation id replaced by ``{id}``).

    Raises:
        ProtocolError: ``frame`` is not a JSON object with a ``topicName``.
    """
    text = _text(frame)
    members, end = object_members(text)
    topic = members.get("topicName", (None, 0, 0))[0]
    if not isinstance(topic, str):
        raise ProtocolError("required field is missing", "$.topicName")
    pieces = topic.split(".")
    if len(pieces) >= 4 and pieces[0] == "v2":
        pieces[2] = "{id}"
    close = text.rindex("}", 0, end)
    stamp = json.dumps(timestamp or time)
    sep = "," if members else ""
    detail = f'{text[:close].rstrip()}{sep}"timestamp":{stamp}}}'
    head = {
        "version": "0",
        "id": event_id,
        "detail-type": ".".join(pieces),
        "source": f"{SOURCE_PREFIX}{organization_id}/{suffix}",
        "account": account,
        "time": time,
        "region": region,
        "resources": [],
    }
    return json.dumps(head, separators=(",", ":"))[:-1] + f',"detail":{detail}}}'


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record of a Firehose object that is not an EventBridge event.

    Attributes:
        offset: character offset of the record in the object's text.
        line: 1-based line where it starts.
        reason: what is wrong (JSON path and reason).
        text: the record's text (up to where reading resumed).
    """

    offset: int
    line: int
    reason: str
    text: str


def iter_envelopes(data: str | bytes) -> Iterator[tuple[int, int, EventBridgeEvent | BadRecord]]:
    """Split a Firehose object into events: one per line, concatenated, or mixed.

    Args:
        data: the object's whole text (decompressed).

    Yields:
        ``(offset, line, event or BadRecord)`` in file order: the character offset and
        1-based line where each record starts. After a damaged record, reading resumes
        at the next ``{"version": "0"``, or ``{"`` that starts a line or follows a ``}``.

    Raises:
        ProtocolError: ``data`` is not valid UTF-8.
    """
    text = _text(data)
    n = len(text)
    i = _ws(text, 0)
    line = 1 + text.count("\n", 0, i)
    while i < n:
        item: EventBridgeEvent | BadRecord
        try:
            members, end = object_members(text, i)
        except ProtocolError as exc:  # not JSON: resume at the next envelope
            end = _resume(text, i + 1)
            item = BadRecord(i, line, str(exc), text[i:end].rstrip())
        else:
            try:
                item = event_from_members(members, text)
            except ProtocolError as exc:  # JSON, but not an event
                item = BadRecord(i, line, str(exc), text[i:end])
        yield i, line, item
        nxt = _ws(text, end)
        line += text.count("\n", i, nxt)
        i = nxt


def _resume(text: str, i: int) -> int:
    """The start of the next record after ``i``.

    That is the next ``{"version": "0"`` (EventBridge writes ``version`` first), or the
    next ``{"`` that starts a line or follows a ``}``, whichever comes first.
    """
    best = len(text)
    m = _VERSION_FIRST.search(text, i)
    if m is not None:
        best = m.start()
    for m in _NEXT_ENVELOPE.finditer(text, i, best):
        j = m.start()
        k = j - 1
        while k >= 0 and text[k] in " \t\r":
            k -= 1
        if k < 0 or text[k] in "\n}":
            return j
    return best
