"""Coverage of a dataset in a bucket: ``coverage_table``, ``conversation_stats(coverage=True)``
and ``diarkit stats --coverage/--complete-only`` read ``s3://`` in place (moto on 127.0.0.1).

The dataset is the simulator's frames written as one capture session, with a capture gap
that lost two calls' frames (one of them then back-filled with the simulator's post-call
transcript) and one call whose ``SESSION_ENDED`` frame was lost; it is published to a
bucket and every figure read from the URL equals the one read from the disk.
"""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.capture.backfill import coverage_table
from diarkit.cli import cli
from diarkit.io.load import conversation_stats
from diarkit.scale.objectstore import publish_dataset
from tests.eventbridge.conftest import (
    aws_endpoint,  # noqa: F401  (the moto server fixture)
    fresh_bucket,
)

from .faulty import faulty_dataset

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def published(aws_endpoint, tmp_path_factory):  # noqa: F811
    """``(local dataset, its s3 URL, roles)``."""
    with fresh_bucket(aws_endpoint) as (bucket, _):
        local = tmp_path_factory.mktemp("s3cov") / "ds"
        roles = faulty_dataset(local)
        url = f"s3://{bucket}/calls/ds"
        publish_dataset(local, url)
        yield local, url, roles


def test_coverage_table_reads_the_bucket(published):
    local, url, roles = published
    remote = coverage_table(url)
    pd.testing.assert_frame_equal(remote, coverage_table(local))
    cov = remote.set_index("conversation_id")
    cid = {k: p.conversation_id for k, p in roles.items()}
    assert set(cov.index) == set(cid.values())
    # the intact call: all live, its real length (SESSION_ENDED says when it ended)
    assert cov.loc[cid["whole"], "complete"]
    assert cov.loc[cid["whole"], "coverage_live"] == pytest.approx(1.0)
    assert cov.loc[cid["whole"], "duration_s"] == pytest.approx(
        roles["whole"].duration_ms / 1000, abs=0.05)
    # the gap: unknown from the last frame before it to the first after it (at least the
    # 15 s lost; utterances whose final was lost add their span: an upper bound)
    gap = cov.loc[cid["gap"]]
    assert not gap["complete"] and 15.0 <= gap["unknown_s"] < 40.0
    assert gap["live_s"] + gap["unknown_s"] == pytest.approx(gap["duration_s"])
    # back-filled: that range is back-fill, the call complete
    filled = cov.loc[cid["filled"]]
    assert filled["complete"] and filled["unknown_s"] == 0
    assert 15.0 <= filled["backfill_s"] < 40.0
    assert filled["duration_s"] == pytest.approx(roles["filled"].duration_ms / 1000, abs=0.05)
    # SESSION_ENDED lost: the end is unknown
    assert not cov.loc[cid["open"], "complete"]


def test_conversation_stats_with_coverage_reads_the_bucket(published):
    local, url, roles = published
    remote = conversation_stats(url, coverage=True, queues=True)
    pd.testing.assert_frame_equal(remote, conversation_stats(local, coverage=True, queues=True))
    done = remote.groupby(remote["conversation_id"].astype(str))["call_complete"].first()
    assert set(done[done].index) == {roles["whole"].conversation_id,
                                     roles["filled"].conversation_id}


def test_cli_stats_coverage_complete_only_on_the_bucket(published, tmp_path):
    local, url, _ = published
    out = {}
    for name, where in (("remote", url), ("local", str(local))):
        res = CliRunner().invoke(cli, ["stats", where, "--complete-only", "--by", "queue",
                                       "--quiet", "--format", "csv",
                                       "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        out[name] = (pd.read_csv(tmp_path / name / "conversation_stats.csv"),
                     pd.read_csv(tmp_path / name / "fleet_stats.csv"))
    for a, b in zip(out["remote"], out["local"], strict=True):
        pd.testing.assert_frame_equal(a, b)
    conv, fleet = out["remote"]
    assert {"call_coverage_live", "call_complete", "queue_id"} <= set(conv.columns)
    calls = fleet[(fleet["metric"] == "call_duration_s") & fleet["queue_id"].isna()]
    assert int(calls["conversations"].iloc[0]) == 2  # the two complete calls


def test_names_are_published_and_label_the_stats_read_from_the_bucket(published, tmp_path):
    """``dims/`` goes up with the dataset, so ``diarkit stats s3://...`` labels by name."""
    import shutil

    import pyarrow as pa

    from diarkit.io.dataset import write_table_atomic
    from diarkit.io.dims import has_names, load_names

    src, url, _ = published
    local = tmp_path / "ds"
    shutil.copytree(src, local)
    queues = sorted(conversation_stats(local, queues=True)["queue_id"].dropna().unique())
    assert queues, "the simulated calls were routed through a queue"
    names = {q: f"Queue {i}" for i, q in enumerate(queues)}
    write_table_atomic(pa.table({"id": list(names), "name": list(names.values())}),
                       local / "dims" / "queues.parquet")
    named = url + "-named"
    publish_dataset(local, named)
    assert has_names(named) and not has_names(url)
    assert load_names(named, "queues") == names
    res = CliRunner().invoke(cli, ["stats", named, "--by", "queue", "--quiet", "--format",
                                   "csv", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    conv = pd.read_csv(tmp_path / "out" / "conversation_stats.csv")
    assert set(conv["queue_name"].dropna()) == set(names.values())
    # renamed and published again: the bucket's names follow (dims/ is re-uploaded)
    names = {q: f"Renamed {i}" for i, q in enumerate(queues)}
    write_table_atomic(pa.table({"id": list(names), "name": list(names.values())}),
                       local / "dims" / "queues.parquet")
    publish_dataset(local, named)
    assert load_names(named, "queues") == names
