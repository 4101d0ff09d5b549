"""Spool and raw recorder on real files: roll into Parquet parts, recover exactly once."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from diarkit.capture import RawRecorder, RecorderError, recover_spools
from diarkit.capture.recorder import describe_os_error, spool_to_part
from diarkit.capture.spool import SpoolWriter, is_locked, read_spool, spool_name
from diarkit.io.dataset import list_parts

DATA = Path(__file__).resolve().parents[1] / "data" / "frames"
TRANSCRIPTION = (DATA / "transcription.json").read_bytes().strip()
HEARTBEAT = (DATA / "heartbeat.json").read_bytes().strip()
MALFORMED = b'{"topicName": "v2.conversations.c1.transcription", "eventBody": {"transcripts": 5}'


def frames(n: int) -> list[bytes]:
    """n distinct transcription frames (each a different correlation id)."""
    return [TRANSCRIPTION.replace(b"c0ffee00", f"{i:08x}".encode()) for i in range(n)]


def read_raw(dataset: Path):
    parts = list_parts(dataset, "raw")
    if not parts:
        return []
    rows = []
    for p in parts:
        rows.extend(pq.read_table(p).to_pylist())
    return sorted(rows, key=lambda r: r["seq"])


def test_spool_roundtrip_and_torn_tail(tmp_path):
    path = tmp_path / spool_name("s1", 5)
    w = SpoolWriter(path, "s1", 5)
    payloads = [b"a", b"line\nbreak", b"", TRANSCRIPTION]
    for i, p in enumerate(payloads):
        w.append(5 + i, 1_700_000_000_000_000 + i, "ch-1", p)
    assert is_locked(path)
    w.close()
    assert not is_locked(path)
    c = read_spool(path)
    assert (c.session_id, c.start_seq, c.problem) == ("s1", 5, None)
    assert c.frames == payloads and c.seqs.tolist() == [5, 6, 7, 8] and c.sources == ["ch-1"] * 4
    # an OS crash mid-write leaves a torn record: every complete one is kept, the tail named
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 10)
    c = read_spool(path)
    assert c.frames == payloads[:3] and "torn frame" in (c.problem or "")
    # a flipped byte inside a frame is caught by the CRC; the intact record after it is
    # kept (the reader resynchronises on the next record whose CRC checks out)
    data = bytearray(path.read_bytes())
    data[data.index(b"line") + 1] ^= 0x20
    path.write_bytes(bytes(data))
    c = read_spool(path)
    assert c.frames == [payloads[0], payloads[2]] and "CRC mismatch" in (c.problem or "")
    assert c.seqs.tolist() == [5, 7] and len(c.skipped) == 2 and not c.complete


def _same_contents(a, b):
    assert (a.session_id, a.start_seq, a.data) == (b.session_id, b.start_seq, b.data)
    for name in ("starts", "ends", "seqs", "received_us"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert a.sources == b.sources and a.frames == b.frames


def test_batches_and_index_trailer_read_back_like_the_record_walk(tmp_path):
    path = tmp_path / spool_name("s2", 10)
    w = SpoolWriter(path, "s2", 10)
    batches = [[b"a", b"line\nbreak"], [b""], frames(3), [TRANSCRIPTION]]
    seq, sent, sources = 10, [], []
    for i, batch in enumerate(batches):
        w.append_batch(seq, 1_700_000_000_000_000 + i, f"ch-{i % 2}", batch)
        seq += len(batch)
        sent += batch
        sources += [f"ch-{i % 2}"] * len(batch)
    assert w.frames == len(sent) and w.last_seq == 10 + len(sent) - 1
    index = w.seal()
    with pytest.raises(ValueError, match="sealed"):
        w.append(seq, 0, "ch", b"late")  # a rolled spool takes no more frames
    w.close()
    assert w.bytes == path.stat().st_size
    walked = read_spool(path)  # recovery's way: every record and CRC, stopping at the trailer
    assert walked.problem is None and walked.frames == sent and walked.sources == sources
    assert walked.received_us.tolist() == [
        1_700_000_000_000_000 + i for i, b in enumerate(batches) for _ in b
    ]
    _same_contents(index.load(), walked)


def test_a_damaged_trailer_falls_back_to_the_record_walk(tmp_path):
    path = tmp_path / spool_name("s3", 0)
    w = SpoolWriter(path, "s3", 0)
    w.append_batch(0, 1_700_000_000_000_000, "ch", frames(4))
    index = w.seal()
    w.close()
    good = path.read_bytes()
    blob = index.blob_at + 3
    for damaged in (
        good[:blob] + bytes([good[blob] ^ 1]) + good[blob + 1 :],  # CRC catches it
        good[: index.trailer_at + 8],  # torn trailer (an OS crash while rolling)
        good[: index.trailer_at],  # no trailer at all
    ):
        path.write_bytes(damaged)
        got = index.load()
        assert got.frames == frames(4) and got.problem is None
        _same_contents(got, read_spool(path))


def test_recorder_rolls_by_count_into_parts_without_heartbeats(tmp_path):
    rec = RawRecorder(tmp_path, "sess-a", roll_frames=4, roll_seconds=60)
    rec.open()
    sent = []
    for i, f in enumerate(frames(10)):
        rec.append(f, "ch-1")
        sent.append(f)
        if i % 3 == 0:
            rec.append(HEARTBEAT, "ch-1")
    rec.append(MALFORMED, "ch-2")
    sent.append(MALFORMED)
    rec.close()
    rows = read_raw(tmp_path)
    assert [r["frame"].encode() for r in rows] == sent
    assert len({r["seq"] for r in rows}) == len(rows)
    assert rows[-1]["kind"] == "invalid" and rows[-1]["error"] and rows[-1]["source"] == "ch-2"
    assert rows[0]["kind"] == "transcription" and rows[0]["conversation_id"]
    assert rows[0]["received_at"].tzinfo is not None
    assert rec.frames == 15 and rec.rows == 11 and rec.invalid == 1
    assert rec.parts == len(list_parts(tmp_path, "raw")) >= 3
    assert len(list_parts(tmp_path, "segments")) == rec.parts
    assert list((tmp_path / "_spool").iterdir()) == []


def test_keep_heartbeats_and_roll_by_time(tmp_path):
    now = [0.0]
    rec = RawRecorder(
        tmp_path, "sess-b", roll_seconds=5, keep_heartbeats=True, clock=lambda: now[0]
    )
    rec.open()
    rec.append(HEARTBEAT, "ch")
    now[0] = 4.0
    rec.tick()
    assert rec.parts == 0
    now[0] = 5.5
    rec.tick()
    rec.close()
    rows = read_raw(tmp_path)
    assert [r["kind"] for r in rows] == ["heartbeat"]


def test_recovery_is_idempotent_after_crash_between_part_and_unlink(tmp_path):
    spool_dir = tmp_path / "_spool"
    spool_dir.mkdir()
    path = spool_dir / spool_name("sess-c", 0)
    w = SpoolWriter(path, "sess-c", 0)
    sent = frames(7)
    for i, f in enumerate(sent):
        w.append(i, 1_795_513_500_000_000 + i, "ch", f)
    w.close()
    backup = tmp_path / "backup.spool"
    shutil.copy(path, backup)
    first = spool_to_part(tmp_path, path)
    assert first.part is not None and not path.exists()
    shutil.copy(backup, path)  # as if the process died before unlinking the spool
    report = recover_spools(tmp_path)
    assert [r.reused for r in report.results] == [True]
    assert [r["frame"].encode() for r in read_raw(tmp_path)] == sent  # exactly once
    assert not path.exists()
    assert "recovered 1 spool(s): 7 frame(s)" in report.summary()


def test_recovery_leaves_live_spools_and_reports_foreign_files(tmp_path):
    live = RawRecorder(tmp_path, "live-1", roll_seconds=60)
    live.open()
    live.append(frames(1)[0], "ch")
    (tmp_path / "_spool" / "junk-000000000000.spool").write_bytes(b"not a spool\n")
    report = recover_spools(tmp_path)
    assert len(report.skipped_live) == 1 and report.results == []
    assert report.failed and "not a diarkit spool" in report.failed[0]
    live.close()
    assert len(read_raw(tmp_path)) == 1


def test_next_start_recovers_leftover_spool_of_a_dead_session(tmp_path):
    spool_dir = tmp_path / "_spool"
    spool_dir.mkdir()
    w = SpoolWriter(spool_dir / spool_name("dead", 40), "dead", 40)
    w.append(40, 1_795_513_500_000_000, "ch", frames(1)[0])
    w.close()
    rec = RawRecorder(tmp_path, "new")
    report = rec.open()
    assert report.frames == 1
    rec.close()
    rows = read_raw(tmp_path)
    assert [(r["session_id"], r["seq"]) for r in rows] == [("dead", 40)]


def test_write_failure_stops_with_clear_message_and_keeps_frames(tmp_path):
    # A real write failure: RLIMIT_FSIZE makes write() fail with EFBIG once the spool is
    # over 64 KiB; the frames written before must be recoverable.
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        from diarkit.capture import RawRecorder, RecorderError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        rec = RawRecorder({str(tmp_path)!r}, "full", roll_frames=10**9, recover=False)
        rec.open()
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        frame = b'{{"topicName": "channel.metadata", "eventBody": {{"message": "x"}}}}' * 20
        n = 0
        try:
            while True:
                rec.append(frame, "ch")
                n += 1
        except RecorderError as exc:
            print(n)
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    written, message = out.stdout.splitlines()[:2]
    assert int(written) > 10
    assert "cannot write spool" in message and "File too large" in message
    assert f"{written} frame(s) already spooled are kept" in message
    report = recover_spools(tmp_path, keep_heartbeats=True)
    assert report.frames == int(written)
    assert len(read_raw(tmp_path)) == int(written)


def test_unwritable_dataset_is_a_clear_error(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    rec = RawRecorder(target / "ds", "s")
    with pytest.raises(RecorderError, match="cannot record into"):
        rec.open()


def test_os_errors_are_described_by_cause():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/x.spool")
    assert describe_os_error(full, "cannot write") == "cannot write (/data/x.spool): disk full"
    denied = PermissionError(errno.EACCES, "Permission denied", "/data")
    assert describe_os_error(denied, "cannot record") == "cannot record (/data): permission denied"


def test_many_small_rolls_keep_every_frame_once(tmp_path):
    # Conversion falls behind a roll per frame: queued spools beyond two are converted
    # from disk instead of memory; either way every frame lands once, in order.
    sent = frames(30)
    rec = RawRecorder(tmp_path, "tiny", roll_frames=1)
    rec.open()
    for f in sent:
        rec.append(f, "ch")
    rec.close()
    assert [r["frame"].encode() for r in read_raw(tmp_path)] == sent
    assert rec.parts == 30 and rec.rows == 30
