"""Finality: reduce utterance versions to one row per utterance (times untouched, seconds)."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from diarkit.schema import SEGMENTS, validate

#: Utterance key when the utterance id is known (Genesys notifications).
UTTERANCE_KEY = ("conversation_id", "communication_id", "utterance_id")
#: Utterance key of the tutorial format, which has no utterance id.
TUTORIAL_KEY = ("conversation_id", "speaker", "start_s")


class Finalized(NamedTuple):
    """Result of :func:`finalize`: the kept utterances and those that never became final."""

    segments: pd.DataFrame
    unfinished: pd.DataFrame

    def __repr__(self) -> str:
        from .display import rows_text

        return (f"Finalized(segments: {rows_text(self.segments)}; "
                f"unfinished: {rows_text(self.unfinished)})")

    def _repr_html_(self) -> str:
        from .display import preview_html, rows_text, summary_html

        cols = ["conversation_id", "speaker", "start_s", "end_s", "confidence", "text"]
        return summary_html(
            "Finalized",
            {"segments (latest final version of each utterance)": rows_text(self.segments),
             "unfinished (never became final)": rows_text(self.unfinished)},
            {"segments": preview_html(self.segments, cols),
             "unfinished": preview_html(self.unfinished, cols)},
        )

    def _repr_png_(self) -> bytes | None:
        from .display import png_of

        return png_of(self.segments)


def _latest(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    # final versions sort after partial ones, then by order received: the last row of each
    # key is the latest final version if any, else the latest partial one
    ranked = df.sort_values(["is_final", "order"], kind="stable")
    return ranked.drop_duplicates(subset=key, keep="last")


def finalize(segments: pd.DataFrame, keep_partial: bool = False) -> Finalized:
    """One row per utterance: its latest final version by order received (times in seconds).

    An utterance is keyed by (``conversation_id``, ``communication_id``, ``utterance_id``);
    rows without an utterance id (the tutorial format) are keyed by (``conversation_id``,
    ``speaker``, ``start_s``). Later versions supersede earlier ones (``order`` column); a
    final version always wins over a partial one, even a later partial one.

    Args:
        segments: a table following ``diarkit.schema.SEGMENTS`` (any mix of versions).
        keep_partial: also keep, in ``segments``, the latest version of utterances that
            never became final (they are still listed in ``unfinished``).

    Returns:
        ``Finalized(segments, unfinished)``: ``segments`` sorted by conversation, start and
        order with a fresh index; ``unfinished`` holds the latest version of every
        utterance that has no final version, so nothing is dropped silently.

    Raises:
        SchemaError: when the input does not follow the segments contract.
    """
    validate(segments, SEGMENTS, where="finalize()")
    has_id = segments["utterance_id"].notna().to_numpy()
    parts = []
    if has_id.any():
        parts.append(_latest(segments[has_id], list(UTTERANCE_KEY)))
    if (~has_id).any():
        parts.append(_latest(segments[~has_id], list(TUTORIAL_KEY)))
    latest = pd.concat(parts) if len(parts) > 1 else (parts[0] if parts else segments)
    latest = latest.sort_values(["conversation_id", "start_s", "order"], kind="stable")
    final = latest["is_final"].to_numpy(dtype=bool, na_value=False)
    kept = latest if keep_partial else latest[final]
    unfinished = latest[~final]
    out = Finalized(kept.reset_index(drop=True), unfinished.reset_index(drop=True))
    validate(out.segments, SEGMENTS, where="finalize() output")
    return out
