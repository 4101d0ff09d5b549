"""Segment sources and their reconciliation: one timeline per conversation (seconds).

- :func:`source_of` names each segment's source (``live``/``backfill``/``import``) from
  the raw row it came from;
- :func:`reconcile` merges sources and duplicate communications into one timeline per
  conversation, never adding them (:func:`align_to_live` first re-times other sources
  onto the live clock);
- :func:`one_timeline` is what every metric reads: finalized, repeated finals once, blank
  finals dropped, reconciled.

``docs/conversation-model.md`` ("Segment sources and precedence") states the rules.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from diarkit.analysis._core import codes_of, float_array, to_ms
from diarkit.schema import SEGMENT_SOURCES, SEGMENTS, SPEAKER_BY_CHANNEL, validate

#: Raw ``topic`` of post-call transcripts written by ``diarkit backfill``.
BACKFILL_TOPIC = "diarkit.backfill.sta_transcript"
#: Prefix of the raw ``source`` column that marks a back-filled row.
BACKFILL_SOURCE_PREFIX = "backfill:"
#: Precedence rank of each source (lower wins).
SOURCE_RANK = {name: i for i, name in enumerate(SEGMENT_SOURCES)}


def source_of(topics: pd.Series, raw_sources: pd.Series | None = None) -> pd.Categorical:
    """The ``source`` of segments from their raw rows' ``topic`` (and raw ``source``).

    - ``backfill``: raw topic ``diarkit.backfill.*`` or raw ``source`` starting with
      ``backfill:`` (post-call transcripts fetched by ``diarkit backfill``);
    - ``live``: notification frames (topic ``v2.*``), captured or converted from files;
    - ``import``: anything else (post-call transcript files, tutorial formats).
    """
    topic = topics.astype("string").fillna("")
    out = np.where(topic.str.startswith("v2.").to_numpy(dtype=bool), "live", "import")
    back = topic.str.startswith("diarkit.backfill.").to_numpy(dtype=bool)
    if raw_sources is not None:
        src = raw_sources.astype("string").fillna("")
        back |= src.str.startswith(BACKFILL_SOURCE_PREFIX).to_numpy(dtype=bool)
    out = np.where(back, "backfill", out)
    return pd.Categorical(out, categories=list(SEGMENT_SOURCES))


class Reconciled(NamedTuple):
    """Result of :func:`reconcile`: one timeline per conversation, and what was dropped."""

    segments: pd.DataFrame
    dropped: pd.DataFrame


def _overlaps_better(
    group: np.ndarray, rank: np.ndarray, start_ms: np.ndarray, end_ms: np.ndarray
) -> np.ndarray:
    """True for rows overlapping (positive length) a row of the same group with lower rank."""
    n = len(group)
    hit = np.zeros(n, dtype=bool)
    ranks = np.unique(rank)
    if len(ranks) < 2:
        return hit
    span = int(max(end_ms.max(), 0)) + 2
    base = group.astype(np.int64) * span
    for r in ranks[1:]:  # a handful of ranks, each pass vectorised
        better = rank < r
        mine = np.flatnonzero(rank == r)
        if not better.any() or not len(mine):
            continue
        # union of the better rows per group, as disjoint blocks on one integer axis
        bs = base[better] + start_ms[better]
        be = base[better] + end_ms[better]
        order = np.argsort(bs, kind="stable")
        bs, be = bs[order], be[order]
        run_end = np.maximum.accumulate(be)
        new = np.ones(len(bs), dtype=bool)
        new[1:] = bs[1:] >= run_end[:-1]
        first = np.flatnonzero(new)
        blk_s = bs[first]
        blk_e = np.maximum.reduceat(be, first)
        s = base[mine] + start_ms[mine]
        e = base[mine] + end_ms[mine]
        i = np.searchsorted(blk_e, s, side="right")  # first block ending after s
        ok = i < len(blk_s)
        j = np.where(ok, i, 0)
        hit[mine] = ok & (blk_s[j] < np.maximum(e, s + 1)) & (blk_e[j] > s)
    return hit


#: Channels that say nothing about the side: in :func:`reconcile` they collide with speech
#: on either side (``INTERNAL`` and ``EXTERNAL``).
WILDCARD_CHANNELS = ("BOTH", "UNKNOWN")


def align_to_live(segments: pd.DataFrame) -> pd.DataFrame:
    """Non-live rows re-timed onto their conversation's live session clock.

    A post-call transcript measures from its own start and the live stream from the
    transcription session start; the two clocks of one call can sit ~0.6 s apart. Both give
    absolute times (``start_at``, UTC). Where a conversation has live rows with
    ``start_at``, each non-live row with a ``start_at`` gets ``start_s = start_at -
    origin`` (seconds), ``origin`` being the median over the conversation's live rows of
    ``start_at - start_s``; ``end_s`` keeps the row's duration. Other rows are unchanged.

    Args:
        segments: segments with ``source``, ``conversation_id``, ``start_s``, ``end_s``
            and ``start_at`` columns (without ``source`` or ``start_at`` nothing changes).

    Returns:
        ``segments`` itself when nothing is re-timed, else a re-timed copy (same index).
    """
    if "source" not in segments.columns or "start_at" not in segments.columns:
        return segments
    src = segments["source"].astype("string").fillna("live")
    return _align(segments, (src == "live").to_numpy(dtype=bool))


def _align(segments: pd.DataFrame, live: np.ndarray) -> pd.DataFrame:
    """:func:`align_to_live` with the live rows given (a boolean mask)."""
    if live.all() or not live.any() or "start_at" not in segments.columns:
        return segments
    at = pd.to_datetime(segments["start_at"], utc=True)
    has_at = at.notna().to_numpy(dtype=bool)
    lv = live & has_at
    if not lv.any():
        return segments
    conv, _ = codes_of(segments["conversation_id"])
    start = float_array(segments["start_s"])
    at_ns = at.to_numpy(dtype="datetime64[ns]").astype(np.int64)  # NaT: int64 min
    # origin per conversation (ns since epoch): median of live start_at - start_s
    origin = pd.Series(at_ns[lv] - np.rint(start[lv] * 1e9).astype(np.int64)).groupby(
        conv[lv]).median()
    o = pd.Series(origin).reindex(conv).to_numpy(dtype=np.float64)
    ok = ~live & has_at & ~np.isnan(o)
    if not ok.any():
        return segments
    out = segments.copy()
    dur = float_array(out["end_s"]) - start
    new_start = np.where(ok, (at_ns - np.where(ok, o, 0).astype(np.int64)) / 1e9, np.nan)
    start = np.where(ok, new_start, start)
    out["start_s"] = np.where(ok, np.round(start, 6), out["start_s"].to_numpy(dtype=float))
    out["end_s"] = np.where(ok, np.round(start + dur, 6), out["end_s"].to_numpy(dtype=float))
    return out


def _wildcard_collisions(
    df: pd.DataFrame, conv: np.ndarray, src_rank: np.ndarray, start_ms: np.ndarray,
    end_ms: np.ndarray, dropped: np.ndarray,
) -> np.ndarray:
    """Rows of a worse source overlapping a better source's row where one of the two has a
    wildcard channel (``BOTH``/``UNKNOWN`` without a speaker of its own): such a row stands
    for either side, so it is the same speech as the other source's row on that side."""
    channel = df["channel"].astype("string").fillna("UNKNOWN")
    speaker = df["speaker"].astype("string")
    default = channel.map(SPEAKER_BY_CHANNEL)
    wild = (channel.isin(WILDCARD_CHANNELS) & (speaker.isna() | speaker.eq(default))
            ).to_numpy(dtype=bool, na_value=False)
    sided = channel.isin(("INTERNAL", "EXTERNAL")).to_numpy(dtype=bool)
    alive = ~dropped
    if not (wild & alive).any():
        return np.zeros(len(df), dtype=bool)
    side = np.where(channel.eq("EXTERNAL").to_numpy(dtype=bool, na_value=False), 1, 0)
    hit = np.zeros(len(df), dtype=bool)
    for k in np.unique(src_rank[alive]).tolist()[1:]:
        cand = alive & (src_rank == k)
        block = alive & (src_rank < k)
        # (blocker rows, blocker sides, candidate rows, candidate sides)
        passes = [
            (np.flatnonzero(block & wild), None, np.flatnonzero(cand & sided), "own"),
            (np.flatnonzero(block & sided), "own", np.flatnonzero(cand & wild), None),
            (np.flatnonzero(block & wild), None, np.flatnonzero(cand & wild), None),
        ]
        for b_rows, b_side, c_rows, c_side in passes:
            if not len(b_rows) or not len(c_rows):
                continue
            bi, bs = _expand(b_rows, side, b_side)
            ci, cs = _expand(c_rows, side, c_side)
            rows = np.concatenate([bi, ci])
            g = conv[rows].astype(np.int64) * 2 + np.concatenate([bs, cs])
            r = np.concatenate([np.zeros(len(bi), np.int64), np.ones(len(ci), np.int64)])
            h = _overlaps_better(g, r, start_ms[rows], end_ms[rows])
            np.logical_or.at(hit, ci, h[len(bi):])
    return hit


def _expand(rows: np.ndarray, side: np.ndarray, how: str | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Rows with their side (0 internal, 1 external): their own, or each row on both."""
    if how == "own":
        return rows, side[rows]
    return np.concatenate([rows, rows]), np.repeat(np.array([0, 1]), len(rows))


def reconcile(segments: pd.DataFrame) -> Reconciled:
    """Merge sources and duplicate communications into one timeline per conversation.

    The one definition of source merging (``diarkit.analysis.reconcile.merge_sources``
    and every metric use it). First, rows of other sources are re-timed onto their
    conversation's live clock by absolute time (:func:`align_to_live`). Then each segment
    belongs to a (``source``, ``communication_id``) stream. Within a conversation, channel
    and speaker, streams are ranked: by source (``live`` before ``backfill`` before
    ``import``), then by communication (most speech first, ties by id). A segment is
    dropped when it overlaps (positive length, at millisecond resolution) a segment of a
    better-ranked stream in the same conversation, channel and speaker; across sources, a
    row on a wildcard channel (``BOTH``/``UNKNOWN`` without a speaker of its own) also
    collides with either side. So a back-filled phrase fills a capture gap but never
    doubles live speech, and the other side's back-channel inside a live turn is kept.
    Rows without ``source`` are ``live``.

    Args:
        segments: finalized segments (``diarkit.schema.SEGMENTS``), optionally with a
            ``source`` column (:func:`source_of`).

    Returns:
        ``Reconciled(segments, dropped)``: kept rows (with a ``source`` column; non-live
        rows re-timed onto the live clock) and the dropped rows, in input order.
    """
    validate(segments, SEGMENTS, where="reconcile()")
    df = segments
    if "source" not in df.columns:
        live = np.zeros(len(df), dtype=np.int8)
        df = df.assign(source=pd.Categorical.from_codes(live, categories=list(SEGMENT_SOURCES)))
    n = len(df)
    if n == 0:
        return Reconciled(df, df.iloc[:0])
    known = pd.Index(list(SEGMENT_SOURCES))
    col = df["source"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        per_cat = known.get_indexer(col.cat.categories.astype(str))
        codes = col.cat.codes.to_numpy()
        src_rank = np.where(codes < 0, 0, np.append(per_cat, 0)[codes]).astype(np.int64)
    else:
        values = col.astype(object).where(col.notna(), "live")
        src_rank = known.get_indexer(values).astype(np.int64)
    if (src_rank < 0).any():
        bad = df["source"].iloc[int(np.flatnonzero(src_rank < 0)[0])]
        raise ValueError(f"reconcile(): unknown source {bad!r}; known: {list(SEGMENT_SOURCES)}")
    df = _align(df, src_rank == 0)
    conv, _ = codes_of(df["conversation_id"])
    chan, chan_labels = codes_of(df["channel"])
    spk, spk_labels = codes_of(df["speaker"])
    comm, _ = codes_of(df["communication_id"])
    n_chan = len(chan_labels) + 1
    n_spk = len(spk_labels) + 1
    group = (conv * n_chan + (chan + 1)) * n_spk + (spk + 1)
    n_comm = int(comm.max()) + 2
    stream = src_rank * n_comm + (comm + 1)
    drop = np.zeros(n, dtype=bool)
    # fast path: one stream per (conversation, channel, speaker) -> nothing can collide
    n_streams = len(SEGMENT_SOURCES) * n_comm
    pairs = np.unique(group * n_streams + stream)
    one_source = src_rank.max() == src_rank.min()
    if one_source and len(pairs) == len(np.unique(pairs // n_streams)):
        return Reconciled(df, df.iloc[:0])
    start_ms = to_ms(float_array(df["start_s"]))
    end_ms = to_ms(float_array(df["end_s"]))
    if len(pairs) != len(np.unique(pairs // n_streams)):
        speech = pd.DataFrame(
            {"g": group, "st": stream, "src": src_rank, "c": comm, "d": end_ms - start_ms}
        )
        totals = speech.groupby(["g", "st", "src", "c"], sort=False)["d"].sum().reset_index()
        totals = totals.sort_values(["g", "src", "d", "c"], ascending=[True, True, False, True])
        totals["r"] = totals.groupby("g").cumcount()
        rank_of = totals.set_index(["g", "st"])["r"]
        rank = rank_of.reindex(pd.MultiIndex.from_arrays([group, stream])).to_numpy(np.int64)
        drop = _overlaps_better(group, rank, start_ms, end_ms)
    if not one_source:
        drop |= _wildcard_collisions(df, conv, src_rank, start_ms, end_ms, drop)
    return Reconciled(df[~drop], df[drop])


def one_timeline(segments: pd.DataFrame, profile: Any, where: str = "talk_stats()") -> pd.DataFrame:
    """Finalized, de-duplicated, reconciled segments with text: what every metric reads.

    Partial versions are finalized (``profile.unfinalized == "finalize"``, the latest
    final version of each utterance is kept) or refused with a ``ValueError`` naming the
    first partial row (``"error"``); repeated final versions of one utterance are kept
    once; final segments with blank text (the recogniser heard nothing) are not speech;
    sources and duplicate communications are merged by :func:`reconcile`.
    """
    from diarkit.analysis.finality import finalize

    final = segments["is_final"].to_numpy(dtype=bool, na_value=False)
    needs = not final.all()
    if not needs and len(segments) > 1:
        # repeated final versions share conversation, communication and times: a hash of
        # those finds candidates cheaply (a collision only costs a finalize)
        conv, _ = codes_of(segments["conversation_id"])
        comm, _ = codes_of(segments["communication_id"])
        start = to_ms(np.nan_to_num(float_array(segments["start_s"])))
        end = to_ms(np.nan_to_num(float_array(segments["end_s"])))
        with np.errstate(over="ignore"):
            h = (
                conv.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                ^ (comm + 1).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
                ^ start.astype(np.uint64) * np.uint64(0x165667B19E3779F9)
                ^ end.astype(np.uint64) * np.uint64(0x27D4EB2F165667C5)
            )
        h.sort()
        needs = bool((h[1:] == h[:-1]).any())
    if needs:
        if profile.unfinalized == "error" and not final.all():
            bad = np.flatnonzero(~final)
            raise ValueError(
                f"{where}: {len(bad)} unfinalized row(s) (is_final false), first at index "
                f"{segments.index[bad[0]]!r}; pass finalize(segments).segments, or use a "
                "profile with unfinalized='finalize'"
            )
        segments = finalize(segments).segments
    from diarkit.analysis.confidence import _blank

    blank = _blank(segments["text"])
    if blank.any():  # the recogniser heard nothing: no words, not speech
        segments = segments[~blank]
    return reconcile(segments).segments
