"""Benchmark talk_stats on 1,000,000 final segments in 5,000 conversations.

Compares the full ``diarkit.analysis.talk_stats`` with pyannote.core computing only
per-speaker talk time and overlap for the same conversations, measured in the same run.
pyannote.core is slow enough that, by default, it runs on a random sample of conversations
and its time is extrapolated linearly to all of them (the output says so).

    .venv/bin/python benchmarks/bench_stats.py            # the full run
    .venv/bin/python benchmarks/bench_stats.py --segments 100000 --conversations 500
    .venv/bin/python benchmarks/bench_stats.py --stats-only --repeat 2   # ~40 s

The conversation-model steps are timed apart: ``attribute`` (the interval join of every
segment to the phase holding the line) and ``talk_stats`` by party with phases.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from diarkit.analysis import (
    diarization_error,
    filter_confidence,
    finalize,
    talk_stats,
    to_json,
    to_rttm,
    turns,
)
from diarkit.analysis.conversation import attribute, by_party
from diarkit.schema import SEGMENTS


def synthetic_segments(n_segments: int, n_conversations: int, seed: int = 0) -> pd.DataFrame:
    """Final segments of agent and customer, with pauses, long silences and overtalk."""
    rng = np.random.default_rng(seed)
    per = n_segments // n_conversations
    n = per * n_conversations
    conv = np.repeat(np.arange(n_conversations), per)
    # the speaker changes at 60% of segment boundaries; only a change can start early
    change = rng.random(n) < 0.6
    speaker = (np.cumsum(change) % 2).astype(np.int32)
    duration = rng.gamma(2.0, 1.6, n)
    gap = np.where(change, rng.normal(0.4, 0.9, n), np.abs(rng.normal(0.3, 0.3, n)))
    long_pause = rng.random(n) < 0.02
    gap[long_pause] += rng.uniform(3, 12, int(long_pause.sum()))
    step = np.maximum(duration + gap, 0.05)
    step[np.arange(n) % per == 0] = 0.0
    start = np.cumsum(step)
    start -= np.repeat(start[np.arange(0, n, per)], per)  # each call starts at 0
    start = np.round(start, 3)  # Genesys offsets are whole milliseconds
    end = np.round(start + duration, 3)
    words = np.maximum(1, np.round(duration * 2.5)).astype(np.int32)
    conv_ids = np.array([f"conv-{i:05d}" for i in range(n_conversations)], dtype=object)
    table = pa.table(
        {
            "conversation_id": pa.DictionaryArray.from_arrays(
                pa.array(conv, pa.int32()), pa.array(conv_ids, pa.string())
            ),
            "communication_id": pa.DictionaryArray.from_arrays(
                pa.array(conv * 2 + speaker, pa.int32()),
                pa.array([f"m{i}" for i in range(2 * n_conversations)], pa.string()),
            ),
            "utterance_id": pa.array(np.char.add("u", np.arange(n).astype(str)), pa.string()),
            "channel": pa.DictionaryArray.from_arrays(
                pa.array(speaker), pa.array(["INTERNAL", "EXTERNAL"])
            ),
            "speaker": pa.DictionaryArray.from_arrays(
                pa.array(speaker), pa.array(["agent", "customer"])
            ),
            "is_final": pa.array(np.ones(n, dtype=bool)),
            "confidence": pa.array(rng.uniform(0.6, 1.0, n)),
            "start_s": pa.array(start),
            "end_s": pa.array(end),
            "start_at": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "text": pa.array(np.char.add("word ", words.astype(str)), pa.string()),
            "word_count": pa.array(words),
            "session_id": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, np.int32)), pa.array(["s1"])
            ),
            "seq": pa.array(np.arange(n, dtype=np.int64)),
            "received_at": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "order": pa.array(np.arange(n, dtype=np.int64)),
        }
    )
    return table.cast(SEGMENTS.arrow_schema(include_optional=False)).to_pandas()


def synthetic_phases(df: pd.DataFrame) -> pd.DataFrame:
    """A PHASES table for the synthetic calls: IVR, queue, then two agents with a hold.

    Per conversation (seconds): ivr [0, 8), queue [8, 10), talk by agent A up to a third of
    the call, hold for 20 s, then talk by agent B to the end -- so attribution has work.
    """
    g = df.groupby("conversation_id", observed=True)["end_s"].max()
    n = len(g)
    end = g.to_numpy()
    third = np.maximum(end / 3, 12.0)
    kinds = ["ivr", "queue", "talk", "hold", "talk"]
    starts = np.column_stack([np.zeros(n), np.full(n, 8.0), np.full(n, 10.0), third, third + 20])
    ends = np.column_stack([np.full(n, 8.0), np.full(n, 10.0), third, third + 20, end + 20])
    conv = np.repeat(g.index.astype(str).to_numpy(), 5)
    holder = np.tile(np.array(["ivr", "acd", "agent", "agent", "agent"], dtype=object), n)
    users = np.tile(np.array([None, None, "user-a", "user-a", "user-b"], dtype=object), n)
    return pd.DataFrame(
        {
            "conversation_id": conv,
            "phase": np.tile(np.array(kinds, dtype=object), n),
            "start_at": pd.NaT,
            "end_at": pd.NaT,
            "start_s": starts.ravel(),
            "end_s": ends.ravel(),
            "duration_s": (ends - starts).ravel(),
            "participant_id": users,
            "user_id": users,
            "end_source": "event",
            "holder_purpose": holder,
            "holder_count": np.ones(5 * n, dtype=np.int64),
        }
    )


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def pyannote_talk_and_overlap(df: pd.DataFrame) -> dict[str, tuple[dict[str, float], float]]:
    """Per conversation: pyannote.core per-speaker talk time and total overlap (seconds)."""
    from pyannote.core import Annotation, Segment

    out = {}
    for cid, part in df.groupby("conversation_id", observed=True, sort=False):
        ann = Annotation(uri=str(cid))
        for i, (s, e, spk) in enumerate(
            zip(
                part.start_s.to_numpy(),
                part.end_s.to_numpy(),
                part.speaker.astype(str),
                strict=True,
            )
        ):
            ann[Segment(s, e), i] = spk
        talk = {label: ann.label_duration(label) for label in ann.labels()}
        out[str(cid)] = (talk, ann.get_overlap().duration())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=5_000)
    parser.add_argument(
        "--pyannote-sample",
        type=int,
        default=250,
        help="conversations timed with pyannote.core (0 = all)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--stats-only",
        action="store_true",
        help="only talk_stats and the conversation-model steps (no other exports, no pyannote)",
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    df = synthetic_segments(args.segments, args.conversations)
    print(
        f"built {len(df):,} final segments in {args.conversations:,} conversations "
        f"({time.perf_counter() - t0:.1f} s)"
    )

    t_stats, stats = best_of(args.repeat, lambda: talk_stats(df))
    if args.stats_only:
        t_turns, tt, t_final = 0.0, df.iloc[:0], 0.0
    else:
        t_turns, tt = best_of(args.repeat, lambda: turns(df))
        t_final, _ = best_of(args.repeat, lambda: finalize(df))
    print(
        f"talk_stats (all metrics)        {t_stats:7.3f} s   {len(stats):,} rows"
        f"   target <= 2 s: {'OK' if t_stats <= 2.0 else 'MISSED'}"
    )
    phases = synthetic_phases(df)
    t_attr, spoken = best_of(args.repeat, lambda: attribute(df, phases))
    print(
        f"attribute (interval join)       {t_attr:7.3f} s   "
        f"{(spoken['attribution'] == 'participant').mean():.1%} attributed"
    )
    t_model, model_stats = best_of(
        args.repeat, lambda: talk_stats(by_party(spoken), phases=phases)
    )
    print(
        f"talk_stats (by party, phases)   {t_model:7.3f} s   {len(model_stats):,} rows "
        "(agents split by user id; silence inside talk phases)"
    )
    if args.stats_only:
        return
    print(f"turns (with joined text)        {t_turns:7.3f} s   {len(tt):,} turns")
    print(f"finalize                        {t_final:7.3f} s")
    for name, fn in (
        ("filter_confidence", lambda: filter_confidence(df)),
        ("to_rttm", lambda: to_rttm(df)),
        ("to_json", lambda: to_json(df)),
        ("diarization_error", lambda: diarization_error(tt, df, collar=0.25)),
    ):
        t_other, _ = best_of(args.repeat, fn)
        print(f"{name:<32}{t_other:7.3f} s")

    ids = df["conversation_id"].cat.categories
    sample = args.pyannote_sample or len(ids)
    rng = np.random.default_rng(1)
    chosen = ids if sample >= len(ids) else pd.Index(rng.choice(ids, sample, replace=False))
    subset = df[df["conversation_id"].isin(chosen)]
    t0 = time.perf_counter()
    ref = pyannote_talk_and_overlap(subset)
    t_sample = time.perf_counter() - t0
    t_pyannote = t_sample * len(ids) / len(chosen)
    note = (
        ""
        if len(chosen) == len(ids)
        else (
            f" (measured on {len(chosen)} random conversations: {t_sample:.2f} s, "
            f"extrapolated x{len(ids) / len(chosen):.0f})"
        )
    )
    print(f"pyannote.core talk+overlap      {t_pyannote:7.3f} s{note}")
    print(
        f"speed-up of talk_stats over pyannote.core: {t_pyannote / t_stats:.1f}x"
        f"   target >= 30x: {'OK' if t_pyannote / t_stats >= 30 else 'MISSED'}"
    )

    # the two agree on what both compute
    st = stats.assign(c=stats.conversation_id.astype(str), s=stats.speaker.astype(str))
    st = st.set_index(["c", "s"])
    worst = 0.0
    for cid, (talk, overlap) in ref.items():
        for spk, value in talk.items():
            worst = max(worst, abs(st.loc[(cid, spk), "talk_time_s"] - value))
        worst = max(worst, abs(st.loc[(cid, "agent"), "call_overtalk_s"] - overlap))
    print(f"largest difference from pyannote.core on the sample: {worst:.2e} s")


if __name__ == "__main__":
    main()
