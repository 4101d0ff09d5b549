"""Capture against the real simulator over loopback: ledger equality and every fault."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from diarkit.capture import SubscriptionRejectedError

from .simhelp import (
    check_no_duplicates_and_losses_in_gaps,
    gap_rows,
    ledger_entries,
    make_capture,
    stored_rows,
    wait_for,
    wait_live,
)
from .simhelp import (
    make_dense_sim as make_sim,
)

# The watchdog (a socket silent for ``dead_after`` heartbeats is dead) is proved by
# test_silent_socket_is_detected_by_the_watchdog and test_idle_socket_is_pinged_and_kept,
# at the default 2.5 heartbeats (0.625 s here). The other tests assert "no gap, no
# reconnect" about other things; the simulator shares the test's process, so a loaded
# 2-core machine can leave its thread unscheduled for over a second (seen under
# ``pytest -n 4``: "silent socket: no frame for 1.6 s" in the malformed-frames test,
# 305 frames lost in the resulting gap). They give the watchdog 3 s (12 heartbeats).
STEADY = {"dead_after": 12.0}


def test_clean_capture_equals_ledger(tmp_path):
    with make_sim(call_duration_s=(20.0, 40.0), speed=80.0) as sim:
        cap = make_capture(sim, tmp_path, **STEADY)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        n = len(ledger_entries(sim))
        wait_for(lambda: cap.stats().transcription_events >= n, what="all frames")
        stats = cap.stop()
        entries = ledger_entries(sim)
    rows = stored_rows(tmp_path)
    assert [r["frame"] for r in rows] == [e.text for e in entries]  # same frames, same order
    assert [r["source"] for r in rows] == [e.channel_id for e in entries]
    assert [r["seq"] for r in rows] == sorted({r["seq"] for r in rows})
    assert {r["session_id"] for r in rows} == {cap.session_id}
    assert {r["conversation_id"] for r in rows} == set(sim.conversation_ids)
    assert all(r["kind"] == "transcription" and r["error"] is None for r in rows)
    assert stats.status == "stopped" and stats.gaps == 0 and stats.reconnects == 0
    assert stats.transcription_events == len(rows) == stats.rows
    assert stats.heartbeats >= 1 and stats.frames == len(rows) + stats.heartbeats
    assert stats.finals >= len(sim.conversation_ids) and stats.utterances >= stats.finals
    assert stats.last_event_at is not None and stats.bytes_written > 0
    assert not (tmp_path / "_spool").exists() or not list((tmp_path / "_spool").iterdir())
    assert gap_rows(tmp_path) == []


def run_with_fault(tmp_path, fault, *, sim_kw=None, cap_kw=None, after=20):
    """Capture a stream, apply ``fault(sim, cap)`` after ``after`` events, finish cleanly."""
    with make_sim(**(sim_kw or {})) as sim:
        cap = make_capture(sim, tmp_path, **{**STEADY, **(cap_kw or {})})
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        wait_for(lambda: cap.stats().transcription_events >= after, what="first events")
        fault(sim, cap)
        assert sim.wait_for_conversations_done(30)
        wait_for(lambda: cap.status in ("live", "error"), what="capture live again")
        time.sleep(0.3)
        stats = cap.stop()
        assert stats.status == "stopped", stats.message
        rows, lost, gaps = check_no_duplicates_and_losses_in_gaps(sim, tmp_path)
        return stats, rows, lost, gaps, sim


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("drop", "network error"),
        ("expire", "socket closed by server (1000)"),
        ("evict", "socket closed by server (1000)"),
        ("revoke", "token revoked"),
    ],
)
def test_disconnections_are_survived_and_recorded_as_gaps(tmp_path, kind, cause):
    stats, rows, _lost, gaps, sim = run_with_fault(
        tmp_path, lambda sim, cap: sim.faults.trigger(kind)
    )
    assert stats.reconnects >= 1 and stats.gaps == len(gaps) >= 1
    assert any(cause in g["cause"] for g in gaps), [g["cause"] for g in gaps]
    for g in gaps:
        assert g["session_id"] == stats.session_id and g["channel_id"]
        assert set(g["conversations"]) == set(sim.conversation_ids)
        assert 0 <= g["duration_s"] < 5
    # frames keep flowing after the reconnect, on the new socket
    last_gap_end = max(g["end_at"] for g in gaps)
    assert any(r["received_at"] > last_gap_end for r in rows)
    if kind in ("expire", "evict", "revoke"):
        assert len({r["source"] for r in rows}) >= 2  # a new channel was made


def test_socket_closing_hands_over_without_a_gap(tmp_path):
    stats, rows, lost, gaps, sim = run_with_fault(
        tmp_path, lambda sim, cap: sim.faults.socket_closing(close_after_s=1.0)
    )
    assert stats.handovers == 1 and stats.reconnects == 0
    assert lost == [] and gaps == []
    assert any(r["kind"] == "socket_closing" for r in rows)
    assert len(rows) == len(ledger_entries(sim))


@pytest.mark.parametrize("kind", ["malformed", "truncated", "garbage"])
def test_malformed_frames_are_stored_flagged_and_counted(tmp_path, kind):
    stats, rows, lost, gaps, sim = run_with_fault(
        tmp_path, lambda sim, cap: sim.faults.corrupt_frames(3, kind)
    )
    bad = [e.text for e in ledger_entries(sim) if e.fault == kind]
    assert len(bad) == 3 and lost == [] and gaps == []
    flagged = [r for r in rows if r["kind"] == "invalid"]
    assert Counter(r["frame"] for r in flagged) == Counter(bad)
    assert all(r["error"] for r in flagged)
    assert stats.invalid == 3


def test_rate_limit_and_server_error_storms_are_retried(tmp_path):
    with make_sim() as sim:
        sim.faults.rate_limit_next(3, retry_after_s=0)
        sim.faults.server_error_next(2)
        cap = make_capture(sim, tmp_path, **STEADY)
        cap.start()
        wait_live(cap)
        retries = cap.tokens.retries + cap.notifications.retries
        assert retries == 5
        sim.start_conversations()
        wait_for(lambda: cap.stats().transcription_events >= 10, what="events")
        sim.faults.rate_limit_next(4, retry_after_s=0)
        sim.faults.drop_socket()
        assert sim.wait_for_conversations_done(30)
        wait_for(lambda: cap.status == "live", what="reconnected")
        time.sleep(0.3)
        stats = cap.stop()
        assert cap.notifications.retries + cap.tokens.retries >= 9
        assert stats.status == "stopped" and stats.reconnects == 1
        check_no_duplicates_and_losses_in_gaps(sim, tmp_path)


def test_token_expiry_and_channel_lifetime_are_handled(tmp_path):
    # Tokens live 1.2 s and channels 1.0 s: the token source refreshes early, the capture
    # moves to a channel of the new token before the old one stops and re-subscribes
    # (extends) its channel before it expires, so nothing is lost.
    stats, rows, lost, gaps, sim = run_with_fault(
        tmp_path,
        lambda sim, cap: None,
        sim_kw={"token_lifetime_s": 1.2, "channel_lifetime_s": 1.0, "speed": 40.0},
        cap_kw={"token_refresh": 0.5},
    )
    assert lost == [] and [g["cause"] for g in gaps] == [] and stats.reconnects == 0
    # channels live with their token: the capture moved to a new channel per token
    assert len({r["source"] for r in rows}) >= 2 and stats.handovers >= 1
    assert len(rows) == len(ledger_entries(sim))
    # channels the capture left expire unrenewed; none expired while in use (no gap above)


def test_silent_socket_is_detected_by_the_watchdog(tmp_path):
    def freeze(sim, cap):
        # The simulator's event loop stops for 1.2 s: no frames, no pongs, no close.
        sim._loop.call_soon_threadsafe(time.sleep, 1.2)

    stats, _rows, _lost, gaps, _sim = run_with_fault(tmp_path, freeze,
                                                     cap_kw={"dead_after": 2.5})
    assert any(g["cause"].startswith("silent socket") for g in gaps), gaps
    assert stats.reconnects >= 1


def test_idle_socket_is_pinged_and_kept(tmp_path):
    # 1 s heartbeats (ping after 1 s of silence, dead after 2.5 s): 0.25 s ones made a
    # loaded machine's scheduling stall of ~1 s look like a dead socket (seen: 1.1 s)
    with make_sim(heartbeat_s=1.0) as sim:
        cap = make_capture(sim, tmp_path, heartbeat_s=1.0)
        cap.start()
        wait_live(cap)
        sim.faults.stop_heartbeats()
        wait_for(lambda: any('"pong"' in e.text for e in sim.ledger.snapshot()), what="a pong")
        time.sleep(4.0)  # 4 heartbeat periods: the pongs keep the socket alive
        stats = cap.stop()
    assert stats.reconnects == 0 and stats.gaps == 0


@pytest.mark.parametrize(
    ("option", "ids"), [("follow_queues", "queue_ids"), ("follow_users", "user_ids")]
)
def test_follow_mode_discovers_and_drops_conversations(tmp_path, option, ids):
    # Calls run 30x faster than real time: the default 0.5 s follow batch would be 15 s of
    # call time before a new call is subscribed (plus a loaded machine's request time),
    # which let a short call's whole transcript pass unsubscribed under ``pytest -n 6``.
    # 0.05 s batches are 1.5 call-seconds, nearer the real 0.5 s against real-time calls.
    with make_sim(conversations=4, stagger_s=15.0, call_duration_s=(30.0, 50.0),
                  speed=30.0) as sim:
        cap = make_capture(sim, tmp_path, grace_s=0.2, follow_batch_s=0.05,
                           **{option: getattr(sim, ids)})
        cap.start()
        wait_live(cap)
        assert cap.active_conversations() == []
        sim.start_conversations()
        wait_for(lambda: cap.stats().active_conversations >= 1, what="a followed call")
        assert sim.wait_for_conversations_done(30)
        wait_for(lambda: cap.stats().active_conversations == 0, what="calls dropped")
        channel = sim.channel_ids(connected=True)[0]
        wait_for(
            lambda: not [t for t in sim.subscriptions(channel) if t.endswith(".transcription")],
            what="transcription topics unsubscribed on the server",
        )
        stats = cap.stop()
    rows = stored_rows(tmp_path)
    conv_rows = [r for r in rows if r["kind"] == "transcription"]
    found = {r["conversation_id"] for r in conv_rows}
    if option == "follow_queues":  # every call enters a queue before anything is said
        assert found == set(sim.conversation_ids)
    else:  # a user's topic names a call once the agent is on it
        assert found and found <= set(sim.conversation_ids)
    assert stats.status == "stopped"
    check_no_duplicates_and_losses_in_gaps(sim, tmp_path)


def test_topics_spread_over_several_channels(tmp_path):
    stats, rows, lost, _gaps, sim = run_with_fault(
        tmp_path,
        lambda sim, cap: None,
        sim_kw={"conversations": 5, "call_duration_s": (20.0, 30.0)},
        cap_kw={"max_topics_per_channel": 2},
        after=5,
    )
    assert stats.channels == 3 and len({r["source"] for r in rows}) == 3
    assert lost == [] and len(rows) == len(ledger_entries(sim))


def test_rejected_subscriptions_are_reported(tmp_path):
    with make_sim() as sim:
        sim.add_client("no-transcripts", "pw", permissions=["routing:queue:view"])
        sim.add_client("nothing", "pw", permissions=[])
        # partly rejected: the capture runs and names what it cannot see
        cap = make_capture(
            sim,
            tmp_path / "a",
            client_id="no-transcripts",
            client_secret="pw",
            follow_queues=sim.queue_ids[:1],
            conversations=sim.conversation_ids[:1],
        )
        cap.start()
        wait_live(cap)
        stats = cap.stop()
        assert stats.rejected == 1 and stats.active_conversations == 0
        (rej,) = cap.rejected
        assert rej.topic.endswith(".transcription") and rej.reason == "Missing permissions"
        assert "conversation:transcription:view" in rej.missing_permissions
        # everything rejected: the capture stops with an error instead of recording nothing
        cap = make_capture(sim, tmp_path / "b", client_id="nothing", client_secret="pw")
        cap.start()
        assert cap.wait(20)
        assert cap.status == "error" and isinstance(cap.error, SubscriptionRejectedError)
        assert "Missing permissions" in cap.message
        with pytest.raises(SubscriptionRejectedError):
            make_capture(sim, tmp_path / "c", client_id="nothing", client_secret="pw").run(5)
