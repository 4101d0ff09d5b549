"""Seeded synthetic phone calls and their notification frames (pure: no sockets, no clock).

The public face of ``calls`` (planning who says what, when) and ``frames`` (the exact
wire text, in send order); other modules import from here. ``build_scenario`` plans many
calls (of the kinds in ``CALL_KINDS``) across queues and agents; ``render_call`` /
``schedule`` / ``lazy_schedule`` give their frames; ``iter_frames`` and ``write_jsonl``
stream frames offline, without a server.

All times inside a call are milliseconds from the transcription session start; absolute
times are epoch milliseconds. The same seed always gives the same frames, byte for byte.
"""

from __future__ import annotations

from .calls import (
    CALL_FEATURES,
    CALL_KINDS,
    CHANNEL_OF_PARTY,
    DEFAULT_EPOCH_MS,
    GROUPINGS,
    CallPlan,
    PlannedParticipant,
    Scenario,
    SpokenUtterance,
    build_scenario,
    decorate,
    iso_ms,
    new_uuid,
    plan_call,
)
from .frames import (
    ENGINE,
    STATUS_PERIOD_MS,
    LazyFrame,
    ScheduledFrame,
    conversation_events,
    frame_text,
    iter_frames,
    iter_scheduled,
    lazy_schedule,
    materialize,
    render_call,
    schedule,
    write_jsonl,
)

__all__ = [
    "CALL_FEATURES",
    "CALL_KINDS",
    "CHANNEL_OF_PARTY",
    "DEFAULT_EPOCH_MS",
    "ENGINE",
    "GROUPINGS",
    "STATUS_PERIOD_MS",
    "CallPlan",
    "LazyFrame",
    "PlannedParticipant",
    "Scenario",
    "ScheduledFrame",
    "SpokenUtterance",
    "build_scenario",
    "conversation_events",
    "decorate",
    "frame_text",
    "iso_ms",
    "iter_frames",
    "iter_scheduled",
    "lazy_schedule",
    "materialize",
    "new_uuid",
    "plan_call",
    "render_call",
    "schedule",
    "write_jsonl",
]
