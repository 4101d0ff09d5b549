"""Diarization error rate against a reference (seconds; collar is ± seconds, md-eval style)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from diarkit.analysis._core import check_intervals, codes_of, float_array, union_blocks
from diarkit.schema import SchemaError

_NEEDED = ("conversation_id", "speaker", "start_s", "end_s")


@dataclass(frozen=True, slots=True)
class DiarizationError:
    """DER and its components in seconds, summed over conversations.

    ``der = (missed_s + false_alarm_s + confusion_s) / reference_s``; ``mapping`` maps,
    per conversation, each reference speaker to the hypothesis speaker it was matched to.
    """

    der: float
    reference_s: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    correct_s: float
    collar: float
    by_conversation: pd.DataFrame
    mapping: dict[str, dict[str, str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"DiarizationError(der={self.der:.4f}, reference_s={self.reference_s:.3f}, "
                f"missed_s={self.missed_s:.3f}, false_alarm_s={self.false_alarm_s:.3f}, "
                f"confusion_s={self.confusion_s:.3f}, collar={self.collar:g}, "
                f"conversations={len(self.by_conversation)})")

    def _repr_html_(self) -> str:
        from .display import preview_html, summary_html

        der = "undefined (no reference speech)" if self.der != self.der else f"{self.der:.2%}"
        facts = {
            "DER": der,
            "reference speech": f"{self.reference_s:.3f} s",
            "missed / false alarm / confusion": f"{self.missed_s:.3f} s / "
            f"{self.false_alarm_s:.3f} s / {self.confusion_s:.3f} s",
            "collar": f"±{self.collar:g} s",
            "conversations": f"{len(self.by_conversation):,}",
        }
        worst = self.by_conversation.sort_values("der", ascending=False, na_position="last")
        return summary_html("DiarizationError", facts, {
            "worst conversations": preview_html(worst, list(worst.columns))})


def assignment(score: np.ndarray) -> list[tuple[int, int]]:
    """Row/column pairs maximising the total ``score`` (Hungarian method, O(n^2 m)).

    Loops over the speakers of one conversation (a handful), never over table rows.
    """
    score = np.asarray(score, dtype=np.float64)
    transposed = score.shape[0] > score.shape[1]
    cost = -(score.T if transposed else score)
    n, m = cost.shape
    if n == 0:
        return []
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=np.int64)  # p[j]: row (1-based) assigned to column j
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = int(way[j0])
            p[j0] = p[j1]
            j0 = j1
    pairs = [(int(p[j]) - 1, j - 1) for j in range(1, m + 1) if p[j]]
    return sorted((c, r) if transposed else (r, c) for r, c in pairs)


def _activity(
    grid: np.ndarray, start: np.ndarray, end: np.ndarray, col: np.ndarray, k: int
) -> np.ndarray:
    """Boolean (intervals x k) matrix: which column is active in each grid interval."""
    n = max(len(grid) - 1, 0)
    delta = np.zeros((n + 1, max(k, 1)), dtype=np.int64)
    lo = np.searchsorted(grid, start, side="left")
    hi = np.searchsorted(grid, end, side="left")
    np.add.at(delta, (lo, col), 1)
    np.add.at(delta, (hi, col), -1)
    active: np.ndarray = np.cumsum(delta, axis=0)[:n, :k] > 0
    return active


def _one(
    ref: tuple[np.ndarray, np.ndarray, np.ndarray],
    hyp: tuple[np.ndarray, np.ndarray, np.ndarray],
    ref_rows: tuple[np.ndarray, np.ndarray],
    bounds: tuple[float, float],
    collar: float,
    skip_overlap: bool,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    lo, hi = bounds
    rs, re_, rk = ref
    hs, he, hk = hyp
    ref_edges = np.concatenate(ref_rows)
    points: list[np.ndarray] = [rs, re_, hs, he, np.array([lo, hi])]
    if collar > 0:
        points += [ref_edges - collar, ref_edges + collar]
    grid: np.ndarray = np.unique(np.clip(np.concatenate(points), lo, hi))
    dur = np.diff(grid)
    n_ref = int(rk.max()) + 1 if len(rk) else 0
    n_hyp = int(hk.max()) + 1 if len(hk) else 0

    def clip(a: np.ndarray) -> np.ndarray:
        clipped: np.ndarray = np.clip(a, lo, hi)
        return clipped

    r_act = _activity(grid, clip(rs), clip(re_), rk, n_ref)
    h_act = _activity(grid, clip(hs), clip(he), hk, n_hyp)
    weight = dur.copy()
    if collar > 0:
        zones = _activity(
            grid,
            clip(ref_edges - collar),
            clip(ref_edges + collar),
            np.zeros(len(ref_edges), dtype=np.int64),
            1,
        )
        weight[zones[:, 0]] = 0.0
    n_r = r_act.sum(axis=1)
    n_h = h_act.sum(axis=1)
    if skip_overlap:
        weight[n_r > 1] = 0.0
    co = r_act.T.astype(np.float64) @ (h_act * weight[:, None])
    pairs = [(r, h) for r, h in assignment(co) if co[r, h] > 0] if co.size else []
    correct = np.zeros(len(dur))
    for r, h in pairs:  # mapped speaker pairs, a handful
        correct += r_act[:, r] & h_act[:, h]
    parts = np.array(
        [
            np.sum(weight * n_r),
            np.sum(weight * np.maximum(n_r - n_h, 0)),
            np.sum(weight * np.maximum(n_h - n_r, 0)),
            np.sum(weight * (np.minimum(n_r, n_h) - correct)),
            np.sum(weight * correct),
        ]
    )
    return parts, pairs


def _prepare(table: pd.DataFrame, what: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise SchemaError(f"diarization_error(): {what} must be a DataFrame, got {type(table)}")
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise SchemaError(f"diarization_error(): {what} lacks column(s) {missing}")
    check_intervals(table, f"diarization_error() {what}", ("conversation_id", "speaker"))
    return table


def diarization_error(
    hypothesis: pd.DataFrame,
    reference: pd.DataFrame,
    collar: float = 0.0,
    skip_overlap: bool = False,
    uem: pd.DataFrame | None = None,
) -> DiarizationError:
    """Diarization error rate (fraction) with missed, false-alarm and confusion seconds.

    Per conversation, each speaker's intervals are merged (union); the timeline is cut at
    every boundary; in each piece with ``R`` reference and ``H`` hypothesis speakers,
    missed speech is ``max(R - H, 0)``, false alarm ``max(H - R, 0)`` and confusion
    ``min(R, H) - correct``, all weighted by the piece's duration. ``correct`` counts
    pieces where a reference speaker and the hypothesis speaker mapped to it both talk;
    the one-to-one mapping maximises total co-occurrence (Hungarian method), as
    pyannote.metrics and md-eval do.

    Zero-length reference rows are dropped first, as pyannote.metrics drops them (an
    empty ``Segment`` adds nothing to an ``Annotation``): no speech and no collar zone.

    Collar convention: ``collar`` is md-eval's ``-c``: seconds on EACH side of every
    reference row's start and end are not scored. pyannote.metrics' ``collar`` is the
    total width, so ``diarization_error(h, r, collar=0.25)`` equals pyannote's
    ``DiarizationErrorRate(collar=0.5)``.

    Args:
        hypothesis: rows with ``conversation_id``, ``speaker``, ``start_s``, ``end_s``
            (SEGMENTS, TURNS or :func:`parse_rttm` output).
        reference: the same columns; the ground truth.
        collar: ± seconds around reference boundaries left unscored (default 0).
        skip_overlap: do not score pieces where two or more reference speakers talk.
        uem: optional scored region per conversation (``conversation_id``, ``start_s``,
            ``end_s``); default: from the earliest to the latest boundary of reference
            and hypothesis (pyannote's approximation).

    Returns:
        :class:`DiarizationError`; ``by_conversation`` has one row per conversation with
        ``reference_s``, ``missed_s``, ``false_alarm_s``, ``confusion_s``, ``correct_s``
        and ``der`` (NaN when the reference is empty there).

    Raises:
        SchemaError: when a table lacks a needed column.
        ValueError: on bad intervals (naming the row) or a negative collar.
    """
    if not collar >= 0:
        raise ValueError(f"collar must be >= 0 seconds, got {collar}")
    hyp = _prepare(hypothesis, "hypothesis")
    ref = _prepare(reference, "reference")
    labels = pd.Index(
        sorted(
            set(ref["conversation_id"].astype("string").unique())
            | set(hyp["conversation_id"].astype("string").unique())
        )
    )
    # zero-length reference rows are no speech and leave no collar zone, as in
    # pyannote.metrics (an empty Segment adds nothing to an Annotation)
    ref = ref[(float_array(ref["end_s"]) > float_array(ref["start_s"]))]
    bounds: dict[str, tuple[float, float]] = {}
    if uem is not None:
        u = _prepare(uem.assign(speaker="uem"), "uem")
        for cid, s, e in zip(  # one per conversation
            u["conversation_id"].astype("string"),
            float_array(u["start_s"]),
            float_array(u["end_s"]),
            strict=True,
        ):
            bounds[str(cid)] = (float(s), float(e))

    def coded(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
        conv = labels.get_indexer(df["conversation_id"].astype("string"))
        spk, spk_labels = codes_of(df["speaker"].astype("string"))
        key = conv * max(len(spk_labels), 1) + spk
        blocks = union_blocks(key, float_array(df["start_s"]), float_array(df["end_s"]))
        n = max(len(spk_labels), 1)
        return blocks.group // n, blocks.group % n, blocks.start, blocks.end, spk_labels, conv

    r_conv, r_spk, r_s, r_e, r_labels, r_rowconv = coded(ref)
    h_conv, h_spk, h_s, h_e, h_labels, _ = coded(hyp)
    row_order = np.argsort(r_rowconv, kind="stable")
    ref_start = float_array(ref["start_s"])[row_order]
    ref_end = float_array(ref["end_s"])[row_order]
    ref_rowconv = r_rowconv[row_order]
    every = np.arange(len(labels) + 1)
    r_cut = np.searchsorted(r_conv, every)  # blocks are sorted by conversation
    h_cut = np.searchsorted(h_conv, every)
    row_cut = np.searchsorted(ref_rowconv, every)

    rows = []
    mapping: dict[str, dict[str, str]] = {}
    for c, cid in enumerate(labels):  # one pass per conversation, vectorised inside
        rm = slice(r_cut[c], r_cut[c + 1])
        hm = slice(h_cut[c], h_cut[c + 1])
        rrow = slice(row_cut[c], row_cut[c + 1])
        # compact speaker codes within the conversation
        r_u, r_k = np.unique(r_spk[rm], return_inverse=True)
        h_u, h_k = np.unique(h_spk[hm], return_inverse=True)
        edges = np.concatenate([r_s[rm], r_e[rm], h_s[hm], h_e[hm]])
        if str(cid) in bounds:
            lo, hi = bounds[str(cid)]
        elif len(edges):
            lo, hi = float(edges.min()), float(edges.max())
        else:
            lo = hi = 0.0
        parts, pairs = _one(
            (r_s[rm], r_e[rm], r_k.astype(np.int64)),
            (h_s[hm], h_e[hm], h_k.astype(np.int64)),
            (ref_start[rrow], ref_end[rrow]),
            (lo, hi),
            float(collar),
            skip_overlap,
        )
        rows.append(parts)
        mapping[str(cid)] = {str(r_labels[r_u[r]]): str(h_labels[h_u[h]]) for r, h in pairs}
    table = pd.DataFrame(
        np.array(rows).reshape(-1, 5),
        columns=["reference_s", "missed_s", "false_alarm_s", "confusion_s", "correct_s"],
    )
    table.insert(0, "conversation_id", pd.Categorical(labels.astype("string")))
    errors = table["missed_s"] + table["false_alarm_s"] + table["confusion_s"]
    table["der"] = np.where(
        table["reference_s"] > 0,
        errors / table["reference_s"].where(table["reference_s"] > 0, 1.0),
        np.nan,
    )
    total = table[["reference_s", "missed_s", "false_alarm_s", "confusion_s", "correct_s"]].sum()
    err = total["missed_s"] + total["false_alarm_s"] + total["confusion_s"]
    return DiarizationError(
        der=float(err / total["reference_s"]) if total["reference_s"] > 0 else float("nan"),
        reference_s=float(total["reference_s"]),
        missed_s=float(total["missed_s"]),
        false_alarm_s=float(total["false_alarm_s"]),
        confusion_s=float(total["confusion_s"]),
        correct_s=float(total["correct_s"]),
        collar=float(collar),
        by_conversation=table,
        mapping=mapping,
    )
