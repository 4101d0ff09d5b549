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
#: What :func:`fleet_by` can break the fleet down by: the id column and its name column.
BY = {"agent": ("user_id", "user_name"), "queue": ("queue_id", "queue_name")}


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


def with_queues(stats: pd.DataFrame, conversations: pd.DataFrame) -> pd.DataFrame:
    """``stats`` with each call's queue on every row of the call (``queue_id``, ``queue_name``).

    The queue is the conversation model's ``CONVERSATIONS.queue_id``: the first queue the
    call was routed to (the ``acd`` participant's queue, from the call events), so every
    row of a call (its agents, customer, IVR) belongs to the queue the call came in
    through; a call transferred to a second queue stays with the first. ``queue_name`` is
    the name the call events gave the queue (the id where they gave none); ``add_names``
    replaces it with the resolved name from ``DATASET/dims/`` when there is one.

    Args:
        stats: a ``diarkit.schema.STATS`` table (one or more rows per conversation).
        conversations: a ``diarkit.schema.CONVERSATIONS`` table (``conversation_id``,
            ``queue_id``, optionally ``queue_name``).

    Returns:
        A new frame, same rows and order, with string columns ``queue_id`` (null for a
        call that never reached a queue or that the model does not know) and
        ``queue_name``.

    Raises:
        ValueError: when ``conversations`` has no ``conversation_id``/``queue_id`` column.
    """
    missing = [c for c in ("conversation_id", "queue_id") if c not in conversations.columns]
    if missing:
        raise ValueError(f"with_queues(): conversations table has no column(s) {missing}")
    conv = conversations.assign(conversation_id=conversations["conversation_id"].astype(str))
    conv = conv.drop_duplicates("conversation_id").set_index("conversation_id")
    ids = stats["conversation_id"].astype(str)
    queue = ids.map(conv["queue_id"]).astype("string")
    names = conv["queue_name"] if "queue_name" in conv.columns else conv["queue_id"]
    name = ids.map(names).astype("string").fillna(queue)
    out = stats.copy()
    out["queue_id"] = queue.to_numpy()
    out["queue_name"] = name.to_numpy()
    return out


def fleet_by(
    stats: pd.DataFrame,
    by: str = "agent",
    percentiles: Sequence[float] = (0.5, 0.9, 0.95),
    *,
    complete_only: bool = False,
) -> pd.DataFrame:
    """The fleet table, then the same figures per agent or per queue (same units).

    The first block describes the whole fleet (every speaker; ``(call)`` metrics once per
    call), with a null id column. Then one block per agent (``by="agent"``: the rows with
    a ``user_id``, i.e. each agent's own speaker metrics and the ``(call)`` metrics of the
    calls that agent spoke in) or per queue (``by="queue"``: every row of the calls whose
    ``queue_id`` is known, see :func:`with_queues`; each call counts once per queue).
    When ``stats`` carries the name column (``user_name``/``queue_name``: :func:`with_queues`,
    ``diarkit.capture.analytics.add_names``) it is kept next to the id.

    Args:
        stats: a ``diarkit.schema.STATS`` table.
        by: ``"agent"`` or ``"queue"`` (see ``BY``).
        percentiles: as :func:`fleet_stats`.
        complete_only: as :func:`fleet_stats` (complete calls only).

    Returns:
        ``<id>``, [``<name>``], then the :func:`fleet_stats` columns; the whole-fleet block
        first, then the groups sorted by id. Without the id column (no participant data or
        no queue) only the whole-fleet block, with a null id column.

    Raises:
        ValueError: for an unknown ``by``; as :func:`fleet_stats` otherwise.
    """
    if by not in BY:
        raise ValueError(f"fleet_by(): by must be one of {sorted(BY)}, got {by!r}")
    id_col, name_col = BY[by]
    labels = [c for pair in BY.values() for c in pair if c in stats.columns]
    whole = fleet_stats(stats.drop(columns=labels), by=(), percentiles=percentiles,
                        complete_only=complete_only)
    keys = [id_col, name_col] if name_col in stats.columns else [id_col]
    for i, k in enumerate(keys):
        whole.insert(i, k, pd.Series(pd.NA, index=whole.index, dtype="string"))
    if id_col not in stats.columns:
        return whole
    ids = stats[id_col].astype("string")
    rows = stats[ids.notna().to_numpy()]
    if not len(rows):
        return whole
    others = [c for c in labels if c not in keys]
    grouped = rows.drop(columns=others).assign(**{
        k: rows[k].astype("string").fillna(ids[ids.notna()]) for k in keys})
    per_group = fleet_stats(grouped, by=keys, percentiles=percentiles,
                            complete_only=complete_only)
    for k in keys:
        per_group[k] = per_group[k].astype("string")
    return pd.concat([whole, per_group], ignore_index=True)
