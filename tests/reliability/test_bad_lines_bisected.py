"""A line Arrow cannot parse costs only itself (``raw.parse_frames`` bisects its block),
and the datasets stay exactly those of the per-frame path (``parse_frame`` for every
frame: ``parse_frames`` patched to give up, as the converter did on any bad line before).

Correctness only: what a bad line costs in time is measured by
``benchmarks/bench_bad_lines.py``.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from diarkit.io.convert import convert
from diarkit.io.raw import build_raw_parsed, parse_frames
from diarkit.io.segments import segments_from_parsed
from tests.io.conftest import golden, transcription_frame

from .helpers import quarantined, stored

tables_module = importlib.import_module("diarkit.io.convert_tables")  # process_batch
raw_module = importlib.import_module("diarkit.io.raw")

TRUNCATED = b'{"topicName": "v2.conversations.x.transcription", "eventBody": {"convers'
WRONG_TYPE = transcription_frame("wt").replace(b'"isFinal":true', b'"isFinal":"yes"')
TWO_OBJECTS = transcription_frame("two-a") + b" " + transcription_frame("two-b")
NOT_UTF8 = b'{"topicName": "channel.metadata", "eventBody": {"message": "caf\xe9"}}'


@contextmanager
def per_frame_path():
    """Every frame through ``parse_frame``: no block is parsed by Arrow at all."""
    with (
        mock.patch.object(tables_module, "parse_frames", lambda *a, **k: None),
        mock.patch.object(raw_module, "parse_frames", lambda *a, **k: None),
    ):
        yield


def _mix(n: int) -> list[bytes]:
    """``n`` distinct valid frames of several shapes (transcripts, heartbeats, calls)."""
    out = []
    for i in range(n):
        if i % 50 == 7:
            out.append(golden("heartbeat"))
        elif i % 50 == 19:
            out.append(golden("queue_conversation"))
        else:
            out.append(transcription_frame(f"c{i % 37}-{i}", utterances=1 + i % 3,
                                           final=i % 4 != 0, offset_ms=1000 + 10 * i))
    return out


def _dataset(ds: Path) -> tuple[list, list, list]:
    """Raw rows, segment rows and quarantined records, without the run's own ids."""
    def key(r: dict) -> tuple:
        return (r["seq"], r.get("utterance_id") or "", r.get("order") or 0)

    raw = sorted(({k: v for k, v in r.items() if k != "session_id"} for r in stored(ds)),
                 key=key)
    seg = sorted(({k: v for k, v in r.items() if k != "session_id"}
                  for r in stored(ds, "segments")), key=key)
    bad = sorted(({k: v for k, v in r.items() if k != "run_id"} for r in quarantined(ds)),
                 key=lambda r: r["line"])
    return raw, seg, bad


def test_a_large_file_with_one_bad_line_gives_the_per_frame_dataset(tmp_path):
    good = _mix(1500)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([*good[:750], TRUNCATED, *good[750:]]) + b"\n")
    distinct = len(set(good))  # the repeated heartbeats and calls events are duplicates
    s = convert([src], tmp_path / "fast", progress=False, workers=1)
    assert (s.written, s.quarantined) == (distinct, 1)
    with per_frame_path():
        ref = convert([src], tmp_path / "ref", progress=False, workers=1)
    assert (ref.written, ref.quarantined) == (distinct, 1)
    got, want = _dataset(tmp_path / "fast"), _dataset(tmp_path / "ref")
    assert [r["line"] for r in got[2]] == [751]
    assert got[0] == want[0]
    assert got[1] == want[1] and len(got[1]) > distinct
    assert got[2] == want[2]


def test_several_kinds_of_bad_lines_across_blocks(tmp_path):
    good = _mix(400)
    lines = list(good)
    for at, bad in [(3, WRONG_TYPE), (101, TWO_OBJECTS), (102, b"   "), (250, NOT_UTF8),
                    (251, TRUNCATED), (399, b"[1, 2")]:
        lines.insert(at, bad)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    s = convert([src], tmp_path / "fast", progress=False, workers=1, chunk_bytes=64 << 10)
    with per_frame_path():
        ref = convert([src], tmp_path / "ref", progress=False, workers=1, chunk_bytes=64 << 10)
    assert (s.written, s.quarantined) == (ref.written, ref.quarantined)
    got, want = _dataset(tmp_path / "fast"), _dataset(tmp_path / "ref")
    assert got == want
    assert {r["line"] for r in got[2]} >= {252, 400}  # truncated, "[1, 2" (1-based)


POOL = [
    *_mix(6),
    golden("transcription"),
    golden("session_ended"),
    golden("pong"),
    TRUNCATED,
    WRONG_TYPE,
    TWO_OBJECTS,
    NOT_UTF8,
    b"",
    b"   ",
    b"not json at all",
    b'{"topicName":"v2.conversations.c5.transcription","eventBody":{"transcripts":[]}}\r',
    orjson.dumps(orjson.loads(transcription_frame("pretty")), option=orjson.OPT_INDENT_2),
    transcription_frame("big").replace(b"1795513500000", b"9223372036854775808"),
]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=40))
def test_any_mix_parses_as_the_per_frame_path(picks):
    frames = [POOL[i] for i in picks]
    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    kw = {"session_id": "s", "start_seq": 0, "received_at": at, "source": None}
    raw, parsed, ok = build_raw_parsed(frames, **kw)
    with per_frame_path():
        ref_raw, ref_parsed, _ = build_raw_parsed(frames, **kw)
    assert ref_parsed is None
    assert raw.to_pylist() == ref_raw.to_pylist()
    assert (segments_from_parsed(raw, parsed, ok).to_pylist()
            == segments_from_parsed(ref_raw, None, None).to_pylist())
    if parsed is not None:  # row-aligned; rows Arrow could not read are null
        assert parsed.num_rows == len(frames)


def test_parse_frames_leaves_only_the_bad_rows_null():
    good = _mix(300)
    frames = [*good[:150], TRUNCATED, *good[150:]]
    parsed = parse_frames(frames, b"\n".join(frames))
    assert parsed is not None and parsed.num_rows == 301
    topics = parsed.column("topicName").to_pylist()
    assert [i for i, t in enumerate(topics) if t is None] == [150]
    alone = parse_frames(good)
    assert alone is not None
    assert parsed.filter(pa.array([i != 150 for i in range(301)])).equals(alone)
    assert parse_frames([TRUNCATED, b"  "]) is None  # nothing Arrow can read


def test_a_non_utf8_byte_inside_the_event_time_is_flagged_not_a_crash():
    """Found by the capture fuzz test: Arrow's JSON reader keeps bytes that are not UTF-8
    inside a string, and reading the unparseable ``eventTime`` back raised
    UnicodeDecodeError, failing the whole spool; now the frame is stored flagged."""
    bad = transcription_frame("nu").replace(b'"eventTime":"2', b'"eventTime":"\x80', 1)
    assert bad != transcription_frame("nu")
    frames = [transcription_frame("ok-1"), bad, transcription_frame("ok-2")]
    for blobs in (frames, [bad]):
        table, _parsed, _ok = build_raw_parsed(
            blobs, session_id="s", start_seq=0, source=None,
            received_at=pa.array([datetime(2026, 11, 24, tzinfo=UTC)] * len(blobs),
                                 pa.timestamp("us", tz="UTC")))
        errors = table.column("error").to_pylist()
        i = blobs.index(bad)
        assert errors[i] == raw_module.NOT_UTF8
        assert all(e is None for j, e in enumerate(errors) if j != i)
