"""The pandas loaders and ``diarkit stats`` read a dataset straight from ``s3://``.

A live WebSocket capture of the simulator (127.0.0.1) is published to a bucket on the
moto server (127.0.0.1, started by ``aws_endpoint``); every loader given the URL returns
what it returns for the local copy.
"""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.scale.objectstore import publish_dataset
from tests.eventbridge.conftest import fresh_bucket
from tests.eventbridge.helpers import websocket_capture


@pytest.fixture(scope="module")
def published(aws_endpoint, tmp_path_factory):
    """``(local dataset, s3 URL)``: the same dataset on disk and in a fresh bucket."""
    with fresh_bucket(aws_endpoint) as (bucket, _):
        local = tmp_path_factory.mktemp("s3load") / "ds"
        websocket_capture(local, conversations=5)
        url = f"s3://{bucket}/calls/ds"
        publish_dataset(local, url)
        yield local, url


def test_load_segments_from_the_bucket_equals_the_disk(published):
    from diarkit.io.load import load_segments

    local, url = published
    remote = load_segments(url)
    assert len(remote) > 20
    pd.testing.assert_frame_equal(remote, load_segments(local))
    some = sorted(remote["conversation_id"].astype(str).unique())[:3]
    pd.testing.assert_frame_equal(
        load_segments(url, conversations=some, words=True),
        load_segments(local, conversations=some, words=True),
    )


def test_load_raw_and_gaps_from_the_bucket_equal_the_disk(published):
    from diarkit.io.load import load_gaps, load_raw

    local, url = published
    cols = ["session_id", "seq", "conversation_id", "kind", "received_at"]
    remote = load_raw(url, columns=cols)
    assert len(remote) > 0
    pd.testing.assert_frame_equal(remote, load_raw(local, columns=cols))
    pd.testing.assert_frame_equal(load_raw(url), load_raw(local))
    pd.testing.assert_frame_equal(load_gaps(url), load_gaps(local))


def test_a_url_without_a_dataset_is_a_clear_error(published):
    from diarkit.io.load import load_segments

    _, url = published
    missing = url.rsplit("/", 1)[0] + "/nothing-here"
    with pytest.raises(FileNotFoundError, match="nothing-here: no dataset there"):
        load_segments(missing)


def test_diarkit_stats_pandas_engine_reads_the_bucket(published, tmp_path):
    from diarkit.cli import cli

    local, url = published
    outs = {}
    for name, src in (("local", str(local)), ("remote", url)):
        out = tmp_path / name
        result = CliRunner().invoke(cli, ["stats", src, "--out", str(out), "--quiet",
                                          "--format", "csv"])
        assert result.exit_code == 0, result.output
        outs[name] = out
    for f in ("conversation_stats.csv", "fleet_stats.csv"):
        remote = pd.read_csv(outs["remote"] / f)
        assert len(remote) > 0
        pd.testing.assert_frame_equal(remote, pd.read_csv(outs["local"] / f))
