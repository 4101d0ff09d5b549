"""The phases of calls as arrays for the metrics: call span, agent time, allowed time.

:func:`phase_index` indexes a ``PHASES`` table by conversation codes; ``talk_stats``
reads the call span and the time silence may be counted in (:class:`AllowedTime`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from diarkit.analysis._core import order_by, run_lengths
from diarkit.schema import PHASES, validate


@dataclass(frozen=True, slots=True)
class PhaseIndex:
    """Per-conversation figures of a PHASES table, aligned to a list of conversation labels.

    Times are seconds on the session clock; conversations without phases hold NaN and
    ``has_phases`` False.
    """

    has_phases: np.ndarray
    call_start: np.ndarray
    call_end: np.ndarray
    agent_time: np.ndarray
    unknown_time: np.ndarray
    conv: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    clipped: np.ndarray  # conversations whose silence is clipped (a model, or gaps only)

    def allowed(self, kinds: Iterable[str]) -> AllowedTime:
        """The phases of the given kinds, as the time silence may be counted in."""
        keep = np.isin(self.kind, list(kinds))
        return AllowedTime(self.clipped, self.conv[keep], self.start[keep], self.end[keep])


@dataclass(frozen=True, slots=True)
class AllowedTime:
    """Disjoint allowed intervals per conversation (seconds)."""

    has_phases: np.ndarray
    conv: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def clip(
        self, conv: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Intersect disjoint intervals with the allowed time: (conversation, length) runs.

        Conversations without phases pass through unchanged; in the others each interval
        is cut to the allowed time, and touching pieces (two adjacent allowed phases)
        stay one run.
        """
        valid = ~(np.isnan(start) | np.isnan(end)) & (end > start)
        through = valid & ~self.has_phases[conv]
        inside = valid & self.has_phases[conv]
        c_a, s_a, e_a = conv[inside], start[inside], end[inside]
        m, k = len(c_a), len(self.conv)
        t = np.concatenate([s_a, e_a, self.start, self.end])
        c = np.concatenate([c_a, c_a, self.conv, self.conv])
        da = np.concatenate([np.ones(m), -np.ones(m), np.zeros(2 * k)]).astype(np.int64)
        db = np.concatenate([np.zeros(2 * m), np.ones(k), -np.ones(k)]).astype(np.int64)
        order = order_by(c, len(self.has_phases), t, da + db)  # ends first at one instant
        t, c, da, db = t[order], c[order], da[order], db[order]
        ca, cb = np.cumsum(da), np.cumsum(db)
        if len(t) > 1:
            same = c[1:] == c[:-1]
            flag = ((ca[:-1] > 0) & (cb[:-1] > 0))[same]
            dur = (t[1:] - t[:-1])[same]
            grp = c[:-1][same]
            totals, groups = run_lengths(flag, grp, dur)
        else:
            totals, groups = np.empty(0), np.empty(0, np.int64)
        keep = totals > 0
        return (
            np.concatenate([conv[through], groups[keep]]).astype(np.int64),
            np.concatenate([(end - start)[through], totals[keep]]),
        )


def phase_index(phases: pd.DataFrame, conv_labels: pd.Index) -> PhaseIndex:
    """Index a ``PHASES`` table by the codes of ``conv_labels`` (vectorised).

    The call span is the union of the non-``acw`` phases; ``agent_time`` the talk and
    hold phases an agent held; ``unknown_time`` the ``unknown`` phases (capture gaps,
    time before the first event).
    """
    validate(phases, PHASES, where="phase_index()")
    n = len(conv_labels)
    lookup = pd.Index(pd.Index(conv_labels).astype("string"))
    ph = phases[phases["phase"].astype("string").ne("acw").to_numpy(dtype=bool)]
    ph = ph[ph["start_s"].notna().to_numpy() & ph["end_s"].notna().to_numpy()]
    code = lookup.get_indexer(ph["conversation_id"].astype("string"))
    ph = ph[code >= 0]
    code = code[code >= 0].astype(np.int64)
    start = ph["start_s"].to_numpy(np.float64)
    end = ph["end_s"].to_numpy(np.float64)
    kind = ph["phase"].astype("string").to_numpy(dtype=object)
    real = kind != "unknown"
    has = np.zeros(n, dtype=bool)
    has[code[real]] = True  # a call model (not only capture gaps)
    gaps_only = np.zeros(n, dtype=bool)
    gaps_only[code] = True
    gaps_only &= ~has
    call_start = np.full(n, np.nan)
    call_end = np.full(n, np.nan)
    modelled = has[code]  # every phase (unknown too) of a conversation with a call model
    if modelled.any():
        g = pd.DataFrame(
            {"c": code[modelled], "s": start[modelled], "e": end[modelled]}
        ).groupby("c")
        call_start[g["s"].min().index.to_numpy()] = g["s"].min().to_numpy()
        call_end[g["e"].max().index.to_numpy()] = g["e"].max().to_numpy()
    holder = (
        ph["holder_purpose"].astype("string").fillna("").to_numpy(dtype=object)
        if "holder_purpose" in ph.columns
        else np.full(len(ph), "", dtype=object)
    )
    agent = np.isin(kind, ["talk", "hold"]) & (holder == "agent")
    if "holder_purpose" not in ph.columns:
        agent = np.isin(kind, ["talk", "hold"])
    dur = end - start
    agent_time = np.bincount(code[agent], weights=dur[agent], minlength=n)[:n]
    unknown = kind == "unknown"
    unknown_time = np.bincount(code[unknown], weights=dur[unknown], minlength=n)[:n]
    # a conversation known only through capture gaps: silence may lie anywhere but there,
    # so its allowed time is the complement of its gaps
    g_idx = np.flatnonzero(gaps_only[code])
    if len(g_idx):
        gdf = pd.DataFrame({"c": code[g_idx], "s": start[g_idx], "e": end[g_idx]}).sort_values(
            ["c", "s"]
        )
        c_arr, s_arr, e_arr = (gdf[x].to_numpy() for x in ("c", "s", "e"))
        first = np.ones(len(c_arr), dtype=bool)
        first[1:] = c_arr[1:] != c_arr[:-1]
        last = np.ones(len(c_arr), dtype=bool)
        last[:-1] = c_arr[:-1] != c_arr[1:]
        prev_end = np.where(first, -1e12, np.roll(e_arr, 1))
        comp_c = np.concatenate([c_arr, c_arr[last]])
        comp_s = np.concatenate([prev_end, e_arr[last]])
        comp_e = np.concatenate([s_arr, np.full(int(last.sum()), 1e12)])
        code = np.concatenate([code, comp_c])
        kind = np.concatenate([kind, np.full(len(comp_c), "talk", dtype=object)])
        start = np.concatenate([start, comp_s])
        end = np.concatenate([end, comp_e])
    return PhaseIndex(
        has_phases=has,
        call_start=call_start,
        call_end=call_end,
        agent_time=agent_time.astype(np.float64),
        unknown_time=unknown_time.astype(np.float64),
        conv=code,
        kind=kind,
        start=start,
        end=end,
        clipped=has | gaps_only,
    )
