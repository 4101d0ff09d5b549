"""build_raw_table: one row per frame, envelope columns, invalid frames kept."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest

from diarkit.genesys import MESSAGE_KINDS, parse_frame
from diarkit.io import build_raw_table, frame_hash
from diarkit.io.raw import classify_frame
from diarkit.schema import RAW, validate

from .conftest import golden, transcription_frame

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_every_golden_frame_becomes_one_row_with_its_kind(all_golden):
    n = len(all_golden)
    raw = build_raw_table(
        all_golden,
        session_id="s1",
        start_seq=5,
        received_at=NOW,
        source="ch",
        lines=range(1, n + 1),
    )
    assert raw.schema == RAW.arrow_schema()
    validate(raw.to_pandas(), RAW)
    assert raw.column("seq").to_pylist() == list(range(5, 5 + len(all_golden)))
    kinds = raw.column("kind").to_pylist()
    assert kinds == [parse_frame(f).kind for f in all_golden]
    assert set(kinds) <= set(MESSAGE_KINDS)
    assert raw.column("frame").to_pylist() == [f.decode() for f in all_golden]
    assert raw.column("source").unique().to_pylist() == ["ch"]


def test_fast_and_slow_paths_agree():
    frames = [transcription_frame(f"c{i}", utterances=i % 3) for i in range(20)]
    frames.append(golden("legacy_tutorial"))  # forces the slow path for the mixed block
    fast = build_raw_table(frames[:-1], session_id="s", start_seq=0, received_at=NOW, source=None)
    slow = build_raw_table(frames, session_id="s", start_seq=0, received_at=NOW, source=None)
    assert fast.slice(0, 20).equals(slow.slice(0, 20))
    assert fast.column("conversation_id").to_pylist() == [f"c{i}" for i in range(20)]
    assert fast.column("event_time")[0].as_py() == datetime(
        2026, 11, 24, 10, 15, 42, 318000, tzinfo=UTC
    )


def test_invalid_frames_are_kept_with_path_and_reason():
    bad_type = transcription_frame().replace(b'"isFinal":true', b'"isFinal":"yes"')
    frames = [transcription_frame(), b"not json {", bad_type, b'{"topicName": 3}']
    raw = build_raw_table(frames, session_id="s", start_seq=0, received_at=NOW, source="f")
    assert raw.num_rows == 4
    assert raw.column("kind").to_pylist() == ["transcription", "invalid", "invalid", "invalid"]
    errors = raw.column("error").to_pylist()
    assert errors[0] is None
    assert errors[1].startswith("$: not valid JSON")
    assert errors[2] == "$.eventBody.transcripts[0].isFinal: expected true or false, got string"
    assert raw.column("topic")[2].as_py() == "v2.conversations.conv-1.transcription"
    assert raw.column("frame")[1].as_py() == "not json {"


def test_hash_is_blake2b_128_of_the_bytes():
    f = transcription_frame()
    assert frame_hash(f) == hashlib.blake2b(f, digest_size=16).hexdigest()
    assert frame_hash(f.decode()) == frame_hash(f)
    raw = build_raw_table([f, f], session_id="s", start_seq=0, received_at=NOW, source=None)
    assert raw.column("frame_hash").to_pylist() == [frame_hash(f)] * 2
    assert len(frame_hash(f)) == 32


def test_received_at_per_frame_and_lines():
    times = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)]
    raw = build_raw_table(
        [transcription_frame(), golden("heartbeat")],
        session_id="s",
        start_seq=0,
        received_at=times,
        source="x",
        lines=[3, 7],
    )
    assert raw.column("received_at").to_pylist() == times
    assert raw.column("line").to_pylist() == [3, 7]
    with pytest.raises(ValueError, match="naive"):
        build_raw_table(
            [b"{}"], session_id="s", start_seq=0, received_at=datetime(2026, 1, 1), source=None
        )
    with pytest.raises(ValueError, match="2 values for 1 frames"):
        build_raw_table([b"{}"], session_id="s", start_seq=0, received_at=times, source=None)


def test_empty_input_gives_empty_typed_table():
    raw = build_raw_table([], session_id="s", start_seq=0, received_at=NOW, source=None)
    assert raw.num_rows == 0 and raw.schema == RAW.arrow_schema()


def test_classify_frame_never_raises():
    info = classify_frame(b"\xff\xfe")
    assert info.kind == "invalid" and info.error
    assert isinstance(pa.array([info.error]), pa.Array)


def test_fast_envelope_matches_parse_frame_for_conversation_events():
    queue = orjson.loads(golden("queue_conversation"))
    no_id = orjson.loads(golden("queue_conversation"))
    del no_id["eventBody"]["id"]
    null_participant = orjson.loads(golden("queue_conversation"))
    null_participant["eventBody"]["participants"].append(None)
    frames = [
        transcription_frame("a"),
        golden("queue_conversation"),
        orjson.dumps(no_id),
        orjson.dumps(null_participant),
        # one transcript of two lacks utteranceId: it alone is invalid, the frame stands
        transcription_frame("b").replace(b'"utteranceId":"b-u1",', b""),
        transcription_frame("c", utterances=1).replace(b'"utteranceId":"c-u0",', b""),
    ]
    raw = build_raw_table(frames, session_id="s", start_seq=0, received_at=NOW, source=None)
    infos = [classify_frame(f) for f in frames]
    assert raw.column("kind").to_pylist() == [i.kind for i in infos]
    assert raw.column("kind").to_pylist() == [
        "transcription",
        "conversation",
        "invalid",
        "invalid",
        "transcription",
        "invalid",
    ]
    assert raw.column("conversation_id").to_pylist() == [i.conversation_id for i in infos]
    assert raw.column("error").to_pylist() == [i.error for i in infos]
    assert queue["eventBody"]["id"] == raw.column("conversation_id")[1].as_py()
