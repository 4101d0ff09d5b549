"""Vectorised interval primitives shared by the analysis modules (times in seconds).

Everything here works on NumPy arrays of integer group codes and float start/end times,
sorted with :func:`order_by`; nothing loops over rows in Python. Intervals are half-open
``[start, end)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_MS = 1000.0


def to_ms(seconds: np.ndarray) -> np.ndarray:
    """Seconds as integer milliseconds (the wire's unit), rounded to the nearest."""
    out: np.ndarray = np.rint(np.asarray(seconds, dtype=np.float64) * _MS).astype(np.int64)
    return out


def codes_of(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (``-1`` for missing) and the labels they index, for a label column.

    Labels are sorted, so code order is label order whatever the category order was.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = pd.Index(series.cat.categories)
        codes = series.cat.codes.to_numpy(dtype=np.int64)
        if len(cats) > 1 and not cats.is_monotonic_increasing:
            order = np.argsort(cats.to_numpy(dtype=object).astype(str), kind="stable")
            rank = np.empty(len(cats) + 1, dtype=np.int64)
            rank[order] = np.arange(len(cats))
            rank[-1] = -1  # code -1 (missing) indexes the last slot
            codes = rank[codes]
            cats = cats[order]
        return codes, cats
    codes, uniques = pd.factorize(series, sort=True)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def float_array(series: pd.Series) -> np.ndarray:
    """A float64 NumPy copy-free view of a numeric column (missing values become NaN)."""
    out: np.ndarray = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def check_intervals(df: pd.DataFrame, where: str, labels: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the first bad row when times or labels are unusable.

    Checks: ``start_s``/``end_s`` not NaN, ``end_s >= start_s``, and no missing value in
    the label columns (``conversation_id``, ``speaker``, ...).
    """
    start = float_array(df["start_s"])
    end = float_array(df["end_s"])
    problems = {
        "start_s is missing": np.isnan(start),
        "end_s is missing": np.isnan(end),
        "end_s < start_s": end < start,
    }
    for col in labels:
        problems[f"{col} is missing"] = df[col].isna().to_numpy()
    for what, mask in problems.items():
        if mask.any():
            bad = np.flatnonzero(mask)
            first = df.index[bad[0]]
            raise ValueError(
                f"{where}: {len(bad)} row(s) where {what}, first at index {first!r}; "
                "fix or drop them (filter_confidence drops empty speakers)"
            )


def _small(codes: np.ndarray, n: int) -> np.ndarray:
    """Codes in the narrowest integer type, so NumPy's stable sort can use radix sort."""
    if n < 2**15:
        return codes.astype(np.int16, copy=False)
    if n < 2**31:
        return codes.astype(np.int32, copy=False)
    return codes


def order_by(group: np.ndarray, n_groups: int, key: np.ndarray, *ties: np.ndarray) -> np.ndarray:
    """Positions sorting rows by (group, key, *ties) — ``np.lexsort`` order, faster.

    An unstable sort on the float key plus a stable radix sort on the small integer group
    codes costs a fraction of ``np.lexsort``; rows tied on (group, key) are then ordered
    by ``ties`` (most significant first), so the result never depends on input order.
    """
    order: np.ndarray = np.argsort(key, kind="quicksort")
    order = order[np.argsort(_small(group[order], max(n_groups, 1)), kind="stable")]
    return break_ties(order, group, key, *ties)


def break_ties(
    order: np.ndarray, group: np.ndarray, key: np.ndarray, *ties: np.ndarray
) -> np.ndarray:
    """Reorder rows of ``order`` tied on (group, key) by ``ties`` (most significant first)."""
    if not ties or len(order) < 2:
        return order
    g, k = group[order], key[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (g[1:] == g[:-1]) & (k[1:] == k[:-1])
    if same.any():
        member = same.copy()
        member[:-1] |= same[1:]
        pos = np.flatnonzero(member)
        run = np.cumsum(~same)[pos]
        sub = order[pos]
        order = order.copy()
        order[pos] = sub[np.lexsort((*(t[sub] for t in reversed(ties)), run))]
    return order


def group_cummax(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` restarting at each new ``group`` (rows sorted by group)."""
    out: np.ndarray = pd.Series(values).groupby(group, sort=False).cummax().to_numpy()
    return out


def starts_of_runs(group: np.ndarray) -> np.ndarray:
    """Boolean mask of the first row of each run of equal ``group`` values."""
    first = np.ones(len(group), dtype=bool)
    if len(group) > 1:
        first[1:] = group[1:] != group[:-1]
    return first


@dataclass(frozen=True, slots=True)
class Blocks:
    """Disjoint speech blocks: the union of intervals per group, sorted by (group, start)."""

    group: np.ndarray  # int64 group code of each block
    start: np.ndarray  # float64 seconds
    end: np.ndarray  # float64 seconds
    row_block: np.ndarray  # for every input row (in input order), the block it fell into


def union_blocks(
    group: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    n_groups: int | None = None,
    by_start: np.ndarray | None = None,
) -> Blocks:
    """Union of half-open intervals per group, as disjoint blocks (seconds).

    Touching intervals (``[0, 1)`` and ``[1, 2)``) merge into one block; the union's length
    is the same either way. Zero-length intervals form zero-length blocks unless they fall
    inside another interval. ``by_start``, when given, is an order of the rows by start
    (within any coarser grouping); it saves a float sort.
    """
    n = len(group)
    if n == 0:
        empty_f = np.empty(0, dtype=np.float64)
        return Blocks(np.empty(0, np.int64), empty_f, empty_f, np.empty(0, np.int64))
    if n_groups is None:
        n_groups = int(group.max()) + 1 if n else 1
    if by_start is None:
        order = order_by(group, n_groups, start)
    else:  # a stable integer (radix) sort keeps the start order within each group
        order = by_start[np.argsort(_small(group[by_start], n_groups), kind="stable")]
    g, s, e = group[order], start[order], end[order]
    running = group_cummax(e, g)
    new = starts_of_runs(g)
    new[1:] |= s[1:] > running[:-1]
    first = np.flatnonzero(new)
    block_end = np.maximum.reduceat(e, first)
    row_block = np.empty(n, dtype=np.int64)
    row_block[order] = np.cumsum(new) - 1
    return Blocks(g[first], s[first], block_end, row_block)


@dataclass(frozen=True, slots=True)
class Sweep:
    """Elementary intervals between consecutive speech boundaries of each conversation.

    ``count`` is how many speakers talk in the interval; ``solo`` the speaker code when
    exactly one talks (else -1). Intervals never straddle two conversations.
    """

    conv: np.ndarray
    start: np.ndarray
    duration: np.ndarray
    count: np.ndarray
    solo: np.ndarray


def sweep(
    conv: np.ndarray,
    speaker: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    n_conv: int | None = None,
) -> Sweep:
    """Cut each conversation's timeline at every block boundary and count active speakers.

    Args:
        conv: conversation code of each block.
        speaker: speaker code of each block (blocks of one speaker must be disjoint).
        start: block starts, seconds.
        end: block ends, seconds; blocks with ``end <= start`` are ignored.
    """
    keep = end > start
    conv, speaker, start, end = conv[keep], speaker[keep], start[keep], end[keep]
    m = len(conv)
    t = np.concatenate([start, end])
    delta = np.concatenate([np.ones(m, np.int64), -np.ones(m, np.int64)])
    c = np.concatenate([conv, conv])
    k = np.concatenate([speaker, speaker])
    # ends sort before starts at the same instant: half-open intervals do not overlap there
    if n_conv is None:
        n_conv = int(c.max()) + 1 if len(c) else 1
    order = order_by(c, n_conv, t, delta)
    t, delta, c, k = t[order], delta[order], c[order], k[order]
    count = np.cumsum(delta)  # each conversation nets to zero, so no reset is needed
    ksum = np.cumsum(delta * k)
    same = c[1:] == c[:-1]
    cnt = count[:-1][same]
    return Sweep(
        conv=c[:-1][same],
        start=t[:-1][same],
        duration=(t[1:] - t[:-1])[same],
        count=cnt,
        solo=np.where(cnt == 1, ksum[:-1][same], -1),
    )


def run_lengths(
    flag: np.ndarray, group: np.ndarray, duration: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Total duration and group of each maximal run of ``flag`` within a group.

    Zero-duration intervals never break a run (an instant where the flag blinks off at
    coinciding boundaries is not a real pause). Runs of total zero may be returned; callers
    filter on the total.
    """
    eff = flag | (duration == 0)
    # a run may only start on a truly flagged interval
    run_start = eff.copy()
    if len(eff) > 1:
        run_start[1:] &= ~(eff[:-1] & (group[1:] == group[:-1]))
    run_id = np.cumsum(run_start) - 1
    inside = eff & (run_id >= 0)
    groups = group[run_start]
    totals = np.bincount(run_id[inside], weights=(duration * flag)[inside], minlength=len(groups))
    return totals, groups
