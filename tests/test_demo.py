"""The HTML report builder and the ``diarkit demo`` job (a small run, checked by content)."""

from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from diarkit.report import Report, figure_data_uri, table_html


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_report_is_self_contained_and_escaped(tmp_path):
    _fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    table = pd.DataFrame(
        {"conversation_id": ["<b>c1</b>", "c2"], "talk_share": [0.5, 0.25], "silence_s": [3.25, 0]}
    )
    report = Report("Fleet <report>", subtitle="2 calls")
    report.section("Overview", note="what we saw").metrics({"calls": "2", "gaps": 1},
                                                          warn=("gaps",))
    report.table(table, caption="per call").figure(ax, caption="a line", fmt="png")
    report.section("Vector").figure(ax, fmt="svg")
    path = report.write(tmp_path / "out" / "report.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "<title>Fleet &lt;report&gt;</title>" in text
    assert "&lt;b&gt;c1&lt;/b&gt;" in text and "<b>c1</b>" not in text
    assert "50.0%" in text and "25.0%" in text and "3.2" in text  # formatted by suffix
    assert text.count("<section>") == 2 == text.count("</section>")
    assert 'class="tile warn"' in text
    # no external resources: every src/href is inline
    assert not re.search(r'(src|href)="(?!data:)', text)
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(pngs) == 1 and base64.b64decode(pngs[0]).startswith(b"\x89PNG")
    assert 'src="data:image/svg+xml;base64,' in text
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic write left no temp file


def test_report_shows_itself_in_notebooks():
    report = Report("R <1>").section("S").text("a & b")
    shown = report._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and 'sandbox=""' in shown
    assert "a &amp;amp; b" in shown and "<section>" not in shown  # escaped into the attribute


def test_table_html_truncates_and_formats():
    df = pd.DataFrame({"n": range(60), "ratio": [0.1] * 60})
    out = table_html(df, max_rows=10)
    assert out.count("<tr>") == 11  # header + 10 rows
    assert "50 more rows not shown" in out and "10.0%" in out
    gaps = pd.DataFrame({"duration_s": [1.25], "call_ratio": [0.5],
                         "start_at": [pd.Timestamp("2026-11-24 12:20:10.123456", tz="UTC")]})
    out = table_html(gaps)
    assert "<td>1.2</td>" in out or "<td>1.3</td>" in out  # "duration" is not a ratio
    assert "50.0%" in out and "2026-11-24 12:20:10.123 UTC" in out


def test_figure_data_uri_rejects_bad_input():
    _fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="'png' or 'svg'"):
        figure_data_uri(ax, fmt="gif")
    with pytest.raises(TypeError, match="Figure or Axes"):
        figure_data_uri(42)


def test_small_demo_captures_analyses_and_reports(tmp_path):
    from diarkit.demo import run_demo

    lines: list[str] = []
    progress: list[tuple[str, bool]] = []
    out = tmp_path / "demo"
    result = run_demo(
        echo=lines.append, out=out, conversations=4, speed=120.0, seed=24, max_seconds=90,
        faults=("drop@1",), progress=lambda text, final: progress.append((text, final)),
    )
    assert result.report == out.resolve() / "report.html" and result.report.is_file()
    # seed 24: three answered calls and one abandoned in the queue (no speech)
    assert result.conversations == 3 and result.frames > 40
    assert "1 captured call(s) had no transcribed speech to analyse (1 abandoned before " \
        "an agent answered)." in lines
    assert any(line.startswith("Report: ") and str(result.report) in line for line in lines)
    # the live progress line was updated while capturing and closed with the final counts
    assert len(progress) >= 3 and progress[-1][1] is True
    assert "calls ended 4/4" in progress[-1][0] and "stopped" in progress[-1][0]
    assert sorted((out / "dataset" / "raw").rglob("*.parquet"))
    stats = pd.read_csv(result.stats_csv)
    assert stats["conversation_id"].nunique() == 3 and (stats["talk_time_s"] > 0).all()

    text = result.report.read_text()
    for heading in ("Overview", "Across the fleet", "Call timelines", "Every call",
                    "Capture health", "Method"):
        assert f"<h2>{heading}</h2>" in text
    for cid in stats["conversation_id"].unique():
        assert cid in text  # every call is listed
    assert re.search(r'<div class="v">3</div><div class="k">calls analysed</div>', text)
    assert re.search(r'<div class="v">1</div><div class="k">calls without speech</div>', text)
    assert "4 simulated calls captured" in text
    assert "1 more call(s) have call events but no transcribed speech (1 abandoned" in text
    frames = re.search(r'<div class="v">([\d,]+)</div><div class="k">frames received</div>', text)
    assert frames and int(frames.group(1).replace(",", "")) == result.frames
    # the dropped socket is reported: a reconnect and the gap it left, with its cause
    assert re.search(r'<div class="v">1</div><div class="k">reconnects</div>', text)
    assert re.search(r"<h3>Gaps \(\d+\)</h3>", text) and "network error" in text
    # fleet plots + talk share + 3 timelines, all inline
    assert len(re.findall(r'src="data:image/png;base64,', text)) >= 5
    assert not re.search(r'(src|href)="(?!data:)', text)

    # someone else's dataset is never overwritten; an earlier demo's folder is replaced
    other = tmp_path / "mine"
    (other / "dataset" / "raw").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not one the demo wrote"):
        run_demo(echo=lines.append, out=other, conversations=1)
    assert (other / "dataset" / "raw").is_dir()
    again = run_demo(echo=lines.append, out=out, conversations=1, speed=200.0, faults=(),
                     progress=lambda text, final: None)
    assert any(line.startswith("Replacing the previous demo") for line in lines)
    assert again.conversations == 1 and "1</div><div class=\"k\">calls analysed" in (
        again.report.read_text())

    # the demo writes report.html / talk_stats.csv only over files it can prove it wrote
    users = tmp_path / "users"
    users.mkdir()
    (users / "report.html").write_text("my own report")
    with pytest.raises(FileExistsError, match=r"report\.html already exists"):
        run_demo(echo=lines.append, out=users, conversations=1)
    assert (users / "report.html").read_text() == "my own report"
    assert not (users / "dataset").exists()  # refused before anything started
    again.stats_csv.write_text(again.stats_csv.read_text() + "edited by hand\n")
    with pytest.raises(FileExistsError, match=r"talk_stats\.csv already exists"):
        run_demo(echo=lines.append, out=out, conversations=1)


def test_demo_statistics_are_the_rows_diarkit_stats_gives(tmp_path):
    """One analysis profile everywhere: the demo's talk_stats.csv == `diarkit stats`."""
    from click.testing import CliRunner

    from diarkit.cli import cli
    from diarkit.demo import run_demo

    result = run_demo(echo=lambda _l: None, out=tmp_path / "demo", conversations=2,
                      speed=200.0, seed=5, faults=(), progress=lambda text, final: None)
    res = CliRunner().invoke(cli, ["stats", str(result.dataset), "--out",
                                   str(tmp_path / "stats"), "--format", "csv", "--quiet"])
    assert res.exit_code == 0, res.output
    ours = pd.read_csv(result.stats_csv)
    theirs = pd.read_csv(tmp_path / "stats" / "conversation_stats.csv")
    pd.testing.assert_frame_equal(ours, theirs)


def test_demo_cli_options_documented():
    from click.testing import CliRunner

    from diarkit.cli import cli

    res = CliRunner().invoke(cli, ["demo", "--help"])
    assert res.exit_code == 0
    for opt in ("--out", "--conversations", "--speed", "--seed", "--fault", "--no-faults"):
        assert opt in res.output
    bad = CliRunner().invoke(cli, ["demo", "--fault", "meteor@3"])
    assert bad.exit_code != 0 and "bad fault 'meteor@3'" in bad.output


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_line_rewrites_on_a_terminal_and_throttles_otherwise():
    from diarkit.demo import ProgressLine

    tty = _Stream(True)
    line = ProgressLine(tty)
    line("frames 10")
    line("frames 9")
    line("done", final=True)
    assert tty.getvalue() == "\rframes 10\rframes 9 \rdone    \n"  # padded over longer text
    log = _Stream(False)
    line = ProgressLine(log, every_s=3600)
    for i in range(5):
        line(f"frames {i}")
    line("stopped", final=True)
    assert log.getvalue() == "frames 0\nstopped\n"  # one line per interval, plus the last
