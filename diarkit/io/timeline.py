"""Write the reconciled, attributed timeline of a dataset as plain Parquet (for SQL tools).

``timeline/timeline.parquet`` holds what every diarkit metric reads: one row per final
utterance after :func:`diarkit.analysis.conversation.one_timeline` (partials finalized,
repeated finals once, blank finals dropped, live/back-filled/imported sources merged) with
its ``source``, ``party``, ``participant_id``, ``user_id``, ``attribution`` and
``conference_user_ids`` (:func:`diarkit.analysis.conversation.attribute`: conference
speech is the ``conference`` participant's, user id null), times in seconds on the session clock.
DuckDB, Polars or Spark then sum it without counting a call twice. It is derived data:
rewrite it after new captures (``write_timeline`` replaces it atomically).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from .dataset import write_table_atomic
from .load import load_conversation_model, load_segments

TIMELINE_DIR = "timeline"
#: Columns of the timeline table (seconds; ids as strings).
TIMELINE_COLUMNS = (
    "conversation_id",
    "communication_id",
    "utterance_id",
    "channel",
    "speaker",
    "party",
    "participant_id",
    "user_id",
    "attribution",
    "conference_user_ids",
    "source",
    "confidence",
    "start_s",
    "end_s",
    "start_at",
    "text",
    "word_count",
)


def timeline(path: str | Path, profile: str | None = None) -> pd.DataFrame:
    """The reconciled, attributed final segments of a dataset (``TIMELINE_COLUMNS``)."""
    from diarkit.analysis.conversation import attribute, one_timeline
    from diarkit.analysis.profiles import get_profile

    segments = one_timeline(load_segments(path), get_profile(profile), where="timeline()")
    model = load_conversation_model(path)
    out = attribute(segments, model.phases)
    return out[list(TIMELINE_COLUMNS)].reset_index(drop=True)


def write_timeline(path: str | Path, profile: str | None = None) -> Path:
    """Write :func:`timeline` to ``<dataset>/timeline/timeline.parquet`` (atomic replace).

    Returns:
        The path written.
    """
    root = Path(path)
    frame = timeline(root, profile)
    for col in ("conversation_id", "communication_id", "channel", "speaker", "party",
                "participant_id", "user_id", "attribution", "conference_user_ids", "source"):
        frame[col] = frame[col].astype("string")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return write_table_atomic(table, root / TIMELINE_DIR / "timeline.parquet")
