"""Channels the capture gives up, and at stop all of its channels, lose their subscriptions.

The real Notifications API cannot delete a channel; ``DELETE .../subscriptions`` is what
it offers. Against the real simulator over 127.0.0.1.
"""

from __future__ import annotations

import time

import pytest

from .simhelp import (
    check_no_duplicates_and_losses_in_gaps,
    make_capture,
    stored_rows,
    wait_for,
    wait_live,
)
from .simhelp import (
    make_dense_sim as make_sim,
)


def _only_channel(sim) -> str:
    (cid,) = sim.channel_ids(connected=True)
    return str(cid)


@pytest.mark.parametrize("kind", ["expire", "evict", "revoke"])
def test_given_up_channel_is_released_after_a_new_channel(tmp_path, kind):
    with make_sim() as sim:
        cap = make_capture(sim, tmp_path)
        cap.start()
        wait_live(cap)
        old = _only_channel(sim)
        topics = sim.subscriptions(old)
        assert topics  # subscribed before the fault: the release has something to do
        sim.start_conversations()
        wait_for(lambda: cap.stats().transcription_events >= 20, what="first events")
        sim.faults.trigger(kind)
        wait_for(lambda: cap.stats().channels_released >= 1, what="old channel released")
        wait_for(lambda: cap.status == "live", what="live on the new channel")
        new = _only_channel(sim)
        assert new != old
        table = sim.channel_subscriptions(sim.client_id)
        # gone: expired, evicted, or stopped with its revoked token
        assert old not in table
        assert table[new] == topics
        assert cap.channels_left_subscribed() == [new]
        assert sim.wait_for_conversations_done(30)
        time.sleep(0.3)
        stats = cap.stop()
        assert stats.status == "stopped", stats.message
        assert stats.reconnects >= 1 and stats.release_failures == 0
        assert all(t == [] for t in sim.channel_subscriptions(sim.client_id).values())
        rows, _lost, _gaps = check_no_duplicates_and_losses_in_gaps(sim, tmp_path)
    assert any(r["source"] == new for r in rows)


def test_reused_channel_is_not_released(tmp_path):
    with make_sim() as sim:
        cap = make_capture(sim, tmp_path)
        cap.start()
        wait_live(cap)
        old = _only_channel(sim)
        sim.faults.drop_socket()
        wait_for(lambda: cap.stats().reconnects == 1, what="reconnect")
        wait_for(lambda: cap.status == "live", what="live again")
        assert _only_channel(sim) == old and sim.subscriptions(old)
        assert cap.stats().channels_released == 0
        cap.stop()
        assert sim.channel_subscriptions(sim.client_id) == {old: []}


def test_stop_removes_the_subscriptions_of_every_channel(tmp_path):
    with make_sim(conversations=5) as sim:
        cap = make_capture(sim, tmp_path, max_topics_per_channel=2)
        cap.start()
        wait_live(cap)
        before = sim.channel_subscriptions(sim.client_id)
        assert len(before) == 3 and all(before.values())
        stats = cap.stop()
        assert stats.status == "stopped" and stats.channels_released == 3
        assert stats.release_failures == 0 and cap.channels_left_subscribed() == []
        # the channels themselves stay until they expire: the API cannot delete them
        assert sim.channel_subscriptions(sim.client_id) == {c: [] for c in before}


def test_failed_release_is_counted_and_retried_at_stop(tmp_path):
    with make_sim() as sim:
        cap = make_capture(sim, tmp_path)
        cap.start()
        wait_live(cap)
        old = _only_channel(sim)
        sim.start_conversations()
        wait_for(lambda: cap.stats().transcription_events >= 20, what="first events")
        # every attempt of the old channel's release (only its)
        sim.faults.server_error_next(3, method="DELETE", path=old)
        sim.faults.revoke_token()
        wait_for(lambda: cap.stats().release_failures == 1, what="a failed release")
        wait_for(lambda: cap.status == "live", what="live on the new channel")
        new = _only_channel(sim)
        # the revoked token's channel stopped; its DELETE failed all the same (503s)
        assert old not in sim.channel_subscriptions(sim.client_id)
        n = cap.stats().transcription_events
        wait_for(lambda: cap.stats().transcription_events > n, what="events after it")
        assert sim.wait_for_conversations_done(30)
        time.sleep(0.3)
        stats = cap.stop()
        assert stats.status == "stopped", stats.message
        # the failed one retried at stop, and the last one: one move per revoke
        # (test_revoke_move.py: a second, needless move used to follow under load)
        assert not [f for f in sim.fault_log.snapshot() if f.kind == "no_longer_subscribed"]
        assert stats.release_failures == 1 and stats.channels_released == 2
        assert sim.channel_subscriptions(sim.client_id) == {new: []}
        check_no_duplicates_and_losses_in_gaps(sim, tmp_path)
    assert stored_rows(tmp_path)


def test_release_failing_through_stop_does_not_fail_the_capture(tmp_path):
    with make_sim() as sim:
        cap = make_capture(sim, tmp_path)
        cap.start()
        wait_live(cap)
        chan = _only_channel(sim)
        sim.faults.server_error_next(1000, method="DELETE")
        t0 = time.monotonic()
        stats = cap.stop()
        assert time.monotonic() - t0 < cap.release_timeout_s
        assert stats.status == "stopped" and cap.error is None
        assert stats.release_failures == 1 and stats.channels_released == 0
        assert cap.channels_left_subscribed() == [chan] and sim.subscriptions(chan)
