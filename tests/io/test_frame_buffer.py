"""tables_from_frame_buffer (frames cut from one buffer by offsets) equals the per-frame path.

The reference is built independently: ``build_raw_table`` over the frames as a list with
``raw.parse_frames`` switched off (every envelope from ``parse_frame``), rows of dropped
kinds filtered out afterwards, and ``segments_from_parsed(raw, None, None)`` — the
``parse_frame`` path, one frame at a time.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from unittest import mock

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from diarkit.io import build_raw_table
from diarkit.io.frame_buffer import FrameSlices, tables_from_frame_buffer
from diarkit.io.segments import segments_from_parsed
from diarkit.schema import RAW, SEGMENTS

from .conftest import golden, transcription_frame

T0_US = 1_795_513_500_000_000
HEARTBEAT = golden("heartbeat")
POOL = [
    transcription_frame("c1"),
    transcription_frame("c2", utterances=3, final=False),
    transcription_frame("c3", utterances=0),  # status-only
    golden("transcription"),
    golden("session_ended"),
    golden("queue_conversation"),
    golden("legacy_tutorial"),
    golden("pong"),
    HEARTBEAT,
    golden("socket_closing"),
    b'{"topicName": "v2.conversations.c1.transcription", "eventBody": {"transcripts": 5}}',
    b"not json at all",
    b"",  # empty frame
    b"   ",  # blank frame
    orjson.dumps(orjson.loads(transcription_frame("c4")), option=orjson.OPT_INDENT_2),
    b'{"topicName": "channel.metadata", "eventBody": {"message": "caf\xe9"}}',  # not UTF-8
    b'{"topicName":"v2.conversations.c5.transcription","eventBody":{"transcripts":[]}}\r',
    # one transcript of three unreadable: the others are segments, the frame is flagged
    transcription_frame("c6", utterances=3).replace(b'"utteranceId":"c6-u1",', b""),
    transcription_frame("c7", utterances=2).replace(b'"alternatives":[', b'"alternatives":5,"x":['),
    transcription_frame("c8").replace(b"1795513500000", b"9223372036854775808"),  # > int64
    transcription_frame("c9").replace(b'"version":"2"', b'"version":"2","topicName":"x"'),  # dup
    transcription_frame("c10").replace(b'"conversationId":"c10"', b'"conversationId":"\x80"'),
]


def _spool_like(frames: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Frames laid out as in a spool: a header line before each, a newline after each."""
    parts = [b"HEADER LINE\n"]
    starts, ends = [], []
    pos = len(parts[0])
    for i, f in enumerate(frames):
        head = b"%d record header\n" % i
        pos += len(head)
        starts.append(pos)
        pos += len(f)
        ends.append(pos)
        pos += 1
        parts += [head, f, b"\n"]
    return b"".join(parts), np.array(starts, np.int64), np.array(ends, np.int64)


def _reference(frames, seqs, received, codes, names, drop):
    # every frame through parse_frame: with a bad frame in the mix, build_raw_table would
    # still read the others with pyarrow.json (raw.parse_frames bisects the block)
    with mock.patch.object(importlib.import_module("diarkit.io.raw"), "parse_frames",
                           lambda *a, **k: None):
        raw = build_raw_table(
            frames,
            session_id="s",
            start_seq=0,
            received_at=[datetime.fromtimestamp(us / 1e6, UTC) for us in received],
            source=None,
        )
    raw = raw.set_column(
        raw.schema.get_field_index("seq"), RAW.arrow_schema().field("seq"), pa.array(seqs)
    )
    src = pa.array([names[c] or None for c in codes], pa.string())
    raw = raw.set_column(raw.schema.get_field_index("source"), raw.schema.field("source"), src)
    if drop:
        keep = pc.invert(pc.fill_null(pc.is_in(raw["kind"], pa.array(sorted(drop))), False))
        raw = raw.filter(keep)
    return raw, segments_from_parsed(raw, None, None)


def _check(frames: list[bytes], drop: frozenset[str], codes: list[int]) -> None:
    data, starts, ends = _spool_like(frames)
    n = len(frames)
    seqs = np.arange(100, 100 + n, dtype=np.int64)
    received = np.array([T0_US + 1000 * i for i in range(n)], np.int64)
    names = ["", "ch-1", "ch-2"]
    got = tables_from_frame_buffer(
        data,
        starts,
        ends,
        session_id="s",
        seqs=seqs,
        received_us=received,
        source_codes=np.array(codes, np.int32),
        source_names=names,
        drop_kinds=drop,
    )
    raw, seg = _reference(frames, seqs.tolist(), received.tolist(), codes, names, drop)
    assert got.raw.schema == RAW.arrow_schema() and got.segments.schema == SEGMENTS.arrow_schema()
    assert got.raw.to_pylist() == raw.to_pylist()
    assert got.segments.to_pylist() == seg.to_pylist()
    assert got.dropped == n - raw.num_rows


def test_well_formed_frames_and_heartbeats_dropped():
    frames = [transcription_frame(f"c{i}") for i in range(5)] + [HEARTBEAT]
    frames += [transcription_frame("c9", utterances=3)]
    _check(frames, frozenset({"heartbeat", "pong"}), [1] * len(frames))


@settings(max_examples=60, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=12),
    drop=st.sampled_from([frozenset(), frozenset({"heartbeat", "pong"})]),
    data=st.data(),
)
def test_any_mix_of_frames_equals_the_per_frame_path(picks, drop, data):
    frames = [POOL[i] for i in picks]
    codes = data.draw(st.lists(st.integers(0, 2), min_size=len(frames), max_size=len(frames)))
    _check(frames, drop, codes)


def test_frame_slices_cut_verbatim():
    frames = [b"a", b"", b"line\nbreak", transcription_frame()]
    data, starts, ends = _spool_like(frames)
    slices = FrameSlices(data, starts, ends)
    assert len(slices) == 4 and list(slices) == frames and slices[2] == b"line\nbreak"
    assert slices[1:3] == frames[1:3]


def test_a_two_object_frame_next_to_a_blank_one_is_not_misaligned():
    # pyarrow.json skips blank lines and reads a frame of two objects as two rows: together
    # they give one row per frame, so only the blank-frame check keeps rows aligned.
    two = transcription_frame("a") + b"\n" + transcription_frame("b")
    frames = [transcription_frame("c0"), two, b"  ", transcription_frame("c1")]
    _check(frames, frozenset(), [1, 1, 1, 1])


TRUNCATED = b'{"topicName": "v2.conversations.x.transcription", "eventBody": {"convers'


def _per_frame_calls(frames: list[bytes]) -> list[bytes]:
    """The frames ``parse_frame`` saw while ``tables_from_frame_buffer`` built the tables."""
    seen: list[bytes] = []
    modules = [importlib.import_module(f"diarkit.io.{m}") for m in ("raw", "segments")]
    real = modules[0].parse_frame

    def counting(frame, *a, **k):
        seen.append(frame if isinstance(frame, bytes) else frame.encode())
        return real(frame, *a, **k)

    data, starts, ends = _spool_like(frames)
    n = len(frames)
    with (
        mock.patch.object(modules[0], "parse_frame", counting),
        mock.patch.object(modules[1], "parse_frame", counting),
    ):
        tables_from_frame_buffer(
            data,
            starts,
            ends,
            session_id="s",
            seqs=np.arange(n, dtype=np.int64),
            received_us=np.full(n, T0_US, np.int64),
            source_codes=np.zeros(n, np.int32),
            source_names=[""],
        )
    return seen


def test_one_bad_frame_in_a_block_is_the_only_one_parsed_per_frame():
    good = [transcription_frame(f"c{i % 13}-{i}", utterances=1 + i % 3) for i in range(400)]
    assert _per_frame_calls(good) == []  # baseline: the whole block through Arrow
    frames = [*good[:200], TRUNCATED, *good[200:]]
    assert _per_frame_calls(frames) == [TRUNCATED]
    _check(frames, frozenset(), [1] * len(frames))


def test_bad_blank_and_two_object_frames_each_cost_only_themselves():
    # the blank frame keeps the block from being parsed whole; the bisection skips it and
    # reads the two-object frame as two rows, so that piece is halved down to it
    good = [transcription_frame(f"c{i % 7}-{i}", utterances=2) for i in range(300)]
    two = transcription_frame("two-a") + b" " + transcription_frame("two-b")
    frames = [*good[:50], b"  ", *good[50:120], two, *good[120:250], TRUNCATED, *good[250:]]
    assert sorted(_per_frame_calls(frames)) == sorted([b"  ", two, TRUNCATED])
    _check(frames, frozenset(), [2] * len(frames))
