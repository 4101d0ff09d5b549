"""Segments from other tools: the four columns talk-time maths needs, completed to SEGMENTS.

``talk_stats`` takes a table with only ``conversation_id``, ``speaker``, ``start_s`` and
``end_s`` (seconds; optionally ``text`` and ``confidence``), e.g. ``parse_rttm`` output,
``diarkit.interop.from_pyannote`` rows or another diarization tool's export. Each row is
taken as one final utterance: the plumbing columns of ``SEGMENTS`` (capture session,
sequence, receive time, ...) are filled with nulls or row numbers, nothing is invented
that a metric reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Text of rows from a table without text: speech, words unknown (never exported).
UNKNOWN_TEXT = "\u2026"

#: The columns a minimal segments table must have.
MINIMAL_COLUMNS = ("conversation_id", "speaker", "start_s", "end_s")


def is_minimal(df: object) -> bool:
    """True for a DataFrame with the minimal columns and without ``is_final`` (not SEGMENTS)."""
    return (isinstance(df, pd.DataFrame) and all(c in df.columns for c in MINIMAL_COLUMNS)
            and "is_final" not in df.columns and "turn_index" not in df.columns)


def complete_segments(df: pd.DataFrame) -> pd.DataFrame:
    """A minimal table completed to the ``SEGMENTS`` contract: one final utterance per row.

    Without ``text``, rows are speech with unknown words (``word_count`` 0); with it, a
    blank text means nothing was said, as in SEGMENTS. ``confidence`` defaults to NaN,
    ``channel`` to ``UNKNOWN``; ids of the call leg, utterance and session are null;
    ``seq``/``order`` number the rows. Columns the table already has are kept.
    """
    n = len(df)
    if "text" in df.columns:
        text = df["text"].astype("string")
        words = text.str.split().str.len().fillna(0).astype("int32")
    else:
        # No text at all (RTTM, pyannote): every row is speech whose words are unknown.
        # A blank text would mean "the recogniser heard nothing" (not speech), so the
        # rows carry UNKNOWN_TEXT and no words; the table never leaves talk_stats.
        text = pd.Series([UNKNOWN_TEXT] * n, index=df.index, dtype="string")
        words = pd.Series(np.zeros(n, dtype="int32"), index=df.index)
    out = pd.DataFrame(
        {
            "conversation_id": df["conversation_id"].astype("string").astype("category"),
            "communication_id": pd.Categorical([None] * n),
            "utterance_id": pd.Series([pd.NA] * n, index=df.index, dtype="string"),
            "channel": pd.Categorical(["UNKNOWN"] * n),
            "speaker": df["speaker"].astype("string").astype("category"),
            "is_final": np.ones(n, dtype=bool),
            "confidence": (df["confidence"].astype("float64") if "confidence" in df.columns
                           else np.full(n, np.nan)),
            "start_s": df["start_s"].astype("float64"),
            "end_s": df["end_s"].astype("float64"),
            "start_at": pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]"),
            "text": text,
            "word_count": words,
            "session_id": pd.Categorical([None] * n),
            "seq": np.arange(n, dtype="int64"),
            "received_at": pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]"),
            "order": np.arange(n, dtype="int64"),
        },
        index=df.index,
    )
    extra = [c for c in df.columns if c not in out.columns]
    return pd.concat([out, df[extra]], axis=1).reset_index(drop=True)


__all__ = ["MINIMAL_COLUMNS", "UNKNOWN_TEXT", "complete_segments", "is_minimal"]
