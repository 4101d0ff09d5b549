"""`diarkit der`: one library call over two RTTM files."""

from __future__ import annotations

from click.testing import CliRunner

from diarkit.analysis import to_rttm
from diarkit.cli import cli

from ._frames import intervals


def test_der_command_prints_the_components(tmp_path):
    ref = tmp_path / "ref.rttm"
    hyp = tmp_path / "hyp.rttm"
    ref.write_text(to_rttm(intervals({"A": [(0, 10)], "B": [(10, 20)]})))
    hyp.write_text(to_rttm(intervals({"x": [(0, 12)], "y": [(12, 17)], "z": [(20, 22)]})))
    result = CliRunner().invoke(cli, ["der", str(hyp), str(ref)])
    assert result.exit_code == 0, result.output
    assert "DER 35.00%" in result.output and "missed 3.000 s" in result.output


def test_der_command_reports_a_bad_file(tmp_path):
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER c1 1 x 1.0 <NA> <NA> a <NA> <NA>\n")
    result = CliRunner().invoke(cli, ["der", str(bad), str(bad)])
    assert result.exit_code != 0 and "line 1" in result.output
