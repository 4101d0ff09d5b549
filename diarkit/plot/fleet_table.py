"""The per-call table behind the fleet figures: which column is which metric, and outliers.

Pure pandas (no matplotlib): long per-speaker ``STATS`` rows (or per-conversation rows)
are reduced to one row per conversation with the shares of the call derived where the
inputs allow, each ``FLEET_METRICS`` key is resolved to the column that feeds it (with
its label and unit), and ``tukey_outliers`` names the calls outside Tukey's fences. The
fleet plots and the report's outlier flags use these same rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import _duration_column, _require, _require_table

#: Fleet metrics: key -> (candidate column names, axis label, is a 0-1 share).
FLEET_METRICS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "talk_ratio": (
        ("agent_talk_ratio", "agent_talk_share", "talk_ratio", "agent_share", "agent_ratio"),
        "agent talk ratio (agent / all speech)", True,
    ),
    "overtalk": (
        ("overtalk_share", "overtalk_ratio", "call_overtalk_s", "overtalk_s"),
        "overtalk (share of call)", True,
    ),
    "silence": (
        ("silence_share", "silence_ratio", "call_silence_s", "silence_s"),
        "silence (share of call)", True,
    ),
    "interruptions": (
        ("interruptions_per_min", "interruptions", "interruption_count", "n_interruptions"),
        "interruptions", False,
    ),
}


def _fleet_table(stats: pd.DataFrame, speaker: str = "agent",
                 where: str = "plot_fleet") -> pd.DataFrame:
    """One row per conversation, with derived shares of the call where the inputs allow.

    Wide per-conversation stats are used as given; long per-speaker ``STATS`` rows are
    reduced: ``call_*`` columns (the same on every row of a call) are taken once,
    ``interruptions`` summed over speakers, the agent talk ratio taken from the agent
    row's ``talk_share_speech`` (or computed from ``talk_time_s``), and every other
    numeric per-speaker column (``words_per_minute``, ``talk_share_call``, ...) taken
    from the row of ``speaker``.
    """
    stats = _require_table(stats, where, "diarkit.talk_stats(segments)")
    _require(stats, ["conversation_id"], where)
    frame = stats.assign(conversation_id=stats["conversation_id"].astype("string"))
    if "speaker" not in frame.columns:
        table = frame.drop_duplicates("conversation_id").set_index("conversation_id")
    else:
        by = frame.groupby("conversation_id", observed=True, sort=False)
        numeric = frame.select_dtypes("number").columns
        call_cols = [c for c in numeric if c.startswith("call_") or c == "duration_s"]
        table = by[call_cols].max() if call_cols else pd.DataFrame(index=by.size().index)
        if "interruptions" in frame.columns:
            table["interruptions"] = by["interruptions"].sum()
        agent = frame[frame["speaker"].astype("string") == "agent"]
        own = frame[frame["speaker"].astype("string") == speaker]
        per_speaker = [c for c in numeric if c not in call_cols and c not in table.columns]
        if per_speaker:
            mine = own.groupby("conversation_id", observed=True)[per_speaker].sum(min_count=1)
            for col in per_speaker:
                table[col] = mine[col].reindex(table.index)
        if "talk_time_s" in frame.columns:
            talk = by["talk_time_s"].sum()
            agent_talk = agent.groupby("conversation_id", observed=True)["talk_time_s"].sum()
            table["agent_talk_ratio"] = (
                agent_talk.reindex(talk.index).fillna(0.0) / talk.replace(0, np.nan)
            ).reindex(table.index)
    duration = _duration_column(table)
    if duration is not None:
        dur = table[duration].astype(float).replace(0, np.nan)
        for what in ("overtalk", "silence"):
            col = f"call_{what}_s" if f"call_{what}_s" in table.columns else f"{what}_s"
            if col in table.columns and f"{what}_share" not in table.columns:
                table[f"{what}_share"] = table[col].astype(float) / dur
    return table


def fleet_metric_columns(stats: pd.DataFrame, speaker: str = "agent") -> dict[str, str]:
    """Which column of ``stats`` feeds each ``FLEET_METRICS`` panel (only those present)."""
    table = _fleet_table(stats, speaker)
    found = {}
    for key, (candidates, _label, _share) in FLEET_METRICS.items():
        col = next((c for c in candidates if c in table.columns), None)
        if col is not None:
            found[key] = col
    return found


def tukey_outliers(values: pd.Series) -> pd.Series:
    """Values outside Tukey's fences (1.5 IQR beyond the quartiles), most extreme first."""
    values = values.dropna().astype(float)
    if len(values) < 4:
        return values.iloc[:0]
    q1, q3 = values.quantile([0.25, 0.75])
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    out = values[(values < lo) | (values > hi)]
    med = values.median()
    return out.reindex((out - med).abs().sort_values(ascending=False).index)


def _speaker_of(stats: pd.DataFrame, speaker: str) -> str | None:
    """``speaker`` when ``stats`` are long per-speaker rows (labels say whose value), else None."""
    return speaker if "speaker" in stats.columns else None


def _metric_column(table: pd.DataFrame, present: dict[str, str], metric: str,
                   speaker: str | None = None) -> tuple[str, str, str]:
    """Resolve a fleet metric key or column name to (column, label, unit)."""
    if metric in FLEET_METRICS:
        if metric not in present:
            raise ValueError(f"no column for metric {metric!r} "
                             f"(looked for {list(FLEET_METRICS[metric][0])})")
        col = present[metric]
        label, share = FLEET_METRICS[metric][1], FLEET_METRICS[metric][2]
    elif metric in table.columns:
        if not pd.api.types.is_numeric_dtype(table[metric]):
            raise ValueError(f"metric {metric!r} is not numeric ({table[metric].dtype})")
        col, share = metric, False
        per_call = metric.startswith("call_") or speaker is None
        label = metric if per_call else f"{metric} ({speaker})"
    else:
        raise ValueError(f"unknown metric {metric!r}; known: {list(FLEET_METRICS)} or a "
                         f"numeric column of {list(table.columns)}")
    if col.endswith("_s"):
        return col, f"{label} (m:ss per call)", "s"
    if share or col.endswith(("_share", "_ratio")):
        return col, label, "%"
    return col, label, ""
