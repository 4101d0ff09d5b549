"""Readers: format detected by content, streaming blocks, truncated gzip, import formats."""

from __future__ import annotations

import gzip

import orjson
import pytest

from diarkit.io.formats import sta_transcript_rows, tutorial_export_rows
from diarkit.io.readers import UnknownFormatError, detect_format, iter_batches, iter_jsonl

from .conftest import golden, transcription_frame

EXPORT = {
    "totalSegments": 3,
    "segments": [
        {
            "conversation_id": "conv-9",
            "speaker": "agent",
            "text": "hello there",
            "start_seconds": 0.5,
            "end_seconds": 1.5,
            "confidence": 0.9,
            "is_final": True,
            "timestamp": "2026-11-24T10:00:00Z",
        },
        {
            "conversation_id": "conv-9",
            "speaker": "customer",
            "text": "hi",
            "start_seconds": 2.0,
            "end_seconds": 2.4,
            "confidence": 0.8,
            "is_final": False,
            "timestamp": "2026-11-24T10:00:02Z",
        },
        {
            "conversation_id": "conv-9",
            "speaker": "agent",
            "text": "bad",
            "start_seconds": "soon",
            "end_seconds": 3.0,
        },
    ],
}

STA = {
    "conversationId": "conv-sta",
    "communicationId": "comm-sta",
    "conversationStartTime": 1795513500000,
    "transcripts": [
        {
            "transcriptId": "t1",
            "phrases": [
                {
                    "text": "thank you for calling",
                    "decoratedText": "Thank you for calling.",
                    "confidence": 0.93,
                    "stability": 0.9,
                    "startTimeMs": 1795513501000,
                    "duration": {"milliseconds": 1500},
                    "participantPurpose": "internal",
                    "phraseIndex": 0,
                    "words": [
                        {
                            "word": "thank",
                            "confidence": 0.9,
                            "startTimeMs": 1795513501000,
                            "duration": {"milliseconds": 300},
                        }
                    ],
                },
                {
                    "text": "hi",
                    "confidence": 0.8,
                    "startTimeMs": 1795513503000,
                    "duration": {"milliseconds": 400},
                    "participantPurpose": "external",
                    "phraseIndex": 1,
                    "words": [],
                },
            ],
        }
    ],
}


def test_detection_is_by_content_not_extension(tmp_path):
    jsonl_txt = tmp_path / "frames.txt"
    jsonl_txt.write_bytes(transcription_frame() + b"\n" + golden("heartbeat") + b"\n")
    gz_noext = tmp_path / "frames.data"
    gz_noext.write_bytes(gzip.compress(transcription_frame() + b"\n"))
    pretty = tmp_path / "one.json"
    pretty.write_bytes(
        orjson.dumps(orjson.loads(golden("transcription")), option=orjson.OPT_INDENT_2)
    )
    export = tmp_path / "export.jsonl"  # one-line export document
    export.write_bytes(orjson.dumps(EXPORT))
    array = tmp_path / "arr.json"
    array.write_bytes(orjson.dumps([orjson.loads(golden("legacy_tutorial"))] * 2))
    assert detect_format(jsonl_txt) == "jsonl"
    assert detect_format(gz_noext) == "jsonl"
    assert detect_format(pretty) == "json"
    assert detect_format(export) == "json"  # streamed element by element
    assert detect_format(array) == "json-array"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"a,b,c\n1,2,3\n", "not JSON or JSON lines (starts with 'a,b,c"),
        (b'{"foo": 1}\n', "first record is JSON but not a notification frame"),
        (b"", "empty file"),
        (b"PAR1\x00\x00", "a Parquet file, not a dataset directory"),
    ],
)
def test_unknown_formats_name_file_and_reason(tmp_path, content, reason):
    p = tmp_path / "x.jsonl"
    p.write_bytes(content)
    with pytest.raises(UnknownFormatError) as err:
        detect_format(p)
    assert str(err.value).startswith(f"{p}: ")
    assert reason in str(err.value)


def test_jsonl_streams_in_blocks_with_line_numbers(tmp_path):
    frames = [transcription_frame(f"c{i}") for i in range(50)]
    lines = []
    for i, f in enumerate(frames):
        lines.append(f)
        if i % 10 == 3:
            lines.append(b"")  # blank lines are skipped but counted
    p = tmp_path / "f.jsonl"
    p.write_bytes(b"\r\n".join(lines))  # CRLF, no final newline
    batches = list(iter_jsonl(p, chunk_bytes=4096))
    assert len(batches) > 5  # many blocks: memory bounded by the block size
    blobs = [b for batch in batches for b in batch.blobs]
    numbers = [int(n) for batch in batches for n in batch.lines]
    assert blobs == frames
    expected = [i + 1 for i, line in enumerate(lines) if line]
    assert numbers == expected


def test_truncated_gzip_keeps_complete_lines_and_reports(tmp_path):
    frames = [transcription_frame(f"c{i}") for i in range(400)]
    data = gzip.compress(b"\n".join(frames) + b"\n")
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    batches = list(iter_batches(p))
    blobs = [b for batch in batches for b in batch.blobs]
    problems = [r for batch in batches for r in batch.rejected]
    assert len(problems) == 1 and "truncated or corrupt gzip" in problems[0].reason
    assert len(blobs) > 100
    assert blobs[:-1] == frames[: len(blobs) - 1]  # every complete line kept, in order
    assert frames[len(blobs) - 1].startswith(blobs[-1])  # the torn last line, as read


def test_tutorial_export_rows_and_bad_segment():
    rows, errors = tutorial_export_rows(EXPORT)
    assert [(r["speaker"], r["channel"], r["start_s"], r["end_s"]) for r in rows] == [
        ("agent", "INTERNAL", 0.5, 1.5),
        ("customer", "EXTERNAL", 2.0, 2.4),
    ]
    assert rows[1]["is_final"] is False
    assert len(errors) == 1
    assert errors[0][0] == "$.segments[2].start_seconds: expected a number, got string"


def test_sta_transcript_rows_times_relative_to_conversation_start():
    rows, errors = sta_transcript_rows(STA)
    assert errors == []
    first, second = rows
    assert (first["start_s"], first["end_s"]) == (1.0, 2.5)
    assert (first["speaker"], second["speaker"]) == ("agent", "customer")
    assert first["start_at_ms"] == 1795513501000
    assert first["utterance_id"] == "t1:0"
    assert first["words"] == [{"word": "thank", "start_s": 1.0, "end_s": 1.3, "confidence": 0.9}]
