"""Follow mode's batching and late-join bookkeeping (``FollowBatcher``): pure, no sockets.

Times are hand-picked seconds (the batcher is told ``now``); gap times are epoch µs.
"""

from __future__ import annotations

from diarkit.capture.follow import TopicPlan
from diarkit.capture.follow_batch import FollowBatch, FollowBatcher, missed_gap
from diarkit.capture.stats import Gap


def topic(cid: str) -> str:
    return f"v2.conversations.{cid}.transcription"


def test_a_change_after_a_quiet_period_goes_at_once_later_ones_wait_for_the_window():
    b = FollowBatcher(batch_s=0.5)
    plan = TopicPlan(per_channel=10)
    assert not b.due(0.0) and b.take(0.0, [5], plan) is None  # nothing waits
    b.subscribe("c1", 10.0)
    assert b.due(10.0)  # the first change ever: no window to wait for
    assert b.take(10.0, [5], plan) == FollowBatch(fresh=(0,))
    assert b.batch_since is None and b.last_flush == 10.0
    b.subscribe("c2", 10.1)
    b.subscribe("c3", 10.2)
    assert b.batch_since == 10.1
    assert not b.due(10.1) and not b.due(10.4999)  # 0.4999 s since the last batch
    assert b.take(10.4, [5], plan) is None and b.pending_adds == ["c2", "c3"]
    assert b.due(10.5)
    # both new calls in one POST on channel 0
    assert b.take(10.5, [5], plan) == FollowBatch(updates=((0, [topic("c2"), topic("c3")]),))
    assert plan.topics(0) == [topic("c1"), topic("c2"), topic("c3")]
    # a call dropped from channel 0 and a new one in the same batch: one PUT of the list
    plan.remove(topic("c1"))
    b.resync(0, 11.5)
    b.subscribe("c4", 11.6)
    assert b.batch_since == 11.5
    assert b.take(11.6, [5], plan) == FollowBatch(updates=((0, None),))
    assert plan.topics(0) == [topic("c2"), topic("c3"), topic("c4")]
    assert b.batch_since is None and not b.pending_puts


def test_no_budget_anywhere_keeps_the_batch_waiting():
    b = FollowBatcher(batch_s=0.5)
    plan = TopicPlan(per_channel=10)
    b.subscribe("c1", 1.0)
    assert b.take(1.0, [0.5], plan) is None  # less than one request of room
    assert b.pending_adds == ["c1"] and b.batch_since == 1.0 and plan.channels == []
    assert b.take(2.0, [1], plan) == FollowBatch(fresh=(0,))


def test_channel_choice_when_channels_are_full_or_their_client_has_no_budget():
    # two clients, 2 channels each of 2 topics; channel 0 (client 0) is full, channel 1
    # (client 1) has one free place but client 1 has no budget left this minute
    plan = TopicPlan(per_channel=2, max_channels=2, clients=2)
    for t in ("x1", "x2", "y1"):
        plan.place(topic(t))
    assert plan.owners == [0, 1] and plan.topics(1) == [topic("y1")]
    b = FollowBatcher(batch_s=0.5)
    for cid in ("c1", "c2", "c3"):
        b.subscribe(cid, 5.0)
    b.resync(1, 5.0)
    batch = b.take(5.0, [5, 0], plan)
    # c1 opens channel 2 on client 0 (the only one with budget; it has 1 of 2 channels),
    # c2 joins it (already touched: no extra request), c3 finds channel 2 full, channel 1
    # out of budget and client 0 at its 2 channels: it waits, as does channel 1's PUT
    assert batch == FollowBatch(fresh=(2,))
    assert plan.owner(2) == 0 and plan.topics(2) == [topic("c1"), topic("c2")]
    assert b.pending_adds == ["c3"] and b.pending_puts == {1} and b.batch_since == 5.0
    # a minute later client 1 has room: c3 goes to channel 1 whose PUT carries it too
    batch = b.take(65.0, [4, 4], plan)
    assert batch == FollowBatch(updates=((1, None),))
    assert plan.topics(1) == [topic("y1"), topic("c3")]
    # channels 0, 1, 2 full (client 0 at its 2 channels); one place freed on channel 0:
    # c4 takes it, c5 opens client 1's second channel 3, c6 joins it, and c7 finds every
    # channel of every client full: refused, the rest goes on
    plan.remove(topic("x1"))
    for cid in ("c4", "c5", "c6", "c7"):
        b.subscribe(cid, 70.0)
    batch = b.take(70.0, [4, 4], plan)
    assert batch is not None and batch.fresh == (3,) and batch.updates == ((0, [topic("c4")]),)
    assert plan.owner(3) == 1 and plan.topics(3) == [topic("c5"), topic("c6")]
    ((refused, reason),) = batch.refused
    assert refused == topic("c7") and "on each of 2 OAuth clients" in reason
    assert b.pending_adds == [] and b.batch_since is None


def test_a_followed_call_that_got_no_subscription_is_a_late_join_gap():
    assert missed_gap("c1", 1_000_000, 3_000_000) == Gap(1_000_000, "late_join", "", ["c1"],
                                                         3_000_000)
    # unknown start, or a start not before now (clock skew): a zero-length gap at now
    assert missed_gap("c1", None, 3_000_000) == Gap(3_000_000, "late_join", "", ["c1"], 3_000_000)
    assert missed_gap("c1", 4_000_000, 3_000_000).start_us == 3_000_000
    b = FollowBatcher()
    b.note_start("c1", 500)
    b.subscribe("c1", 1.0)
    b.subscribe("c2", 1.0)
    # c1's call ended before a batch took it; c2 is still followed (start unknown)
    assert b.drop_unfollowed(lambda c: c == "c2") == [("c1", 500)]
    assert b.pending_adds == ["c2"] and b.batch_since == 1.0
    assert b.drop_unfollowed(lambda c: False) == [("c2", None)]
    assert b.batch_since is None and not b.due(9.0)
    # at stop, what still waits was never subscribed
    b.note_start("c3", 700)
    b.subscribe("c3", 2.0)
    assert b.take_pending() == [("c3", 700)] and b.pending_adds == []


def test_late_join_gap_ends_when_the_channel_has_the_subscription():
    b = FollowBatcher()
    plan = TopicPlan(per_channel=10)
    b.note_start("c1", 100)
    b.note_start("c2", 900)  # started after the stamp below (clock skew): no gap
    b.subscribe("c1", 1.0)
    b.subscribe("c2", 1.0)
    assert b.take(1.0, [5], plan) == FollowBatch(fresh=(0,))
    assert b.unsynced
    assert b.close_late_joins(lambda i: None, 500) == []  # channel 0 still connecting
    assert b.unsynced
    assert b.close_late_joins(lambda i: "chan-A", 500) == [
        Gap(100, "late_join", "chan-A", ["c1"], 500)]
    assert not b.unsynced
    # at stop, a late join whose channel never got it is closed as it is
    b.note_start("c3", 900)
    b.subscribe("c3", 2.0)
    assert b.take(2.0, [5], plan) == FollowBatch(updates=((0, [topic("c3")]),))
    assert b.close_late_joins(lambda i: "", 500, stopping=True) == [
        Gap(500, "late_join", "", ["c3"], 500)]
