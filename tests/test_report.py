"""``diarkit report`` / ``build_report`` on a converted dataset: same rows as the library and
``diarkit stats``, flagged calls always drawn, one definition per figure, filters, and no
overwriting of files diarkit did not write."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.cli import cli


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from diarkit.io.convert import convert
    from diarkit.sim import write_jsonl

    root = tmp_path_factory.mktemp("report")
    frames = root / "frames.jsonl.gz"
    write_jsonl(frames, conversations=12, seed=11, agents=3, queues=2,
                call_duration_s=(50.0, 110.0), stagger_s=1.0)
    convert(frames, root / "ds", progress=False)
    return root / "ds"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_report_csv_library_and_diarkit_stats_give_the_same_rows(dataset, tmp_path):
    from diarkit.io.load import conversation_stats

    res = run("report", dataset, "-o", tmp_path / "out" / "report.html")
    assert res.exit_code == 0, res.output
    assert "12 calls" in res.output and "profile 'default'" in res.output
    ours = pd.read_csv(tmp_path / "out" / "talk_stats.csv")
    res = run("stats", dataset, "--out", tmp_path / "stats", "--format", "csv", "--quiet")
    assert res.exit_code == 0, res.output
    theirs = pd.read_csv(tmp_path / "stats" / "conversation_stats.csv")
    conversation_stats(dataset).to_csv(tmp_path / "lib.csv", index=False)  # the library
    pd.testing.assert_frame_equal(ours, theirs)
    pd.testing.assert_frame_equal(ours, pd.read_csv(tmp_path / "lib.csv"))


def test_one_definition_per_figure_named_on_the_page(dataset, tmp_path):
    from diarkit.report import build_report, per_call_table

    result = build_report(dataset, tmp_path / "r.html", stats_csv=False)
    text = result.report.read_text()
    assert "<h2>Definitions</h2>" in text and "profile &#x27;default&#x27;" in text
    # the one talk-share definition: talk_share_call, in the tiles, the table and the chart
    assert "talk_share_call" in text and "talk_share_speech" not in text  # anywhere
    assert "share of total speech" not in text and "Talk shares are of speech" not in text
    calls = per_call_table(result.analysis.stats)
    stats = result.analysis.stats.assign(
        conversation_id=lambda f: f["conversation_id"].astype(str))
    agent = (stats[stats["speaker"].astype(str) == "agent"]  # every agent of the call
             .groupby("conversation_id")["talk_share_call"].sum())
    shown = calls.set_index("conversation_id")["agent_share"]
    assert shown.to_dict() == pytest.approx(
        agent.reindex(shown.index).fillna(0.0).astype(float).to_dict())
    tile = re.search(r'<div class="v">(\d+)%</div><div class="k">agent talk share</div>', text)
    assert tile and int(tile.group(1)) == round(100 * calls["agent_share"].median())
    # silence has one definition (gaps longer than 3 s) and the chart's grey is named apart
    assert "gaps longer than 3 s" in text and "nobody speaking" in text
    assert "silences of 2 s" not in text
    assert result.analysis.profile == "default"


def test_talk_share_chart_never_hides_flagged_calls(dataset, tmp_path, monkeypatch):
    import diarkit.plot as plot
    from diarkit.report import fleet_report

    seen = {}
    real = plot.plot_talk_share

    def spy(*args, **kwargs):
        ax = real(*args, **kwargs)
        seen["labels"] = [t.get_text() for t in ax.get_yticklabels()]
        return ax

    monkeypatch.setattr(plot, "plot_talk_share", spy)
    from diarkit.io.load import load_segments
    from diarkit.report import analyse, flag_calls, per_call_table

    a = analyse(load_segments(dataset))
    # three copies of the fleet's calls plus one call with an outlying agent share that is
    # also the shortest: the old "25 longest" chart dropped exactly that one
    stats = pd.concat([a.stats.assign(conversation_id=a.stats["conversation_id"].astype(str)
                                      + f"-{k:02d}") for k in range(3)], ignore_index=True)
    odd = a.stats[a.stats["conversation_id"] == a.stats["conversation_id"].iloc[0]].copy()
    odd["conversation_id"] = "zz-outlier"
    odd["call_duration_s"] = 5.0
    odd.loc[odd["speaker"] == "agent", "talk_share_call"] = 0.99
    odd.loc[odd["speaker"] == "agent", "talk_time_s"] = 4.95
    stats = pd.concat([stats, odd], ignore_index=True)
    flagged = flag_calls(per_call_table(stats))
    assert "zz-outlier" in set(flagged["conversation_id"])
    fleet_report(stats, a.segments, timelines=0)
    assert "*zz-outlier" in seen["labels"]
    assert len(seen["labels"]) >= 25


def test_filters_by_conversation_queue_agent_and_time(dataset, tmp_path):
    from diarkit.report import build_report, conversation_handlers

    handlers = conversation_handlers(dataset)
    queue = handlers["queue_id"].dropna().iloc[0]
    agent = handlers["agent_id"].dropna().iloc[0]
    by_queue = set(handlers.loc[handlers["queue_id"] == queue, "conversation_id"])
    by_agent = set(handlers.loc[handlers["agent_id"] == agent, "conversation_id"])
    r = build_report(dataset, tmp_path / "q.html", queues=[queue[:8]])
    assert set(r.analysis.stats["conversation_id"].astype(str)) == by_queue
    r = build_report(dataset, tmp_path / "a.html", agents=[agent], stats_csv=False)
    assert set(r.analysis.stats["conversation_id"].astype(str)) == by_agent
    one = sorted(by_agent)[0]
    res = run("report", dataset, "-o", tmp_path / "c.html", "--conversation", one,
              "--no-stats-csv")
    assert res.exit_code == 0 and "1 calls" in res.output, res.output
    res = run("report", dataset, "-o", tmp_path / "n.html", "--queue", "nope",
              "--agent", agent)
    assert res.exit_code == 1
    assert f"no conversation in {dataset} matches --queue nope --agent {agent}" in res.output
    res = run("report", dataset, "-o", tmp_path / "t.html", "--start", "2031-01-01")
    assert res.exit_code == 1 and "--start 2031-01-01" in res.output
    res = run("report", dataset, "-o", tmp_path / "t.html", "--start", "yesterday-ish")
    assert res.exit_code == 2 and "--start" in res.output
    res = run("report", dataset, "-o", tmp_path / "p.html", "--profile", "nope")
    assert res.exit_code == 1 and "--profile: unknown profile 'nope'" in res.output


def test_never_overwrites_files_it_did_not_write(dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the user's own report")
    res = run("report", dataset, "-o", out / "report.html")
    assert res.exit_code == 1 and "not overwriting it" in res.output and "--force" in res.output
    assert (out / "report.html").read_text() == "the user's own report"
    assert not (out / "talk_stats.csv").exists()  # refused before writing anything
    (out / "talk_stats.csv").write_text("mine\n")
    res = run("report", dataset, "-o", out / "other.html")
    assert res.exit_code == 1 and "talk_stats.csv already exists" in res.output
    assert (out / "talk_stats.csv").read_text() == "mine\n"
    # its own files are replaced on a rerun, an edited one is not; --force overrides
    res = run("report", dataset, "-o", out / "mine.html", "--stats-csv", out / "s.csv")
    assert res.exit_code == 0, res.output
    res = run("report", dataset, "-o", out / "mine.html", "--stats-csv", out / "s.csv")
    assert res.exit_code == 0, res.output
    (out / "mine.html").write_text((out / "mine.html").read_text() + "<!-- edited -->")
    res = run("report", dataset, "-o", out / "mine.html", "--stats-csv", out / "s.csv")
    assert res.exit_code == 1 and "mine.html already exists" in res.output
    res = run("report", dataset, "-o", out / "report.html", "--force")
    assert res.exit_code == 0 and "<h2>Definitions</h2>" in (out / "report.html").read_text()


def test_excel_export_of_the_statistics(dataset, tmp_path):
    res = run("report", dataset, "-o", tmp_path / "r.html", "--excel", tmp_path / "s.xlsx")
    assert res.exit_code == 0, res.output
    sheets = pd.read_excel(tmp_path / "s.xlsx", sheet_name=None)
    assert set(sheets) == {"talk_stats", "per_call"}
    csv = pd.read_csv(tmp_path / "talk_stats.csv")
    assert len(sheets["talk_stats"]) == len(csv) and sheets["per_call"].shape[0] == 12
    assert sheets["talk_stats"]["talk_time_s"].sum() == pytest.approx(csv["talk_time_s"].sum())


def test_queue_and_agent_filters_match_id_starts_and_names():
    from diarkit.report.run import _select

    handlers = pd.DataFrame({
        "conversation_id": ["c1", "c2", "c3"],
        "agent_id": ["aaaa-1", "bbbb-2", pd.NA],
        "agent_name": ["Alice Smith", pd.NA, pd.NA],
        "queue_id": ["q-1", "q-1", "q-2"],
        "queue_name": ["Billing", "Billing", "Sales"],
    }).astype("string")
    assert _select(handlers, "agent", ["aaaa"]) == {"c1"}
    assert _select(handlers, "agent", ["alice smith", "bbbb-2"]) == {"c1", "c2"}
    assert _select(handlers, "queue", ["Sales"]) == {"c3"}
    assert _select(handlers, "queue", ["q-"]) == {"c1", "c2", "c3"}
    assert _select(handlers, "agent", ["nobody"]) == set()


def test_coverage_section_when_back_fill_ran(dataset, tmp_path):
    """A dataset back-fill has touched (``backfill/``) gets the coverage section."""
    import shutil

    from diarkit.report import build_report

    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    plain = build_report(copy, tmp_path / "a.html", stats_csv=False).report.read_text()
    assert "<h2>Coverage" not in plain
    (copy / "backfill").mkdir()
    text = build_report(copy, tmp_path / "b.html", stats_csv=False).report.read_text()
    assert "<h2>Coverage" in text


def test_a_folder_that_is_not_a_dataset_is_a_clear_error(tmp_path):
    from diarkit.datasets import sample

    for folder in (sample(), tmp_path / "empty"):
        folder.mkdir(exist_ok=True)
        res = run("report", folder, "-o", tmp_path / "r.html")
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert f"{folder} is not a diarkit dataset" in res.output
        assert f"diarkit convert {folder} -o dataset/" in res.output
    assert not (tmp_path / "r.html").exists()


def test_time_window_selects_whole_calls_by_call_start(dataset, tmp_path):
    """--start/--end select calls by when they started (UTC; zones accepted), whole."""
    from diarkit.io.load import call_times

    times = call_times(dataset).sort_values()
    cut = times.iloc[len(times) // 2]
    later = set(times[times >= cut].index.astype(str))
    earlier = set(times[times < cut].index.astype(str))
    assert later and earlier
    zoned = cut.tz_convert("Europe/Berlin").isoformat()  # the same instant, another zone
    res = run("report", dataset, "-o", tmp_path / "late.html", "--start", zoned,
              "--stats-csv", tmp_path / "late.csv")
    assert res.exit_code == 0, res.output
    got = set(pd.read_csv(tmp_path / "late.csv")["conversation_id"].astype(str))
    assert got == later
    res = run("report", dataset, "-o", tmp_path / "early.html", "--end", cut.isoformat(),
              "--stats-csv", tmp_path / "early.csv")
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "early.csv")["conversation_id"].astype(str)) == earlier


def test_timelines_print_the_report_talk_share(dataset, tmp_path, monkeypatch):
    """Each timeline shows the talk share of the tables (one figure per call and party)."""
    import diarkit.plot as plot
    from diarkit.report import build_report

    seen = []
    real = plot.plot_timeline

    def spy(*args, **kwargs):
        seen.append((args[1], kwargs.get("shares"), kwargs.get("phases") is not None))
        return real(*args, **kwargs)

    monkeypatch.setattr(plot, "plot_timeline", spy)
    result = build_report(dataset, tmp_path / "r.html", stats_csv=False, timelines=2)
    stats = result.analysis.stats.assign(
        conversation_id=lambda f: f["conversation_id"].astype(str),
        speaker=lambda f: f["speaker"].astype(str))
    assert len(seen) == 2
    for cid, shares, with_phases in seen:
        expected = stats[stats["conversation_id"] == cid].groupby("speaker")[
            "talk_share_call"].sum().to_dict()
        assert shares == pytest.approx(expected) and with_phases


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """``(dataset, roles)``: 4 simulated calls, 2 complete (one intact, one back-filled),
    one with a capture gap, one whose SESSION_ENDED was lost (tests/backfill/faulty.py)."""
    from tests.backfill.faulty import faulty_dataset

    root = tmp_path_factory.mktemp("faulty") / "ds"
    return root, faulty_dataset(root)


def _tile(text: str, key: str) -> str:
    m = re.search(r'<div class="v">([^<]*)</div><div class="k">' + re.escape(key) + "</div>",
                  text)
    assert m, key
    return m.group(1)


def test_report_shows_coverage_per_call(faulty, tmp_path):
    from diarkit.capture.backfill import coverage_table
    from diarkit.report import build_report, per_call_table

    root, roles = faulty
    # back-fill ran: coverage shown by default, the CSV stays what `diarkit stats` writes
    result = build_report(root, tmp_path / "r.html")
    text = result.report.read_text()
    assert "call_complete" not in pd.read_csv(tmp_path / "talk_stats.csv").columns
    assert "<h2>Coverage" in text
    # asked for: the CSV has the coverage columns, as `diarkit stats --coverage`
    res = run("report", root, "-o", tmp_path / "asked.html", "--coverage",
              "--stats-csv", tmp_path / "asked.csv")
    assert res.exit_code == 0, res.output
    stats = pd.read_csv(tmp_path / "asked.csv")
    assert {"call_coverage_live", "call_coverage_unknown", "call_complete"} <= set(stats.columns)
    res = run("stats", root, "--coverage", "--format", "csv", "--quiet", "--out",
              tmp_path / "st")
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(stats, pd.read_csv(tmp_path / "st" / "conversation_stats.csv"))
    shown = per_call_table(stats).set_index("conversation_id")
    cov = coverage_table(root).set_index("conversation_id")
    for cid in shown.index:
        assert shown.loc[cid, "coverage_unknown"] == pytest.approx(
            cov.loc[cid, "coverage_unknown"])
        assert shown.loc[cid, "complete"] == cov.loc[cid, "complete"]
    assert not shown.loc[roles["gap"].conversation_id, "complete"]
    assert shown.loc[roles["filled"].conversation_id, "coverage_backfill"] > 0
    # the "Every call" table has the coverage columns, one row per call
    every = text.split("<h2>Every call</h2>", 1)[1].split("<h2>", 1)[0]
    for header in ("seen live", "back-filled", "unknown", "complete"):
        assert re.search(f"<th[^>]*>{header}</th>", every), header
    gap = roles["gap"].conversation_id
    row = every.split(gap, 1)[1].split("</tr>", 1)[0]
    assert f">{cov.loc[gap, 'coverage_unknown']:.1%}</td>" in row and ">no</td>" in row
    assert _tile(text, "calls analysed") == "4"
    assert "complete calls only" not in text


def test_complete_only_report_restricts_fleet_figures_and_says_so(faulty, tmp_path):
    from diarkit.report import build_report

    root, roles = faulty
    res = run("report", root, "-o", tmp_path / "c.html", "--complete-only")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "c.html").read_text()
    assert "Fleet figures count complete calls only: 2 of 4" in text
    assert "fleet figures from the 2 complete calls only" in text  # the subtitle
    assert "complete calls only)" in text  # the fleet distribution table's heading
    assert _tile(text, "calls analysed") == "2"
    stats = pd.read_csv(tmp_path / "talk_stats.csv")
    complete = stats[stats["call_complete"]].drop_duplicates("conversation_id")
    assert set(complete["conversation_id"]) == {roles["whole"].conversation_id,
                                                roles["filled"].conversation_id}
    from diarkit.plot import format_mmss

    assert _tile(text, "median call length") == format_mmss(
        float(complete["call_duration_s"].median()))
    # the per-call table still lists every call
    every = text.split("<h2>Every call</h2>", 1)[1].split("<h2>", 1)[0]
    assert all(p.conversation_id in every for p in roles.values())
    # nothing complete: a clear error, library and CLI
    gap = roles["gap"].conversation_id
    res = run("report", root, "-o", tmp_path / "d.html", "--complete-only",
              "--conversation", gap)
    assert res.exit_code != 0 and "no complete call" in res.output
    from diarkit.report import NoConversationsError

    with pytest.raises(NoConversationsError, match="no complete call"):
        build_report(root, tmp_path / "e.html", conversations=[gap], complete_only=True)
    with pytest.raises(ValueError, match="needs the coverage"):
        build_report(root, tmp_path / "f.html", complete_only=True, coverage=False)


def test_calls_without_speech_are_counted_not_dropped(tmp_path):
    """A call with call events and no transcript in the data (abandoned before anything was
    transcribed, or joined too late by a live capture) is in no figure: the report says
    how many such calls there were, within the same filters."""
    import orjson

    from diarkit.io.convert import convert
    from diarkit.report import build_report
    from diarkit.sim import iter_frames

    frames = [orjson.loads(f) for f in iter_frames(
        5, 3, kinds=("basic", "abandoned"), call_duration_s=(40.0, 60.0), stagger_s=1.0)]
    def transcribed(f: dict) -> bool:
        return f["topicName"].endswith(".transcription")

    ids = sorted({f["eventBody"]["conversationId"] for f in frames if transcribed(f)})
    # an agent's user topic names the calls an agent answered; the others were abandoned
    answered = {f["eventBody"]["id"] for f in frames if f["topicName"].startswith("v2.users.")}
    assert answered and set(ids) - answered
    silent_ids = {min(answered), min(set(ids) - answered)}  # no transcript in the data
    kept = [f for f in frames
            if not (transcribed(f) and f["eventBody"]["conversationId"] in silent_ids)]
    (tmp_path / "frames.jsonl").write_bytes(b"\n".join(orjson.dumps(f) for f in kept))
    convert(tmp_path / "frames.jsonl", tmp_path / "ds", progress=False)
    r = build_report(tmp_path / "ds", tmp_path / "r.html", stats_csv=False)
    assert set(r.analysis.stats["conversation_id"].astype(str)) == set(ids) - silent_ids
    silent = r.analysis.without_speech
    assert silent is not None and set(silent["conversation_id"]) == silent_ids
    assert silent["abandoned"].tolist() == [c not in answered for c in silent["conversation_id"]]
    text = (tmp_path / "r.html").read_text()
    assert re.search(r'<div class="v">2</div><div class="k">calls without speech</div>', text)
    assert ("2 more call(s) have call events but no transcribed speech (1 abandoned before "
            "an agent answered;") in text
    one = sorted(set(ids) - silent_ids)[0]  # one answered call selected: none silent
    r = build_report(tmp_path / "ds", tmp_path / "one.html", conversations=[one],
                     stats_csv=False)
    assert r.analysis.without_speech is not None and r.analysis.without_speech.empty
    assert "calls without speech" not in (tmp_path / "one.html").read_text()
