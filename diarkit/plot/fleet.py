"""Fleet figures: how per-call metrics are distributed across calls, and across groups.

``plot_fleet`` draws one panel per metric (talk ratio, overtalk, silence,
interruptions or any numeric ``STATS`` column): a box plot, a dot per call and the most
extreme outliers labelled by short id; ``plot_compare`` draws one metric per group
(agent, queue) sorted by median against the fleet median. The table logic they share
lives in ``fleet_table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .fleet_table import (
    FLEET_METRICS,
    _fleet_table,
    _metric_column,
    _speaker_of,
    fleet_metric_columns,
    tukey_outliers,
)
from .style import OVERTALK_COLOUR, _new_ax, format_mmss
from .tables import _require, _require_table, _short_ids

# Matplotlib 3.10 replaced boxplot(vert=False) by orientation="horizontal"
_HORIZONTAL: dict[str, Any] = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)


def _draw_metric(ax: Axes, values: pd.Series, label: str, unit: str, label_outliers: int) -> None:
    vals = values.dropna().astype(float)
    rng = np.random.default_rng(0)
    ax.boxplot(vals.to_numpy(), **_HORIZONTAL, widths=0.5, showfliers=False, patch_artist=True,
               boxprops={"facecolor": "#E8EEF4", "edgecolor": "#4A6A8A"},
               medianprops={"color": "#0072B2", "lw": 2},
               whiskerprops={"color": "#4A6A8A"}, capprops={"color": "#4A6A8A"})
    jitter = rng.uniform(-0.18, 0.18, len(vals))
    out = tukey_outliers(vals)
    is_out = vals.index.isin(out.index)
    ax.scatter(vals[~is_out], 1 + jitter[~is_out], s=12, color="#0072B2", alpha=0.6, lw=0,
               zorder=3)
    ax.scatter(vals[is_out], 1 + jitter[is_out], s=26, color=OVERTALK_COLOUR, lw=0, zorder=3,
               label="outlier (1.5 IQR)")
    labels = dict(zip(vals.index, _short_ids(vals.index), strict=True))
    for i, (cid, v) in enumerate(out.iloc[:label_outliers].items()):
        yj = 1 + jitter[vals.index.get_loc(cid)]
        ax.annotate(labels[cid], (v, yj), xytext=(0, (14, -16, 26, -28)[i % 4]),
                    textcoords="offset points", ha="center", fontsize=7, color=OVERTALK_COLOUR,
                    arrowprops={"arrowstyle": "-", "color": OVERTALK_COLOUR, "lw": 0.6})
    med = float(vals.median()) if len(vals) else float("nan")
    med_txt = f"{med:.0%}" if unit == "%" else (f"{med:.1f} s" if unit == "s" else f"{med:.2g}")
    ax.set_title(f"{label} — median {med_txt}, n={len(vals)}", loc="left", fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(0.5, 1.5)
    if unit == "%":
        span = float(vals.max() - vals.min()) if len(vals) else 1.0
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if span >= 0.05 else 1))
    elif unit == "s":
        ax.xaxis.set_major_formatter(FuncFormatter(format_mmss))
        ax.set_xlabel("mm:ss")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#EEEEEE")
    ax.set_axisbelow(True)


def plot_fleet(
    stats: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    label_outliers: int = 5,
    speaker: str = "agent",
    labels: dict[str, str] | None = None,
) -> Axes | np.ndarray:
    """Draw the distribution of per-call metrics across a fleet, outliers labelled by id.

    Each metric gets one panel: a box plot (quartiles, whiskers at 1.5 IQR), one dot per
    conversation, and the ``label_outliers`` most extreme outliers (outside Tukey's fences)
    labelled with their short conversation id.

    Args:
        stats: per-conversation statistics (one row per ``conversation_id``, as
            ``talk_stats`` rows reduced by hand) or the long per-speaker ``STATS`` rows of
            ``diarkit.analysis.talk_stats``
            (the agent talk ratio is then derived from ``talk_time_s``).
        metrics: keys of ``FLEET_METRICS`` (``talk_ratio``, ``overtalk``, ``silence``,
            ``interruptions``) or any numeric ``STATS`` column (``words_per_minute``,
            ``call_duration_s``, ...); default: every key whose column exists.
        ax: one Axes (exactly one metric), a sequence of Axes (one per metric), or None
            for a new figure with one panel per metric.
        label_outliers: how many outliers per panel get a text label.
        speaker: whose row a per-speaker column is read from (long ``STATS`` rows).
        labels: panel titles by metric key or column (e.g. the definition's name).

    Returns:
        The Axes (one metric) or a numpy array of Axes (one per metric).

    Raises:
        ValueError: no metric column found, or ``ax`` does not match the metrics.
        TypeError: ``stats`` is a path (or anything but a DataFrame).
    """
    table = _fleet_table(stats, speaker)
    present = fleet_metric_columns(stats, speaker)
    keys = list(metrics) if metrics is not None else list(present)
    panels: list[tuple[str, str, str]] = []  # column, label, unit
    for key in keys:
        try:
            col, label, unit = _metric_column(table, present, key, _speaker_of(stats, speaker))
        except ValueError as exc:
            raise ValueError(f"plot_fleet: {exc}") from None
        if unit == "" and key in FLEET_METRICS:
            label = f"{label} per minute" if col.endswith("_per_min") else f"{label} per call"
        if labels and key in labels:
            label = labels[key]
        panels.append((col, label, unit))
    if not panels:
        raise ValueError("plot_fleet: stats have none of the fleet metric columns "
                         f"{[c for v in FLEET_METRICS.values() for c in v[0]]}")
    if ax is None:
        n = len(panels)
        _fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n + 0.3), layout="constrained")
        axes_arr = np.atleast_1d(axes)
    elif isinstance(ax, Axes):
        if len(panels) != 1:
            raise ValueError(f"plot_fleet: one Axes given for {len(panels)} metrics; pass "
                             "metrics=[one] or a sequence of Axes")
        axes_arr = np.array([ax], dtype=object)
    else:
        axes_arr = np.asarray(list(ax), dtype=object)
        if len(axes_arr) != len(panels):
            raise ValueError(f"plot_fleet: {len(axes_arr)} Axes given for {len(panels)} metrics")
    for a, (col, label, unit) in zip(axes_arr, panels, strict=True):
        _draw_metric(a, table[col], label, unit, label_outliers)
    if isinstance(ax, Axes):
        return ax
    return axes_arr


def plot_compare(
    stats: pd.DataFrame,
    by: str = "agent_id",
    metric: str = "talk_ratio",
    *,
    ax: Axes | None = None,
    min_calls: int = 1,
    speaker: str = "agent",
) -> Axes:
    """Compare one per-call metric across groups (agents, queues): a box and dots per group.

    Groups are sorted by their median; each label shows the group's call count; the dashed
    line is the fleet median.

    Args:
        stats: ``talk_stats`` rows (long, per speaker) or per-conversation rows, with a
            ``by`` column (e.g. ``agent_id`` joined on by conversation).
        by: the grouping column.
        metric: a ``FLEET_METRICS`` key (``talk_ratio``, ``overtalk``, ``silence``,
            ``interruptions``) or any numeric ``STATS`` column (per-speaker columns are
            read from the row of ``speaker``).
        ax: Axes to draw on; a new figure when None.
        min_calls: groups with fewer calls are left out.
        speaker: whose row a per-speaker column is read from (long ``STATS`` rows).

    Returns:
        The Axes drawn on.

    Raises:
        ValueError: ``by`` or the metric is missing.
        TypeError: ``stats`` is a path (or anything but a DataFrame).
    """
    stats = _require_table(stats, "plot_compare", "diarkit.talk_stats(segments)")
    _require(stats, ["conversation_id", by], "plot_compare")
    table = _fleet_table(stats, speaker, "plot_compare")
    groups = (stats.assign(conversation_id=stats["conversation_id"].astype("string"))
              .groupby("conversation_id", observed=True)[by].first().astype("string"))
    col, label, unit = _metric_column(table, fleet_metric_columns(stats, speaker), metric,
                                      _speaker_of(stats, speaker))
    data = pd.DataFrame({"group": groups.reindex(table.index), "value": table[col].astype(float)})
    data = data.dropna()
    counts = data["group"].value_counts()
    data = data[data["group"].isin(counts[counts >= min_calls].index)]
    order = data.groupby("group")["value"].median().sort_values().index.tolist()
    ax = _new_ax(ax, (9, max(2.0, 0.45 * len(order) + 1.0)))
    rng = np.random.default_rng(0)
    boxes = [data.loc[data["group"] == g, "value"].to_numpy() for g in order]
    if boxes:
        ax.boxplot(boxes, **_HORIZONTAL, widths=0.55, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "#E8EEF4", "edgecolor": "#4A6A8A"},
                   medianprops={"color": "#0072B2", "lw": 2},
                   whiskerprops={"color": "#4A6A8A"}, capprops={"color": "#4A6A8A"})
    for i, vals in enumerate(boxes, start=1):
        ax.scatter(vals, i + rng.uniform(-0.15, 0.15, len(vals)), s=12, color="#0072B2",
                   alpha=0.6, lw=0, zorder=3)
    if len(data):
        ax.axvline(float(data["value"].median()), color=OVERTALK_COLOUR, ls="--", lw=1,
                   label="fleet median")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    short = dict(zip(order, _short_ids(order), strict=True))
    ax.set_yticks(range(1, len(order) + 1),
                  [f"{short[g]} ({counts[g]})" for g in order], fontsize=8, family="monospace")
    ax.set_ylabel(f"{by} (calls)")
    ax.set_title(f"{label} by {by}", loc="left", fontsize=10)
    if unit == "%":
        span = float(data["value"].max() - data["value"].min()) if len(data) else 1.0
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if span >= 0.05 else 1))
    elif unit == "s":
        ax.xaxis.set_major_formatter(FuncFormatter(format_mmss))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#EEEEEE")
    ax.set_axisbelow(True)
    return ax
