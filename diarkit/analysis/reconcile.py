"""Reconciling sources: live vs back-filled speech, coverage, and diarkit vs Genesys figures.

Pure pandas/numpy over tables (no I/O). Three jobs:

* ``merge_sources`` puts live finals and back-filled post-call phrases of the same
  conversation on one timeline through the one merging rule,
  ``diarkit.analysis.conversation.reconcile``: a phrase that overlaps live speech on its
  side is the same speech (the live row stays, labelled ``both``); a phrase live capture
  never delivered is added (``backfill``); nothing is counted twice.
* ``coverage`` says, per conversation, which share of the call time live capture saw,
  which share only the back-fill covers, and which share nobody has (``unknown``).
* ``speech_partition`` splits a call into the categories of Genesys's interaction overview
  (agent, customer, overtalk, silence, IVR, ACD, other/hold), and ``compare_metrics``
  reports per call and for the fleet how diarkit's figures differ from Genesys's
  (bias, mean absolute difference, calls beyond a threshold).

Every time here is seconds on the transcription session clock (``*_s``), unless the name
says milliseconds (``*_ms``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from diarkit.analysis.conversation import align_to_live, reconcile
from diarkit.schema import SEGMENT_SOURCES

#: ``session_id`` prefix of raw and segment rows written by ``diarkit backfill``.
BACKFILL_SESSION_PREFIX = "backfill-"
#: Values of the ``source`` column ``merge_sources`` adds.
SOURCES = ("live", "backfill", "both")

#: Per-conversation figures compared by ``compare_metrics`` (seconds).
METRICS = ("duration_s", "agent_s", "customer_s", "overtalk_s", "silence_s", "hold_s")
#: Categories of ``speech_partition`` (seconds), in the order the interaction overview lists.
PARTITION = ("agent_s", "customer_s", "overtalk_s", "silence_s", "ivr_s", "acd_s", "other_s")
#: Phase names (``phases`` tables) and the partition category each one claims.
PHASE_CATEGORY = {"ivr": "ivr_s", "queue": "acd_s", "hold": "other_s"}


def is_backfill(session_ids: pd.Series) -> np.ndarray:
    """True for rows whose ``session_id`` marks them as written by ``diarkit backfill``."""
    s = session_ids.astype("string")
    return np.asarray(s.str.startswith(BACKFILL_SESSION_PREFIX).fillna(False), dtype=bool)


# --------------------------------------------------------------------------- intervals


def _union_length(starts: np.ndarray, ends: np.ndarray) -> float:
    """Length of the union of [start, end) intervals (seconds)."""
    if len(starts) == 0:
        return 0.0
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], np.maximum.accumulate(ends[order])
    new_block = np.ones(len(s), dtype=bool)
    new_block[1:] = s[1:] > e[:-1]
    block = np.cumsum(new_block) - 1
    bs = s[new_block]
    be = np.zeros(len(bs))
    np.maximum.at(be, block, e)
    return float(np.sum(np.maximum(be - bs, 0.0)))


def _clip(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float
          ) -> tuple[np.ndarray, np.ndarray]:
    s, e = np.clip(starts, lo, hi), np.clip(ends, lo, hi)
    keep = e > s
    return s[keep], e[keep]


def _active(bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each elementary piece [bounds[i], bounds[i+1]): is any interval active there."""
    if len(starts) == 0:
        return np.zeros(len(bounds) - 1, dtype=bool)
    delta = np.zeros(len(bounds), dtype=np.int64)
    np.add.at(delta, np.searchsorted(bounds, starts), 1)
    np.add.at(delta, np.searchsorted(bounds, ends), -1)
    return np.asarray(np.cumsum(delta)[:-1] > 0)


def speech_partition(
    internal: tuple[np.ndarray, np.ndarray],
    external: tuple[np.ndarray, np.ndarray],
    duration_s: float,
    phases: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Split one call [0, duration_s) into the interaction overview's categories (seconds).

    Every instant of the call falls in exactly one category, so they sum to
    ``duration_s``: inside an ``ivr`` phase it is ``ivr_s``, inside ``queue`` ``acd_s``,
    inside ``hold`` ``other_s`` (in that precedence); elsewhere it is ``overtalk_s`` when
    both channels speak, ``agent_s`` / ``customer_s`` when only the INTERNAL / EXTERNAL
    channel speaks, and ``silence_s`` when nobody does. This follows the categories of
    Genesys Cloud's interaction overview (help.mypurecloud.com, "Understand the
    interaction overview") and the fields of the STA ``ParticipantMetrics`` model
    (``agent/customer/silence/ivr/acd/overtalk/otherDurationPercentage``); Genesys does
    not publish its exact formula, so this is diarkit's reading of it.

    Args:
        internal: (starts, ends) in seconds of INTERNAL-channel speech.
        external: (starts, ends) in seconds of EXTERNAL-channel speech.
        duration_s: call duration in seconds (the partition covers [0, duration_s)).
        phases: phase name (``ivr``, ``queue``, ``hold``; others are ignored) to
            (starts, ends) in seconds.

    Returns:
        ``{category: seconds}`` for every name in ``PARTITION``.
    """
    out = dict.fromkeys(PARTITION, 0.0)
    if not duration_s > 0:
        return out
    d = float(duration_s)
    pieces = [_clip(*internal, 0.0, d), _clip(*external, 0.0, d)]
    phase_pieces = {k: _clip(*v, 0.0, d) for k, v in (phases or {}).items()
                    if k in PHASE_CATEGORY}
    every = [np.array([0.0, d])]
    every += [a for p in pieces for a in p]
    every += [a for p in phase_pieces.values() for a in p]
    bounds = np.unique(np.concatenate(every))
    width = np.diff(bounds)
    taken = np.zeros(len(width), dtype=bool)
    for name in ("ivr", "queue", "hold"):
        if name in phase_pieces:
            on = _active(bounds, *phase_pieces[name]) & ~taken
            out[PHASE_CATEGORY[name]] = float(width[on].sum())
            taken |= on
    a = _active(bounds, *pieces[0]) & ~taken
    c = _active(bounds, *pieces[1]) & ~taken
    out["overtalk_s"] = float(width[a & c].sum())
    out["agent_s"] = float(width[a & ~c].sum())
    out["customer_s"] = float(width[c & ~a].sum())
    out["silence_s"] = float(width[~taken & ~a & ~c].sum())
    return out


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return (df["start_s"].to_numpy(dtype=float), df["end_s"].to_numpy(dtype=float))


def partition_table(
    segments: pd.DataFrame,
    durations: Mapping[str, float],
    phases: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``speech_partition`` of every conversation in ``durations`` (one row each, seconds).

    Args:
        segments: one row per utterance (e.g. ``merge_sources`` output) with
            ``conversation_id``, ``channel``, ``start_s``, ``end_s`` (and ``text``: rows
            whose text is blank are no speech, as the recogniser returned nothing).
        durations: conversation id to call duration in seconds.
        phases: optional rows ``conversation_id``, ``phase``, ``start_s``, ``end_s``.

    Returns:
        Columns ``conversation_id``, ``duration_s``, every name in ``PARTITION`` and
        ``hold_s`` (= ``other_s`` when phases were given, else NaN: unknown).
    """
    spoke = segments["text"].astype("string").str.strip().fillna("").str.len() > 0 \
        if "text" in segments.columns else pd.Series(True, index=segments.index)
    seg = segments.loc[spoke.to_numpy(dtype=bool),
                       ["conversation_id", "channel", "start_s", "end_s"]].copy()
    seg["conversation_id"] = seg["conversation_id"].astype(str)
    seg["channel"] = seg["channel"].astype(str)
    by_conv = dict(tuple(seg.groupby("conversation_id", sort=False)))
    ph_by: dict[str, pd.DataFrame] = {}
    if phases is not None and len(phases):
        ph = phases.copy()
        ph["conversation_id"] = ph["conversation_id"].astype(str)
        ph_by = dict(tuple(ph.groupby("conversation_id", sort=False)))
    empty = seg.iloc[:0]
    rows = []
    for cid, dur in durations.items():
        g = by_conv.get(cid, empty)
        p = ph_by.get(cid)
        phase_map = None
        if p is not None:
            phase_map = {str(k): _arrays(v) for k, v in p.groupby("phase", sort=False)}
        part = speech_partition(_arrays(g[g["channel"] == "INTERNAL"]),
                                _arrays(g[g["channel"] == "EXTERNAL"]), float(dur), phase_map)
        rows.append({"conversation_id": cid, "duration_s": float(dur), **part,
                     "hold_s": part["other_s"] if p is not None else np.nan})
    cols = ["conversation_id", "duration_s", *PARTITION, "hold_s"]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- sources


def merge_sources(segments: pd.DataFrame) -> pd.DataFrame:
    """One timeline per conversation from live versions and back-filled phrases.

    Version selection, then the one merging rule,
    :func:`diarkit.analysis.conversation.reconcile` (back-filled rows re-timed onto the
    live clock by ``start_at``; a row overlapping better-ranked speech on its side is
    dropped). Live rows are the latest versions (by ``order``, finals preferred) of the
    utterances of capture sessions; back-fill rows are those whose ``session_id`` starts
    with ``BACKFILL_SESSION_PREFIX``. Labels:

    * ``both``: a live final that a back-filled phrase duplicated (the phrase is dropped);
    * ``backfill``: a phrase live capture never delivered (it fills a gap);
    * ``live``: a live final no phrase duplicated, and a live version that never became
      final where no kept phrase covers it (where one does, the phrase replaces it).

    Args:
        segments: a ``diarkit.schema.SEGMENTS`` table (any mix of versions and sources).

    Returns:
        The merged rows, sorted by conversation and start, with a ``source`` column
        (``live``, ``backfill`` or ``both``; see ``SOURCES``).
    """
    if len(segments) == 0:
        out = segments.copy()
        out["source"] = pd.Series([], dtype="string")
        return out
    bf = is_backfill(segments["session_id"])
    live_all = segments[~bf].sort_values(["is_final", "order"], kind="stable")
    key = ["conversation_id", "communication_id", "utterance_id"]
    live = live_all.drop_duplicates(subset=key, keep="last")
    phr = segments[bf].drop_duplicates(subset=key, keep="last")
    final = live["is_final"].to_numpy(dtype=bool)
    rows = pd.concat([live[final].assign(_kind="final"), live[~final].assign(_kind="partial"),
                      phr.assign(_kind="phrase")], ignore_index=True)
    rows["_i"] = np.arange(len(rows))
    kind = rows["_kind"].to_numpy()
    rows = align_to_live(rows.assign(source=pd.Categorical(
        np.where(kind == "phrase", "backfill", "live"), categories=list(SEGMENT_SOURCES))))
    kind = rows["_kind"].to_numpy()
    # finals and phrases: the merging rule decides what stays
    kept, dropped = reconcile(rows[kind != "partial"])
    kept_phr = kept[kept["_kind"] == "phrase"]
    dropped_phr = dropped[dropped["_kind"] == "phrase"]
    finals = kept[kept["_kind"] == "final"]
    # a live final a dropped phrase overlaps is the same speech: ``both``
    dup = reconcile(_ranked(dropped_phr, "live", finals, "backfill")).dropped
    both = set(dup["_i"].tolist())
    # a never-final live version gives way to a kept phrase covering it
    partials = reconcile(_ranked(kept_phr, "live", rows[kind == "partial"], "backfill"))
    partials_kept = partials.segments[partials.segments["_kind"] == "partial"]
    label = np.where(finals["_i"].isin(both).to_numpy(dtype=bool), "both", "live")
    out = pd.concat([finals.assign(source=label), partials_kept.assign(source="live"),
                     kept_phr.assign(source="backfill")], ignore_index=True)
    # absolute times as loaded (``_ranked`` cleared them in its helper tables)
    out["start_at"] = rows["start_at"].set_axis(rows["_i"].to_numpy()).reindex(
        out["_i"].to_numpy()).to_numpy()
    out = out.drop(columns=["_kind", "_i"])
    for col in ("conversation_id", "channel"):
        if isinstance(segments[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str).astype("category")
    out["source"] = out["source"].astype("string")
    return out.sort_values(["conversation_id", "start_s", "end_s"], kind="stable",
                           ignore_index=True)


def _ranked(better: pd.DataFrame, better_as: str, worse: pd.DataFrame, worse_as: str
            ) -> pd.DataFrame:
    """Two sets of already aligned rows as one table whose ``source`` ranks ``better`` first
    (``start_at`` cleared so :func:`reconcile` does not re-time them again)."""
    both = pd.concat([better, worse], ignore_index=True)
    names = [better_as] * len(better) + [worse_as] * len(worse)
    return both.assign(source=pd.Categorical(names, categories=list(SEGMENT_SOURCES)),
                       start_at=both["start_at"].where(np.zeros(len(both), dtype=bool)))


# --------------------------------------------------------------------------- coverage


#: Columns of the ``coverage`` table (times in seconds, shares as fractions 0-1).
COVERAGE_COLUMNS = (
    "conversation_id", "duration_s", "live_s", "backfill_s", "unknown_s",
    "coverage_live", "coverage_backfill", "coverage_unknown", "complete",
)


@dataclass(frozen=True, slots=True)
class LiveView:
    """What live capture saw of one conversation (seconds on the session clock).

    Attributes:
        conversation_id: the conversation.
        missing: (start, end) ranges live capture did not see: before it joined, inside
            disconnections, utterances never final, and after the last frame when the
            session never ended (``end`` may be ``inf``: until the call's end).
        duration_s: the call's duration as live capture knows it: the ``SESSION_ENDED``
            offset, else the last frame's (then the true end is unknown); NaN when live
            capture received nothing of the call (then all of it is unknown).
        ended: live capture saw ``SESSION_ENDED``.
    """

    conversation_id: str
    missing: tuple[tuple[float, float], ...]
    duration_s: float
    ended: bool


def coverage(views: Iterable[LiveView], backfilled: Mapping[str, float]) -> pd.DataFrame:
    """Share of each call's time covered by live capture, by back-fill only, and unknown.

    A back-filled post-call transcript covers the whole recorded call, so it fills every
    range live capture missed; without one those ranges are unknown. The call's duration
    is the back-filled transcript's when there is one, else what live capture saw end.

    Args:
        views: what live capture saw of each conversation.
        backfilled: conversation id to the duration (seconds) of its back-filled
            post-call transcript, for every conversation that has one.

    Returns:
        One row per conversation, columns ``COVERAGE_COLUMNS``: ``live_s + backfill_s +
        unknown_s == duration_s``; ``coverage_*`` are those as fractions of
        ``duration_s``; ``complete`` is True when nothing is unknown and the call's end
        is known (``SESSION_ENDED`` seen, or a back-filled transcript).
    """
    rows = []
    seen: set[str] = set()
    for v in views:
        seen.add(v.conversation_id)
        has_bf = v.conversation_id in backfilled
        dur = float(backfilled[v.conversation_id]) if has_bf else float(v.duration_s)
        if dur != dur:  # live capture received nothing: all of the call is unknown
            rows.append({"conversation_id": v.conversation_id, "duration_s": dur,
                         "live_s": 0.0, "backfill_s": 0.0, "unknown_s": dur,
                         "coverage_live": 0.0, "coverage_backfill": 0.0,
                         "coverage_unknown": 1.0, "complete": False})
            continue
        miss = np.array(v.missing, dtype=float).reshape(-1, 2)
        s, e = _clip(miss[:, 0], miss[:, 1], 0.0, dur)
        missed = _union_length(s, e)
        rows.append(_cov_row(v.conversation_id, dur, dur - missed,
                             missed if has_bf else 0.0, 0.0 if has_bf else missed,
                             v.ended or has_bf))
    for cid, dur in backfilled.items():  # back-filled calls live capture never saw
        if cid not in seen:
            rows.append(_cov_row(cid, float(dur), 0.0, float(dur), 0.0, True))
    return pd.DataFrame(rows, columns=list(COVERAGE_COLUMNS))


def _cov_row(cid: str, dur: float, live: float, bf: float, unknown: float, end_known: bool
             ) -> dict[str, object]:
    share = (lambda x: x / dur) if dur > 0 else (lambda x: float("nan"))
    return {"conversation_id": cid, "duration_s": dur, "live_s": live, "backfill_s": bf,
            "unknown_s": unknown, "coverage_live": share(live),
            "coverage_backfill": share(bf), "coverage_unknown": share(unknown),
            "complete": bool(unknown <= 1e-9 and end_known)}


# --------------------------------------------------------------------------- comparison


#: Per-call coverage columns :func:`with_coverage` adds to a ``STATS`` table (optional
#: columns of ``diarkit.schema.STATS``): shares are fractions 0-1 of the call time.
STATS_COVERAGE = {"coverage_live": "call_coverage_live",
                  "coverage_backfill": "call_coverage_backfill",
                  "coverage_unknown": "call_coverage_unknown",
                  "complete": "call_complete"}


def with_coverage(stats: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
    """``stats`` with each call's coverage (``call_coverage_live``, ``_backfill``,
    ``_unknown``: fractions 0-1 of the call time; ``call_complete``: nothing unknown).

    Args:
        stats: a ``diarkit.schema.STATS`` table (one or more rows per conversation).
        coverage: a :func:`coverage` table (``COVERAGE_COLUMNS``).

    Returns:
        A new frame, same rows and order; a conversation the coverage table does not know
        gets NaN shares and ``call_complete`` False (its completeness is not known).

    Raises:
        ValueError: when ``coverage`` lacks a coverage column.
    """
    missing = [c for c in ("conversation_id", *STATS_COVERAGE) if c not in coverage.columns]
    if missing:
        raise ValueError(f"with_coverage(): coverage table has no column(s) {missing}")
    cov = coverage.assign(conversation_id=coverage["conversation_id"].astype(str))
    cov = cov.drop_duplicates("conversation_id").set_index("conversation_id")
    ids = stats["conversation_id"].astype(str)
    out = stats.copy()
    for src, dst in STATS_COVERAGE.items():
        col = ids.map(cov[src])
        if src == "complete":
            out[dst] = col.astype("boolean").fillna(False).to_numpy(dtype=bool)
        else:
            out[dst] = col.astype(np.float64).to_numpy()
    return out


@dataclass(frozen=True)
class Comparison:
    """Result of ``compare_metrics``.

    Attributes:
        per_call: one row per (conversation, metric): ``diarkit``, ``genesys``,
            ``diff`` (diarkit - genesys, seconds) and ``beyond`` (|diff| > threshold).
        fleet: one row per metric: ``calls`` compared, ``bias_s`` (mean diff),
            ``mad_s`` (mean absolute diff), ``beyond`` (calls over the threshold) and
            ``threshold_s``.
        threshold_s: the threshold in seconds.
    """

    per_call: pd.DataFrame
    fleet: pd.DataFrame
    threshold_s: float

    @property
    def disagreeing(self) -> list[str]:
        """Conversation ids with at least one metric beyond the threshold, sorted."""
        pc = self.per_call
        return sorted(pc.loc[pc["beyond"], "conversation_id"].astype(str).unique().tolist())


def compare_metrics(
    diarkit: pd.DataFrame,
    genesys: pd.DataFrame,
    *,
    threshold_s: float = 1.0,
    metrics: Sequence[str] = METRICS,
) -> Comparison:
    """Compare diarkit's per-call figures with Genesys's: per call, and for the fleet.

    Args:
        diarkit: one row per conversation: ``conversation_id`` and metric columns (s).
        genesys: the same columns, from the analytics details and STA metrics.
        threshold_s: a call disagrees on a metric when |diarkit - genesys| exceeds this
            many seconds (strictly greater).
        metrics: which columns to compare; a metric NaN on either side of a call is not
            compared for that call.

    Returns:
        A ``Comparison``. Bias is mean(diarkit - genesys); MAD is mean |diarkit - genesys|.
    """
    if threshold_s < 0:
        raise ValueError(f"threshold_s must be >= 0 seconds, got {threshold_s}")
    for name, df in (("diarkit", diarkit), ("genesys", genesys)):
        if "conversation_id" not in df.columns:
            raise ValueError(f"{name} table has no conversation_id column")
    d = diarkit.assign(conversation_id=diarkit["conversation_id"].astype(str))
    g = genesys.assign(conversation_id=genesys["conversation_id"].astype(str))
    both = d.merge(g, on="conversation_id", suffixes=("_d", "_g"))
    parts = []
    for m in metrics:
        if f"{m}_d" not in both.columns and m not in d.columns:
            continue
        dv = both[f"{m}_d"] if f"{m}_d" in both.columns else both[m]
        gv = both[f"{m}_g"] if f"{m}_g" in both.columns else pd.Series(np.nan, index=both.index)
        df = pd.DataFrame({"conversation_id": both["conversation_id"], "metric": m,
                           "diarkit": dv.astype(float), "genesys": gv.astype(float)})
        parts.append(df.dropna(subset=["diarkit", "genesys"]))
    cols = ["conversation_id", "metric", "diarkit", "genesys", "diff", "beyond"]
    per = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols[:4])
    per["diff"] = (per["diarkit"] - per["genesys"]).astype(float)
    per["beyond"] = (per["diff"].abs() > threshold_s).astype(bool)
    per = per[cols]
    grouped = per.groupby("metric", sort=False)
    fleet = pd.DataFrame({
        "calls": grouped.size(),
        "bias_s": grouped["diff"].mean(),
        "mad_s": grouped["diff"].apply(lambda s: float(s.abs().mean())),
        "beyond": grouped["beyond"].sum().astype(int),
    }).reset_index()
    fleet["threshold_s"] = float(threshold_s)
    return Comparison(per, fleet, float(threshold_s))


def sta_seconds(percentages: Mapping[str, float | None], duration_s: float) -> dict[str, float]:
    """STA ``ParticipantMetrics`` percentages (0-100) of a call as seconds per category.

    ``agentDurationPercentage`` -> ``agent_s`` and so on; ``otherDurationPercentage``
    (hold, music, anything else) -> ``other_s``. Missing values become NaN.
    """
    names = {"agent_s": "agentDurationPercentage", "customer_s": "customerDurationPercentage",
             "overtalk_s": "overtalkDurationPercentage",
             "silence_s": "silenceDurationPercentage", "ivr_s": "ivrDurationPercentage",
             "acd_s": "acdDurationPercentage", "other_s": "otherDurationPercentage"}
    out = {}
    for k, v in names.items():
        p = percentages.get(v)
        out[k] = float(p) / 100.0 * duration_s if p is not None else float("nan")
    return out


__all__ = [
    "BACKFILL_SESSION_PREFIX",
    "COVERAGE_COLUMNS",
    "METRICS",
    "PARTITION",
    "STATS_COVERAGE",
    "Comparison",
    "LiveView",
    "compare_metrics",
    "coverage",
    "is_backfill",
    "merge_sources",
    "partition_table",
    "speech_partition",
    "sta_seconds",
    "with_coverage",
]
