"""Seeded synthetic phone calls and their notification frames (pure: no sockets, no clock).

The public face of ``calls`` (planning who says what, when) and ``frames`` (the exact
wire text, in send order); other modules import from here. ``build_scenario`` plans many
calls across queues and agents; ``render_call`` / ``schedule`` / ``lazy_schedule`` give
their frames; ``iter_frames`` and ``write_jsonl`` stream frames offline, without a server.

All times inside a call are milliseconds from the transcription session start; absolute
times are epoch milliseconds. The same seed always gives the same frames, byte for byte.
"""

from __future__ import annotations

from .calls import (
    CHANNEL_OF_PARTY,
    DEFAULT_EPOCH_MS,
    CallPlan,
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
    "CHANNEL_OF_PARTY",
    "DEFAULT_EPOCH_MS",
    "ENGINE",
    "STATUS_PERIOD_MS",
    "CallPlan",
    "LazyFrame",
    "Scenario",
    "ScheduledFrame",
    "SpokenUtterance",
    "build_scenario",
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
