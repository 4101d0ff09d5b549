"""raw_to_segments: one row per utterance version; the fast path equals parse_frame's."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from diarkit.io import build_raw_table, raw_to_segments
from diarkit.io.segments import segments_from_parsed
from diarkit.schema import SEGMENTS, validate

from .conftest import golden, transcription_frame

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _raw(frames):
    return build_raw_table(frames, session_id="s1", start_seq=0, received_at=NOW, source="x")


def test_golden_transcription_flattens_to_best_alternative():
    seg = raw_to_segments(_raw([golden("transcription")]))
    assert seg.schema == SEGMENTS.arrow_schema()
    rows = seg.to_pylist()
    assert [r["utterance_id"] for r in rows] == [
        "0f9e8d7c-6b5a-4c3d-a2e1-f0a9b8c7d6e5",
        "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    ]
    first, second = rows
    assert first["speaker"] == "customer" and first["channel"] == "EXTERNAL"
    assert second["speaker"] == "agent" and second["is_final"] is True
    assert first["start_s"] == 40.12 and first["end_s"] == 41.02
    assert first["start_at"] == datetime(2026, 11, 24, 9, 45, 40, 120000, tzinfo=UTC)
    assert first["text"] == "i would like" and first["word_count"] == 3
    assert second["word_count"] == 8
    assert first["words"][1] == {
        "word": "would",
        "start_s": 40.32,
        "end_s": 40.62,
        "confidence": 0.66,
    }
    assert [r["order"] for r in rows] == [0, 1]
    assert {r["session_id"] for r in rows} == {"s1"}


def test_legacy_frames_keep_their_speaker():
    seg = raw_to_segments(_raw([golden("legacy_tutorial")])).to_pylist()
    assert [(r["speaker"], r["channel"]) for r in seg] == [
        ("agent", "INTERNAL"),
        ("customer", "EXTERNAL"),
    ]
    assert seg[0]["start_s"] == 0.5 and seg[0]["end_s"] == 3.25
    assert seg[1]["is_final"] is False and seg[0]["start_at"] is None


def test_non_transcripts_and_invalid_frames_give_no_rows():
    frames = [golden("heartbeat"), golden("session_ended"), b"{oops", transcription_frame()]
    seg = raw_to_segments(_raw(frames))
    assert seg.num_rows == 2
    assert set(seg.column("seq").to_pylist()) == {3}


def test_mixed_order_is_receive_order():
    frames = [
        transcription_frame("a", 2),
        golden("legacy_tutorial"),
        transcription_frame("b", 1),
        golden("heartbeat"),
        transcription_frame("c", 3),
    ]
    seg = raw_to_segments(_raw(frames))
    assert seg.column("conversation_id").to_pylist() == [
        "a",
        "a",
        "conv-12345",
        "conv-12345",
        "b",
        "c",
        "c",
        "c",
    ]
    assert seg.column("order").to_pylist() == list(range(8))
    assert seg.column("seq").to_pylist() == [0, 0, 1, 1, 2, 4, 4, 4]


def test_words_column_is_optional():
    seg = raw_to_segments(_raw([transcription_frame()]), words=False)
    assert "words" not in seg.column_names
    validate(seg.to_pandas(), SEGMENTS)


def test_empty_alternatives_and_missing_fields():
    doc = orjson.loads(transcription_frame(utterances=2))
    doc["eventBody"]["transcripts"][0]["alternatives"] = []
    del doc["eventBody"]["transcripts"][1]["channel"]
    del doc["eventBody"]["sessionStartTimeMs"]
    raw = _raw([orjson.dumps(doc)])
    fast = raw_to_segments(raw)
    slow = segments_from_parsed(raw, None, None)
    assert fast.equals(slow)
    rows = fast.to_pylist()
    assert rows[0]["text"] == "" and rows[0]["start_s"] is None and rows[0]["word_count"] == 0
    assert rows[1]["channel"] == "UNKNOWN" and rows[1]["speaker"] == "unknown"
    assert rows[1]["start_at"] is None


_word = st.text(alphabet="abcdefgh ", min_size=0, max_size=20)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 10**7),
            st.sampled_from(["INTERNAL", "EXTERNAL", "BOTH", "UNKNOWN", "ODD"]),
            _word,
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_fast_path_equals_parse_frame_path(spec):
    frames = []
    for i, (n, off, channel, text, final) in enumerate(spec):
        doc = orjson.loads(transcription_frame(f"c{i}", utterances=n, offset_ms=off, final=final))
        for t in doc["eventBody"]["transcripts"]:
            t["channel"] = channel
            t["alternatives"][0]["transcript"] = text
        frames.append(orjson.dumps(doc))
    raw = _raw(frames)
    fast = raw_to_segments(raw)
    slow = segments_from_parsed(raw, None, None)
    assert fast.num_rows == sum(s[0] for s in spec)
    assert fast.to_pylist() == slow.to_pylist()
    texts = fast.column("text").to_pylist()
    assert fast.column("word_count").to_pylist() == [len(t.split()) for t in texts]


def test_frame_with_newline_inside_uses_the_slow_path():
    pretty = orjson.dumps(orjson.loads(transcription_frame()), option=orjson.OPT_INDENT_2)
    seg = raw_to_segments(_raw([pretty, transcription_frame("z")]))
    assert seg.column("conversation_id").to_pylist() == ["conv-1", "conv-1", "z", "z"]
    assert isinstance(seg.column("words").type, pa.ListType)
