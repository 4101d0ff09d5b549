"""Pure pandas analysis: finality, confidence filtering, turns, statistics, exports, DER.

Every function takes and returns tables that follow ``diarkit.schema`` contracts (or
returns export text); nothing here reads or writes files, and nothing imports
matplotlib, httpx, websocket-client or pyarrow's Parquet/dataset modules.
"""

from __future__ import annotations

from diarkit.analysis.confidence import PRESETS, ConfidenceRule, Filtered, filter_confidence
from diarkit.analysis.finality import Finalized, finalize
from diarkit.analysis.stats import talk_stats
from diarkit.analysis.turns import turns

__all__ = [
    "PRESETS",
    "ConfidenceRule",
    "Filtered",
    "Finalized",
    "filter_confidence",
    "finalize",
    "talk_stats",
    "turns",
]
