"""Build analysis test tables from the column contracts (diarkit.schema)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from diarkit.schema import SEGMENTS, SPEAKER_BY_CHANNEL

_CHANNEL_BY_SPEAKER = {v: k for k, v in SPEAKER_BY_CHANNEL.items()}


def segments(rows: Iterable[Mapping[str, Any]], words: bool = False) -> pd.DataFrame:
    """A SEGMENTS table: each row gives what it needs; the rest gets plain defaults.

    Defaults: conversation ``c1``, final, confidence 0.9, one word per row, ``order`` and
    ``seq`` = position, utterance id ``u<position>``.
    """
    schema = SEGMENTS.arrow_schema(include_optional=words)
    full = []
    for i, row in enumerate(rows):
        speaker = row.get("speaker", "agent")
        base = {
            "conversation_id": "c1",
            "communication_id": f"m-{speaker}",
            "utterance_id": f"u{i}",
            "channel": _CHANNEL_BY_SPEAKER.get(speaker, "UNKNOWN") if speaker else None,
            "speaker": speaker,
            "is_final": True,
            "confidence": 0.9,
            "text": f"w{i}",
            "word_count": 1,
            "session_id": "s1",
            "seq": i,
            "order": i,
        }
        base.update(row)
        full.append({name: base.get(name) for name in schema.names})
    return pa.Table.from_pylist(full, schema=schema).to_pandas()


def intervals(spec: Mapping[str, Iterable[tuple[float, float]]], conversation: str = "c1"):
    """A SEGMENTS table from ``{speaker: [(start_s, end_s), ...]}``."""
    rows = [
        {"conversation_id": conversation, "speaker": spk, "start_s": s, "end_s": e}
        for spk, spans in spec.items()
        for s, e in spans
    ]
    return segments(rows)
