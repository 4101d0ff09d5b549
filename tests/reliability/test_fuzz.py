"""Fuzz: mutated frames and files through capture's recorder and convert (hypothesis).

Every good record is stored, once; every bad one is quarantined (convert) or stored
flagged ``invalid`` (capture) with a reason; nothing vanishes and nothing crashes.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diarkit.capture.recorder import RawRecorder
from diarkit.io.convert import convert
from diarkit.io.raw import classify_record
from tests.io.conftest import FRAMES, golden, transcription_frame

from .helpers import quarantined, stored

BASE = [golden(p.stem) for p in sorted(FRAMES.glob("*.json"))] + [
    transcription_frame(f"fz{i}", utterances=1 + i % 3, offset_ms=500 * i) for i in range(8)
]
BASE = [b for b in dict.fromkeys(BASE) if b"\n" not in b and b'"heartbeat"' not in b]
_NOT_NEWLINE = [b for b in range(256) if b not in (0x0A, 0x0D)]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A frame and whether it was changed (a changed frame may still be valid)."""
    frame = draw(st.sampled_from(BASE))
    kind = draw(
        st.sampled_from(
            ["none", "none", "flip", "truncate", "bigint", "dupkey", "nan", "garbage", "deep"]
        )
    )
    if kind == "none":
        return frame, False
    at = draw(st.integers(0, len(frame) - 1))
    if kind == "flip":
        out = frame[:at] + bytes([draw(st.sampled_from(_NOT_NEWLINE))]) + frame[at + 1 :]
    elif kind == "truncate":
        out = frame[:at]
    elif kind == "bigint":
        digits = draw(st.sampled_from([b"9223372036854775808", b"-9223372036854775809",
                                       b"1" * 40, b"1e400", b"18446744073709551616"]))
        idx = [i for i, c in enumerate(frame) if 0x30 <= c <= 0x39 and frame[i - 1 : i] == b":"]
        if not idx:
            return frame, False
        i = draw(st.sampled_from(idx))
        j = i
        while j < len(frame) and frame[j] in b"0123456789.":
            j += 1
        out = frame[:i] + digits + frame[j:]
    elif kind == "dupkey":
        doc = orjson.loads(frame)
        key = draw(st.sampled_from(sorted(doc)))
        out = frame[:-1] + b"," + orjson.dumps(key) + b":" + orjson.dumps(doc[key]) + b"}"
    elif kind == "nan":
        out = frame.replace(b":0.", b":NaN,", 1) if b":0." in frame else frame[:at] + b"NaN"
    elif kind == "deep":
        out = b'{"topicName":' + b"[" * 5000 + b"]" * 5000 + b"}"  # deep nesting
    else:
        out = draw(st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b
                                                               and b"\r" not in b))
    return out, out != frame


settings.register_profile(
    "reliability",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(settings.get_profile("reliability"))
@given(records=st.lists(mutated(), min_size=1, max_size=30), bom=st.booleans(),
       crlf=st.booleans(), gz=st.booleans())
def test_convert_stores_every_good_record_and_quarantines_every_bad_one(records, bom, crlf, gz):
    import gzip

    lines = [r for r, _ in records]
    nl = b"\r\n" if crlf else b"\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + nl.join(lines) + nl
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("in.jsonl.gz" if gz else "in.jsonl")
        src.write_bytes(gzip.compress(data) if gz else data)
        s = convert([src], Path(tmp) / "ds", progress=False)
        if s.skipped:  # only when no line at all is a record: then every line is bad
            assert all(classify_record(b).kind == "invalid" or not b.strip() for b in lines)
            return
        got = Counter(r["frame"].encode() for r in stored(Path(tmp) / "ds"))
        bad = quarantined(Path(tmp) / "ds")
        assert all(q["reason"] and q["line"] for q in bad)
        quarantined_lines = Counter(q["line"] for q in bad)
        seen: set[bytes] = set()
        earlier: set[bytes] = set()  # a repeat of an earlier line is a duplicate: kept once
        for n, (line, _changed) in enumerate(records, start=1):
            text = line.strip()
            if not text:
                continue
            valid = classify_record(text).kind != "invalid"
            if valid:
                assert got[text] == 1, (n, text[:80])  # stored, once (a repeat is a duplicate)
                assert quarantined_lines[n] == 0
                seen.add(text)
            elif text not in earlier:
                assert quarantined_lines[n] >= 1, (n, text[:80])  # with its reason
            earlier.add(text)
        assert set(got) == seen  # nothing stored that was not a good input record


@settings(settings.get_profile("reliability"))
@given(records=st.lists(mutated(), min_size=1, max_size=30), batch=st.integers(1, 7))
def test_capture_stores_every_frame_and_flags_every_bad_one(records, batch):
    frames = [r for r, _ in records if r.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        rec = RawRecorder(Path(tmp) / "ds", "fuzz", roller="thread", roll_frames=11)
        rec.open()
        for i in range(0, len(frames), batch):
            rec.append_batch(frames[i : i + batch], "ch")
        rec.close()
        rows = sorted(stored(Path(tmp) / "ds"), key=lambda r: r["seq"])
    kept = [r for r in rows if r["kind"] not in ("heartbeat", "pong")]
    by_seq = {r["seq"]: r for r in rows}
    for seq, frame in enumerate(frames):
        info = classify_record(frame)
        if info.kind in ("heartbeat", "pong"):
            continue
        row = by_seq[seq]  # every frame that arrived is a row, verbatim
        assert row["frame"].encode("utf-8", "surrogatepass") == frame or "\ufffd" in row["frame"]
        if info.kind == "invalid":
            assert row["kind"] == "invalid" and row["error"], (seq, frame[:80])
        else:
            assert row["kind"] != "invalid", (seq, row["error"])
    assert len(kept) <= len(frames)
