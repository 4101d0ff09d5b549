"""Sessions that mix sources: Dask labels every row's ``source`` as pandas does.

``diarkit convert`` of one JSONL file holding notification frames and a post-call
transcript writes one convert session with ``live`` and ``import`` rows. Dask reads
segments only, so it labels rows from the model context (:func:`model_context`): the
session's most common source, plus the rows of mixed sessions whose source differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from diarkit.io.convert import convert
from diarkit.io.load import conversation_stats, load_segments, source_labels
from diarkit.scale.fleet import (
    canonical,
    default_pipeline,
    load_segments_pandas,
    model_context,
    stats_dask,
    stats_pandas,
    with_sources,
)
from diarkit.sim.generator import iter_frames
from tests.eventbridge.conftest import (
    aws_endpoint,  # noqa: F401  (the moto server fixture)
    fresh_bucket,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """A converted dataset: one file mixing frames and a post-call transcript, one not."""
    tmp = tmp_path_factory.mktemp("mixed")
    frames = (SAMPLE / "frames.jsonl").read_text().splitlines()
    transcript = json.dumps(json.loads((SAMPLE / "post_call_transcript.json").read_text()))
    (tmp / "mixed.jsonl").write_text("\n".join([*frames[:30], transcript, *frames[30:]]) + "\n")
    sim = list(iter_frames(4, seed=5, stagger_s=4.0, call_duration_s=(40.0, 80.0)))
    (tmp / "capture.jsonl").write_text("\n".join(sim) + "\n")
    data = tmp / "dataset"
    convert([tmp / "mixed.jsonl", tmp / "capture.jsonl"], data, workers=1, progress=False)
    return data


@pytest.fixture(scope="module")
def client():
    """A 1-process LocalCluster on 127.0.0.1 (the machine has 2 cores)."""
    from diarkit.scale import local_client

    with local_client(1, threads_per_worker=1, memory_limit="1GiB") as c:
        yield c


def test_one_convert_file_can_hold_a_session_of_two_sources(mixed):
    labels = source_labels(mixed)
    assert len(labels.sessions) == 2 and set(labels.sessions.values()) == {"live"}
    rows = labels.rows
    assert list(rows.columns) == ["session_id", "seq", "source"]
    assert rows["source"].tolist() == ["import"] and rows["seq"].tolist() == [30]
    segs = load_segments(mixed)
    in_session = segs[segs["session_id"].astype(str) == rows["session_id"].iloc[0]]
    assert set(in_session["source"].astype(str)) == {"live", "import"}


def test_model_context_labels_every_row_as_load_segments(mixed):
    context = model_context(mixed)
    got = with_sources(
        load_segments(mixed, source=False), context["session_sources"], context["source_rows"]
    )
    want = load_segments(mixed)
    assert (got["source"].astype(str) == want["source"].astype(str)).all()
    assert (want["source"].astype(str) == "import").sum() > 0
    # the session label alone (the rule before) would call the transcript's rows live
    alone = with_sources(load_segments(mixed, source=False), context["session_sources"])
    assert (alone["source"].astype(str) != want["source"].astype(str)).any()


def test_dask_statistics_of_a_mixed_session_equal_pandas(client, mixed, tmp_path):
    want = stats_pandas(mixed)
    got = stats_dask(mixed, client, rows_per_partition=1, npartitions=2)
    pd.testing.assert_frame_equal(got.conversations, want.conversations)
    pd.testing.assert_frame_equal(got.fleet, want.fleet)
    pd.testing.assert_frame_equal(want.conversations, conversation_stats(mixed))
    for name, a, b in (
        ("conv", got.conversations, want.conversations),
        ("fleet", got.fleet, want.fleet),
    ):
        a.to_csv(tmp_path / f"{name}-dask.csv", index=False)
        b.to_csv(tmp_path / f"{name}-pandas.csv", index=False)
        dask_bytes = (tmp_path / f"{name}-dask.csv").read_bytes()
        assert dask_bytes == (tmp_path / f"{name}-pandas.csv").read_bytes()
    # without the rows of other sources the numbers differ: the case is not vacuous
    context = model_context(mixed)
    context["source_rows"] = None
    per_session = canonical(
        default_pipeline(load_segments_pandas(mixed).drop(columns=["source"]), **context)
    )
    assert not per_session.equals(want.conversations)


def test_published_mixed_session_gives_dask_on_the_bucket_the_pandas_result(
    mixed,
    aws_endpoint,  # noqa: F811
):
    """``publish_dataset`` stores the rows that differ; ``stats_dask`` on the URL uses them."""
    from diarkit.scale.objectstore import publish_dataset

    with fresh_bucket(aws_endpoint) as (bucket, s3):
        url = f"s3://{bucket}/ds"
        publish_dataset(mixed, url)
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ds/model/")["Contents"]}
        assert "ds/model/source_rows.parquet" in keys
        context = model_context(url)
        pd.testing.assert_frame_equal(context["source_rows"], source_labels(mixed).rows)
        want = stats_pandas(mixed)
        from diarkit.scale import local_client

        # started after AWS_ENDPOINT_URL points at moto, so the worker reads the bucket there
        with local_client(1, threads_per_worker=1, memory_limit="1GiB") as on_moto:
            got = stats_dask(url, on_moto, rows_per_partition=1, npartitions=2)
        pd.testing.assert_frame_equal(got.conversations, want.conversations)
        pd.testing.assert_frame_equal(got.fleet, want.fleet)
