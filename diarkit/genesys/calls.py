"""Typed participants of ``.calls`` event bodies (pure; times are ISO-8601 parsed to UTC).

The body of ``v2.routing.queues.{id}.conversations.calls`` and
``v2.users.{id}.conversations.calls`` is the whole conversation as it is now (SDK model
``QueueConversationCallEventTopicCallConversation``); each participant follows
``QueueConversationCallEventTopicCallMediaParticipant`` (``docs/call-events.md``):
``user``/``queue`` objects, a flat ``state``, ``held``/``startHoldTime``,
``startAcwTime``/``endAcwTime``, ``wrapup``, ``securePause``, ``consultParticipantId``.

The older shape of the generic ``conversations`` topic (flat ``userId``/``queueId`` and a
``calls[]`` list per participant holding ``state``/``held``/``connectedTime``) is accepted
too: fields missing at the top level are taken from the participant's last call leg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import ProtocolError
from .fields import JSON, array, boolean, number, obj, required_string, string


@dataclass(frozen=True, slots=True)
class CallParticipant:
    """One participant of a call event; times are timezone-aware UTC datetimes or None."""

    id: str | None
    purpose: str | None
    state: str | None
    name: str | None = None
    address: str | None = None
    direction: str | None = None
    start_time: datetime | None = None
    connected_time: datetime | None = None
    end_time: datetime | None = None
    disconnect_type: str | None = None
    held: bool = False
    start_hold_time: datetime | None = None
    user_id: str | None = None
    user_name: str | None = None
    queue_id: str | None = None
    queue_name: str | None = None
    wrapup_required: bool | None = None
    wrapup_code: str | None = None
    wrapup_name: str | None = None
    wrapup_duration_s: float | None = None
    wrapup_end_time: datetime | None = None
    start_acw_time: datetime | None = None
    end_acw_time: datetime | None = None
    secure_pause: bool = False
    ani: str | None = None
    dnis: str | None = None
    consult_participant_id: str | None = None
    transfer_source: str | None = None

    @property
    def disconnected(self) -> bool:
        """True once the participant has left (an end time, or a terminal state)."""
        return self.end_time is not None or (self.state or "").lower() in (
            "disconnected",
            "terminated",
        )

    def latest_time(self) -> datetime | None:
        """The latest timestamp this participant carries (None when it has none)."""
        times = [
            t
            for t in (
                self.start_time,
                self.connected_time,
                self.end_time,
                self.start_hold_time,
                self.start_acw_time,
                self.end_acw_time,
                self.wrapup_end_time,
            )
            if t is not None
        ]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """A ``.calls`` event body: the conversation and its participants as they are now."""

    conversation_id: str
    participants: tuple[CallParticipant, ...]
    secure_pause: bool = False
    recording_state: str | None = None
    address: str | None = None

    def latest_time(self) -> datetime | None:
        """The latest timestamp any participant carries (None when there is none)."""
        times = [t for p in self.participants if (t := p.latest_time()) is not None]
        return max(times) if times else None


def parse_time(value: Any, path: str) -> datetime | None:
    """An ISO-8601 timestamp (``Z`` or an offset) as a UTC datetime; None stays None.

    Raises:
        ProtocolError: when the value is not a string or not ISO-8601, naming ``path``.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"expected an ISO-8601 string, got {type(value).__name__}", path)
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(f"not an ISO-8601 time: {value!r}", path) from None
    if ts.tzinfo is None:
        raise ProtocolError(f"time without a time zone: {value!r}", path)
    return ts.astimezone(UTC)


def _time(o: JSON, key: str, path: str) -> datetime | None:
    return parse_time(o.get(key), f"{path}.{key}")


def _ref(o: JSON, key: str, flat: str, path: str) -> tuple[str | None, str | None]:
    """(id, name) of a ``{id, name}`` object, or the old flat ``userId``/``queueId``."""
    raw = o.get(key)
    if raw is not None:
        ref = obj(raw, f"{path}.{key}")
        return string(ref, "id", f"{path}.{key}"), string(ref, "name", f"{path}.{key}")
    return string(o, flat, path), None


def parse_participant(raw: Any, path: str) -> CallParticipant:
    """One participant of a ``.calls`` body (new SDK shape, or the old ``calls[]`` one).

    Raises:
        ProtocolError: a field of the wrong type or a bad time, naming its JSON path.
    """
    part = obj(raw, path)
    leg: JSON = {}
    legs = array(part, "calls", path)
    if legs:  # older generic-topic shape: per-leg state, held and times
        leg = obj(legs[-1], f"{path}.calls[{len(legs) - 1}]")
    leg_path = f"{path}.calls[{len(legs) - 1}]"

    def pick_str(key: str) -> str | None:
        value = string(part, key, path)
        return value if value is not None or not leg else string(leg, key, leg_path)

    def pick_time(key: str) -> datetime | None:
        value = _time(part, key, path)
        return value if value is not None or not leg else _time(leg, key, leg_path)

    held = boolean(part, "held", path)
    if held is None and leg:
        held = boolean(leg, "held", leg_path)
    secure = boolean(part, "securePause", path)
    if secure is None and leg:
        secure = boolean(leg, "securePause", leg_path)
    user_id, user_name = _ref(part, "user", "userId", path)
    queue_id, queue_name = _ref(part, "queue", "queueId", path)
    wrapup_code = wrapup_name = None
    wrapup_duration = None
    wrapup_end = None
    if part.get("wrapup") is not None:
        wp = f"{path}.wrapup"
        wrap = obj(part["wrapup"], wp)
        wrapup_code = string(wrap, "code", wp)
        wrapup_name = string(wrap, "name", wp)
        wrapup_duration = number(wrap, "durationSeconds", wp)
        wrapup_end = _time(wrap, "endTime", wp)
    return CallParticipant(
        id=string(part, "id", path),
        purpose=string(part, "purpose", path),
        state=pick_str("state"),
        name=string(part, "name", path),
        address=string(part, "address", path),
        direction=pick_str("direction"),
        start_time=pick_time("startTime"),
        connected_time=pick_time("connectedTime"),
        end_time=pick_time("endTime"),
        disconnect_type=pick_str("disconnectType"),
        held=bool(held),
        start_hold_time=pick_time("startHoldTime"),
        user_id=user_id,
        user_name=user_name,
        queue_id=queue_id,
        queue_name=queue_name,
        wrapup_required=boolean(part, "wrapupRequired", path),
        wrapup_code=wrapup_code,
        wrapup_name=wrapup_name,
        wrapup_duration_s=wrapup_duration,
        wrapup_end_time=wrapup_end,
        start_acw_time=_time(part, "startAcwTime", path),
        end_acw_time=_time(part, "endAcwTime", path),
        secure_pause=bool(secure),
        ani=string(part, "ani", path),
        dnis=string(part, "dnis", path),
        consult_participant_id=string(part, "consultParticipantId", path),
        transfer_source=string(part, "transferSource", path),
    )


def parse_call_body(body: Any, path: str = "$.eventBody") -> CallSnapshot:
    """Parse a ``.calls`` event body into a :class:`CallSnapshot`.

    Raises:
        ProtocolError: a missing ``id`` or a field of the wrong type, with its JSON path.
    """
    o = obj(body, path)
    participants = tuple(
        parse_participant(raw, f"{path}.participants[{i}]")
        for i, raw in enumerate(array(o, "participants", path))
    )
    return CallSnapshot(
        conversation_id=required_string(o, "id", path),
        participants=participants,
        secure_pause=bool(boolean(o, "securePause", path)),
        recording_state=string(o, "recordingState", path),
        address=string(o, "address", path),
    )
