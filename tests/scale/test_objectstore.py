"""Datasets on object storage: publish to and read from S3 on a local moto server.

Dask fleet statistics computed straight from the bucket (on a real 2-process
LocalCluster whose workers reach the same endpoint) equal the single-machine result of
the local copy.
"""

from __future__ import annotations

import shutil
import sys

import cloudpickle
import pandas as pd
import pytest

from diarkit.io.dataset import SEGMENTS_DIR, list_parts
from diarkit.scale import DatasetError, read_part
from diarkit.scale import list_parts as scale_list_parts
from diarkit.scale.objectstore import is_url, list_remote_parts, publish_dataset
from tests.eventbridge.conftest import (
    aws_endpoint,  # noqa: F401  (the moto server fixture)
    fresh_bucket,
)

# the pipeline below lives in this test module, which worker processes cannot import
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def s3(aws_endpoint):  # noqa: F811
    """A fresh bucket; ``AWS_ENDPOINT_URL`` points boto3, s3fs and child processes at moto."""
    with fresh_bucket(aws_endpoint) as made:
        yield made


@pytest.fixture(scope="module")
def published(s3, dataset, tmp_path_factory):
    """The synthetic fleet dataset (plus temporaries that must stay local) on S3."""
    bucket, _ = s3
    local = tmp_path_factory.mktemp("local") / "ds"
    shutil.copytree(dataset, local)
    first = list_parts(local, SEGMENTS_DIR)[0]
    (first.parent / f".tmp-12345-{first.name}").write_bytes(b"half a file")
    (local / "_spool").mkdir(exist_ok=True)
    (local / "_spool" / "x-000000.spool").write_bytes(b"in flight")
    url = f"s3://{bucket}/fleet/ds"
    report = publish_dataset(local, url)
    return local, url, report


def test_publish_writes_the_same_layout_and_leaves_temporaries_out(published, s3):
    local, url, report = published
    bucket, client = s3
    keys = sorted(
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="fleet/")
        for o in page.get("Contents", [])
    )
    want = sorted(
        f"fleet/ds/{p.relative_to(local).as_posix()}"
        for kind in ("raw", "segments")
        for p in list_parts(local, kind)
    )
    model = ["fleet/ds/model/phases.parquet", "fleet/ds/model/session_sources.parquet"]
    assert keys == sorted(want + model) and len(keys) > 10
    assert not any("/." in k or "/_" in k for k in keys)
    assert len(report.uploaded) == len(keys) and report.bytes > 0
    again = publish_dataset(local, url)  # idempotent: only the derived context is rewritten
    assert sorted(again.uploaded) == [f"{bucket}/{k}" for k in model]
    assert len(again.skipped) == len(want)


def test_readers_list_the_bucket_as_the_disk(published):
    local, url, _ = published
    remote = scale_list_parts(url)
    here = scale_list_parts(local)
    assert [p.path.rsplit("/", 1)[-1] for p in remote] == [p.path.name for p in here]
    assert [(p.date, p.rows) for p in remote] == [(p.date, p.rows) for p in here]
    pd.testing.assert_frame_equal(read_part(remote[0].path), read_part(here[0].path))
    assert is_url(url) and not is_url(local) and not is_url("file:///tmp/x")


def test_unfinished_uploads_and_temporary_keys_are_invisible(published, s3):
    _, url, _ = published
    bucket, client = s3
    before = list_remote_parts(url)
    date = before[0].rsplit("/", 2)[-2]
    key = f"fleet/ds/segments/{date}/zz-999999.parquet"
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )
    client.put_object(Bucket=bucket, Key=f"fleet/ds/segments/{date}/.tmp-1-a.parquet", Body=b"x")
    client.put_object(Bucket=bucket, Key=f"fleet/ds/segments/{date}/_journal.parquet", Body=b"x")
    assert list_remote_parts(url) == before  # the multipart object exists only once completed
    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])


def test_a_damaged_object_is_named_in_the_error(s3):
    bucket, client = s3
    client.put_object(
        Bucket=bucket, Key="broken/ds/segments/date=2026-12-05/a-000000.parquet", Body=b"nope"
    )
    with pytest.raises(DatasetError, match=f"s3://{bucket}/broken/ds/segments/date=2026-12-05/a"):
        scale_list_parts(f"s3://{bucket}/broken/ds")
    with pytest.raises(DatasetError, match="no segments part files"):
        scale_list_parts(f"s3://{bucket}/nothing-here")


def talk_pipeline(segments: pd.DataFrame) -> pd.DataFrame:
    """Per-conversation talk statistics of whole conversations (final versions)."""
    from diarkit.analysis import finalize, talk_stats

    return talk_stats(finalize(segments).segments)


def test_dask_fleet_statistics_straight_from_the_bucket(published):
    """``stats_dask`` on the bucket: the conversation model's context comes as published."""
    from diarkit.io.load import load_segments
    from diarkit.scale import canonical, local_client, map_conversations, stats_dask, stats_pandas

    local, url, _ = published
    reference = stats_pandas(local)
    plain = canonical(talk_pipeline(load_segments(local)))
    # worker processes inherit AWS_ENDPOINT_URL and read the objects themselves
    with local_client(2, threads_per_worker=1, memory_limit="1GiB") as client:
        remote = stats_dask(url, client)
        remote_plain = map_conversations(url, talk_pipeline, client=client)
    assert len(remote.conversations) > 100
    pd.testing.assert_frame_equal(remote.conversations, reference.conversations)
    pd.testing.assert_frame_equal(remote.fleet, reference.fleet)
    pd.testing.assert_frame_equal(remote_plain, plain)


def test_an_unpublished_context_is_a_clear_error(s3, dataset):
    from diarkit.scale import stats_dask
    from diarkit.scale.objectstore import filesystem

    bucket, _ = s3
    fs, _ = filesystem(f"s3://{bucket}")
    part = list_parts(dataset, SEGMENTS_DIR)[0]
    fs.put_file(str(part), f"{bucket}/bare/ds/segments/{part.parent.name}/{part.name}")
    with pytest.raises(FileNotFoundError, match="publish the dataset with"):
        stats_dask(f"s3://{bucket}/bare/ds")


def test_diarkit_publish_command(s3, dataset, tmp_path):
    from click.testing import CliRunner

    from diarkit.cli import cli

    bucket, _ = s3
    url = f"s3://{bucket}/cli/ds"
    result = CliRunner().invoke(cli, ["publish", str(dataset), url])
    assert result.exit_code == 0, result.output
    n = len(list_parts(dataset, "raw")) + len(list_parts(dataset, SEGMENTS_DIR)) + 2
    assert f"published {n} object(s)" in result.output and "0 already there" in result.output
    assert [p.rows for p in scale_list_parts(url)] == [p.rows for p in scale_list_parts(dataset)]
    bad = CliRunner().invoke(cli, ["publish", str(dataset), str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not an object-store URL" in bad.output


def test_diarkit_stats_on_the_bucket_with_start_and_end(published, tmp_path):
    """``diarkit stats s3://... --start/--end``: the same whole calls and numbers as the
    local copy with the same window (pandas path, read straight from the bucket)."""
    from click.testing import CliRunner

    from diarkit.cli import cli

    local, url, _ = published
    window = ["--start", "2026-11-01T23:50:00Z", "--end", "2026-11-02T00:10:00Z"]
    out = {}
    for name, where in (("local", str(local)), ("s3", url)):
        result = CliRunner().invoke(cli, ["stats", where, "--out", str(tmp_path / name),
                                          "--quiet", *window])
        assert result.exit_code == 0, result.output
        out[name] = pd.read_parquet(tmp_path / name / "conversation_stats.parquet")
    from diarkit.scale import stats_pandas

    every = stats_pandas(local).conversations
    assert 0 < len(out["s3"]) < len(every)  # the window selects some calls, not all
    pd.testing.assert_frame_equal(out["s3"], out["local"])
