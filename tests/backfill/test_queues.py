"""Fleet statistics per queue (and per agent) with the names the simulator's directory API
resolves: ``conversation_stats(queues=True)``, ``fleet_by``, ``diarkit stats --by queue``.

The simulator's frames (call events and transcripts of calls over two queues) are written
to a real Parquet dataset with their send times as receive times; names come from the
simulator's users/queues endpoints over 127.0.0.1 (``diarkit names``). Every expectation
is computed by hand from the simulator's plans and the per-call table.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.analysis.fleet import fleet_by, fleet_stats, with_queues
from diarkit.capture.analytics import load_names, refresh_names
from diarkit.cli import cli
from diarkit.io.dataset import write_raw_part
from diarkit.io.load import conversation_stats
from diarkit.io.raw import build_raw_table
from diarkit.schema import STATS, validate
from diarkit.sim.analytics import AnalyticsSim
from diarkit.sim.frames import schedule

from .bfhelp import analytics_sim, client_of

pytestmark = pytest.mark.timeout(180)


def write_dataset(scenario, root) -> None:
    """The scenario's frames as one capture session, received when they were sent."""
    frames = schedule(scenario)
    first = scenario.plans[0]
    epoch_ms = first.session_start_epoch_ms - first.start_ms  # frame.at_ms counts from here
    received = [datetime.fromtimestamp((epoch_ms + f.at_ms) / 1000, UTC) for f in frames]
    raw = build_raw_table([f.text for f in frames], session_id="sim", start_seq=0,
                          received_at=received, source="sim")
    write_raw_part(root, raw, session_id="sim", seq=0)


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """``(scenario, dataset)``: 10 calls over 2 queues, names resolved from the simulator."""
    sim = analytics_sim(AnalyticsSim(), conversations=10, seed=4, queues=2, agents=4,
                        call_duration_s=(60.0, 120.0))
    sim.start()  # REST only: the directory serves the scenario's users and queues
    try:
        root = tmp_path_factory.mktemp("queues") / "ds"
        write_dataset(sim.scenario, root)
        with client_of(sim) as client:
            counts = refresh_names(str(root), client, kinds=("users", "queues"))
        assert counts["queues"] == 2 and counts["users"] >= 2
        yield sim.scenario, root
    finally:
        sim.stop()


def row(fleet: pd.DataFrame, speaker: str, metric: str, **keys: object) -> pd.Series:
    mask = (fleet["speaker"] == speaker) & (fleet["metric"] == metric)
    for k, v in keys.items():
        mask &= fleet[k].isna() if v is None else fleet[k] == v
    hit = fleet[mask]
    assert len(hit) == 1, (speaker, metric, keys, len(hit))
    return hit.iloc[0]


def test_every_row_of_a_call_carries_its_first_queue(org):
    scenario, root = org
    stats = validate(conversation_stats(root, queues=True), STATS)
    truth = {p.conversation_id: p.queue_id for p in scenario.plans}
    got = stats.groupby(stats["conversation_id"].astype(str))["queue_id"].agg(set)
    assert set(got.index) == set(truth)
    assert all(got[c] == {truth[c]} for c in truth), got
    assert len(set(truth.values())) == 2  # the calls span two queues
    # without queues=True the table is unchanged (queue_id is an optional column)
    assert "queue_id" not in conversation_stats(root).columns


def test_fleet_per_queue_is_the_mean_over_that_queues_calls(org):
    scenario, root = org
    stats = conversation_stats(root, queues=True)
    fleet = fleet_by(stats, "queue")
    calls = stats.drop_duplicates("conversation_id")
    by_queue = {p.queue_id for p in scenario.plans}
    for q in by_queue:
        ids = {p.conversation_id for p in scenario.plans if p.queue_id == q}
        mine = calls[calls["conversation_id"].astype(str).isin(ids)]
        dur = row(fleet, "(call)", "call_duration_s", queue_id=q)
        assert dur.conversations == len(ids)
        assert dur["mean"] == pytest.approx(mine["call_duration_s"].mean())
        assert dur["max"] == pytest.approx(mine["call_duration_s"].max())
        cust = stats[(stats["speaker"] == "customer")
                     & stats["conversation_id"].astype(str).isin(ids)]
        talk = row(fleet, "customer", "talk_time_s", queue_id=q)
        assert talk.conversations == len(cust)
        assert talk["mean"] == pytest.approx(cust["talk_time_s"].mean())
    # the whole-fleet block: every call once, queue null
    whole = row(fleet, "(call)", "call_duration_s", queue_id=None)
    assert whole.conversations == len(scenario.plans)
    assert whole["mean"] == pytest.approx(calls["call_duration_s"].mean())
    pd.testing.assert_frame_equal(
        fleet[fleet["queue_id"].isna()].drop(columns=["queue_id", "queue_name"])
        .reset_index(drop=True),
        fleet_stats(stats.drop(columns=["queue_id", "queue_name"]), by=()).drop(
            columns=["user_id"], errors="ignore"))
    # complete_only keeps only calls whose call_complete is true
    flagged = stats.assign(call_complete=stats["conversation_id"].astype(str)
                           == str(scenario.plans[0].conversation_id))
    only = fleet_by(flagged, "queue", complete_only=True)
    assert row(only, "(call)", "call_duration_s", queue_id=None).conversations == 1
    with pytest.raises(ValueError, match="by must be one of"):
        fleet_by(stats, "team")


def test_with_queues_names_and_unknown_calls():
    stats = pd.DataFrame({"conversation_id": ["a", "a", "b", "c"],
                          "speaker": ["agent", "customer", "agent", "agent"]})
    conversations = pd.DataFrame({"conversation_id": ["a", "b"], "queue_id": ["q1", None],
                                  "queue_name": ["Sales", None]})
    out = with_queues(stats, conversations)
    assert out["queue_id"].tolist()[:2] == ["q1", "q1"]
    assert out["queue_id"].isna().tolist() == [False, False, True, True]
    assert out["queue_name"].tolist()[:2] == ["Sales", "Sales"]
    with pytest.raises(ValueError, match="queue_id"):
        with_queues(stats, conversations.drop(columns=["queue_id"]))


def test_cli_stats_by_queue_and_agent_show_names(org, tmp_path):
    scenario, root = org
    queues = load_names(str(root), "queues")
    users = load_names(str(root), "users")
    res = CliRunner().invoke(cli, ["stats", str(root), "--by", "queue", "--quiet",
                                   "--out", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    conv = pd.read_parquet(tmp_path / "q" / "conversation_stats.parquet")
    fleet = pd.read_parquet(tmp_path / "q" / "fleet_stats.parquet")
    assert (conv["queue_name"] == conv["queue_id"].map(queues)).all()
    per_queue = fleet[fleet["queue_id"].notna()]
    assert set(per_queue["queue_id"]) == set(queues) and len(queues) == 2
    assert (per_queue["queue_name"] == per_queue["queue_id"].map(queues)).all()
    # the names are the directory's, not the ids
    assert not (per_queue["queue_name"] == per_queue["queue_id"]).any()
    for q, name in queues.items():
        n = sum(p.queue_id == q for p in scenario.plans)
        assert row(fleet, "(call)", "call_duration_s", queue_name=name).conversations == n
    res = CliRunner().invoke(cli, ["stats", str(root), "--quiet", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    agents = pd.read_parquet(tmp_path / "a" / "fleet_stats.parquet")
    named = agents[agents["user_id"].notna()]
    assert len(named) and (named["user_name"] == named["user_id"].map(users)).all()
    assert "queue_id" not in agents.columns


def test_plots_label_agents_and_queues_by_the_directory_names(org):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diarkit.plot import plot_talk_share, plot_timeline
    from diarkit.report.analyse import analyse_dataset

    scenario, root = org
    users, queues = load_names(str(root), "users"), load_names(str(root), "queues")
    stats = conversation_stats(root, queues=True)
    try:
        ax = plot_talk_share(stats, names=root, top=len(scenario.plans))
        labels = {t.get_text().split(" · ", 1)[0]: t.get_text() for t in ax.get_yticklabels()}
        assert len(labels) == len(scenario.plans)
        for p in scenario.plans:
            label = labels[p.conversation_id[:8]]
            assert label.endswith(f" · {queues[p.queue_id]}"), label
            if p.kind == "basic":
                assert f" · {users[p.user_id]} · " in label, label
        basic = next(p for p in scenario.plans if p.kind == "basic")
        segments = analyse_dataset(root, conversations=[basic.conversation_id]).segments
        ax = plot_timeline(segments, basic.conversation_id, names=root)
        lanes = [t.get_text() for t in ax.get_yticklabels()]
        assert f"agent · {users[basic.user_id]}" in lanes
        # with the call's queue on the segments the title names it
        ax = plot_timeline(segments.assign(queue_id=basic.queue_id), basic.conversation_id,
                           names=root)
        assert ax.get_title(loc="left").endswith(f"· queue {queues[basic.queue_id]}")
    finally:
        plt.close("all")
