"""The capacity planner, against hand-computed figures (issue #17 item 4)."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.scale import plan as P
from diarkit.scale.plan import plan_capture


def test_5000_calls_of_6_minutes_by_hand():
    p = plan_capture(5_000, 360, "websocket")
    # Little's law: 5,000 / 360 s = 13.89 new calls a second
    assert p.new_calls_per_s == pytest.approx(13.888, abs=1e-3)
    # 10 busy hours at that rate: 500,000 calls a day (the figure)
    assert p.calls_per_day == pytest.approx(500_000)
    # subscribe + drop per call, one request each: 2 x 13.89 x 60 = 1,666.7 a minute
    assert p.subscription_requests_per_min_unbatched == pytest.approx(1_666.67, abs=0.01)
    assert p.limit_ratio_unbatched == pytest.approx(5.56, abs=0.01)  # "5.6x the limit"
    # 5,000 calls + 13.89/s x 15 s ended but awaiting their last transcripts (low_latency
    # 5 s + grace 10 s) = 5,208 topics at 1,000 a channel: 6 channels, one client (20 a
    # client); bench_follow's 5,000 concurrent calls held 5,128-5,275 topics on 6 channels
    assert p.channels == 6 and p.oauth_clients == 1
    # batched: budget 0.8 x 300 = 240/min; 6 channels x 60/w <= 240 -> w = 2 s -> 180/min
    assert p.batch_window_s == 2 and p.subscription_requests_per_min_batched == 180
    # low-latency frames: 0.88 per call-second x 5,000 calls = 4,400 frames/s
    assert p.frames_per_s == pytest.approx(4_400)
    assert p.frames_per_day == pytest.approx(4_400 * 36_000)
    assert p.raw_gb_per_day == pytest.approx(4_400 * 36_000 * 4_000 / 1e9)
    assert p.parquet_gb_per_day == pytest.approx(p.raw_gb_per_day * 0.11)
    # CPU: 4,400 frames/s x 4 KB x (20.4 / 2.7) us/KB = 0.133 cores; convert 20.6/1.9 us/KB
    assert p.capture_cpu_cores == pytest.approx(4_400 * 4 * 20.4 / 2.7 / 1e6)
    assert p.convert_cpu_cores == pytest.approx(4_400 * 4 * 20.6 / 1.9 / 1e6)
    assert p.recommendation == "eventbridge"
    assert any("5.6x" in r for r in p.reasons)


def test_eventbridge_mode_counts_events_and_sqs_requests():
    p = plan_capture(5_000, 360, "eventbridge")
    assert p.channels == 0 and p.oauth_clients == 0
    events = 4_400 * 36_000
    assert p.eventbridge_events_per_day == pytest.approx(events)
    assert p.eventbridge_gb_per_day == pytest.approx(events * (4_000 + 339) / 1e9)
    # 10 events of 4,339 B = 43 KB per receive: one 64 KB chunk, plus one delete per batch
    assert p.sqs_requests_per_day == 2 * math.ceil(events / 10)
    assert p.eventbridge_usd_per_day == pytest.approx(events / 1e6 * 1.00)
    assert p.sqs_usd_per_day == pytest.approx(2 * events / 10 / 1e6 * 0.40)
    # the SQS client's CPU per message comes on top of recording
    assert p.capture_cpu_cores == pytest.approx(
        4_400 * 4 * 20.4 / 2.7 / 1e6 + 4_400 * P.SQS_CPU_US_PER_MESSAGE / 1e6
    )


def test_big_grouped_frames_fill_fewer_messages_a_batch():
    p = plan_capture(1_000, 300, "eventbridge", grouping="grouped")
    size = 26_386 + 339  # 9 fit in 256 KiB; 9 x 26.7 KB = 240 KB = 4 chunks of 64 KiB
    assert min(10, 256 * 1024 // size) == 9
    batches = math.ceil(p.eventbridge_events_per_day / 9)
    assert p.sqs_requests_per_day == batches * 4 + batches


def test_a_small_center_stays_on_the_websocket():
    p = plan_capture(100, 360)
    assert p.new_calls_per_s == pytest.approx(0.2778, abs=1e-4)
    assert p.subscription_requests_per_min_unbatched == pytest.approx(33.33, abs=0.01)
    assert p.channels == 1 and p.oauth_clients == 1
    # batching cannot send more requests than there are changes
    assert p.subscription_requests_per_min_batched == pytest.approx(33.33, abs=0.01)
    assert p.recommendation == "websocket"


def test_beyond_20_channels_takes_more_clients():
    p = plan_capture(45_000, 600)
    # 45,000 + 75/s x 15 s lingering = 46,125 topics: 47 channels, 20 per client
    assert p.channels == 47 and p.oauth_clients == 3
    assert p.recommendation == "eventbridge"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 360), "concurrent calls"),
        ((10, 0), "handle time"),
        ((10, 60, "carrier-pigeon"), "mode"),
    ],
)
def test_bad_input_is_a_clear_error(args, match):
    with pytest.raises(ValueError, match=match):
        plan_capture(*args)


def test_bad_grouping_and_hours():
    with pytest.raises(ValueError, match="grouping"):
        plan_capture(10, 60, grouping="bursty")
    with pytest.raises(ValueError, match="busy hours"):
        plan_capture(10, 60, busy_hours=25)


def test_cli_prints_the_plan():
    r = CliRunner().invoke(cli, ["plan", "--concurrent-calls", "5000", "--handle-time-s", "360"])
    assert r.exit_code == 0, r.output
    assert "13.9 /s, 500,000 /day" in r.output
    assert "1,667 unbatched = 5.6x the 300/min/token limit" in r.output
    assert "recommendation: eventbridge" in r.output
    r = CliRunner().invoke(
        cli,
        ["plan", "--concurrent-calls", "5000", "--handle-time-s", "360", "--mode", "eventbridge"],
    )
    assert r.exit_code == 0 and "EventBridge events   158,400,000 /day" in r.output
    r = CliRunner().invoke(cli, ["plan", "--concurrent-calls", "0", "--handle-time-s", "360"])
    assert r.exit_code == 2 and "--concurrent-calls" in r.output
