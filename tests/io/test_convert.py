"""convert / compact / rebuild on real files and datasets."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diarkit.io.convert import ConvertError, NoInputError, compact, convert, rebuild, repair
from diarkit.io.dataset import list_parts
from diarkit.io.load import load_quarantine, load_raw, load_segments

from .conftest import golden, transcription_frame
from .test_readers import EXPORT, STA


def _frames(prefix: str, n: int, utterances: int = 2) -> list[bytes]:
    return [transcription_frame(f"{prefix}{i}", utterances=utterances) for i in range(n)]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    good = _frames("a", 30)
    bad_type = transcription_frame("bad").replace(b'"isFinal":true', b'"isFinal":"yes"')
    (d / "a.jsonl").write_bytes(
        b"\n".join([*good[:10], b"{truncated", *good[10:20], bad_type, *good[20:]]) + b"\n"
    )
    (d / "sub" / "b.jsonl.gz").write_bytes(gzip.compress(b"\n".join(_frames("b", 20)) + b"\n"))
    (d / "legacy.json").write_bytes(golden("legacy_tutorial"))
    (d / "export.json").write_text(json.dumps(EXPORT, indent=2))
    (d / "sta.json").write_bytes(orjson.dumps(STA))
    (d / "notes.csv").write_text("a,b\n1,2\n")
    (d / ".hidden.jsonl").write_bytes(b"ignored")
    return d


def test_convert_mixed_folder(inputs, tmp_path):
    ds = tmp_path / "ds"
    s = convert([inputs], ds, progress=False)
    reason = "not JSON or JSON lines (starts with 'a,b\\n1,2\\n')"
    assert s.skipped == [(str(inputs / "notes.csv"), reason)]
    assert s.files == 5
    # the export: 3 segments + its document row; the STA transcript: 2 phrases + its row
    assert s.records == 32 + 20 + 1 + 4 + 3
    assert s.written == 30 + 20 + 1 + 3 + 3 and s.quarantined == 3
    raw = load_raw(ds)
    assert len(raw) == 57
    assert raw["frame_hash"].is_unique
    topics = set(raw["topic"].astype(str))
    assert {"diarkit.import.tutorial_export", "diarkit.import.sta_transcript"} <= topics
    seg = load_segments(ds)
    assert len(seg) == 30 * 2 + 20 * 2 + 2 + 2 + 2 == s.segments
    export = seg[seg["conversation_id"] == "conv-9"]
    assert list(export["speaker"].astype(str)) == ["agent", "customer"]
    sta = seg[seg["conversation_id"] == "conv-sta"]
    assert list(sta["start_s"]) == [1.0, 3.0]
    q = load_quarantine(ds).sort_values(["source", "line"], na_position="last")
    assert list(zip(q["source"], q["line"], strict=True))[:2] == [
        (str(inputs / "a.jsonl"), 11),
        (str(inputs / "a.jsonl"), 22),
    ]
    assert q["raw"].iloc[0] == "{truncated"
    assert q["reason"].iloc[1] == (
        "$.eventBody.transcripts[0].isFinal: expected true or false, got string"
    )
    assert q["reason"].iloc[2] == "$.segments[2].start_seconds: expected a number, got string"
    assert q["source"].iloc[2] == str(inputs / "export.json")


def test_convert_twice_adds_nothing(inputs, tmp_path):
    ds = tmp_path / "ds"
    convert([inputs], ds, progress=False)
    files = sorted(p for p in ds.rglob("*") if p.is_file())
    again = convert([inputs, inputs / "a.jsonl"], ds, progress=False)
    assert again.written == 0 and again.duplicates == 57 and again.parts == 0
    assert sorted(p for p in ds.rglob("*") if p.is_file()) == files
    assert len(load_quarantine(ds)) == 3


def test_strict_raises_after_finishing(inputs, tmp_path):
    ds = tmp_path / "ds"
    with pytest.raises(ConvertError) as err:
        convert([inputs], ds, strict=True, progress=False)
    assert err.value.summary.written == 57
    assert len(load_raw(ds)) == 57
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(_frames("c", 3)))
    assert convert([clean], tmp_path / "ds2", strict=True, progress=False).clean


def test_missing_input_is_reported(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\n".join(_frames("c", 2)))
    s = convert(
        [tmp_path / "nope.jsonl", str(tmp_path / "*.zzz"), good], tmp_path / "ds", progress=False
    )
    assert [reason for _, reason in s.skipped] == [
        "no such file or directory",
        "no file matches this pattern",
    ]
    # nothing to convert at all: one clear error, and nothing is created (#16 item 5)
    with pytest.raises(NoInputError, match=r"nope\.jsonl: no such file or directory"):
        convert([tmp_path / "nope.jsonl"], tmp_path / "ds2", progress=False)
    assert not (tmp_path / "ds2").exists()


def test_parallel_workers_match_inline_and_dedupe_across_files(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for k in range(3):
        (d / f"f{k}.jsonl").write_bytes(b"\n".join(_frames(f"p{k}-", 40)))
    (d / "copy.jsonl").write_bytes((d / "f1.jsonl").read_bytes())  # same frames again
    one = convert([d], tmp_path / "one", workers=1, progress=False)
    two = convert([d], tmp_path / "two", workers=2, progress=False)
    assert one.written == two.written == 120
    assert two.duplicates == 40
    r1 = load_raw(tmp_path / "one").sort_values("frame_hash")
    r2 = load_raw(tmp_path / "two").sort_values("frame_hash")
    assert list(r1["frame"]) == list(r2["frame"])
    s1 = load_segments(tmp_path / "one")
    s2 = load_segments(tmp_path / "two")
    assert len(s1) == len(s2) == 240
    assert sorted(s1["utterance_id"]) == sorted(s2["utterance_id"])


def test_dataset_as_input(tmp_path):
    src = tmp_path / "f.jsonl"
    src.write_bytes(b"\n".join(_frames("d", 5)))
    convert([src], tmp_path / "a", progress=False)
    s = convert([tmp_path / "a"], tmp_path / "b", progress=False)
    assert s.written == 5
    a, b = load_raw(tmp_path / "a"), load_raw(tmp_path / "b")
    assert list(a["frame_hash"]) == list(b["frame_hash"])
    assert len(load_segments(tmp_path / "b")) == 10


def test_repair_after_crash_states(tmp_path):
    src = tmp_path / "f.jsonl"
    src.write_bytes(b"\n".join(_frames("r", 6)))
    ds = tmp_path / "ds"
    convert([src], ds, progress=False)
    (raw_part,) = list_parts(ds, "raw")
    seg_part = ds / "segments" / raw_part.relative_to(ds / "raw")
    expected = pq.read_table(seg_part)
    seg_part.unlink()  # killed between the two renames
    orphan = seg_part.parent / "ghost-000000.parquet"  # diarkit's: name and columns
    pq.write_table(expected, orphan)
    users = seg_part.parent / "ghost-000001.parquet"  # a user's file: left alone (#14.8)
    users.write_bytes(b"x")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = raw_part.parent / f".tmp-{dead.stdout.strip()}-x.parquet"
    stale.write_bytes(b"partial")
    done = repair(ds)
    assert len(done) == 4 and f"left alone {users}: not a diarkit segments part" in done
    assert not stale.exists() and not orphan.exists() and users.read_bytes() == b"x"
    assert pq.read_table(seg_part).equals(expected)


def _kill_convert_after(src: Path, ds: Path, *, parts: int, workers: int, chunk_bytes: int):
    """Run ``convert([src], ds)`` in a subprocess; SIGKILL it once ``parts`` raw parts exist
    (bounded: 60 s)."""
    code = (
        "import sys; from diarkit.io.convert import convert; "
        f"convert([sys.argv[1]], sys.argv[2], workers={workers}, progress=False, "
        f"chunk_bytes={chunk_bytes})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(src), str(ds)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list_parts(ds, "raw")) < parts:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_kill_then_rerun_completes_without_duplicates(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for k in range(12):
        (d / f"f{k:02d}.jsonl").write_bytes(b"\n".join(_frames(f"k{k}-", 400)))
    ds = tmp_path / "ds"
    _kill_convert_after(d, ds, parts=3, workers=1, chunk_bytes=65536)
    partial = load_raw(ds, columns=["frame_hash"])  # readable as it is
    assert 0 < len(partial) < 4800
    assert load_segments(ds) is not None
    s = convert([d], ds, progress=False)
    raw = load_raw(ds, columns=["frame_hash"])
    assert len(raw) == 4800 and raw["frame_hash"].is_unique
    assert s.written == 4800 - len(partial)
    assert len(load_segments(ds)) == 9600


def test_compact_keeps_content_and_survives_interruption(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for k in range(5):
        (d / f"f{k}.jsonl").write_bytes(b"\n".join(_frames(f"c{k}-", 30)))
    ds = tmp_path / "ds"
    convert([d], ds, progress=False, chunk_bytes=8192)
    before_raw = load_raw(ds)
    before_seg = load_segments(ds, words=True)
    n_parts = len(list_parts(ds, "raw"))
    assert n_parts > 5
    result = compact(ds)
    assert result.before == n_parts and result.after == 1 and result.rows == 150
    after_raw = load_raw(ds)
    after_seg = load_segments(ds, words=True)
    assert list(after_raw["frame"]) == list(before_raw["frame"])
    assert list(after_seg["text"]) == list(before_seg["text"])
    assert list(after_seg["order"]) == list(before_seg["order"])
    assert len(list_parts(ds, "segments")) == 1


def test_interrupted_compaction_is_invisible_to_readers(tmp_path):
    src = tmp_path / "f.jsonl"
    src.write_bytes(b"\n".join(_frames("j", 40)))
    ds = tmp_path / "ds"
    convert([src], ds, progress=False, chunk_bytes=4096)
    parts = list_parts(ds, "raw")
    n = len(load_raw(ds))
    # simulate a compaction killed after the new part was renamed into place
    new = parts[0].parent / "cmerged-000000.parquet"
    new_seg = ds / "segments" / new.relative_to(ds / "raw")
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in parts]), new)
    segs = [ds / "segments" / p.relative_to(ds / "raw") for p in parts]
    merged = pa.concat_tables([pq.read_table(p) for p in segs]).unify_dictionaries()
    pq.write_table(merged, new_seg)
    journal = ds / "_compact-999999999.json"
    journal.write_text(
        json.dumps(
            {
                "new": [str(new.relative_to(ds)), str(new_seg.relative_to(ds))],
                "old": [str(p.relative_to(ds)) for p in segs + parts],
            }
        )
    )
    assert len(load_raw(ds)) == n  # old parts skipped, no double counting
    repair(ds)
    assert not journal.exists() and list_parts(ds, "raw") == [new]
    assert len(load_raw(ds)) == n


def test_rebuild_rederives_segments(tmp_path):
    src = tmp_path / "f.jsonl"
    src.write_bytes(b"\n".join([*_frames("q", 8), golden("legacy_tutorial")]))
    ds = tmp_path / "ds"
    convert([src], ds, progress=False)
    before = load_segments(ds, words=True)
    for p in list_parts(ds, "segments"):
        p.unlink()
    assert rebuild(ds) == len(before) == 18
    after = load_segments(ds, words=True)
    assert after.drop(columns=["words"]).equals(before.drop(columns=["words"]))


def test_hash_keys_match_digests_and_known_lookup():
    from diarkit.io.convert import KnownHashes, digest_keys, hash_keys
    from diarkit.io.raw import digests_hex, frame_digests, frame_hash, hash_frames

    blobs = [transcription_frame(f"h{i}") for i in range(50)]
    digests = frame_digests(blobs)
    reference = [hashlib.blake2b(b, digest_size=16).hexdigest() for b in blobs]
    assert hash_frames(blobs).to_pylist() == reference == [frame_hash(b) for b in blobs]
    assert hash_frames(memoryview(b) for b in blobs).to_pylist() == reference
    keys = hash_keys(digests_hex(digests))
    assert (keys == digest_keys(digests)).all()
    known = KnownHashes(keys[:20])
    assert known.contains(digest_keys(digests)).tolist() == [True] * 20 + [False] * 30
    # same 64-bit prefix, different second half: not a match
    probe = keys[:1].copy()
    probe[0, 1] ^= 1
    assert known.contains(probe).tolist() == [False]


def test_one_file_on_two_threads_matches_one_thread(tmp_path):
    frames = _frames("t", 300)
    lines = [*frames, *frames[:50], b"{bad"]  # repeats inside the file, one bad line
    src = tmp_path / "big.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    one = convert([src], tmp_path / "one", workers=1, progress=False, chunk_bytes=8192)
    two = convert([src], tmp_path / "two", workers=2, progress=False, chunk_bytes=8192)
    assert one.written == two.written == 300
    assert one.duplicates == two.duplicates == 50
    assert one.quarantined == two.quarantined == 1
    cols = ["frame_hash", "seq", "line"]
    r1 = load_raw(tmp_path / "one", columns=cols).sort_values("seq").reset_index(drop=True)
    r2 = load_raw(tmp_path / "two", columns=cols).sort_values("seq").reset_index(drop=True)
    assert r1.equals(r2)
    assert r1["line"].tolist() == list(range(1, 301)) and r1["seq"].tolist() == list(range(300))
    assert len(load_segments(tmp_path / "two")) == 600
    q = load_quarantine(tmp_path / "two")
    assert q["line"].tolist() == [351]


def test_invalid_utf8_line_is_quarantined_and_the_rest_kept(tmp_path):
    src = tmp_path / "bin.jsonl"
    src.write_bytes(
        transcription_frame("a") + b"\n\xff\xfe garbage\n" + transcription_frame("b") + b"\n"
    )
    s = convert([src], tmp_path / "ds", progress=False)
    assert (s.written, s.quarantined) == (2, 1)
    q = load_quarantine(tmp_path / "ds")
    assert q["line"].tolist() == [2]
    assert q["reason"].iloc[0].startswith("$: not valid JSON")
    assert q["raw"].iloc[0] == "\ufffd\ufffd garbage"
    assert load_raw(tmp_path / "ds")["line"].tolist() == [1, 3]


def test_hash_claims_are_atomic_across_threads():
    import threading

    from diarkit.io.convert import SeenHashes, digest_keys
    from diarkit.io.raw import frame_digests

    keys = digest_keys(frame_digests([i.to_bytes(4, "little") for i in range(6000)]))
    seen = SeenHashes()
    claimed: list[np.ndarray] = []
    start = threading.Barrier(6)

    def claim(offset: int) -> None:
        start.wait()
        for k in range(0, 6000, 250):  # overlapping batches, in different orders
            batch = keys[(np.arange(k, k + 500) + offset) % 6000]
            claimed.append(batch[seen.claim(batch)])

    threads = [threading.Thread(target=claim, args=(o * 1000,)) for o in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = np.concatenate(claimed)
    assert len(got) == 6000 == len(seen)  # every key claimed exactly once
    assert len(np.unique(got.view(np.dtype((np.void, 16))))) == 6000


def test_kill_never_leaves_a_duplicate_across_files(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shared = _frames("shared-", 300)
    for k in range(8):  # every file holds the shared frames, in a different place
        own = _frames(f"own{k}-", 300)
        (d / f"f{k}.jsonl").write_bytes(b"\n".join(own[: k * 30] + shared + own[k * 30 :]))
    ds = tmp_path / "ds"
    _kill_convert_after(d, ds, parts=6, workers=2, chunk_bytes=32768)
    partial = load_raw(ds, columns=["frame_hash"])
    assert len(partial) and partial["frame_hash"].is_unique  # visible right after the kill
    s = convert([d], ds, progress=False, workers=2)
    raw = load_raw(ds, columns=["frame_hash"])
    assert len(raw) == 300 + 8 * 300 and raw["frame_hash"].is_unique
    assert s.written == len(raw) - len(partial)
