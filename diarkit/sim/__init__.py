"""The embedded Genesys Cloud simulator: the real wire protocol on 127.0.0.1.

``Simulator`` serves OAuth, the notifications REST API and WebSocket channels, streams
seeded synthetic calls and injects faults on demand. ``iter_frames`` / ``write_jsonl``
generate the same notification frames offline, without a server (importing them does
not import aiohttp).
"""

import importlib
from typing import TYPE_CHECKING, Any

from .faults import FAULT_KINDS, Faults, PlannedFault, parse_fault_spec
from .generator import (
    DEFAULT_EPOCH_MS,
    CallPlan,
    LazyFrame,
    Scenario,
    ScheduledFrame,
    SpokenUtterance,
    build_scenario,
    frame_text,
    iter_frames,
    iter_scheduled,
    lazy_schedule,
    materialize,
    render_call,
    schedule,
    write_jsonl,
)
from .ground_truth import (
    participant_intervals,
    phases,
    post_call_transcript,
    rttm_lines,
    speech_by_participant,
    talk_time_by_participant,
    write_rttm,
)
from .ledger import FaultLog, FaultRecord, Ledger, LedgerEntry

if TYPE_CHECKING:
    from .server import DEFAULT_PERMISSIONS, TRANSCRIPTION_PERMISSION
    from .simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FirehoseResult, Simulator

#: Names served lazily so that the offline generator does not import aiohttp.
_LAZY = {
    "DEFAULT_PERMISSIONS": "server",
    "TRANSCRIPTION_PERMISSION": "server",
    "DEFAULT_CLIENT_ID": "simulator",
    "DEFAULT_CLIENT_SECRET": "simulator",
    "FirehoseResult": "simulator",
    "Simulator": "simulator",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diarkit.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_EPOCH_MS",
    "DEFAULT_PERMISSIONS",
    "FAULT_KINDS",
    "TRANSCRIPTION_PERMISSION",
    "CallPlan",
    "FaultLog",
    "FaultRecord",
    "Faults",
    "FirehoseResult",
    "LazyFrame",
    "Ledger",
    "LedgerEntry",
    "PlannedFault",
    "Scenario",
    "ScheduledFrame",
    "Simulator",
    "SpokenUtterance",
    "build_scenario",
    "frame_text",
    "iter_frames",
    "iter_scheduled",
    "lazy_schedule",
    "materialize",
    "parse_fault_spec",
    "participant_intervals",
    "phases",
    "post_call_transcript",
    "render_call",
    "rttm_lines",
    "schedule",
    "speech_by_participant",
    "talk_time_by_participant",
    "write_jsonl",
    "write_rttm",
]
