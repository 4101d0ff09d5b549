"""Reading the partitioned segments dataset: listing, part reading, errors, the generator."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diarkit.io.load import load_segments
from diarkit.scale import DatasetError, SynthSpec, list_parts, make_dataset, read_part
from diarkit.scale.dataset import READ_SCHEMA, as_contract_dtypes
from diarkit.schema import SEGMENTS, validate


def test_parts_listed_in_path_order_with_row_counts(dataset):
    parts = list_parts(dataset)
    paths = [p.path for p in parts]
    assert paths == sorted(paths, key=lambda p: (p.parent.name, p.name))
    assert len({p.date for p in parts}) >= 2  # calls span more than one day
    assert sum(p.rows for p in parts) == len(load_segments(dataset))
    assert all(p.rows == pq.read_metadata(p.path).num_rows for p in parts)


def test_temporary_and_hidden_files_are_ignored(tmp_path):
    make_dataset(tmp_path, SynthSpec(segments=600, rows_per_part=200))
    day = next((tmp_path / "segments").iterdir())
    (day / ".tmp-123-sess00-000999.parquet").write_bytes(b"half written")
    (day / "_scratch.parquet").write_bytes(b"")
    names = [p.path.name for p in list_parts(tmp_path)]
    assert names and not any(n.startswith((".", "_")) for n in names)
    # the segments directory itself is accepted too
    assert [p.path for p in list_parts(tmp_path / "segments")] == [
        p.path for p in list_parts(tmp_path)
    ]


def test_missing_and_empty_datasets_are_named(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset directory"):
        list_parts(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a diarkit dataset"):
        list_parts(tmp_path)
    (tmp_path / "segments" / "date=2026-11-01").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no segments part files"):
        list_parts(tmp_path)


def test_read_part_names_file_and_column(tmp_path):
    good = SEGMENTS.empty()
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(good.drop(columns=["speaker"]), preserve_index=False), bad)
    with pytest.raises(DatasetError, match=r"bad\.parquet: missing segments column 'speaker'"):
        read_part(bad)
    wrong = tmp_path / "wrong.parquet"
    table = SEGMENTS.arrow_schema(include_optional=False).empty_table()
    i = table.schema.get_field_index("start_s")
    table = table.set_column(i, "start_s", pa.array([], pa.list_(pa.int64())))
    pq.write_table(table, wrong)
    with pytest.raises(DatasetError, match=r"wrong\.parquet: column 'start_s'"):
        read_part(wrong)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"junk\.parquet: unreadable"):
        read_part(junk)


def test_read_part_follows_the_segments_contract(dataset):
    part = list_parts(dataset)[0]
    frame = read_part(part.path)
    assert list(frame.columns) == READ_SCHEMA.names
    assert len(frame) == part.rows
    typed = as_contract_dtypes(frame)
    validate(typed, SEGMENTS, where="test")
    assert isinstance(typed["conversation_id"].dtype, pd.CategoricalDtype)


def test_generator_splits_conversations_across_files_and_is_seeded(dataset, tmp_path):
    seen = pd.concat(
        [
            read_part(p.path)[["conversation_id"]].assign(file=p.path.name + p.date)
            for p in list_parts(dataset)
        ],
        ignore_index=True,
    )
    files_per_conv = seen.drop_duplicates().groupby("conversation_id").size()
    assert (files_per_conv > 1).mean() > 0.3  # many conversations span several parts
    dates_per_conv = seen.assign(date=seen["file"].str[-10:])[["conversation_id", "date"]]
    assert (dates_per_conv.drop_duplicates().groupby("conversation_id").size() > 1).any()
    segs = load_segments(dataset)
    assert (~segs["is_final"]).any() and segs["is_final"].any()
    from tests.scale.conftest import SPEC

    make_dataset(tmp_path, SPEC)
    pd.testing.assert_frame_equal(load_segments(tmp_path), segs)


def test_without_a_client_the_threaded_scheduler_gives_the_pandas_result(tmp_path):
    from diarkit.scale import stats_pandas, talk_stats_dask

    make_dataset(tmp_path, SynthSpec(segments=4_000, rows_per_part=300, days=0.02))
    got = talk_stats_dask(tmp_path, npartitions=3)
    pd.testing.assert_frame_equal(got, stats_pandas(tmp_path).conversations)


def test_bad_rows_raise_the_analysis_error_naming_the_problem(tmp_path):
    from diarkit.scale import talk_stats_dask

    make_dataset(tmp_path, SynthSpec(segments=2_000, rows_per_part=400, days=0.02))
    part = list_parts(tmp_path)[1].path
    table = pq.read_table(part)
    starts = table.column("start_s").to_numpy().copy()
    row = table.column("is_final").to_pylist().index(True)  # a row finalize keeps
    starts[row] = table.column("end_s")[row].as_py() + 5.0  # end_s < start_s
    table = table.set_column(table.schema.get_field_index("start_s"), "start_s", pa.array(starts))
    pq.write_table(table, part)
    with pytest.raises(ValueError, match=r"end_s < start_s"):
        talk_stats_dask(tmp_path, rows_per_partition=500)
