"""Whatever arrives, nothing good is lost: bad frames and damaged files (#14 items 1, 2, 7,
15's duplicate keys; #12 item 5's call time from the data)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime

import orjson
import pyarrow.parquet as pq
import pytest

import diarkit.io.documents as documents
from diarkit.capture.recorder import RawRecorder, recover_dataset
from diarkit.capture.spool import SpoolWriter, spool_name
from diarkit.io.convert import convert
from diarkit.io.dataset import list_parts
from diarkit.io.readers import _SNIFF, SNIFF_LINES
from tests.io.conftest import transcription_frame

from .helpers import frames, quarantined, stored, stored_frames

BIG = 9223372036854775808  # 2**63: one past int64


def _with_big(field: str) -> bytes:
    good = transcription_frame("big", utterances=1)
    if field == "sessionStartTimeMs":
        return good.replace(b"1795513500000", str(BIG).encode())
    doc = orjson.loads(good)
    doc["eventBody"]["transcripts"][0]["alternatives"][0]["offsetMs"] = 0
    text = orjson.dumps(doc).replace(b'"offsetMs":0', b'"offsetMs":' + str(BIG * 4).encode(), 1)
    assert str(BIG * 4).encode() in text
    return text


@pytest.mark.parametrize("field", ["sessionStartTimeMs", "offsetMs"])
def test_int_beyond_int64_is_quarantined_and_the_rest_converted(tmp_path, field):
    good = frames(40)
    bad = _with_big(field)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([*good[:20], bad, *good[20:]]) + b"\n")
    s = convert([src], tmp_path / "ds", progress=False)
    assert s.written == 40 and s.quarantined == 1
    (q,) = quarantined(tmp_path / "ds")
    assert q["line"] == 21 and "int64" in q["reason"] and q["raw"] == bad.decode()
    assert stored_frames(tmp_path / "ds") == {f.decode(): 1 for f in good}


def test_int_beyond_int64_in_capture_is_stored_flagged_and_recovery_goes_on(tmp_path):
    ds = tmp_path / "ds"
    good = frames(10)
    bad = _with_big("sessionStartTimeMs")
    rec = RawRecorder(ds, "big1", roller="thread", roll_frames=5)
    rec.open()
    for f in [*good[:5], bad, *good[5:]]:
        rec.append(f, "ch")
    rec.close()  # rolls, converts: no crash at the roll
    rows = {r["frame"]: r for r in stored(ds)}
    assert len(rows) == 11
    assert rows[bad.decode()]["kind"] == "invalid" and "int64" in rows[bad.decode()]["error"]
    # the same frame left in a spool by a killed capture: recover stores it flagged too
    w = SpoolWriter(ds / "_spool" / spool_name("big2", 0), "big2", 0)
    w.append_batch(0, 1_700_000_000_000_000, "ch", [good[0], bad, good[1]])
    w.close()
    report = recover_dataset(ds)
    assert not report.failed and report.frames == 3
    assert list((ds / "_spool").glob("*.spool")) == []
    rows = [r for r in stored(ds) if r["session_id"] == "big2"]
    assert [r["kind"] for r in rows] == ["transcription", "invalid", "transcription"]


@pytest.mark.parametrize(
    "first",
    [b'{"topicName": "v2.conversations.x.transcription", "eventBo', b"NaN", b"1e400",
     b'{"a": NaN}', b"garbage \x00\xff", b"[1, 2"],
)
def test_a_bad_first_line_decides_nothing(tmp_path, first):
    # 1000 frames: well past the format sniffer's 64 KiB and SNIFF_LINES lines. (A bad
    # line costs only itself: raw.parse_frames bisects its block; see test_bad_lines_bisected)
    good = frames(1000)
    src = tmp_path / "in.jsonl"
    src.write_bytes(first + b"\n" + b"\n".join(good) + b"\n")
    assert src.stat().st_size > 2 * _SNIFF and len(good) > 2 * SNIFF_LINES
    s = convert([src], tmp_path / "ds", progress=False)
    assert not s.skipped and s.written == 1000 and s.quarantined == 1
    assert quarantined(tmp_path / "ds")[0]["line"] == 1


def test_a_utf8_bom_does_not_cost_the_first_record(tmp_path):
    good = frames(5)
    for name, data in [
        ("plain.jsonl", b"\xef\xbb\xbf" + b"\n".join(good)),
        ("zipped.jsonl.gz", gzip.compress(b"\xef\xbb\xbf" + b"\n".join(good))),
        ("array.json", b"\xef\xbb\xbf[" + b",".join(good) + b"]"),
    ]:
        (tmp_path / name).write_bytes(data)
        ds = tmp_path / f"ds-{name}"
        s = convert([tmp_path / name], ds, progress=False)
        assert (s.written, s.quarantined) == (5, 0), name


def _gzip_members(*blocks: bytes) -> bytes:
    return b"".join(gzip.compress(b) for b in blocks)


def test_corrupt_gzip_keeps_the_records_before_the_damage(tmp_path):
    first, second = frames(300, "a"), frames(300, "b")
    one = gzip.compress(b"\n".join(first) + b"\n")
    two = bytearray(gzip.compress(b"\n".join(second) + b"\n"))
    for k in range(len(two) // 2, len(two) // 2 + 64):  # a zeroed run inside member two
        two[k] = 0
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(one + bytes(two))
    s = convert([src], tmp_path / "ds", progress=False)
    got = stored_frames(tmp_path / "ds")
    assert all(got[f.decode()] == 1 for f in first)  # the whole intact member
    # and the records member two decompressed before its damage
    d = zlib.decompressobj(31)
    before = b""
    for i in range(len(two)):
        try:
            before += d.decompress(bytes(two[i : i + 1]))
        except zlib.error:
            break
    intact = [f for f in second if f + b"\n" in before]  # whole before the damage
    assert len(intact) > 100
    assert all(got[f.decode()] == 1 for f in intact)
    assert any("gzip" in q["reason"] for q in quarantined(tmp_path / "ds")) or s.quarantined


def test_trailing_garbage_after_a_gzip_member_keeps_every_record(tmp_path):
    good = frames(200)
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(gzip.compress(b"\n".join(good) + b"\n") + b"this is not gzip" * 10)
    s = convert([src], tmp_path / "ds", progress=False)
    assert s.written == 200 and not s.skipped
    assert any("trailing garbage" in q["reason"] for q in quarantined(tmp_path / "ds"))


def test_an_element_over_the_size_limit_is_quarantined_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_SPAN_BYTES", 200_000)
    monkeypatch.setitem(documents.iter_documents.__kwdefaults__, "scan_bytes", 16_384)
    good = frames(30)
    big = orjson.dumps({"topicName": "v2.conversations.x.transcription", "pad": "y" * 600_000})
    src = tmp_path / "in.json"
    src.write_bytes(b"[\n" + b",\n".join([*good[:10], big, *good[10:]]) + b"\n]\n")
    s = convert([src], tmp_path / "ds", progress=False)
    assert s.written == 30 and s.quarantined == 1
    (q,) = quarantined(tmp_path / "ds")
    assert q["line"] == 12 and "over" in q["reason"] and "elements after it are kept" in q["reason"]


def _run(args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


def test_a_fifo_is_read_once_as_a_stream(tmp_path):
    good = frames(50)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    payload = b"\n".join(good)
    writer = subprocess.Popen(
        [sys.executable, "-c", f"open({str(fifo)!r}, 'wb').write({payload!r})"]
    )
    got = _run([sys.executable, "-m", "diarkit", "convert", str(fifo), "-o", str(tmp_path / "ds"),
                "--quiet"])
    writer.wait(10)
    assert got.returncode == 0, got.stderr
    assert stored_frames(tmp_path / "ds") == {f.decode(): 1 for f in good}
    assert {r["source"] for r in stored(tmp_path / "ds")} == {str(fifo)}
    assert not list(tmp_path.joinpath("ds").glob(".tmp-*"))


def test_process_substitution_works(tmp_path):
    good = frames(50)
    src = tmp_path / "in.jsonl"
    src.write_bytes(gzip.compress(b"\n".join(good)))
    cmd = f"{sys.executable} -m diarkit convert <(cat {src}) -o {tmp_path / 'ds'} --quiet"
    got = _run(["bash", "-c", cmd])
    assert got.returncode == 0, got.stderr
    assert stored_frames(tmp_path / "ds") == {f.decode(): 1 for f in good}


def test_duplicate_keys_are_flagged(tmp_path):
    good = frames(3)
    # a key diarkit reads, twice with different values: which one wins is undefined
    dup = good[0].replace(b'"conversationId":"c0"', b'"conversationId":"c0","conversationId":"x"')
    assert dup != good[0]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([good[1], dup, good[2]]))
    s = convert([src], tmp_path / "ds", progress=False)
    assert s.written == 2 and s.quarantined == 1
    assert "duplicate key" in quarantined(tmp_path / "ds")[0]["reason"]
    rec = RawRecorder(tmp_path / "cap", "dup1", roller="thread")
    rec.open()
    rec.append_batch([good[1], dup], "ch")
    rec.close()
    rows = {r["frame"]: r for r in stored(tmp_path / "cap")}
    assert rows[dup.decode()]["kind"] == "invalid"
    assert "duplicate key" in rows[dup.decode()]["error"]


def test_converted_rows_get_their_time_from_the_data_not_the_file(tmp_path):
    with_time = transcription_frame("t1", event_time="2026-03-04T05:06:07.000Z")
    no_time = orjson.dumps(
        {"eventType": "transcript", "conversationId": "t2", "transcripts": []}
    )
    src = tmp_path / "in.jsonl"
    src.write_bytes(with_time + b"\n" + no_time + b"\n")
    os.utime(src, (978307200, 978307200))  # mtime 2001-01-01: must not appear anywhere
    convert([src], tmp_path / "ds", progress=False)
    rows = {r["conversation_id"]: r for r in stored(tmp_path / "ds")}
    assert rows["t1"]["received_at"] == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert rows["t2"]["received_at"] is None
    assert all("2001" not in p.parent.name for p in list_parts(tmp_path / "ds"))
    # a post-call transcript: its phrases' own times
    doc = {
        "conversationId": "t3",
        "communicationId": "m",
        "transcripts": [
            {"transcriptId": "x", "phrases": [
                {"text": "hi", "startTimeMs": 1772600000000, "duration": {"milliseconds": 500},
                 "participantPurpose": "external"}
            ]}
        ],
    }
    sta = tmp_path / "sta.json"
    sta.write_bytes(orjson.dumps(doc))
    os.utime(sta, (978307200, 978307200))
    convert([sta], tmp_path / "ds3", progress=False)
    times = {r["received_at"] for r in stored(tmp_path / "ds3")}
    assert datetime.fromtimestamp(1772600000, UTC) in times
    assert all(t is None or t.year == 2026 for t in times)
    assert pq.read_table(list_parts(tmp_path / "ds3")[0]).num_rows == 2


def test_invalid_utf8_is_flagged_and_the_part_stays_readable(tmp_path):
    """Found by the fuzz test: Arrow's JSON reader does not validate UTF-8, so a frame with
    a stray byte put invalid text into the conversation id column and made the whole part
    unreadable. Such a frame is invalid (not JSON) and its envelope columns are null."""
    good = frames(4)
    bad = good[0].replace(b'"conversationId":"c0"', b'"conversationId":"\x80c0"')
    rec = RawRecorder(tmp_path / "cap", "u8", roller="thread")
    rec.open()
    rec.append_batch([good[1], bad, good[2]], "ch")
    rec.close()
    rows = stored(tmp_path / "cap")  # decodes every string column: would raise before
    (row,) = [r for r in rows if r["kind"] == "invalid"]
    assert "UTF-8" in row["error"] and row["conversation_id"] is None
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([good[1], bad, good[3]]))
    s = convert([src], tmp_path / "ds", progress=False)
    assert (s.written, s.quarantined) == (2, 1)
    assert "UTF-8" in quarantined(tmp_path / "ds")[0]["reason"]


def test_one_malformed_transcript_costs_only_itself(tmp_path):
    """The good transcripts of a frame are segments; the bad one is flagged in ``error``."""
    from diarkit.io.load import load_segments

    frame = transcription_frame("part", utterances=3).replace(b'"utteranceId":"part-u1",', b"")
    good = frames(3)
    rec = RawRecorder(tmp_path / "cap", "part", roller="thread")
    rec.open()
    rec.append_batch([good[0], frame, good[1]], "ch")
    rec.close()
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([good[0], frame, good[2]]))
    s = convert([src], tmp_path / "ds", progress=False)
    assert (s.written, s.quarantined) == (3, 0)
    for ds in (tmp_path / "cap", tmp_path / "ds"):
        (row,) = [r for r in stored(ds) if r["conversation_id"] == "part"]
        assert row["kind"] == "transcription"
        assert row["error"].startswith("$.eventBody.transcripts[1]")
        assert "utteranceId" in row["error"]
        seg = load_segments(ds)
        ids = sorted(seg[seg["conversation_id"] == "part"]["utterance_id"])
        assert ids == ["part-u0", "part-u2"]
