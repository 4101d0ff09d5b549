"""``diarkit stats``: pandas path and local Dask cluster write the same files."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.scale import SynthSpec, make_dataset, stats_pandas


def test_stats_on_a_local_cluster_writes_the_pandas_tables(tmp_path):
    data = tmp_path / "ds"
    make_dataset(data, SynthSpec(segments=3_000, rows_per_part=400, days=0.02))
    out = tmp_path / "d"
    res = CliRunner().invoke(
        cli,
        [
            "stats",
            str(data),
            "--out",
            str(out),
            "--local-cluster",
            "1",
            "--memory-limit",
            "1GiB",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "conversation_stats.parquet" in res.output
    ref = stats_pandas(data)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "conversation_stats.parquet"), ref.conversations
    )
    pd.testing.assert_frame_equal(pd.read_parquet(out / "fleet_stats.parquet"), ref.fleet)


def test_stats_csv_with_progress(dataset, tmp_path):
    out = tmp_path / "csv"
    res = CliRunner().invoke(cli, ["stats", str(dataset), "--out", str(out), "--format", "csv"])
    assert res.exit_code == 0, res.output
    fleet = pd.read_csv(out / "fleet_stats.csv")
    assert {"speaker", "metric", "mean", "p95"} <= set(fleet.columns)
    conv = pd.read_csv(out / "conversation_stats.csv")
    assert (
        conv["conversation_id"].nunique()
        == stats_pandas(dataset).conversations["conversation_id"].nunique()
    )


def test_stats_errors_are_clean(tmp_path):
    runner = CliRunner()
    both = runner.invoke(
        cli, ["stats", str(tmp_path), "--dask", "tcp://127.0.0.1:1", "--local-cluster", "2"]
    )
    assert both.exit_code == 2 and "not both" in both.output
    empty = runner.invoke(cli, ["stats", str(tmp_path), "--quiet"])
    assert empty.exit_code == 1
    assert "Error:" in empty.output and str(tmp_path) in empty.output
