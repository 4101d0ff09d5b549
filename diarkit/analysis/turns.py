"""Speaker turns: merge consecutive segments of one speaker (times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.analysis._core import (
    check_intervals,
    codes_of,
    float_array,
    group_cummax,
    order_by,
    starts_of_runs,
)
from diarkit.schema import SEGMENTS, TURNS, validate

if TYPE_CHECKING:
    from diarkit.analysis.profiles import Profile

#: Default largest pause (seconds) between two segments of one speaker inside one turn
#: (the default profile's ``max_gap_s``).
MAX_GAP_S = 1.0


@dataclass(frozen=True, slots=True)
class TurnIndex:
    """Turn boundaries as arrays (internal): which turn each sorted segment belongs to."""

    order: np.ndarray  # segment row positions sorted by (conversation, start, end)
    first: np.ndarray  # positions in the sorted order where a turn begins
    conv: np.ndarray  # conversation code per turn
    speaker: np.ndarray  # speaker code per turn
    start: np.ndarray  # seconds
    end: np.ndarray  # seconds
    conv_labels: pd.Index
    speaker_labels: pd.Index


def turn_bounds(
    conv: np.ndarray,
    spk: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    max_gap: float,
    *ties: np.ndarray,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort order, turn-first positions and turn ends (s) for coded segment arrays.

    Segments are ordered by conversation, start, end, speaker, then ``ties`` (or by the
    given ``order``, which must be that order).
    """
    if max_gap < 0 or not np.isfinite(max_gap):
        raise ValueError(f"max_gap must be a finite number of seconds >= 0, got {max_gap}")
    if order is None:
        n_conv = int(conv.max()) + 1 if len(conv) else 1
        order = order_by(conv, n_conv, start, end, spk, *ties)
    c, k, s, e = conv[order], spk[order], start[order], end[order]
    # a run is a stretch of consecutive segments with the same conversation and speaker
    run_first = starts_of_runs(c) | starts_of_runs(k)
    running_end = group_cummax(e, np.cumsum(run_first))
    new = run_first.copy()
    # compared on integer milliseconds: a pause of exactly max_gap stays inside the turn
    gap_ms = np.rint((s[1:] - running_end[:-1]) * 1000.0)
    new[1:] |= gap_ms > round(max_gap * 1000)
    first = np.flatnonzero(new)
    turn_end = np.maximum.reduceat(e, first) if len(first) else e[:0]
    return order, first, turn_end


def backchannel_merge_map(
    conv: np.ndarray,
    spk: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    *,
    max_gap_ms: int,
    backchannel_ms: int,
    ends_turn: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """For each input turn, the index of the input turn it merges into, and backchannel flags.

    Same rules as :func:`merge_backchannels` (which applies this map).
    """
    n = len(conv)
    target = np.arange(n)
    is_bc = np.zeros(n, dtype=bool)
    if n < 2 or backchannel_ms <= 0:
        return target, is_bc
    dur_ms = np.rint((end - start) * 1000.0).astype(np.int64)
    short = dur_ms < backchannel_ms
    if not short.any():
        return target, is_bc
    idx = np.flatnonzero(~short)  # the longer turns, in order
    last_long = np.maximum.accumulate(np.where(~short, np.arange(n), -1))
    prev_long = np.full(n, -1)
    prev_long[1:] = last_long[:-1]
    p = np.where(prev_long >= 0, prev_long, 0)
    inside = (
        short
        & (prev_long >= 0)
        & (conv[p] == conv)
        & (spk[p] != spk)
        & (np.rint((end[p] - end) * 1000.0) >= 0)
    )
    merge = np.zeros(len(idx), dtype=bool)  # idx[i] joins the run of idx[i-1]
    if len(idx) > 1:
        a, b = idx[:-1], idx[1:]
        gap_ms = np.rint((start[b] - end[a]) * 1000.0).astype(np.int64)
        merge[1:] = (
            (conv[a] == conv[b]) & (spk[a] == spk[b]) & (b - a > 1) & (gap_ms <= max_gap_ms)
        )
    between = np.zeros(n + 1, dtype=np.int64)
    if merge.any():
        j = np.flatnonzero(merge)
        np.add.at(between, idx[j - 1] + 1, 1)
        np.add.at(between, idx[j], -1)
    is_bc = short & ((np.cumsum(between)[:n] > 0) | inside)
    if ends_turn or not merge.any():
        return target, is_bc
    run = np.cumsum(~merge) - 1  # run number of each longer turn
    root = idx[np.flatnonzero(~merge)][run]
    target[idx] = root
    return target, is_bc


def merge_backchannels(
    conv: np.ndarray,
    spk: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    *,
    max_gap_ms: int,
    backchannel_ms: int,
    ends_turn: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge turns split only by another speaker's backchannel; flag the backchannels.

    Input turns are sorted by (conversation, start). A turn shorter than
    ``backchannel_ms`` (integer milliseconds) is a *backchannel* when it lies inside the
    preceding longer turn of another speaker, or when it sits between two longer turns of
    one other speaker whose pause (later start minus earlier end) is at most
    ``max_gap_ms``; those two turns then become one (unless ``ends_turn``). Short turns
    that are neither stay ordinary turns (a short answer is a response).

    Returns:
        (conv, speaker, start_s, end_s, is_backchannel) of the resulting turns, still
        sorted by (conversation, start).
    """
    target, is_bc = backchannel_merge_map(
        conv,
        spk,
        start,
        end,
        max_gap_ms=max_gap_ms,
        backchannel_ms=backchannel_ms,
        ends_turn=ends_turn,
    )
    keep = target == np.arange(len(conv))
    if keep.all():
        return conv, spk, start, end, is_bc
    new_end = end.copy()
    np.maximum.at(new_end, target, end)
    return conv[keep], spk[keep], start[keep], new_end[keep], is_bc[keep]


def turn_index(segments: pd.DataFrame, max_gap: float = MAX_GAP_S) -> TurnIndex:
    """Compute turn boundaries without building text (the fast path of :func:`talk_stats`)."""
    conv, conv_labels = codes_of(segments["conversation_id"])
    spk, spk_labels = codes_of(segments["speaker"])
    start = float_array(segments["start_s"])
    end = float_array(segments["end_s"])
    received = segments["order"].to_numpy(dtype=np.int64, na_value=-1)
    order, first, turn_end = turn_bounds(conv, spk, start, end, max_gap, received)
    pos = order[first]
    return TurnIndex(
        order=order,
        first=first,
        conv=conv[pos],
        speaker=spk[pos],
        start=start[pos],
        end=turn_end,
        conv_labels=conv_labels,
        speaker_labels=spk_labels,
    )


def speech_rows(segments: pd.DataFrame) -> pd.DataFrame:
    """The rows that are speech for turns: ``end_s > start_s`` (zero-length rows dropped).

    A zero-length segment (``end_s == start_s``) has no duration, so it neither opens,
    extends nor ends a turn (``docs/metrics.md``). The index is reset.
    """
    keep = float_array(segments["end_s"]) > float_array(segments["start_s"])
    if keep.all():
        return segments
    return segments.loc[keep].reset_index(drop=True)


def _labels(codes: np.ndarray, labels: pd.Index) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=labels.astype("string"))


def _join_text(
    text: pd.Series, order: np.ndarray, turn_of_row: np.ndarray, n_turns: int
) -> pd.Series:
    """Join each turn's non-empty texts with single spaces via Arrow list arrays."""
    arr = pa.array(text, type=pa.string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.take(pa.array(order))
    stripped = pc.utf8_trim_whitespace(arr)
    keep = pc.fill_null(pc.greater(pc.utf8_length(stripped), 0), False)
    keep_np = keep.to_numpy(zero_copy_only=False)
    counts = np.bincount(turn_of_row[keep_np], minlength=n_turns)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    values = pc.filter(stripped, keep).cast(pa.large_string())
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    joined = pc.binary_join(lists, pa.scalar(" ", pa.large_string()))
    return pd.Series(joined.cast(pa.string()).to_pandas(), dtype=pd.StringDtype())


def turns(
    segments: pd.DataFrame,
    max_gap: float | None = None,
    profile: str | Profile | None = None,
) -> pd.DataFrame:
    """Merge consecutive segments of one speaker into turns (times in seconds).

    Zero-length segments (``end_s == start_s``) are not speech: they neither open,
    extend nor end a turn and are left out of turns (their text too), exactly as in
    :func:`~diarkit.analysis.talk_stats`' turn pass. The segments are first made one
    timeline (:func:`diarkit.analysis.conversation.one_timeline`:
    partial versions finalized or refused per the profile, repeated finals once, blank
    texts dropped, sources merged), so a turn's text never repeats a partial version.
    Segments are ordered by conversation, start, end, speaker and order received. A
    segment continues the current turn when it has the same speaker as the previous
    segment and starts at most ``max_gap`` seconds after the latest end seen in the turn
    (integer milliseconds: a pause of exactly ``max_gap`` continues it; overlapping
    segments of one speaker merge). A backchannel of another speaker in between
    (``docs/metrics.md``) does not end the turn unless the profile says so; backchannels
    are turns of their own, flagged in the ``backchannel`` column.

    Args:
        segments: a table following ``diarkit.schema.SEGMENTS``, in any order.
        max_gap: the largest pause, in seconds, bridged inside one turn (default: the
            profile's ``max_gap_s``, 1.0).
        profile: the analysis profile (name or ``Profile``; default ``default``).

    Returns:
        A ``diarkit.schema.TURNS`` table: ``start_s``/``end_s``/``duration_s`` in seconds,
        ``text`` (non-empty segment texts joined by one space, in time order),
        ``segment_count``, ``word_count`` (sum of segment word counts) and ``confidence``
        (mean weighted by segment duration; NaN confidences are ignored), plus
        ``backchannel`` (bool); sorted by
        conversation and ``turn_index``.

    Raises:
        SchemaError: when the input does not follow the segments contract.
        ValueError: on missing times, ``end_s < start_s`` or a missing speaker, naming the
            first bad row; on unfinalized input with ``unfinalized="error"``.
    """
    from diarkit.analysis.profiles import get_profile
    from diarkit.analysis.sources import one_timeline

    validate(segments, SEGMENTS, where="turns()")
    prof = get_profile(profile)
    if max_gap is not None:
        prof = prof.replace(max_gap_s=max_gap)
    segments = one_timeline(segments, prof, where="turns()").reset_index(drop=True)
    check_intervals(segments, "turns()", ("conversation_id", "speaker"))
    # a zero-length segment is not speech: it neither opens, extends nor ends a turn
    # (docs/metrics.md, "Zero-length segments"); talk_stats' turn pass drops them too
    segments = speech_rows(segments)
    ti = turn_index(segments, prof.max_gap_s)
    n_turns = len(ti.first)
    n = len(ti.order)
    turn_of_row = np.zeros(n, dtype=np.int64)
    if n:
        marks = np.zeros(n, dtype=np.int64)
        marks[ti.first] = 1
        turn_of_row = np.cumsum(marks) - 1
    target, is_bc = backchannel_merge_map(
        ti.conv,
        ti.speaker,
        ti.start,
        ti.end,
        max_gap_ms=round(prof.max_gap_s * 1000),
        backchannel_ms=round(prof.backchannel_max_s * 1000),
        ends_turn=prof.backchannel_ends_turn,
    )
    if not (target == np.arange(n_turns)).all():
        keep = target == np.arange(n_turns)
        new_id = np.cumsum(keep) - 1
        turn_of_row = new_id[target[turn_of_row]]
        merged_end = ti.end.copy()
        np.maximum.at(merged_end, target, ti.end)
        # rows of a merged turn are no longer contiguous: order them by turn, then time
        regroup = np.argsort(turn_of_row, kind="stable")
        ti = TurnIndex(
            order=ti.order[regroup],
            first=np.flatnonzero(keep),
            conv=ti.conv[keep],
            speaker=ti.speaker[keep],
            start=ti.start[keep],
            end=merged_end[keep],
            conv_labels=ti.conv_labels,
            speaker_labels=ti.speaker_labels,
        )
        turn_of_row = turn_of_row[regroup]
        is_bc = is_bc[keep]
        n_turns = int(keep.sum())
    s = float_array(segments["start_s"])[ti.order]
    e = float_array(segments["end_s"])[ti.order]
    conf = float_array(segments["confidence"])[ti.order]
    words = segments["word_count"].to_numpy(dtype=np.float64, na_value=0.0)[ti.order]
    dur = e - s
    valid = ~np.isnan(conf)
    w_sum = np.bincount(turn_of_row, weights=np.where(valid, dur, 0.0), minlength=n_turns)
    wc_sum = np.bincount(
        turn_of_row, weights=np.where(valid, dur * np.nan_to_num(conf), 0.0), minlength=n_turns
    )
    c_sum = np.bincount(turn_of_row, weights=np.nan_to_num(conf), minlength=n_turns)
    c_cnt = np.bincount(turn_of_row, weights=valid.astype(np.float64), minlength=n_turns)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(w_sum > 0, wc_sum / w_sum, c_sum / c_cnt)
    turn_index_in_conv = (
        np.arange(n_turns)
        - np.flatnonzero(starts_of_runs(ti.conv))[np.cumsum(starts_of_runs(ti.conv)) - 1]
        if n_turns
        else np.zeros(0, np.int64)
    )
    out = pd.DataFrame(
        {
            "conversation_id": _labels(ti.conv, ti.conv_labels),
            "speaker": _labels(ti.speaker, ti.speaker_labels),
            "turn_index": turn_index_in_conv.astype(np.int64),
            "start_s": ti.start,
            "end_s": ti.end,
            "duration_s": ti.end - ti.start,
            "text": _join_text(segments["text"], ti.order, turn_of_row, n_turns),
            "segment_count": np.bincount(turn_of_row, minlength=n_turns).astype(np.int64),
            "word_count": np.bincount(turn_of_row, weights=words, minlength=n_turns).astype(
                np.int64
            ),
            "confidence": confidence,
            "backchannel": is_bc,
        }
    )
    if n_turns == 0:
        out = TURNS.empty().assign(backchannel=pd.Series(dtype=bool))
    validate(out, TURNS, where="turns() output")
    return out
