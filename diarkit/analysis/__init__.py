"""Pure pandas analysis: finality, confidence filtering, turns, statistics, exports, DER.

Every function takes and returns tables that follow ``diarkit.schema`` contracts (or
returns export text); nothing here reads or writes files, and nothing imports
matplotlib, httpx, websocket-client or pyarrow's Parquet/dataset modules.
"""

from __future__ import annotations

from diarkit.analysis.confidence import PRESETS, ConfidenceRule, Filtered, filter_confidence
from diarkit.analysis.conversation import (
    ConversationModel,
    Reconciled,
    attribute,
    build_model,
    by_party,
    one_timeline,
    reconcile,
)
from diarkit.analysis.der import DiarizationError, diarization_error
from diarkit.analysis.exports import (
    FORMATS,
    export_segments,
    parse_rttm,
    to_ctm,
    to_json,
    to_rttm,
    to_srt,
    to_textgrid,
    to_webvtt,
)
from diarkit.analysis.finality import Finalized, finalize
from diarkit.analysis.fleet import fleet_by, fleet_stats, with_queues
from diarkit.analysis.profiles import PROFILES, Profile, get_profile
from diarkit.analysis.stats import talk_stats
from diarkit.analysis.turns import turns

__all__ = [
    "FORMATS",
    "PRESETS",
    "PROFILES",
    "ConfidenceRule",
    "ConversationModel",
    "DiarizationError",
    "Filtered",
    "Finalized",
    "Profile",
    "Reconciled",
    "attribute",
    "build_model",
    "by_party",
    "diarization_error",
    "export_segments",
    "filter_confidence",
    "finalize",
    "fleet_by",
    "fleet_stats",
    "get_profile",
    "one_timeline",
    "parse_rttm",
    "reconcile",
    "talk_stats",
    "to_ctm",
    "to_json",
    "to_rttm",
    "to_srt",
    "to_textgrid",
    "to_webvtt",
    "turns",
    "with_queues",
]
