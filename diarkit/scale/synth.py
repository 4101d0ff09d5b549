"""Seeded synthetic segments datasets for tests and benchmarks (times in seconds).

Generates segment tables directly with NumPy (no frames, no simulator): ~10M rows in
seconds. Concurrent calls interleave in time, each capture session rolls a part file every
``rows_per_part`` rows, and parts go under the ``date=`` of their first row, so most
conversations are split across part files (and some across dates) exactly as a real
capture splits them. About ``partial_rate`` of the utterances also have an earlier partial
version, which may land in an earlier part file than its final version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from diarkit.io.dataset import part_name
from diarkit.schema import SEGMENTS

_PHRASES = np.array(
    [
        "hello thanks for calling",
        "i would like to check my balance",
        "sure let me look that up",
        "one moment please",
        "can you confirm your date of birth",
        "yes it is the third of may",
        "thank you",
        "is there anything else",
        "no that is all",
        "my card was declined yesterday",
        "i see the payment here",
        "okay",
        "great have a nice day",
        "could you repeat that",
        "the order number is four two seven",
        "",
    ],
    dtype=object,
)
_WORDS = np.array([len(p.split()) for p in _PHRASES], dtype=np.int32)
_BASE_US = 1_793_491_200_000_000  # 2026-11-01T00:00:00Z in microseconds


@dataclass(frozen=True, slots=True)
class SynthSpec:
    """Shape of a synthetic dataset.

    Attributes:
        segments: approximate number of segment rows (final + partial versions).
        conversation_segments: mean utterances per conversation.
        sessions: capture sessions (each writes its own part files).
        rows_per_part: rows per part file before a session rolls to the next one.
        days: calls start uniformly over this many days from ``first_call_s``.
        first_call_s: seconds after 2026-11-01T00:00Z when the first call may start.
        partial_rate: share of utterances that also have an earlier partial version.
        unfinished_rate: share of utterances that never become final.
        seed: NumPy seed; the same spec always gives the same dataset.
    """

    segments: int = 10_000
    conversation_segments: int = 60
    sessions: int = 3
    rows_per_part: int = 2_000
    days: float = 2.0
    first_call_s: float = 0.0
    partial_rate: float = 0.2
    unfinished_rate: float = 0.01
    seed: int = 7


def _group_starts(conv: np.ndarray) -> np.ndarray:
    first = np.ones(len(conv), dtype=bool)
    first[1:] = conv[1:] != conv[:-1]
    return first


def synthetic_segments(spec: SynthSpec) -> pa.Table:
    """A segments table (``diarkit.schema.SEGMENTS`` required columns) sorted by session
    and time received, with ``order`` numbering rows within each session.
    """
    rng = np.random.default_rng(spec.seed)
    n_utt = max(1, round(spec.segments / (1.0 + spec.partial_rate)))
    n_conv = max(1, n_utt // max(1, spec.conversation_segments))
    conv = np.sort(rng.integers(0, n_conv, n_utt))
    first = _group_starts(conv)
    group_first_idx = np.maximum.accumulate(np.where(first, np.arange(n_utt), 0))
    dur = rng.gamma(2.0, 1.2, n_utt) + 0.2
    step = np.clip(np.roll(dur, 1) + rng.normal(0.4, 0.9, n_utt), 0.05, None)
    step[first] = rng.uniform(0.0, 3.0, first.sum())
    cum = np.cumsum(step)
    start = cum - cum[group_first_idx] + step[group_first_idx]
    end = start + dur
    switch = rng.random(n_utt) < 0.7
    spk = (np.cumsum(switch) % 2).astype(np.int32)  # 0 agent, 1 customer
    phrase = rng.integers(0, len(_PHRASES), n_utt)
    conf = np.round(rng.beta(8, 1.5, n_utt), 4)
    first_us = _BASE_US + int(spec.first_call_s * 1e6)
    call_start_us = first_us + (rng.random(n_conv) * spec.days * 86_400e6).astype(np.int64)
    session = (np.arange(n_conv) % spec.sessions).astype(np.int32)
    start_at = call_start_us[conv] + (start * 1e6).astype(np.int64)
    recv = call_start_us[conv] + ((end + 0.3) * 1e6).astype(np.int64)
    utt = np.arange(n_utt) - group_first_idx

    has_partial = rng.random(n_utt) < spec.partial_rate
    unfinished = rng.random(n_utt) < spec.unfinished_rate
    # rows: every final version (unless unfinished) + the partial versions
    p_idx = np.flatnonzero(has_partial | unfinished)
    f_idx = np.flatnonzero(~unfinished)
    src = np.concatenate([f_idx, p_idx])
    is_final = np.concatenate([np.ones(len(f_idx), bool), np.zeros(len(p_idx), bool)])
    r_end = np.where(is_final, end[src], start[src] + 0.6 * dur[src])
    r_recv = np.where(is_final, recv[src], recv[src] - (0.4 * dur[src] * 1e6).astype(np.int64))
    r_conf = np.where(is_final, conf[src], np.round(conf[src] * 0.8, 4))
    r_phrase = phrase[src]
    r_sess = session[conv[src]]
    order = np.lexsort((r_recv, r_sess))
    src, is_final, r_end, r_recv = src[order], is_final[order], r_end[order], r_recv[order]
    r_conf, r_phrase, r_sess = r_conf[order], r_phrase[order], r_sess[order]
    c = conv[src]
    seq = np.arange(len(src)) - np.maximum.accumulate(
        np.where(_group_starts(r_sess), np.arange(len(src)), 0)
    )

    def dict_col(codes: np.ndarray, labels: list[str]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32)), pa.array(labels, pa.string())
        )

    conv_labels = [f"conv-{i:07d}" for i in range(n_conv)]
    comm_labels = [f"comm-{i:07d}" for i in range(n_conv)]
    utt_ids = pc.binary_join_element_wise(
        pc.cast(pa.array(c), pa.string()), pc.cast(pa.array(utt[src]), pa.string()), "-u"
    )
    text = dict_col(r_phrase, list(_PHRASES)).cast(pa.string())
    ts = pa.timestamp("us", tz="UTC")
    columns = {
        "conversation_id": dict_col(c, conv_labels),
        "communication_id": dict_col(c, comm_labels),
        "utterance_id": utt_ids,
        "channel": dict_col(spk[src], ["INTERNAL", "EXTERNAL"]),
        "speaker": dict_col(spk[src], ["agent", "customer"]),
        "is_final": pa.array(is_final),
        "confidence": pa.array(r_conf),
        "start_s": pa.array(start[src]),
        "end_s": pa.array(r_end),
        "start_at": pa.array(start_at[src], ts),
        "text": text,
        "word_count": pa.array(_WORDS[r_phrase]),
        "session_id": dict_col(r_sess, [f"sess{i:02d}" for i in range(spec.sessions)]),
        "seq": pa.array(seq.astype(np.int64)),
        "received_at": pa.array(r_recv, ts),
        "order": pa.array(seq.astype(np.int64)),
    }
    return pa.table(columns, schema=SEGMENTS.arrow_schema(include_optional=False))


def write_dataset(table: pa.Table, root: str | os.PathLike[str], rows_per_part: int) -> list[Path]:
    """Write ``table`` as ``root/segments/date=YYYY-MM-DD/<session>-<part>.parquet`` files.

    Each session's rows (in the table's order) are cut every ``rows_per_part`` rows; a
    part goes under the date its first row was received. ``order`` restarts at 0 in every
    part, as a capture writes it.

    Returns:
        The part files written, in path order.
    """
    out: list[Path] = []
    sess = table.column("session_id").combine_chunks()
    sess_codes = sess.indices.to_numpy(zero_copy_only=False)
    bounds = np.flatnonzero(np.diff(sess_codes)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(sess_codes)]])
    for s0, s1 in zip(starts.tolist(), stops.tolist(), strict=True):
        name = str(sess.dictionary[int(sess_codes[s0])])
        for p0 in range(s0, s1, rows_per_part):
            part = table.slice(p0, min(rows_per_part, s1 - p0))
            part = part.set_column(
                part.schema.get_field_index("order"),
                "order",
                pa.array(np.arange(len(part), dtype=np.int64)),
            )
            day = part.column("received_at")[0].as_py().date().isoformat()
            folder = Path(root) / "segments" / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / part_name(name, int(part.column("seq")[0].as_py()))
            pq.write_table(part, path)
            out.append(path)
    return sorted(out)


def make_dataset(root: str | os.PathLike[str], spec: SynthSpec) -> list[Path]:
    """Generate a synthetic segments dataset under ``root`` (see :class:`SynthSpec`)."""
    return write_dataset(synthetic_segments(spec), root, spec.rows_per_part)
