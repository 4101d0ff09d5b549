"""``diarkit stats --profile/--min-confidence/--start`` gives the library's rows."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.io.convert import convert
from diarkit.io.load import conversation_stats


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ds"
    convert(["data/sample"], out, progress=False)
    return out


@pytest.mark.parametrize("profile", ["default", "nice", "ccai"])
def test_cli_rows_equal_the_library_rows(dataset, tmp_path, profile):
    args = ["stats", str(dataset), "--out", str(tmp_path), "--format", "parquet", "--quiet",
            "--profile", profile, "--min-confidence", "0.8"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(tmp_path / "conversation_stats.parquet")
    want = conversation_stats(dataset, profile, min_confidence=0.8)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want, check_categorical=False, check_dtype=False
    )
    # the threshold changes words, never time
    loose = conversation_stats(dataset, profile, min_confidence=0.0)
    pd.testing.assert_series_equal(loose["talk_time_s"], want["talk_time_s"])
    pd.testing.assert_series_equal(loose["call_silence_s"], want["call_silence_s"])
    assert loose["word_count"].sum() >= want["word_count"].sum()


def test_cli_selects_whole_calls_by_call_time(dataset, tmp_path):
    args = ["stats", str(dataset), "--out", str(tmp_path), "--format", "csv", "--quiet",
            "--start", "2026-11-24T10:00:05+01:00", "--end", "2026-11-25"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(tmp_path / "conversation_stats.csv")
    assert set(got["conversation_id"]) == {
        "055198c0-a132-4797-8a77-814ea6142e5b",
        "8356d01d-e431-4e89-9d0e-6fdeac4c09d3",
    }
    bad = CliRunner().invoke(cli, ["stats", str(dataset), "--start", "noon-ish", "--quiet"])
    assert bad.exit_code != 0 and "--start" in bad.output
    # the Dask engine selects the same whole calls (tests/scale/test_dask.py compares more)
    dask = CliRunner().invoke(cli, [*args[:3], str(tmp_path / "dask"), *args[4:],
                                    "--local-cluster", "1"])
    assert dask.exit_code == 0, dask.output
    on_dask = pd.read_csv(tmp_path / "dask" / "conversation_stats.csv")
    pd.testing.assert_frame_equal(on_dask, got)
