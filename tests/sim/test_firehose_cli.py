"""Firehose/replay for capture benchmarks, the ``diarkit simulate`` command, data/sample."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.genesys import parse_frame, transcription_topic
from diarkit.sim import Simulator, iter_frames

from .conftest import close, connect, new_channel, recv_close, subscribe

REPO = Path(__file__).resolve().parents[2]


def test_firehose_reaches_a_subscribed_socket_and_the_ledger(
    sim: Simulator, api: httpx.Client
) -> None:
    sim.faults.stop_heartbeats()
    cid = sim.conversation_ids[0]
    ch = new_channel(api)
    assert subscribe(api, ch["id"], [transcription_topic(cid)]).status_code == 200
    ws = connect(sim, ch)
    try:
        future = sim.start_firehose(3000, conversation_id=cid)
        texts = [ws.recv() for _ in range(3000)]
        result = future.result(30)
        sim.faults.socket_closing(ch["id"], close_after_s=0.05)
        rest, code = recv_close(ws, limit=10_000)
        texts += rest
    finally:
        close(ws)
    assert result.frames == 3000 and result.rate > 0
    assert len(texts) == 3001 and texts[:3000] == sim.ledger.texts(ch["id"])[:3000]
    assert {parse_frame(t).conversation_id for t in texts[:3000]} == {cid}
    assert code == 1000


def test_replay_given_frames_on_one_channel(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)  # no subscriptions: channel_id sends regardless
    frames = list(iter_frames(1, seed=2, n_frames=200, grouping="per_frame"))
    ws = connect(sim, ch)
    try:
        assert sim.start_replay(frames, channel_id=ch["id"]).result(30).frames == 200
        sim.faults.socket_closing(ch["id"], close_after_s=0.05)
        texts, _ = recv_close(ws)
    finally:
        close(ws)
    assert texts[:200] == frames
    assert [e.topic for e in sim.ledger.entries(ch["id"])][:200] == [
        parse_frame(f).envelope.topic for f in frames
    ]


def test_cli_write_sample_reproduces_data_sample(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--write-sample", str(tmp_path), "--seed", "1"])
    assert result.exit_code == 0, result.output
    committed = REPO / "data" / "sample"
    names = sorted(p.name for p in committed.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        if name != "manifest.json":  # the manifest names the output folder
            assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name
    assert sum(p.stat().st_size for p in committed.iterdir()) < 1_000_000


def test_cli_runs_for_a_duration_and_prints_credentials() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--duration", "0.3", "--conversations", "2",
                                      "--fault", "429:2@5"])
    assert result.exit_code == 0, result.output
    assert "api base:      http://127.0.0.1:" in result.output
    assert "client secret: diarkit-sim-secret" in result.output
    assert "fault planned: 429 x2 at 5 s" in result.output
    assert "frames sent:" in result.output


def test_cli_bad_fault_is_a_clean_error() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--duration", "0.1", "--fault", "boom@1"])
    assert result.exit_code == 1
    assert "bad fault 'boom@1'" in result.output


def test_readme_documents_every_simulate_option() -> None:
    import re

    help_text = CliRunner().invoke(cli, ["simulate", "--help"]).output
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}
    page = (REPO / "docs" / "guide" / "simulator.md").read_text(encoding="utf-8")
    section = page.split("# Simulator", 1)[1].split("\n# ", 1)[0]
    assert len(options) >= 12
    assert sorted(o for o in options if o not in section) == []


def test_cli_bad_call_duration_is_a_clean_error() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--duration", "0.1", "--call-duration",
                                      "50", "10"])
    assert result.exit_code == 1 and "call_duration_s" in result.output


def test_cli_chaos_injects_logged_faults() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--duration", "1.6", "--conversations", "1",
                                      "--chaos", "0.1", "--seed", "3", "--start-now"])
    assert result.exit_code == 0, result.output
    faults = int(result.output.rsplit("faults: ", 1)[1].split()[0])
    assert faults >= 2  # the calls (and the chaos) start 1 s in
