"""A revoked token moves the capture's channel once, however slow the way to the new one.

The revoke's reconnect (``token_revoked``: a new token, a new channel) and the
supervisor's "token changed: move the channel" check must not both act on one revoke.
The simulator's ``slow_responses`` stretches the reconnect (the new token's POST and the
new channel's POST each answer 0.5 s late) over several supervisor ticks (0.1 s): the
window a loaded machine opened by chance, made deterministic. Against the real
simulator over 127.0.0.1.
"""

from __future__ import annotations

import time

import pytest

from .simhelp import check_no_duplicates_and_losses_in_gaps, make_capture, wait_for, wait_live
from .simhelp import make_dense_sim as make_sim


@pytest.mark.parametrize("delay_s", [0.0, 0.5])
def test_a_revoke_moves_the_channel_once(tmp_path, delay_s):
    with make_sim() as sim:
        cap = make_capture(sim, tmp_path)
        cap.start()
        wait_live(cap)
        (old,) = sim.channel_ids(connected=True)
        sim.start_conversations()
        wait_for(lambda: cap.stats().transcription_events >= 20, what="first events")
        if delay_s:
            sim.faults.slow_responses(2, delay_s)
        sim.faults.revoke_token()
        wait_for(lambda: cap.stats().channels_released >= 1, what="old channel released")
        wait_for(lambda: cap.status == "live", what="live on the new channel")
        time.sleep(1.0)  # ten supervisor ticks: room for a needless second move
        channels = sim.channel_subscriptions(sim.client_id)
        kinds = [f.kind for f in sim.fault_log.snapshot()]
        # one new channel; a second move would leave the first new one behind (emptied,
        # told no_longer_subscribed when the next one took its topics)
        assert len(channels) == 1 and old not in channels, channels
        assert kinds.count("revoke_token") == 1
        assert kinds.count("no_longer_subscribed") == 0, kinds
        assert cap.stats().handovers == 0 and cap.stats().reconnects == 1
        assert sim.wait_for_conversations_done(30)
        time.sleep(0.3)
        stats = cap.stop()
        assert stats.status == "stopped", stats.message
        # the revoked token's channel, then the new one at stop: nothing more
        assert stats.channels_released == 2 and stats.release_failures == 0
        check_no_duplicates_and_losses_in_gaps(sim, tmp_path)


def test_a_move_request_for_a_channel_of_the_current_token_is_dropped(tmp_path):
    """A supervisor tick compares the channel's token with one it read at the tick's
    start; a reconnect may have made the channel with the new token meanwhile. The worker
    checks again before moving: no new channel for a channel already on the token."""
    with make_sim() as sim:
        cap = make_capture(sim, tmp_path)
        cap.start()
        wait_live(cap)
        (chan,) = sim.channel_ids(connected=True)
        worker = cap._workers[0]
        worker.move_requested = True  # what a tick with a stale token read would ask
        wait_for(lambda: not worker.move_requested, what="the request taken")
        time.sleep(0.3)
        assert sim.channel_ids() == [chan] and cap.stats().handovers == 0
        stats = cap.stop()
        assert stats.status == "stopped" and stats.channels_released == 1
