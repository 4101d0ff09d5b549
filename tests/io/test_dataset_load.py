"""Dataset writers and loaders: layout, atomic writes, pushdown filters, live datasets."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import diarkit
from diarkit.io import build_raw_table, write_gaps, write_quarantine, write_raw_part
from diarkit.io.dataset import check_name, list_parts, part_name
from diarkit.schema import GAPS, RAW, SEGMENTS, validate

from .conftest import golden, transcription_frame

DAY1 = datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC)
DAY2 = datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC)


def _write(dataset, session, seq, convs, when):
    frames = [transcription_frame(c) for c in convs]
    raw = build_raw_table(
        frames, session_id=session, start_seq=seq, received_at=when, source="ch-1"
    )
    return write_raw_part(dataset, raw, session_id=session, seq=seq)


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    _write(root, "s1", 0, ["a", "b"], DAY1)
    _write(root, "s1", 2, ["a", "c"], DAY2)
    _write(root, "s2", 0, ["d"], DAY2 + timedelta(hours=5))
    return root


def test_layout_names_and_partitions(dataset):
    rel = sorted(str(p.relative_to(dataset)) for p in dataset.rglob("*.parquet"))
    assert rel == [
        "raw/date=2026-11-23/s1-000000.parquet",
        "raw/date=2026-11-24/s1-000002.parquet",
        "raw/date=2026-11-24/s2-000000.parquet",
        "segments/date=2026-11-23/s1-000000.parquet",
        "segments/date=2026-11-24/s1-000002.parquet",
        "segments/date=2026-11-24/s2-000000.parquet",
    ]
    assert not [p for p in dataset.rglob("*") if p.name.startswith(".tmp-")]
    assert part_name("s1", 12) == "s1-000012.parquet"
    with pytest.raises(ValueError, match="not usable in a file name"):
        check_name("../evil")


def test_plain_hive_parquet_readable_by_pyarrow_and_duckdb(dataset):
    t = ds.dataset(dataset / "segments", format="parquet", partitioning="hive").to_table()
    assert t.num_rows == 10
    import duckdb

    n = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{dataset}/segments/*/*.parquet', "
        "hive_partitioning = true) WHERE speaker = 'agent'"
    ).fetchall()[0][0]
    assert n == 5


def test_load_segments_dtypes_and_contract(dataset):
    seg = diarkit.load_segments(dataset)
    validate(seg, SEGMENTS)
    assert len(seg) == 10
    for col in ("conversation_id", "communication_id", "channel", "speaker", "session_id"):
        assert isinstance(seg[col].dtype, pd.CategoricalDtype), col
    assert pd.api.types.is_string_dtype(seg["text"].dtype)
    assert "words" not in seg.columns
    assert str(seg["start_at"].dtype) == "datetime64[us, UTC]"
    words = diarkit.load_segments(dataset, words=True)["words"]
    assert words.iloc[0][0]["word"] == "hello"


def test_filters_are_pushed_down(dataset):
    seg = diarkit.load_segments(dataset, conversations=["a"])
    assert set(seg["conversation_id"].astype(str)) == {"a"} and len(seg) == 4
    # time filters select whole conversations by call time (session start + offset,
    # here 2026-11-24 09:45:01 UTC), never by receive time
    day2 = diarkit.load_segments(dataset, start="2026-11-24T00:00:00Z")
    assert len(day2) == 10
    assert len(diarkit.load_segments(dataset, start="2026-11-24", end="2026-11-25")) == 10
    assert len(diarkit.load_segments(dataset, end="2026-11-24T09:45:00+00:00")) == 0
    zoned = diarkit.load_segments(dataset, start="2026-11-24T10:45:00+01:00")
    assert len(zoned) == 10  # 09:45 UTC, just before every call starts
    window = diarkit.load_segments(dataset, start=DAY2, end=DAY2 + timedelta(hours=1))
    assert len(window) == 0
    raw = diarkit.load_raw(dataset, conversations="d", columns=["conversation_id", "seq"])
    assert list(raw.columns) == ["conversation_id", "seq"] and len(raw) == 1
    # pruning: a filter on a date outside the data touches no file
    d = ds.dataset(
        dataset / "raw",
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive"),
    )
    assert len(list(d.get_fragments(filter=ds.field("date") >= "2026-11-24"))) == 2
    with pytest.raises(ValueError, match="no time zone"):
        diarkit.load_segments(dataset, start="2026-11-24T10:00")


def test_load_raw_contract(dataset):
    raw = diarkit.load_raw(dataset)
    validate(raw, RAW)
    assert isinstance(raw["kind"].dtype, pd.CategoricalDtype)
    assert raw["seq"].tolist() == [0, 1, 2, 3, 0]
    with pytest.raises(ValueError, match="unknown raw columns"):
        diarkit.load_raw(dataset, columns=["nope"])


def test_loading_ignores_parts_being_written(dataset):
    part_dir = dataset / "raw" / "date=2026-11-24"
    (part_dir / ".tmp-1234-s3-000000.parquet").write_bytes(b"PAR1 half written")
    (dataset / "segments" / "date=2026-11-24" / ".tmp-1234-s3-000000.parquet").write_bytes(b"")
    assert len(diarkit.load_raw(dataset)) == 5
    assert len(diarkit.load_segments(dataset)) == 10


def test_loading_while_a_writer_runs(tmp_path):
    root = tmp_path / "live"
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from diarkit.io import build_raw_table, write_raw_part\n"
        "from tests.io.conftest import transcription_frame\n"
        "for k in range(25):\n"
        "    raw = build_raw_table([transcription_frame(f'c{k}-{i}') for i in range(50)],\n"
        "        session_id='live', start_seq=50 * k, received_at=datetime.now(UTC), source=None)\n"
        "    write_raw_part(sys.argv[1], raw, session_id='live', seq=50 * k)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(root)])
    seen = []
    try:
        while proc.poll() is None:
            if root.exists():
                seg = diarkit.load_segments(root)
                assert len(seg) % 2 == 0
                seen.append(len(seg))
    finally:
        proc.wait(60)
    assert proc.returncode == 0
    assert len(diarkit.load_segments(root)) == 2500
    assert seen == sorted(seen)


def test_gaps_and_quarantine_writers(tmp_path):
    root = tmp_path / "ds"
    assert diarkit.load_gaps(root.parent).empty
    gaps = pd.DataFrame(
        {
            "session_id": ["s1"],
            "start_at": [pd.Timestamp("2026-11-24T10:00:00Z")],
            "end_at": [pd.Timestamp("2026-11-24T10:00:07Z")],
            "duration_s": [7.0],
            "cause": ["heartbeat timeout"],
            "channel_id": ["ch"],
            "conversations": [["a", "b"]],
        }
    )
    path = write_gaps(root, "s1", gaps)
    assert path == root / "gaps" / "s1.parquet"
    loaded = diarkit.load_gaps(root)
    validate(loaded, GAPS)
    assert loaded["duration_s"].tolist() == [7.0]
    assert list(loaded["conversations"].iloc[0]) == ["a", "b"]
    q = write_quarantine(
        root,
        "run1",
        pa.table(
            {"run_id": ["run1"], "source": ["f"], "line": [3], "reason": ["bad"], "raw": ["{"]}
        ),
    )
    assert q.name == "run1.parquet"


def test_heartbeat_only_part_has_empty_segments(tmp_path):
    raw = build_raw_table(
        [golden("heartbeat")], session_id="hb", start_seq=0, received_at=DAY2, source=None
    )
    write_raw_part(tmp_path, raw, session_id="hb", seq=0)
    assert len(list_parts(tmp_path, "segments")) == 1
    assert diarkit.load_segments(tmp_path).empty


def test_load_a_file_directly(tmp_path):
    f = tmp_path / "frames.jsonl"
    f.write_bytes(b"\n".join([transcription_frame("x"), golden("legacy_tutorial")]))
    seg = diarkit.load_segments(f)
    assert list(seg["conversation_id"].astype(str)) == ["x", "x", "conv-12345", "conv-12345"]
    assert len(diarkit.load_raw(f)) == 2
    with pytest.raises(FileNotFoundError):
        diarkit.load_segments(tmp_path / "missing")


def _gap(session: str, start: datetime, seconds: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": [session],
            "start_at": [pd.Timestamp(start)],
            "end_at": [pd.Timestamp(start + timedelta(seconds=seconds))],
            "duration_s": [seconds],
            "cause": ["socket closed"],
            "channel_id": ["ch-1"],
            "conversations": [["a"]],
        }
    )


def test_capture_gaps_are_unknown_time_never_silence(tmp_path):
    """A conversation with no call events: its gap is unknown time, not silence."""
    from diarkit.io.load import conversation_stats, load_phases

    root = tmp_path / "ds"
    # conv-1 speaks at 1.0-2.5 s and 3.0-4.5 s (session start 09:45:00 UTC); then a frame
    # with offsets 31.0-32.5 s and 33.0-34.5 s: a 26.5 s gap between, 20 s of it a
    # capture gap
    first = transcription_frame("conv-1", utterances=2, offset_ms=1000)
    later = transcription_frame("conv-1", utterances=2, offset_ms=31000).replace(
        b"conv-1-u", b"conv-1-v"
    )
    raw = build_raw_table([first, later], session_id="s1", start_seq=0, received_at=DAY2,
                          source="ch-1")
    write_raw_part(root, raw, session_id="s1", seq=0)
    plain = conversation_stats(root).iloc[0]
    assert plain.call_silence_s == pytest.approx(26.5)
    session_start = datetime(2026, 11, 24, 9, 45, tzinfo=UTC)
    write_gaps(root, "s1", _gap("s1", session_start + timedelta(seconds=8), 20.0))
    phases = load_phases(root)
    assert phases[["phase", "start_s", "end_s"]].values.tolist() == [["unknown", 8.0, 28.0]]
    stats = conversation_stats(root).iloc[0]
    # silence: 4.5-8.0 (3.5 s, not > 3 s... it is: 3.5 > 3) and 28.0-31.0 (3.0 s: not > 3)
    assert stats.call_silence_count == 1
    assert stats.call_silence_s == pytest.approx(3.5)
    assert stats.call_unknown_s == pytest.approx(20.0)
    assert stats.talk_time_s == plain.talk_time_s
