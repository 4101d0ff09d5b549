"""Helpers for capture tests against the real simulator on 127.0.0.1."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from diarkit.capture import Capture, TokenSource
from diarkit.genesys import HEARTBEAT_TOPIC, backoff
from diarkit.io.dataset import list_files, list_parts
from diarkit.sim import Simulator

HEARTBEAT_S = 0.25


def fast_backoff():
    """Reconnect delays for tests: 0.05, 0.1, 0.2, 0.2, ... seconds."""
    return backoff(initial=0.05, cap=0.2, jitter=0.0)


def make_sim(**kw: Any) -> Simulator:
    opts: dict[str, Any] = {
        "seed": 11,
        "conversations": 3,
        "speed": 60.0,
        "heartbeat_s": HEARTBEAT_S,
        "autostart": False,
        "call_duration_s": (60.0, 90.0),
        "stagger_s": 0.0,
    }
    opts.update(kw)
    return Simulator(**opts)


def make_dense_sim(**kw: Any) -> Simulator:
    """``make_sim`` with one transcript per frame: many frames per call, so a fault lands
    mid-stream (the simulator's default groups transcripts into ~35 s windows)."""
    return make_sim(**{"grouping": "per_frame", **kw})


def make_capture(sim: Simulator, out: Path, **kw: Any) -> Capture:
    opts: dict[str, Any] = {
        "login_base": sim.login_base,
        "api_base": sim.api_base,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "heartbeat_s": HEARTBEAT_S,
        "roll_seconds": 0.5,
        "backoff_factory": fast_backoff,
        # the simulator runs calls 10-60x faster: 4 wall seconds are 40-240 s of call
        # time, past the ~35 s transcript groups a call's end may still be followed by
        "session_end_wait_s": 4.0,
    }
    if "follow_queues" not in kw and "follow_users" not in kw and "conversations" not in kw:
        opts["conversations"] = sim.conversation_ids
    refresh = kw.pop("token_refresh", None)
    if refresh is not None:
        # tokens of a second or two: refresh at ``refresh`` of their life, so the capture
        # has time to move its channels even on a loaded machine (real tokens: 24 h, 0.8)
        opts["tokens"] = TokenSource(sim.login_base, sim.client_id, sim.client_secret,
                                     refresh_fraction=refresh)
    opts.update(kw)
    return Capture(out, **opts)


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_live(cap: Capture, timeout: float = 20.0) -> None:
    wait_for(lambda: cap.status in ("live", "error"), timeout, "capture to go live")
    assert cap.status == "live", cap.message


def stored_rows(out: Path) -> list[dict[str, Any]]:
    rows = [r for p in list_parts(out) for r in pq.read_table(p).to_pylist()]
    return sorted(rows, key=lambda r: (r["session_id"], r["seq"]))


def ledger_entries(sim: Simulator) -> list[Any]:
    """Frames the simulator handed to sockets, minus heartbeats and pongs (not stored)."""
    return [e for e in sim.ledger.snapshot() if e.topic != HEARTBEAT_TOPIC]


def gap_rows(out: Path) -> list[dict[str, Any]]:
    return [r for p in list_files(out, "gaps") for r in pq.read_table(p).to_pylist()]


def check_no_duplicates_and_losses_in_gaps(sim: Simulator, out: Path, slack_s: float = 0.3):
    """Every stored frame was sent, none twice; each lost frame was sent during a gap.

    Returns (stored rows, lost ledger entries, gap rows).
    """
    rows = stored_rows(out)
    sent = Counter(e.text for e in ledger_entries(sim))
    got = Counter(r["frame"] for r in rows)
    extra = got - sent
    assert not extra, f"{sum(extra.values())} stored frame(s) never sent or duplicated"
    keys = [(r["session_id"], r["seq"]) for r in rows]
    assert len(keys) == len(set(keys)), "a (session, seq) appears twice"
    missing = sent - got
    gaps = gap_rows(out)
    lost = []
    for e in ledger_entries(sim):
        if missing[e.text] > 0:
            missing[e.text] -= 1
            lost.append(e)
            inside = any(
                g["start_at"].timestamp() - slack_s
                <= e.sent_at
                <= g["end_at"].timestamp() + slack_s
                for g in gaps
            )
            assert inside, f"frame sent at {e.sent_at} on {e.channel_id} lost outside any gap"
    return rows, lost, gaps
