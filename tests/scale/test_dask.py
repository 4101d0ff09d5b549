"""Dask path on a real 2-process LocalCluster: same results as pandas, whole conversations,
and a worker killed mid-computation does not change the result."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import cloudpickle
import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.analysis import finalize, talk_stats
from diarkit.cli import cli
from diarkit.io.load import load_segments
from diarkit.scale import (
    default_pipeline,
    fleet_stats_dask,
    list_parts,
    map_conversations,
    read_part,
    stats_dask,
    stats_pandas,
    talk_stats_dask,
)

# the pipelines below live in this test module, which worker processes cannot import
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def reference(dataset):
    """The single-machine result: talk_stats(finalize(load_segments(dataset)))."""
    return stats_pandas(dataset)


def test_same_results_as_pandas(client, dataset, reference):
    got = stats_dask(dataset, client, rows_per_partition=3_000)  # 8 partitions read
    assert len(got.conversations) > 500
    pd.testing.assert_frame_equal(got.conversations, reference.conversations)
    pd.testing.assert_frame_equal(got.fleet, reference.fleet)
    # and the thresholds reach talk_stats unchanged
    strict = talk_stats_dask(dataset, client, min_silence_s=1.0, npartitions=5)
    assert (strict["call_silence_count"] >= got.conversations["call_silence_count"]).all()
    assert (strict["call_silence_count"] > got.conversations["call_silence_count"]).any()


def test_cli_on_a_scheduler_writes_the_same_files_as_pandas(client, dataset, tmp_path):
    runner = CliRunner()
    plain = runner.invoke(cli, ["stats", str(dataset), "--out", str(tmp_path / "p"), "--quiet"])
    assert plain.exit_code == 0, plain.output
    address = client.scheduler.address
    on_dask = runner.invoke(
        cli, ["stats", str(dataset), "--out", str(tmp_path / "d"), "--dask", address, "--quiet"]
    )
    assert on_dask.exit_code == 0, on_dask.output
    for name in ("conversation_stats", "fleet_stats"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "p" / f"{name}.parquet"),
            pd.read_parquet(tmp_path / "d" / f"{name}.parquet"),
        )


def test_fleet_stats_dask_matches_and_uses_the_current_client(client, dataset, reference):
    # no client passed: the current distributed client is used
    pd.testing.assert_frame_equal(fleet_stats_dask(dataset), reference.fleet)


def rows_per_conversation(segments: pd.DataFrame) -> pd.DataFrame:
    """Placeholder per-conversation function: how many rows each conversation has."""
    return (
        segments.groupby("conversation_id", observed=True)
        .agg(rows=("start_s", "size"), first=("received_at", "min"), last=("received_at", "max"))
        .reset_index()
    )


def test_a_conversation_split_across_part_files_is_analysed_whole(client, dataset):
    seen = pd.concat(
        [
            read_part(p.path)[["conversation_id"]].assign(part=str(p.path))
            for p in list_parts(dataset)
        ]
    )
    parts_per_conv = seen.drop_duplicates().groupby("conversation_id").size()
    split = parts_per_conv.idxmax()
    assert parts_per_conv[split] >= 2

    got = map_conversations(
        dataset, rows_per_conversation, client=client, rows_per_partition=2_000, npartitions=7
    )
    segs = load_segments(dataset)
    want = rows_per_conversation(segs)
    assert got["conversation_id"].is_unique  # one partition saw each conversation
    pd.testing.assert_frame_equal(
        got.astype({"conversation_id": str}),
        want.astype({"conversation_id": str}).sort_values("conversation_id", ignore_index=True),
    )
    # the split conversation's statistics equal those computed on it alone
    alone = talk_stats(finalize(load_segments(dataset, conversations=[split])).segments)
    dask_rows = talk_stats_dask(dataset, client)
    mine = dask_rows[dask_rows["conversation_id"] == split].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        mine.astype({"conversation_id": str, "speaker": str}),
        alone.astype({"conversation_id": str, "speaker": str}).reset_index(drop=True),
    )


def slow_pipeline(segments: pd.DataFrame) -> pd.DataFrame:
    """The real pipeline, slowed down so that a worker can be killed while it runs."""
    time.sleep(0.4)
    return default_pipeline(segments)


def test_worker_killed_mid_computation_does_not_change_the_result(client, dataset, reference):
    pids = client.run(os.getpid)  # worker address -> process id
    killed: dict[str, object] = {}

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if any("_apply" in str(k) for k in keys) and address in pids:
                    killed["address"] = address
                    killed["progress"] = sum(
                        1 for k, st in client.run_on_scheduler(_apply_states).items() if st
                    )
                    os.kill(pids[address], signal.SIGKILL)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    got = map_conversations(
        dataset, slow_pipeline, client=client, rows_per_partition=3_000, npartitions=12
    )
    killer.join(timeout=5)

    assert "address" in killed, "no worker was busy with the analysis to be killed"
    assert killed["progress"] < 12  # the computation was not finished at the kill
    pd.testing.assert_frame_equal(got, reference.conversations)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
    assert killed["address"] not in client.scheduler_info()["workers"]


def _apply_states(dask_scheduler=None):
    """Per ``_apply`` task on the scheduler: True once it is finished (runs on the scheduler)."""
    return {
        str(k): ts.state == "memory" for k, ts in dask_scheduler.tasks.items() if "_apply" in str(k)
    }


def test_cluster_listens_on_loopback_only(client):
    import psutil

    info = client.scheduler_info()
    addresses = [client.scheduler.address, *info["workers"]]
    assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    ports = {int(client.scheduler.address.rsplit(":", 1)[1]), info["services"]["dashboard"]}
    listening = {
        c.laddr.port: c.laddr.ip
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port in ports
    }
    # the in-process scheduler and its health/metrics HTTP server, both on loopback
    assert listening == dict.fromkeys(ports, "127.0.0.1")


def test_dataset_written_by_diarkit_convert_gives_the_pandas_result(client, tmp_path):
    """Real part files: simulator frames split over 3 capture files, then ``convert``."""
    from diarkit.io.convert import convert
    from diarkit.sim.generator import iter_frames

    frames = list(iter_frames(16, seed=3, stagger_s=4.0, call_duration_s=(60.0, 120.0)))
    third = len(frames) // 3
    inputs = []
    for k, chunk in enumerate((frames[:third], frames[third : 2 * third], frames[2 * third :])):
        path = tmp_path / f"capture-{k}.jsonl"
        path.write_text("\n".join(chunk) + "\n")
        inputs.append(path)
    data = tmp_path / "dataset"
    convert(inputs, data, workers=1, progress=False)
    parts = list_parts(data)
    assert len(parts) >= 3
    seen = pd.concat(
        [read_part(p.path)[["conversation_id"]].assign(part=str(p.path)) for p in parts]
    )
    assert (seen.drop_duplicates().groupby("conversation_id").size() > 1).any()
    got = stats_dask(data, client, rows_per_partition=1, npartitions=4)
    want = stats_pandas(data)
    assert len(want.conversations) >= 16
    pd.testing.assert_frame_equal(got.conversations, want.conversations)
    pd.testing.assert_frame_equal(got.fleet, want.fleet)
    # the simulator's call events name the agents: the fleet has a block per real user id
    agents = want.conversations[want.conversations["user_id"].notna()]
    assert agents["user_id"].nunique() >= 2
    fleet = got.fleet
    assert set(fleet["user_id"].dropna()) == set(agents["user_id"].astype(str))
    talk = fleet[(fleet.metric == "talk_time_s") & (fleet.speaker == "agent")]
    for row in talk[talk["user_id"].notna()].itertuples():
        mine = agents[(agents["user_id"].astype(str) == row.user_id)
                      & (agents["speaker"].astype(str) == "agent")]["talk_time_s"]
        assert row.conversations == len(mine)
        assert row.mean == pytest.approx(mine.mean())
    whole = talk[talk["user_id"].isna()]
    assert len(whole) == 1 and whole["conversations"].iloc[0] == len(
        want.conversations[want.conversations["speaker"].astype(str) == "agent"])


def test_progress_bar_is_shown_on_the_cluster(client, dataset, reference, capsys):
    got = talk_stats_dask(dataset, client, progress=True)
    out = capsys.readouterr()
    assert "100%" in out.out + out.err
    pd.testing.assert_frame_equal(got, reference.conversations)


def test_start_end_select_whole_calls_on_dask_as_on_pandas(client, dataset, tmp_path):
    """``--start/--end`` on the Dask engine: whole conversations by call start, = pandas."""
    from diarkit.io.load import call_times

    times = call_times(dataset).sort_values()
    start, end = times.iloc[len(times) // 4], times.iloc[len(times) // 2]  # a window's edges
    got = stats_dask(dataset, client, start=start, end=end)
    want = stats_pandas(dataset, start=start, end=end)
    pd.testing.assert_frame_equal(got.conversations, want.conversations)
    pd.testing.assert_frame_equal(got.fleet, want.fleet)
    inside = set(times.index[(times >= start) & (times < end)].astype(str))
    assert set(got.conversations["conversation_id"].astype(str)) == inside
    assert 0 < len(inside) < len(times)
    # every segment of a selected call counts, also those after the window's end
    full = stats_pandas(dataset).conversations
    full = full[full["conversation_id"].astype(str).isin(inside)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.conversations, full, check_categorical=False)
    # and through the command line on the scheduler
    runner = CliRunner()
    args = ["--start", start.isoformat(), "--end", end.isoformat(), "--quiet", "--format", "csv"]
    on_dask = runner.invoke(cli, ["stats", str(dataset), "--out", str(tmp_path / "d"),
                                  "--dask", client.scheduler.address, *args])
    assert on_dask.exit_code == 0, on_dask.output
    plain = runner.invoke(cli, ["stats", str(dataset), "--out", str(tmp_path / "p"), *args])
    assert plain.exit_code == 0, plain.output
    for name in ("conversation_stats.csv", "fleet_stats.csv"):
        assert (tmp_path / "d" / name).read_bytes() == (tmp_path / "p" / name).read_bytes()
    # an empty window is an empty table, not an error
    none = stats_dask(dataset, client, start="2001-01-01", end="2001-01-02")
    assert len(none.conversations) == 0
