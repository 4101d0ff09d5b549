"""``diarkit convert`` and ``diarkit rebuild`` end by writing timeline/timeline.parquet."""

from __future__ import annotations

import duckdb
import pandas as pd
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.datasets import sample

QUERY = ("SELECT conversation_id, party, user_id, round(sum(end_s - start_s), 3) AS talk_s "
         "FROM read_parquet('{}') GROUP BY ALL ORDER BY ALL")


def _talk(root):
    return duckdb.sql(QUERY.format(root / "timeline" / "timeline.parquet")).df()


def test_convert_and_rebuild_write_the_reconciled_timeline(tmp_path):
    runner = CliRunner()
    both, live = tmp_path / "both", tmp_path / "live"
    frames, transcript = str(sample("frames.jsonl")), str(sample("post_call_transcript.json"))
    for args in ([frames, transcript, "-o", str(both)], [frames, "-o", str(live)]):
        result = runner.invoke(cli, ["convert", *args, "--quiet"])
        assert result.exit_code == 0, result.output
    got = _talk(both)
    assert len(got) >= 3 and {"agent", "customer"} <= set(got["party"])
    pd.testing.assert_frame_equal(got, _talk(live))  # the post-call transcript adds nothing
    # derived data: rebuild writes it again, --no-timeline leaves it alone
    (both / "timeline" / "timeline.parquet").unlink()
    result = runner.invoke(cli, ["rebuild", str(both), "--no-timeline"])
    assert result.exit_code == 0, result.output
    assert not (both / "timeline" / "timeline.parquet").exists()
    result = runner.invoke(cli, ["rebuild", str(both)])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(_talk(both), got)
    skipped = tmp_path / "skipped"
    result = runner.invoke(cli, ["convert", frames, "-o", str(skipped), "--quiet",
                                 "--no-timeline"])
    assert result.exit_code == 0, result.output
    assert not (skipped / "timeline").exists()
