"""The HTML report builder and the ``diarkit demo`` job (a small run, checked by content)."""

from __future__ import annotations

import base64
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


def test_table_html_truncates_and_formats():
    df = pd.DataFrame({"n": range(60), "ratio": [0.1] * 60})
    out = table_html(df, max_rows=10)
    assert out.count("<tr>") == 11  # header + 10 rows
    assert "50 more rows not shown" in out and "10.0%" in out


def test_figure_data_uri_rejects_bad_input():
    _fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="'png' or 'svg'"):
        figure_data_uri(ax, fmt="gif")
    with pytest.raises(TypeError, match="Figure or Axes"):
        figure_data_uri(42)
