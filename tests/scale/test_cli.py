"""``diarkit stats``: pandas path and local Dask cluster write the same files."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.scale import stats_pandas


def test_stats_pandas_and_local_cluster_write_identical_tables(dataset, tmp_path):
    runner = CliRunner()
    plain = runner.invoke(cli, ["stats", str(dataset), "--out", str(tmp_path / "p"), "--quiet"])
    assert plain.exit_code == 0, plain.output
    assert "conversation_stats.parquet" in plain.output
    on_dask = runner.invoke(
        cli,
        [
            "stats",
            str(dataset),
            "--out",
            str(tmp_path / "d"),
            "--local-cluster",
            "2",
            "--memory-limit",
            "1GiB",
            "--quiet",
        ],
    )
    assert on_dask.exit_code == 0, on_dask.output
    ref = stats_pandas(dataset)
    for name, want in (("conversation_stats", ref.conversations), ("fleet_stats", ref.fleet)):
        p = pd.read_parquet(tmp_path / "p" / f"{name}.parquet")
        d = pd.read_parquet(tmp_path / "d" / f"{name}.parquet")
        pd.testing.assert_frame_equal(p, d)
        assert len(p) == len(want)
        pd.testing.assert_series_equal(
            p["talk_time_s" if "talk_time_s" in p else "mean"],
            want["talk_time_s" if "talk_time_s" in want else "mean"],
        )


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
