"""Interval arithmetic of one call's speech (seconds, half-open ``[start, end)``).

Pure NumPy (no matplotlib, no pandas): the union of a speaker's intervals, the time two
or more speakers overlap, the gaps nobody speaks and the clipping of intervals to
phases. A timeline needs exactly these to draw its overtalk and silence rows; they
follow the definitions ``diarkit.analysis.talk_stats`` uses (a gap counts as silence
only when strictly longer than the threshold), without pulling its per-fleet machinery
into a drawing of one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _union(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Merge intervals (seconds) into a sorted array of disjoint ``[start, end)`` rows."""
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        return np.empty((0, 2))
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    group = np.cumsum(new) - 1
    out_s = s[new]
    out_e = np.zeros(len(out_s))
    np.maximum.at(out_e, group, e)
    return np.column_stack([out_s, out_e])


def _overlap(unions: Sequence[np.ndarray]) -> np.ndarray:
    """Intervals (seconds) covered by two or more of the given disjoint interval sets."""
    if len(unions) < 2:
        return np.empty((0, 2))
    edges = np.concatenate([np.column_stack([u[:, 0], np.ones(len(u))]) for u in unions] +
                           [np.column_stack([u[:, 1], -np.ones(len(u))]) for u in unions])
    if len(edges) == 0:
        return np.empty((0, 2))
    # ends sort before starts at the same instant: half-open intervals that touch do not overlap
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    t, d = edges[order, 0], edges[order, 1]
    depth = np.cumsum(d)
    multi = depth >= 2
    out: list[tuple[float, float]] = []
    for i in np.flatnonzero(multi[:-1]):
        if t[i + 1] > t[i]:
            out.append((t[i], t[i + 1]))
    if not out:
        return np.empty((0, 2))
    arr = np.array(out)
    return _union(arr[:, 0], arr[:, 1])


def _gaps(union: np.ndarray, start_s: float, end_s: float, min_s: float) -> np.ndarray:
    """Stretches (seconds) inside ``start_s..end_s`` covered by no interval, longer than ``min_s``.

    Strictly longer, as ``talk_stats`` counts silences (a gap of exactly ``min_s`` is not one).
    """
    if len(union) == 0:
        return np.array([[start_s, end_s]]) if end_s - start_s > min_s else np.empty((0, 2))
    gs = np.concatenate([[start_s], union[:, 1]])
    ge = np.concatenate([union[:, 0], [end_s]])
    keep = (ge - gs) > min_s
    return np.column_stack([gs[keep], ge[keep]])


def _clip(intervals: np.ndarray, within: np.ndarray) -> np.ndarray:
    """The parts of ``intervals`` (n x 2, seconds) that lie inside ``within`` (m x 2)."""
    out = [(max(a, c), min(b, d)) for a, b in intervals for c, d in within
           if min(b, d) > max(a, c)]
    return np.array(out, dtype=float).reshape(-1, 2)
