"""Talk-time statistics per conversation and speaker (times in seconds, shares 0-1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from diarkit.analysis._core import (
    break_ties,
    check_intervals,
    codes_of,
    float_array,
    group_cummax,
    order_by,
    run_lengths,
    starts_of_runs,
    sweep,
    to_ms,
    union_blocks,
)
from diarkit.analysis.phases import phase_index
from diarkit.analysis.profiles import DEFAULT_PROFILE, Profile, get_profile
from diarkit.analysis.sources import one_timeline
from diarkit.analysis.turns import merge_backchannels, turn_bounds
from diarkit.schema import SEGMENTS, STATS, TURNS, validate

# The default profile's thresholds, kept as names for older imports (seconds); the
# profile (diarkit.analysis.profiles) is the one place they are defined.
#: Overlaps shorter than this (seconds) are not counted as overtalk events (time still is).
MIN_OVERTALK_S = DEFAULT_PROFILE.min_overtalk_s
#: Only gaps where nobody speaks strictly longer than this (seconds) count as silence.
MIN_SILENCE_S = DEFAULT_PROFILE.min_silence_s
#: Turns shorter than this (seconds) are backchannels and never count as interruptions.
BACKCHANNEL_MAX_S = DEFAULT_PROFILE.backchannel_max_s
#: An interrupted speaker must stop within this many seconds after the interrupter starts.
INTERRUPTION_GRACE_S = DEFAULT_PROFILE.interruption_grace_s


def _group_median(values: np.ndarray, group: np.ndarray, size: int) -> np.ndarray:
    out = np.full(size, np.nan)
    if len(values):
        med = pd.Series(values).groupby(group, sort=False).median()
        out[med.index.to_numpy()] = med.to_numpy()
    return out


def _sum_by(index: np.ndarray, weights: np.ndarray | None, size: int) -> np.ndarray:
    """Sum (or count, without weights) per integer index, as float64 of length ``size``."""
    out = np.bincount(index, weights=weights, minlength=size)[:size]
    return out.astype(np.float64, copy=False)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


_USER_SEP = "\x1f"


def _split_by_user(df: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Speakers made per (speaker, user_id): ``agent`` + user id, so agents never merge."""
    spk, spk_labels = codes_of(df["speaker"])
    user, user_labels = codes_of(df["user_id"])
    key = spk * (len(user_labels) + 1) + (user + 1)
    codes, uniques = pd.factorize(key)
    spk_names = [str(x) for x in spk_labels]
    user_names = [str(x) for x in user_labels]
    u_spk = uniques // (len(user_labels) + 1)
    u_user = uniques % (len(user_labels) + 1) - 1
    labels = [
        str(spk_names[a]) if b < 0 else f"{spk_names[a]}{_USER_SEP}{user_names[b]}"
        for a, b in zip(u_spk, u_user, strict=True)
    ]
    return df.assign(speaker=pd.Categorical.from_codes(codes, categories=labels)), True


def _join_user(out: pd.DataFrame) -> pd.DataFrame:
    """Split the (speaker, user_id) labels of :func:`_split_by_user` back into columns."""
    label = out["speaker"].astype("string")
    parts = label.str.split(_USER_SEP, n=1, expand=True, regex=False)
    speaker = parts[0]
    user = parts[1] if parts.shape[1] > 1 else pd.Series(pd.NA, index=out.index, dtype="string")
    out = out.assign(speaker=speaker, user_id=user.astype("string"))
    out = out.sort_values(
        ["conversation_id", "speaker", "user_id"], kind="stable", ignore_index=True
    )
    out["speaker"] = pd.Categorical(out["speaker"], categories=sorted(out["speaker"].unique()))
    return out


def talk_stats(
    segments_or_turns: pd.DataFrame,
    profile: str | Profile | None = None,
    *,
    phases: pd.DataFrame | None = None,
    max_gap: float | None = None,
    min_overtalk_s: float | None = None,
    min_silence_s: float | None = None,
    backchannel_max_s: float | None = None,
    interruption_grace_s: float | None = None,
    span: Literal["speech", "session"] | None = None,
    min_confidence: float | None = None,
    speakers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Talk time, turns, overtalk, interruptions, silence and latency per speaker (seconds).

    One row per (conversation, speaker). Every value depends only on the rows of its own
    conversation, so running this on any set of whole conversations gives the same rows
    as on the full table (what a Dask ``map_partitions`` relies on). Columns, all listed
    with units in ``diarkit.schema.STATS``:

    - ``talk_time_s``: length of the union of the speaker's intervals (overlapping
      segments of one speaker are never double counted).
    - ``talk_share_call``: ``talk_time_s / call_duration_s`` (the vendors' denominator).
    - ``talk_share_speech``: ``talk_time_s`` over the sum of all speakers' talk time in the
      conversation (pyannote ``chart(percent=True)``; shares sum to 1).
    - ``turn_count``, ``turn_mean_s``, ``turn_median_s``, ``turn_max_s`` (longest
      monologue): from :func:`diarkit.analysis.turns` with ``max_gap``, or the given turns.
    - ``words_per_minute``: ``word_count / (talk_time_s / 60)``.
    - ``overtalk_s``: seconds the speaker talks while someone else talks too.
    - ``interruptions`` (by this speaker) / ``interrupted`` (of this speaker): a turn of
      A interrupts B when it starts strictly inside B's turn, lasts at least
      ``backchannel_max_s`` (shorter ones are backchannels), B stops at most
      ``interruption_grace_s`` after A started, and A talks on after B stopped.
    - ``response_count``, ``response_latency_mean_s``, ``response_latency_median_s``: for
      each turn that follows (in start order) a turn of another speaker, its start minus
      that turn's end; negative when the speaker starts before the other finished.
    - ``patience_s``: mean of the latencies clipped at 0 — how long the speaker waits
      before replying (the agent row is "agent patience").
    - ``call_*``: conversation-level values repeated on each of its rows: span
      (``call_start_s``, ``call_end_s``, ``call_duration_s``), ``call_speech_s`` (union of
      everyone), ``call_overtalk_s`` (time with two or more speakers) and
      ``call_overtalk_count`` (overlap episodes of at least ``min_overtalk_s``),
      ``call_silence_s``/``_count``/``_max_s`` (gaps inside the span where nobody speaks,
      counted only when strictly longer than ``min_silence_s``).

    Every threshold and rule comes from one analysis ``profile``
    (:mod:`diarkit.analysis.profiles`; ``docs/metrics.md`` defines each metric with its
    vendor source); keyword arguments override single fields. Thresholds are compared on
    integer milliseconds, as the wire sends them: with the default profile a gap of
    exactly 3.000 s is not silence, an overlap of exactly 0.500 s is an overtalk episode
    and a pause of exactly 1.000 s stays inside a turn.

    Segments input is made one timeline first: unfinalized rows are finalized (or refused,
    ``profile.unfinalized == "error"``) and sources/duplicate communications are merged
    (:func:`diarkit.analysis.conversation.reconcile`), so nothing is counted twice.
    Confidence decides what was *said* (``word_count``, ``words_per_minute``), never
    whether someone spoke: talk time, turns and silence ignore ``min_confidence``. When
    the segments carry a ``user_id`` column (:func:`~diarkit.analysis.conversation.attribute`)
    rows are per (conversation, speaker, user_id), so two agents of a transferred call get
    two rows. With ``phases``, the call runs over its real span (``call_duration_s`` is
    the call's duration), silence is only counted inside the profile's
    ``silence_phases`` (hold, queue, IVR, secure pause and capture gaps never are), and
    ``talk_share`` uses the profile's denominator.

    Args:
        segments_or_turns: a SEGMENTS table or a TURNS table. With turns, talk time is the
            union of the turns, pauses inside turns included; a ``backchannel`` column
            (as :func:`~diarkit.analysis.turns` returns) is taken as given (the turns are
            already merged across backchannels), else the profile's rule is applied.
            Zero-length segments or turns are never turns (``docs/metrics.md``). A table of only
            ``conversation_id``, ``speaker``, ``start_s``, ``end_s`` (seconds; optional
            ``text``, ``confidence``) from another tool is taken as final segments
            (:func:`diarkit.analysis.minimal.complete_segments`).
        profile: a :class:`~diarkit.analysis.profiles.Profile` or a shipped profile name
            (``default``, ``genesys``, ``contact_lens``, ``ccai``, ``nice``).
        phases: the ``PHASES`` table of the conversations (``load_phases``), optional.
        max_gap: overrides ``profile.max_gap_s`` (seconds bridged inside a turn).
        min_overtalk_s: overrides ``profile.min_overtalk_s`` (seconds).
        min_silence_s: overrides ``profile.min_silence_s`` (seconds).
        backchannel_max_s: overrides ``profile.backchannel_max_s`` (seconds).
        interruption_grace_s: overrides ``profile.interruption_grace_s`` (seconds).
        span: overrides ``profile.span`` for conversations without phases: ``"speech"``
            (first to last speech) or ``"session"`` (from 0).
        min_confidence: overrides ``profile.min_confidence`` (0-1).
        speakers: speakers that get a row in every conversation even when they never talk
            (zero talk time, NaN turn means); default: only speakers present.

    Returns:
        A ``diarkit.schema.STATS`` table sorted by conversation and speaker.

    Raises:
        SchemaError: when the input follows neither contract.
        ValueError: on missing times, ``end_s < start_s``, missing speakers or
            conversations (naming the first bad row), negative thresholds or a bad span.
    """
    df = segments_or_turns
    from .minimal import complete_segments, is_minimal

    if is_minimal(df):  # conversation_id, speaker, start_s, end_s [+ text]: other tools
        df = complete_segments(df)
    is_turns = isinstance(df, pd.DataFrame) and "turn_index" in df.columns
    validate(df, TURNS if is_turns else SEGMENTS, where="talk_stats()")
    if span not in (None, "speech", "session"):
        raise ValueError(f"span must be 'speech' or 'session', got {span!r}")
    overrides = {
        "max_gap_s": max_gap,
        "min_overtalk_s": min_overtalk_s,
        "min_silence_s": min_silence_s,
        "backchannel_max_s": backchannel_max_s,
        "interruption_grace_s": interruption_grace_s,
        "span": span,
        "min_confidence": min_confidence,
    }
    for name, value in overrides.items():
        if isinstance(value, int | float) and name != "min_confidence" and not value >= 0:
            raise ValueError(f"{name} must be >= 0 seconds, got {value}")
    prof = get_profile(profile)
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        prof = prof.replace(**changes)
    if not is_turns:
        df = one_timeline(df, prof)
    check_intervals(df, "talk_stats()", ("conversation_id", "speaker"))
    max_gap = prof.max_gap_s
    min_overtalk_ms = round(prof.min_overtalk_s * 1000)
    min_silence_ms = round(prof.min_silence_s * 1000)
    backchannel_ms = round(prof.backchannel_max_s * 1000)
    grace_ms = round(prof.interruption_grace_s * 1000)
    user_labels = None
    if "user_id" in df.columns and df["user_id"].notna().any():
        df, user_labels = _split_by_user(df)

    conv, conv_labels = codes_of(df["conversation_id"])
    spk, spk_labels = codes_of(df["speaker"])
    spk_labels = spk_labels.astype("string")
    if speakers is not None:
        extra = [s for s in speakers if s not in set(spk_labels)]
        spk_labels = spk_labels.append(pd.Index(extra, dtype="string"))
    n_spk = max(len(spk_labels), 1)
    n_conv = len(conv_labels)
    start = float_array(df["start_s"])
    end = float_array(df["end_s"])

    # ---- the (conversation, speaker) rows -------------------------------------------
    row_key = conv * n_spk + spk
    n_keys = max(n_conv * n_spk, 1)
    has_key = np.bincount(row_key, minlength=n_keys) > 0
    if speakers is not None and len(row_key):
        wanted = np.array([spk_labels.get_loc(s) for s in speakers], dtype=np.int64)
        present = np.flatnonzero(np.bincount(conv, minlength=n_conv))
        has_key[(present[:, None] * n_spk + wanted[None, :]).ravel()] = True
    keys = np.flatnonzero(has_key)
    row_of_key = np.cumsum(has_key) - 1  # lookup table: (conversation, speaker) key -> row
    n_rows = len(keys)
    row = row_of_key[row_key]
    row_conv = keys // n_spk
    row_spk = keys % n_spk

    def per_row(weights: np.ndarray | None, where: np.ndarray) -> np.ndarray:
        return _sum_by(where, weights, n_rows)

    if is_turns:
        segment_count = per_row(df["segment_count"].to_numpy(np.float64, na_value=0), row)
    else:
        segment_count = per_row(None, row)
    conf = float_array(df["confidence"])
    said = ~(conf < prof.min_confidence)  # NaN confidence: unknown, not low -> said
    all_said = bool(said.all())
    words = df["word_count"].to_numpy(np.float64, na_value=0.0)
    word_count = per_row(np.where(said, words, 0.0), row)

    # ---- talk time: union of each speaker's intervals -------------------------------
    rows_by_start = order_by(conv, n_conv, start, end, spk)  # shared by turns and union
    blocks = union_blocks(row_key, start, end, n_keys, by_start=rows_by_start)
    block_row = row_of_key[blocks.group]
    talk = per_row(blocks.end - blocks.start, block_row)
    if all_said:
        said_talk = talk
    else:  # speaking rate over the speech whose words are kept
        sb = union_blocks(row_key[said], start[said], end[said], n_keys)
        said_talk = per_row(sb.end - sb.start, row_of_key[sb.group])

    # ---- call span ------------------------------------------------------------------
    conv_start = np.full(n_conv, np.nan)
    conv_end = np.full(n_conv, np.nan)
    if len(conv):
        g = pd.DataFrame({"c": conv, "s": start, "e": end}).groupby("c", sort=False)
        mins, maxs = g["s"].min(), g["e"].max()
        conv_start[mins.index.to_numpy()] = mins.to_numpy()
        conv_end[maxs.index.to_numpy()] = maxs.to_numpy()
    if prof.span == "session":
        conv_start = np.minimum(conv_start, 0.0)
    allowed = None
    agent_time = np.full(n_conv, np.nan)
    unknown_time = np.full(n_conv, np.nan)
    if phases is not None:
        ph = phase_index(phases, conv_labels)
        has = ph.has_phases
        conv_start = np.where(has, ph.call_start, conv_start)
        conv_end = np.where(has, ph.call_end, conv_end)
        agent_time = np.where(has, ph.agent_time, np.nan)
        unknown_time = np.where(ph.clipped, ph.unknown_time, np.nan)
        allowed = ph.allowed(prof.silence_phases)
    conv_duration = conv_end - conv_start

    # ---- sweep: speech, overtalk, solo time, silence --------------------------------
    sw = sweep(blocks.group // n_spk, blocks.group % n_spk, blocks.start, blocks.end, n_conv)
    speaking = sw.count >= 1
    call_speech = _sum_by(sw.conv[speaking], sw.duration[speaking], n_conv)
    multi = sw.count >= 2
    call_overtalk = _sum_by(sw.conv[multi], sw.duration[multi], n_conv)
    solo = sw.count == 1
    solo_key = sw.conv[solo] * n_spk + sw.solo[solo]
    solo_time = _sum_by(row_of_key[solo_key], sw.duration[solo], n_rows)
    overtalk = talk - solo_time
    overtalk[overtalk < 1e-9] = 0.0  # float noise of the subtraction, not overtalk
    ep_total, ep_conv = run_lengths(multi, sw.conv, sw.duration)
    counted = (ep_total > 0) & (to_ms(ep_total) >= min_overtalk_ms)
    call_overtalk_count = _sum_by(ep_conv[counted], None, n_conv)

    positive = blocks.end > blocks.start
    first_speech = np.full(n_conv, np.nan)
    last_speech = np.full(n_conv, np.nan)
    if positive.any():
        pb = pd.DataFrame(
            {
                "c": blocks.group[positive] // n_spk,
                "s": blocks.start[positive],
                "e": blocks.end[positive],
            }
        ).groupby("c", sort=False)
        mins, maxs = pb["s"].min(), pb["e"].max()
        first_speech[mins.index.to_numpy()] = mins.to_numpy()
        last_speech[maxs.index.to_numpy()] = maxs.to_numpy()
    has_speech = ~np.isnan(first_speech)
    lead = np.where(has_speech, first_speech - conv_start, conv_duration)
    trail = np.where(has_speech, conv_end - last_speech, 0.0)
    gap = sw.count == 0
    all_conv = np.arange(n_conv)
    gap_conv = np.concatenate([sw.conv[gap], all_conv, all_conv])
    gap_len = np.concatenate([sw.duration[gap], lead, trail])
    gap_start = np.concatenate(
        [sw.start[gap], conv_start, np.where(has_speech, last_speech, conv_end)]
    )
    if allowed is not None:  # silence only inside the allowed phases (seconds)
        gap_conv, gap_len = allowed.clip(gap_conv, gap_start, gap_start + gap_len)
    gap_ms = np.where(np.isnan(gap_len), -1, to_ms(np.nan_to_num(gap_len)))
    positive_gap = gap_ms > 0
    if prof.silence_inclusive:
        silent = positive_gap & (gap_ms >= min_silence_ms)
    else:
        silent = positive_gap & (gap_ms > min_silence_ms)
    call_silence = _sum_by(gap_conv[silent], gap_len[silent], n_conv)
    call_silence_count = _sum_by(gap_conv[silent], None, n_conv)
    call_silence_max = np.zeros(n_conv)
    np.maximum.at(call_silence_max, gap_conv[silent], gap_len[silent])

    # ---- turns ------------------------------------------------------------------------
    # a zero-length segment (or turn) is not speech: it neither opens, extends nor ends
    # a turn (docs/metrics.md, "Zero-length segments"); turns() drops the same rows
    speech_by_start = rows_by_start[end[rows_by_start] > start[rows_by_start]]
    if is_turns:
        t_order = speech_by_start
        t_conv, t_spk = conv[t_order], spk[t_order]
        t_start, t_end = start[t_order], end[t_order]
    else:
        order, first, t_end = turn_bounds(
            conv, spk, start, end, max_gap, order=speech_by_start
        )
        pos = order[first]
        t_conv, t_spk, t_start = conv[pos], spk[pos], start[pos]
        # turns come out in (conversation, start) order; equal starts are ordered by the
        # turn's end and speaker, as for a TURNS input
        fix = break_ties(np.arange(len(pos)), t_conv, t_start, t_end, t_spk)
        t_conv, t_spk, t_start, t_end = t_conv[fix], t_spk[fix], t_start[fix], t_end[fix]
    if is_turns and "backchannel" in df.columns:
        # turns() already merged turns across backchannels and flagged them; applying the
        # rule again to merged turns would flag other turns (it is not idempotent)
        is_bc = df["backchannel"].to_numpy(dtype=bool, na_value=False)[t_order]
    else:
        t_conv, t_spk, t_start, t_end, is_bc = merge_backchannels(
            t_conv,
            t_spk,
            t_start,
            t_end,
            max_gap_ms=round(max_gap * 1000),
            backchannel_ms=backchannel_ms,
            ends_turn=prof.backchannel_ends_turn,
        )
    t_row = row_of_key[t_conv * n_spk + t_spk]
    t_dur = t_end - t_start
    turn_count = per_row(None, t_row)
    turn_sum = per_row(t_dur, t_row)
    turn_max = np.full(n_rows, np.nan)
    if len(t_row):
        tm = pd.Series(t_dur).groupby(t_row, sort=False).max()
        turn_max[tm.index.to_numpy()] = tm.to_numpy()
    turn_median = _group_median(t_dur, t_row, n_rows)

    # ---- response latency -----------------------------------------------------------
    n_t = len(t_row)
    new_conv = starts_of_runs(t_conv)
    # backchannels are neither responses nor the turn a response answers (unless asked)
    resp = np.ones(n_t, dtype=bool) if prof.backchannel_is_response else ~is_bc
    r_idx = np.flatnonzero(resp)
    r_conv, r_spk = t_conv[r_idx], t_spk[r_idx]
    handover_r = np.zeros(len(r_idx), dtype=bool)
    prev_end_r = np.full(len(r_idx), np.nan)
    if len(r_idx) > 1:
        handover_r[1:] = (r_conv[1:] == r_conv[:-1]) & (r_spk[1:] != r_spk[:-1])
        prev_end_r[1:] = t_end[r_idx[:-1]]
    latency = (t_start[r_idx] - prev_end_r)[handover_r]
    lat_row = t_row[r_idx[handover_r]]
    response_count = per_row(None, lat_row)
    latency_mean = _ratio(per_row(latency, lat_row), response_count)
    latency_median = _group_median(latency, lat_row, n_rows)
    patience = _ratio(per_row(np.clip(latency, 0.0, None), lat_row), response_count)

    # ---- interruptions --------------------------------------------------------------
    interrupts = np.zeros(n_t, dtype=bool)
    interrupted = np.zeros(n_rows)
    positions = np.arange(n_t)
    conv_run = np.cumsum(new_conv)
    long_enough = to_ms(t_dur) >= backchannel_ms
    for k in np.unique(t_spk):  # one pass per speaker label, not per row
        is_k = t_spk == k
        end_k = np.where(is_k, t_end, -np.inf)
        running = group_cummax(end_k, conv_run)
        attained = np.where(is_k & (end_k >= running), positions, -1)
        latest = group_cummax(attained, conv_run)
        prev = np.full(n_t, -1)
        prev[1:] = np.where(new_conv[1:], -1, latest[:-1])
        b = np.where(prev >= 0, prev, 0)
        cond = (
            ~is_k
            & (prev >= 0)
            & long_enough
            & (t_start[b] < t_start)
            & (t_end[b] > t_start)
            & (to_ms(t_end[b] - t_start) <= grace_ms)
            & (t_end > t_end[b])
        )
        interrupts |= cond
        interrupted += per_row(None, t_row[b[cond]])
    interruptions = per_row(None, t_row[interrupts])

    # ---- assemble -------------------------------------------------------------------
    conv_total_talk = _sum_by(row_conv, talk, n_conv)
    conv_names = pd.Index(conv_labels.astype("string"))
    out = pd.DataFrame(
        {
            "conversation_id": conv_names[row_conv].to_numpy(),
            "speaker": spk_labels[row_spk].to_numpy(),
            "talk_time_s": talk,
            "talk_share_call": _ratio(talk, conv_duration[row_conv]),
            "talk_share_speech": _ratio(talk, conv_total_talk[row_conv]),
            "segment_count": segment_count.astype(np.int64),
            "word_count": word_count.astype(np.int64),
            "words_per_minute": _ratio(word_count * 60.0, said_talk),
            "turn_count": turn_count.astype(np.int64),
            "turn_mean_s": _ratio(turn_sum, turn_count),
            "turn_median_s": turn_median,
            "turn_max_s": turn_max,
            "overtalk_s": overtalk,
            "interruptions": interruptions.astype(np.int64),
            "interrupted": interrupted.astype(np.int64),
            "response_count": response_count.astype(np.int64),
            "response_latency_mean_s": latency_mean,
            "response_latency_median_s": latency_median,
            "patience_s": patience,
            "call_start_s": conv_start[row_conv],
            "call_end_s": conv_end[row_conv],
            "call_duration_s": conv_duration[row_conv],
            "call_speech_s": call_speech[row_conv],
            "call_overtalk_s": call_overtalk[row_conv],
            "call_overtalk_count": call_overtalk_count[row_conv].astype(np.int64),
            "call_silence_s": call_silence[row_conv],
            "call_silence_count": call_silence_count[row_conv].astype(np.int64),
            "call_silence_max_s": call_silence_max[row_conv],
        }
    )
    share_den = {
        "call": conv_duration[row_conv],
        "agent": np.where(
            np.isnan(agent_time[row_conv]), conv_duration[row_conv], agent_time[row_conv]
        ),
        "speech": conv_total_talk[row_conv],
    }[prof.denominator]
    out["talk_share"] = _ratio(talk, share_den)
    out["call_unknown_s"] = unknown_time[row_conv]
    if user_labels is not None:
        out = _join_user(out)
    out = out.sort_values(["conversation_id", "speaker"], kind="stable", ignore_index=True)
    for col in ("conversation_id", "speaker"):
        out[col] = pd.Categorical(out[col], categories=sorted(out[col].unique()))
    validate(out, STATS, where="talk_stats() output")
    return out
