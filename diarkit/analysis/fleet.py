"""Fleet statistics: distributions of per-call values across conversations (units kept)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from diarkit.schema import STATS, validate

#: Columns that ``fleet_stats`` groups by automatically when the stats rows carry them.
GROUP_COLUMNS = ("queue_id", "agent_id")
#: Speaker label of conversation-level (``call_*``) metrics in the fleet table.
CALL = "(call)"


def fleet_stats(
    stats: pd.DataFrame,
    by: Sequence[str] | None = None,
    percentiles: Sequence[float] = (0.5, 0.9, 0.95),
    *,
    complete_only: bool = False,
) -> pd.DataFrame:
    """Distribution of each per-call metric across conversations (same units as the metric).

    Speaker metrics (``talk_time_s``, ``overtalk_s``, ...) are summarised per speaker;
    conversation metrics (``call_*``) once per conversation, under speaker ``"(call)"``.
    Each row gives the number of conversations with a value (NaN values, e.g. the turn
    mean of a speaker who never talks, are left out), the mean of the per-call values,
    their standard deviation, minimum, maximum and the requested percentiles (linear
    interpolation).

    Args:
        stats: a ``diarkit.schema.STATS`` table from :func:`talk_stats`, optionally with
            extra columns such as ``queue_id`` or ``agent_id`` joined on.
        by: columns to group by besides speaker; default: those of ``GROUP_COLUMNS``
            present in ``stats``. Pass ``()`` for the whole fleet.
        percentiles: fractions in 0-1; each gives a column ``p<100*q>`` (``p50``, ``p90``).
        complete_only: keep only calls whose ``call_complete`` is true (every second of
            the call covered by live capture or back-fill; see
            ``diarkit.analysis.reconcile.with_coverage``).

    Returns:
        A long table: ``*by``, ``speaker``, ``metric``, ``conversations``, ``mean``,
        ``std``, ``min``, ``max``, ``p50``, ...; sorted by group, speaker and metric.

    Raises:
        SchemaError: when ``stats`` does not follow the STATS contract.
        ValueError: for a missing ``by`` column or a percentile outside 0-1, or
            ``complete_only`` on a table without ``call_complete``.
    """
    validate(stats, STATS, where="fleet_stats()")
    if complete_only:
        if "call_complete" not in stats.columns:
            raise ValueError("fleet_stats(complete_only=True): stats has no call_complete "
                             "column; add it with diarkit.analysis.reconcile.with_coverage "
                             "(or conversation_stats(..., coverage=True))")
        stats = stats[stats["call_complete"].fillna(False).astype(bool).to_numpy()]
    groups = [c for c in GROUP_COLUMNS if c in stats.columns] if by is None else list(by)
    missing = [c for c in groups if c not in stats.columns]
    if missing:
        raise ValueError(f"fleet_stats(): stats has no column(s) {missing}")
    qs = [float(q) for q in percentiles]
    if any(not 0.0 <= q <= 1.0 for q in qs):
        raise ValueError(f"percentiles must be fractions within 0-1, got {list(percentiles)}")
    labels = {"conversation_id", "speaker", *groups}
    metrics = [
        c
        for c in stats.columns
        if c not in labels
        and (pd.api.types.is_numeric_dtype(stats[c]) and not pd.api.types.is_bool_dtype(stats[c]))
    ]
    speaker_metrics = [m for m in metrics if not m.startswith("call_")]
    call_metrics = [m for m in metrics if m.startswith("call_")]
    base = stats.assign(speaker=stats["speaker"].astype("string"))
    per_speaker = base.melt(
        id_vars=[*groups, "speaker"], value_vars=speaker_metrics, var_name="metric"
    )
    calls = base.drop_duplicates(["conversation_id", *groups]).assign(speaker=CALL)
    per_call = calls.melt(id_vars=[*groups, "speaker"], value_vars=call_metrics, var_name="metric")
    long = pd.concat([per_speaker, per_call], ignore_index=True)
    long["value"] = long["value"].astype(np.float64)
    keys = [*groups, "speaker", "metric"]
    grouped = long.groupby(keys, observed=True, sort=True, dropna=False)["value"]
    out = grouped.agg(["count", "mean", "std", "min", "max"]).rename(
        columns={"count": "conversations"}
    )
    if qs and len(long):
        quant = grouped.quantile(qs).unstack(level=-1)
        quant.columns = [f"p{100 * q:g}" for q in qs]
        out = out.join(quant)
    else:
        for q in qs:
            out[f"p{100 * q:g}"] = pd.Series(dtype=np.float64)
    out = out.reset_index()
    out["conversations"] = out["conversations"].astype(np.int64)
    return out
