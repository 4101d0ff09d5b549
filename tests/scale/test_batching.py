"""Batched follow-mode subscriptions within 300 requests/min/token (issue #17 item 3, planner)."""

from __future__ import annotations

import pytest

from diarkit.scale.batching import SubscriptionBatcher, simulate


def test_5000_concurrent_calls_stay_under_the_limit_with_one_client():
    r = simulate(5_000, 360, minutes=10, window_s=2.0)
    # one request per change would be ~1,667/min: 5.6x the limit
    assert r.unbatched_requests_per_min == pytest.approx(1_667, rel=0.05)
    # batched: never more than 0.8 x 300 in any 60-second window, one token
    assert r.clients == 1 and r.max_requests_per_min_per_client <= 240
    assert r.mean_requests_per_min < 0.15 * r.unbatched_requests_per_min
    # each new call is subscribed within the window (polled every 0.1 s)
    assert r.delay_max_s <= 2.0 + 0.1 and r.delay_p50_s < 2.0 + 0.1
    assert r.max_topics_per_channel <= 1_000 and r.channels >= 5


def test_when_one_token_is_not_enough_channels_spread_over_clients():
    r = simulate(45_000, 600, minutes=2, window_s=2.0)
    assert r.clients >= 6  # 8 channels per client at 240/min and 2-s windows
    assert r.max_requests_per_min_per_client <= 240
    assert r.delay_max_s <= 2.1 and r.max_topics_per_channel <= 1_000


def test_a_short_window_is_throttled_by_the_budget_not_exceeded():
    r = simulate(5_000, 360, minutes=4, window_s=0.5)
    assert r.max_requests_per_min_per_client <= 240


def test_requests_carry_the_whole_list_adds_and_drops():
    b = SubscriptionBatcher(window_s=1.0)
    b.add("a", 0.0)
    b.add("b", 0.2)
    assert b.due(0.9) == [] and b.next_due() == 1.0
    (r,) = b.due(1.0)
    assert (r.topics, r.added, r.dropped, r.client, r.channel) == (
        frozenset("ab"),
        frozenset("ab"),
        frozenset(),
        0,
        0,
    )
    b.drop("a", 2.0)
    b.add("c", 2.5)
    (r,) = b.due(3.0)
    assert (r.topics, r.added, r.dropped) == (frozenset("bc"), frozenset("c"), frozenset("a"))


def test_a_call_that_ends_before_its_subscription_costs_nothing():
    b = SubscriptionBatcher(window_s=1.0)
    b.add("a", 0.0)
    b.drop("a", 0.5)
    assert b.due(5.0) == [] and b.next_due() is None


def test_a_full_channel_opens_another_and_a_spent_budget_waits():
    b = SubscriptionBatcher(window_s=1.0, topics_per_channel=2, requests_per_min=2, headroom=1.0)
    for i, cid in enumerate("abc"):
        b.add(cid, i * 0.01)
    first = b.due(1.05)
    assert sorted(len(r.topics) for r in first) == [1, 2]
    # budget 2/min, 1 channel per client (2 x 1 s / 60 < 1): two clients, one request each
    assert {r.client for r in first} == {0, 1}
    b.drop("a", 2.0)
    (r,) = b.due(3.0)  # client 0's second request within a minute: allowed
    assert r.client == 0 and r.dropped == frozenset("a")
    b.drop("b", 4.0)
    assert b.due(5.0) == [] and b.due(61.0) == []  # the budget is spent until 61.05
    (r,) = b.due(61.1)
    assert r.dropped == frozenset("b") and r.topics == frozenset()


@pytest.mark.parametrize(
    ("kw", "match"), [({"window_s": 0}, "window_s"), ({"headroom": 0}, "headroom")]
)
def test_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        SubscriptionBatcher(**kw)


def test_rate_meter_counts_a_sliding_minute():
    from diarkit.scale.batching import RateMeter

    meter = RateMeter()  # times only move forward (a monotonic clock)
    for t in (0.0, 10.0, 59.0, 60.0, 61.0):
        meter.record(t)
    assert meter.rate(119.5) == 2  # (59.5, 119.5]: 60, 61
    meter.record(130.0)
    assert meter.total == 6 and meter.rate(130.0) == 1
    assert meter.max_per_min == 4  # 10, 59, 60, 61 within (1, 61]; 0.0 left at 60.0


def test_rate_meter_window_can_be_a_simulated_minute():
    """Against a simulator running 4x faster, 15 wall seconds are one simulated minute."""
    import pytest

    from diarkit.scale.batching import RateMeter

    meter = RateMeter(window_s=15.0)
    for t in (0.0, 5.0, 14.0, 15.0, 29.0):
        meter.record(t)
    assert meter.rate(29.0) == 2  # (14, 29]: 15 and 29
    assert meter.max_per_min == 3  # 5, 14, 15 within (0, 15]
    with pytest.raises(ValueError, match="window_s must be positive"):
        RateMeter(window_s=0)
