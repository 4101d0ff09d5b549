"""Back-fill against the real simulator over 127.0.0.1: a capture with socket drops, a late
join and a revoked token, then ``run_backfill``: every utterance once, right sources."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from diarkit.capture.backfill import (
    backfill_until,
    coverage_table,
    find_candidates,
    load_pending,
    merged_segments,
    run_backfill,
)
from diarkit.io.dataset import list_parts
from diarkit.sim.ground_truth import truth_utterances

from .bfhelp import client_of, copy_dataset, utterance_finals

pytestmark = pytest.mark.timeout(240)

FAST = {"retry_delays_s": (0.2,), "give_up_after_s": 5.0}


def spoken(merged: pd.DataFrame) -> pd.DataFrame:
    text = merged["text"].astype("string").str.strip().fillna("")
    out = merged[text.str.len().to_numpy() > 0].copy()
    out["conversation_id"] = out["conversation_id"].astype(str)
    out["abs_ms"] = (out["start_at"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return out


def match_truth(cap, merged: pd.DataFrame) -> tuple[dict, Counter]:
    """Each ground-truth utterance -> the merged rows that are it (same call, same text,
    start within 5 ms); and how often each merged row was claimed."""
    rows = spoken(merged)
    by_key = {k: g for k, g in rows.groupby(["conversation_id", "text"], sort=False)}
    found: dict = {}
    claimed: Counter = Counter()
    for plan in cap.sim.scenario.plans:
        for u in truth_utterances(plan):
            abs_ms = plan.session_start_epoch_ms + u.start_ms
            g = by_key.get((plan.conversation_id, u.text))
            hits = [] if g is None else g.index[(g["abs_ms"] - abs_ms).abs() <= 5].tolist()
            found[(plan.conversation_id, u.utterance_id)] = hits
            claimed.update(hits)
    return found, claimed


def test_backfill_holds_every_utterance_once_with_its_source(captured, tmp_path):
    ds = copy_dataset(captured, tmp_path / "ds")
    assert captured.gaps >= 2 and captured.lost_texts, "the faults lost nothing"
    cand = find_candidates(ds)
    reasons = dict(zip(cand["conversation_id"], cand["reasons"], strict=True))
    assert "late_join" in reasons[captured.never]
    assert any("gap" in r for r in reasons.values())
    with client_of(captured.sim) as client:
        summary = backfill_until(ds, client, wait_s=20.0, **FAST)
    assert summary.unavailable == 1 and summary.pending == 0, summary.lines()
    assert summary.fetched == len(reasons) - 1 and summary.failed == 0, summary.lines()
    merged = merged_segments(ds)
    found, claimed = match_truth(captured, merged)
    assert all(n == 1 for n in claimed.values()), "a merged row is two utterances"
    rows = spoken(merged)
    assert set(claimed) == set(rows.index), "merged rows no utterance explains (duplicates)"
    stored_finals = utterance_finals([r["frame"] for r in captured.stored])
    sent_finals = utterance_finals([e.text for e in captured.sent])
    lost_finals = sent_finals - stored_finals
    assert lost_finals, "no final was lost: the test proves nothing"
    sources = merged["source"].astype(str)
    missing = {k for k, hits in found.items() if not hits}
    for (cid, uid), hits in found.items():
        if cid == captured.never:
            # no transcript: exactly the utterances whose finals never reached us are missing
            assert (not hits) == ((cid, uid) not in stored_finals), (cid, uid)
            continue
        assert len(hits) == 1, f"{cid} {uid}: {len(hits)} rows"
        want = ("both" if (cid, uid) in stored_finals else "backfill") if cid in reasons \
            else "live"
        assert sources[hits[0]] == want, (cid, uid, sources[hits[0]], want)
    assert missing and all(cid == captured.never for cid, _ in missing)
    # coverage: 100 % wherever the transcript came, below exactly where it did not
    cov = coverage_table(ds).set_index("conversation_id")
    assert set(cov.index) == set(captured.sim.conversation_ids)
    assert not cov.loc[captured.never, "complete"]
    assert 0 < cov.loc[captured.never, "coverage_unknown"] <= 1
    others = cov.drop(index=captured.never)
    assert others["complete"].all() and (others["coverage_unknown"] == 0).all()
    np.testing.assert_allclose(others["coverage_live"] + others["coverage_backfill"], 1.0)
    assert (others.loc[[c for c in others.index if c in reasons], "coverage_backfill"] > 0).all()
    # the same coverage in the numbers: conversation_stats and complete-only fleet figures
    from diarkit.analysis import fleet_stats
    from diarkit.io.load import conversation_stats
    from diarkit.schema import STATS, validate

    st = validate(conversation_stats(ds, coverage=True), STATS)
    per_call = st.drop_duplicates("conversation_id").set_index(
        st.drop_duplicates("conversation_id")["conversation_id"].astype(str))
    if captured.never in per_call.index:  # on a loaded machine its speech may all be lost
        assert not per_call.loc[captured.never, "call_complete"]
        assert per_call.loc[captured.never, "call_coverage_unknown"] == pytest.approx(
            cov.loc[captured.never, "coverage_unknown"])
    done = per_call.drop(index=captured.never, errors="ignore")
    assert done["call_complete"].all() and (done["call_coverage_unknown"] == 0).all()
    every = fleet_stats(st, by=())
    complete = fleet_stats(st, by=(), complete_only=True)
    n_calls = lambda f: int(f[f.metric == "call_duration_s"]["conversations"].iloc[0])  # noqa: E731
    incomplete = int(captured.never in per_call.index)
    assert n_calls(every) == len(per_call) and n_calls(complete) == len(per_call) - incomplete
    assert "call_coverage_live" in set(every["metric"])
    with pytest.raises(ValueError, match="call_complete"):
        fleet_stats(conversation_stats(ds), complete_only=True)
    # and from the command line
    from click.testing import CliRunner

    from diarkit.cli import cli

    res = CliRunner().invoke(cli, ["stats", str(ds), "--complete-only", "--quiet",
                                   "--out", str(tmp_path / "st")])
    assert res.exit_code == 0, res.output
    conv_file = pd.read_parquet(tmp_path / "st" / "conversation_stats.parquet")
    fleet_file = pd.read_parquet(tmp_path / "st" / "fleet_stats.parquet")
    assert {"call_coverage_live", "call_coverage_backfill", "call_coverage_unknown",
            "call_complete"} <= set(conv_file.columns)
    assert conv_file["conversation_id"].nunique() == len(per_call)
    whole = fleet_file[fleet_file["user_id"].isna()] if "user_id" in fleet_file else fleet_file
    assert n_calls(whole) == len(per_call) - incomplete
    # names: once `diarkit names` resolved them, the per-agent rows say who the agent is
    from diarkit.capture.analytics import load_names, refresh_names

    with client_of(captured.sim) as client:
        refresh_names(str(ds), client)
    users = load_names(str(ds), "users")
    res = CliRunner().invoke(cli, ["stats", str(ds), "--quiet", "--out", str(tmp_path / "n")])
    assert res.exit_code == 0, res.output
    conv_named = pd.read_parquet(tmp_path / "n" / "conversation_stats.parquet")
    fleet_named = pd.read_parquet(tmp_path / "n" / "fleet_stats.parquet")
    for table in (conv_named, fleet_named):
        agents = table[table["user_id"].notna()]
        assert len(agents) and set(agents["user_id"]) <= set(users)
        assert (agents["user_name"] == agents["user_id"].map(users)).all()
    # and the report: agents by name in its per-call table, the coverage section
    from diarkit.capture.analytics import add_names
    from diarkit.report.run import build_report

    some = conv_named[conv_named["user_id"].notna()].iloc[0]
    rep = build_report(ds, tmp_path / "report.html", agents=[str(some["user_name"])])
    html = rep.report.read_text()
    assert "Coverage" in html
    from diarkit.report.fleet import per_call_table

    calls = per_call_table(rep.analysis.stats.pipe(add_names, str(ds)))
    assert (calls["agents"].str.len() > 0).all()
    assert str(some["user_name"]) in set(", ".join(calls["agents"]).split(", "))
    assert html.count(str(some["user_name"])) >= 2  # the filter line and the calls table


def test_pending_list_waits_for_late_transcripts_and_never_duplicates(captured, tmp_path):
    ds = copy_dataset(captured, tmp_path / "ds")
    asim = captured.asim
    asim.late = {captured.late: 3600.0}
    t0 = datetime.now(UTC)
    clock = [t0]
    with client_of(captured.sim) as client:
        first = run_backfill(ds, client, retry_delays_s=(100.0, 1000.0),
                             now=lambda: clock[0])
        pend = load_pending(ds).set_index("conversation_id")
        assert first.not_ready == 2 and first.pending == 2  # the late one and the lost one
        late = pend.loc[captured.late]
        assert late["state"] == "pending" and late["attempts"] == 1
        assert late["next_try_at"] == pd.Timestamp(t0 + timedelta(seconds=100))
        raw_rows = sum(pq.read_metadata(p).num_rows for p in list_parts(ds))
        # rerunning before the next try asks nothing and writes nothing
        req = client.requests
        again = run_backfill(ds, client, retry_delays_s=(100.0,), now=lambda: clock[0])
        assert client.requests == req and again.fetched == 0 and again.pending == 2
        # it arrives; the next due run fetches it, once
        asim.late = {captured.late: 0.0}
        clock[0] = t0 + timedelta(seconds=101)
        third = run_backfill(ds, client, retry_delays_s=(100.0, 1000.0), now=lambda: clock[0])
        assert third.fetched == 1 and third.pending == 1
        pend = load_pending(ds).set_index("conversation_id")
        assert pend.loc[captured.late, "state"] == "done"
        assert pend.loc[captured.never, "next_try_at"] == pd.Timestamp(
            t0 + timedelta(seconds=101 + 1000))
        after = sum(pq.read_metadata(p).num_rows for p in list_parts(ds))
        assert after > raw_rows
        clock[0] = t0 + timedelta(days=30)  # long after: the lost one is given up
        fourth = run_backfill(ds, client, now=lambda: clock[0])
        assert fourth.unavailable == 1 and fourth.fetched == 0 and fourth.pending == 0
        assert sum(pq.read_metadata(p).num_rows for p in list_parts(ds)) == after


def test_rate_limits_and_expired_urls_are_handled(captured, tmp_path):
    ds = copy_dataset(captured, tmp_path / "ds")
    captured.asim.expire_next_urls = 1
    captured.sim.faults.rate_limit_next(3, retry_after_s=1)
    with client_of(captured.sim) as client:
        t = time.monotonic()
        summary = backfill_until(ds, client, wait_s=10.0, plural=True, **FAST)
        # the token request and the REST calls both wait out each 429's Retry-After
        assert client.rate_limited + client.tokens.retries == 3
        assert time.monotonic() - t >= 3.0
    assert summary.failed == 0 and summary.unavailable == 1
    assert "url_expired" in captured.sim.fault_log.kinds()
    assert captured.asim.expire_next_urls == 0
    found, claimed = match_truth(captured, merged_segments(ds))
    assert all(n == 1 for n in claimed.values())
    assert all(hits for (cid, _u), hits in found.items() if cid != captured.never)


def _snapshot(ds) -> tuple[list, list]:
    m = merged_segments(ds)
    rows = sorted(zip(m["conversation_id"].astype(str), m["start_s"].round(6),
                      m["end_s"].round(6), m["text"].astype(str), m["source"].astype(str),
                      strict=True))
    pend = load_pending(ds).sort_values(["conversation_id"])
    return rows, list(zip(pend["conversation_id"], pend["state"], strict=True))


def test_interrupted_backfill_reruns_to_the_same_dataset(captured, tmp_path):
    whole = copy_dataset(captured, tmp_path / "whole")
    with client_of(captured.sim) as client:
        backfill_until(whole, client, wait_s=20.0, **FAST)
    expected = _snapshot(whole)
    rng = random.Random(5)
    for trial in range(3):
        ds = copy_dataset(captured, tmp_path / f"cut{trial}")
        stop_after = rng.randrange(1, 5)
        seen = []

        def interrupt(cid, stop_after=stop_after, seen=seen):
            seen.append(cid)
            if len(seen) >= stop_after:
                raise KeyboardInterrupt

        with client_of(captured.sim) as client:
            with pytest.raises(KeyboardInterrupt):
                run_backfill(ds, client, after_item=interrupt, **FAST)
            backfill_until(ds, client, wait_s=20.0, **FAST)
        assert _snapshot(ds) == expected


def test_killed_backfill_process_reruns_to_the_same_dataset(captured, tmp_path):
    whole = copy_dataset(captured, tmp_path / "whole")
    with client_of(captured.sim) as client:
        backfill_until(whole, client, wait_s=20.0, **FAST)
    expected = _snapshot(whole)
    ds = copy_dataset(captured, tmp_path / "killed")
    sim = captured.sim
    env = dict(os.environ, GENESYS_CLIENT_ID=sim.client_id, GENESYS_CLIENT_SECRET=sim.client_secret)
    cmd = [sys.executable, "-m", "diarkit", "backfill", str(ds), "--api-base", sim.api_base,
           "--login-base", sim.login_base, "--retry-delay", "0.2", "--give-up-after", "5",
           "--wait", "20"]
    rng = random.Random(9)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.6, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
    # what a kill at an unlucky moment leaves (the kills above land there only now and then)
    (ds / "backfill").mkdir(exist_ok=True)
    (ds / "backfill" / f".tmp-{proc.pid}-pending.parquet").write_bytes(b"PAR1 cut short")
    (ds / "backfill" / f".tmp-{proc.pid}-transcripts").mkdir(exist_ok=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not list((ds / "backfill").glob(".tmp-*"))  # a killed run's leftovers are removed
    assert kills >= 2, "the runs ended before they could be killed"
    assert _snapshot(ds) == expected, f"after {kills} kill(s)"


def test_a_raw_part_left_without_segments_is_completed(captured, tmp_path):
    """Killed between writing the raw part and its segments (and before the pending list
    was saved): the rerun derives the segments instead of fetching or writing again."""
    import pyarrow as pa

    from diarkit.capture.backfill import PENDING_SCHEMA, pending_path

    whole = copy_dataset(captured, tmp_path / "whole")
    with client_of(captured.sim) as client:
        backfill_until(whole, client, wait_s=20.0, **FAST)
    expected = _snapshot(whole)
    seg_parts = sorted((whole / "segments").glob("date=*/backfill-*.parquet"))
    victim = seg_parts[0]
    victim.unlink()
    pend = load_pending(whole)
    comm = victim.name.removeprefix("backfill-").rsplit("-", 1)[0]
    pend.loc[pend["communication_id"] == comm, "state"] = "pending"
    pq.write_table(pa.Table.from_pandas(pend, schema=PENDING_SCHEMA, preserve_index=False),
                   pending_path(whole))
    with client_of(captured.sim) as client:
        again = run_backfill(whole, client, **FAST)
        assert again.already == 1 and again.fetched == 0
    assert victim.exists() and _snapshot(whole) == expected
