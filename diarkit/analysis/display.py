"""Compact text and HTML views of analysis results, for notebooks and the REPL.

Result objects (``Finalized``, ``Filtered``, ``DiarizationError``) print as a few lines
and render as a small HTML summary instead of dumping whole tables. Pure: no matplotlib
here; ``png_of`` imports ``diarkit.plot`` lazily when a notebook asks for a picture.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

#: Rows of a table shown in an HTML view.
PREVIEW_ROWS = 5


def rows_text(frame: pd.DataFrame) -> str:
    """``"N rows, M conversations"`` (conversations only when the column exists)."""
    text = f"{len(frame):,} rows"
    if "conversation_id" in frame.columns:
        text += f", {frame['conversation_id'].nunique():,} conversations"
    return text


def counts_text(values: pd.Series, limit: int = 4) -> str:
    """``"a 3, b 1"``: the most common values and their counts."""
    counts = values.astype("string").fillna("<NA>").value_counts()
    shown = ", ".join(f"{k} {v:,}" for k, v in counts.iloc[:limit].items())
    return shown + (f", +{len(counts) - limit} more" if len(counts) > limit else "")


def preview_html(frame: pd.DataFrame, columns: Sequence[str], rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` rows of ``columns`` (those present) as a small HTML table."""
    cols = [c for c in columns if c in frame.columns]
    head = frame[cols].head(rows)
    body = head.to_html(index=False, max_cols=len(cols), float_format=lambda v: f"{v:.3g}",
                        border=0, escape=True)
    more = len(frame) - len(head)
    tail = f"<div style='color:#666;font-size:11px'>+{more:,} more rows</div>" if more > 0 else ""
    return f"<div style='font-size:12px'>{body}{tail}</div>"


def summary_html(title: str, facts: Mapping[str, str], tables: Mapping[str, str]) -> str:
    """A titled list of facts, followed by named HTML previews."""
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                    for k, v in facts.items())
    blocks = "".join(f"<details><summary>{html.escape(k)}</summary>{v}</details>"
                     for k, v in tables.items())
    return (f"<div><b>{html.escape(title)}</b><ul style='margin:2px 0'>{items}</ul>"
            f"{blocks}</div>")


def png_of(segments: pd.DataFrame) -> bytes | None:
    """A small PNG timeline of the first conversation of ``segments`` (None when empty).

    Drawing lives in ``diarkit.plot``; it is imported only when a notebook asks.
    """
    if segments.empty or not {"conversation_id", "speaker", "start_s", "end_s"} <= set(
            segments.columns):
        return None
    from diarkit.plot import timeline_png

    first = str(segments["conversation_id"].astype("string").iloc[0])
    return timeline_png(segments, first)


__all__ = ["counts_text", "png_of", "preview_html", "rows_text", "summary_html"]
