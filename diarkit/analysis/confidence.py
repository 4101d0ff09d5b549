"""Confidence filtering with an audit table of every dropped row (confidence is 0-1)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.schema import SEGMENTS, validate

#: Reasons a row can be dropped, in the order they are checked (the first one is `reason`).
REASONS = ("partial", "empty_speaker", "empty_text", "missing_confidence", "low_confidence")


@dataclass(frozen=True, slots=True)
class ConfidenceRule:
    """What :func:`filter_confidence` drops.

    Attributes:
        min_confidence: rows with ``confidence < min_confidence`` (0-1) are dropped.
        drop_partial: drop rows whose ``is_final`` is false.
        drop_empty_speaker: drop rows whose speaker is missing or blank.
        drop_empty_text: drop rows whose text is missing or blank.
        drop_missing_confidence: drop rows whose confidence is NaN (kept by default: an
            unknown confidence is not a low one).
    """

    min_confidence: float = 0.5  # the default analysis profile's (profiles.Profile)
    drop_partial: bool = True
    drop_empty_speaker: bool = True
    drop_empty_text: bool = True
    drop_missing_confidence: bool = False


#: Presets: ``default`` (0.5 as the default analysis profile, every check) and
#: ``tutorial`` — the tutorial's audit rule:
#: drop confidence < 0.5 or an empty speaker, nothing else.
PRESETS: dict[str, ConfidenceRule] = {
    "default": ConfidenceRule(),
    "tutorial": ConfidenceRule(min_confidence=0.5, drop_partial=False, drop_empty_text=False),
}


class Filtered(NamedTuple):
    """Result of :func:`filter_confidence`: kept rows and the audit of dropped rows."""

    kept: pd.DataFrame
    audit: pd.DataFrame

    def __repr__(self) -> str:
        from .display import counts_text, rows_text

        reasons = counts_text(self.audit["reason"]) if "reason" in self.audit.columns else ""
        return (f"Filtered(kept: {rows_text(self.kept)}; audit: {len(self.audit):,} rows"
                + (f" ({reasons})" if reasons else "") + ")")

    def _repr_html_(self) -> str:
        from .display import counts_text, preview_html, rows_text, summary_html

        facts = {"kept": rows_text(self.kept), "dropped (audit)": rows_text(self.audit)}
        if "reason" in self.audit.columns and len(self.audit):
            facts["reasons"] = counts_text(self.audit["reason"])
        cols = ["conversation_id", "speaker", "start_s", "end_s", "confidence", "text"]
        return summary_html("Filtered", facts, {
            "kept": preview_html(self.kept, cols),
            "audit": preview_html(self.audit, ["reason", *cols]),
        })


def _blank_strings(arr: pa.Array) -> np.ndarray:
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0)
    out: np.ndarray = pc.fill_null(empty, True).to_numpy(zero_copy_only=False)
    return out


def _blank(series: pd.Series) -> np.ndarray:
    """True where a label or text is missing or only whitespace (per category if any)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = pa.array(series.cat.categories.astype("string"), type=pa.string())
        per_code = np.append(_blank_strings(cats), True)  # code -1 (missing) is blank
        out: np.ndarray = per_code[series.cat.codes.to_numpy()]
        return out
    arr = pa.array(series.astype("string"), type=pa.string(), from_pandas=True)
    return _blank_strings(arr)


def filter_confidence(
    segments: pd.DataFrame,
    min_confidence: float | None = None,
    *,
    preset: str = "default",
    **overrides: bool,
) -> Filtered:
    """Drop low-confidence (0-1 scale), partial, speakerless and empty rows, with an audit.

    Args:
        segments: a table following ``diarkit.schema.SEGMENTS``.
        min_confidence: rows with ``confidence < min_confidence`` are dropped; default
            0.5, the default analysis profile's (``preset="tutorial"``: 0.5 too). A
            confidence equal to it is kept.
        preset: ``"default"`` or ``"tutorial"`` (see ``PRESETS``).
        **overrides: any boolean field of :class:`ConfidenceRule` (``drop_partial``,
            ``drop_empty_speaker``, ``drop_empty_text``, ``drop_missing_confidence``).

    Returns:
        ``Filtered(kept, audit)``. ``audit`` holds every dropped row, unchanged, plus
        ``reason`` (categorical: the first of ``REASONS`` that applies) and ``reasons`` (all
        that apply, comma-separated). ``len(kept) + len(audit) == len(segments)``.

    Raises:
        SchemaError: when the input does not follow the segments contract.
        ValueError: for an unknown preset or override, or a threshold outside 0-1.
    """
    validate(segments, SEGMENTS, where="filter_confidence()")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    rule = PRESETS[preset]
    try:
        rule = replace(rule, **overrides)
    except TypeError as exc:
        raise ValueError(f"filter_confidence(): {exc}") from None
    if min_confidence is not None:
        rule = replace(rule, min_confidence=float(min_confidence))
    if not 0.0 <= rule.min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within 0-1, got {rule.min_confidence}")

    conf = segments["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    n = len(segments)
    no = np.zeros(n, dtype=bool)
    masks = {
        "partial": ~segments["is_final"].to_numpy(dtype=bool, na_value=False)
        if rule.drop_partial
        else no,
        "empty_speaker": _blank(segments["speaker"]) if rule.drop_empty_speaker else no,
        "empty_text": _blank(segments["text"]) if rule.drop_empty_text else no,
        "missing_confidence": np.isnan(conf) if rule.drop_missing_confidence else no,
        "low_confidence": conf < rule.min_confidence,  # NaN compares False: kept
    }
    stacked = np.column_stack([masks[r] for r in REASONS]) if n else np.zeros((0, 5), bool)
    dropped = stacked.any(axis=1)
    audit = segments[dropped].copy()
    hits = stacked[dropped]
    # each combination of reasons is a bit pattern; its label is built once, not per row
    bits = hits.astype(np.int64) @ (1 << np.arange(len(REASONS), dtype=np.int64))
    lowest = np.array([0] + [(c & -c).bit_length() - 1 for c in range(1, 32)])
    every = [",".join(r for i, r in enumerate(REASONS) if c >> i & 1) for c in range(32)]
    audit["reason"] = pd.Categorical.from_codes(lowest[bits], categories=list(REASONS))
    audit["reasons"] = pd.Categorical.from_codes(bits, categories=every)
    kept = segments[~dropped]
    validate(kept, SEGMENTS, where="filter_confidence() output")
    return Filtered(kept, audit)
