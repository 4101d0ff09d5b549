"""Capacity plan for capturing a contact center's transcription (pure: no I/O, ``diarkit plan``).

Given the peak number of concurrent calls, the average handle time and the capture mode,
:func:`plan_capture` says what capture needs: Notifications channels, OAuth clients and
subscription requests per minute against the API limit (WebSocket), EventBridge events
and SQS requests (EventBridge), frames per second, storage per day, and CPU cores for
capture and conversion, and recommends a mode. Every figure is derived from a named
constant below, each with its source: a Genesys Cloud limit (DESIGN.md section 1), an AWS
price list, or diarkit's own measurements (README benchmark sections,
``benchmarks/bench_sqs.py --profile``).

Definitions (units in the names):

* new calls per second = concurrent calls / handle time (Little's law, steady state);
* calls per day = new calls per second x busy hours x 3,600 (``busy_hours`` at the peak);
* WebSocket subscription changes: each call is subscribed when it starts and dropped when
  it ends (the topic must leave the channel's list, which only ``PUT`` of the whole list
  can do), so *unbatched* = 2 requests per call; *batched* = one ``PUT`` per channel per
  ``batch_window_s`` carrying every change of that window;
* frames per second = concurrent calls x transcription frames per call-second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["websocket", "eventbridge"]
Grouping = Literal["grouped", "low_latency", "per_frame"]

#: Genesys Cloud: 300 requests per minute per client-credentials token (DESIGN.md s. 1).
SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT = 300
#: Genesys Cloud: at most 1,000 topics per channel (DESIGN.md s. 1).
TOPICS_PER_CHANNEL = 1_000
#: Genesys Cloud: at most 20 channels per user or OAuth client (DESIGN.md s. 1).
CHANNELS_PER_CLIENT = 20
#: Share of the request limit a plan may use (the rest absorbs retries and bursts).
HEADROOM = 0.8

#: Transcription frames per call-second and mean frame bytes, by how Genesys groups
#: transcripts into messages: the simulator's calls (seed 3, 60 calls of 5-7 min; measured
#: by ``benchmarks/bench_sqs.py --profile``). ``grouped``: ~35 s windows; ``low_latency``:
#: ~3-5 s; ``per_frame``: one utterance version per frame.
FRAME_PROFILES: dict[str, tuple[float, int]] = {
    "grouped": (0.0512, 26_386),
    "low_latency": (0.8800, 4_000),
    "per_frame": (2.3138, 1_896),
}
#: Seconds a call's topic stays subscribed after the call ends, by grouping: its last
#: transcripts and ``SESSION_ENDED`` come up to one grouping window after the words, then
#: follow mode's ``grace_s`` (10 s). Measured (``bench_follow.py --mode steady``, 5,000
#: concurrent grouped calls): 5,128-5,275 topics held, 6 channels.
LINGER_S: dict[str, float] = {"grouped": 35.0 + 10.0, "low_latency": 5.0 + 10.0,
                              "per_frame": 1.0 + 10.0}
#: Bytes EventBridge adds around a frame (envelope members and ``detail.timestamp``),
#: measured on ``diarkit.genesys.eventbridge.wrap_frame`` output (``bench_sqs.py profile``).
EVENTBRIDGE_ENVELOPE_BYTES = 339
#: Parquet (raw + segments parts, zstd) bytes per byte of frame JSON: ``diarkit convert``
#: of the simulator's frames (``benchmarks/bench_sqs.py --profile``: 0.10-0.11).
PARQUET_RATIO = 0.11
#: CPU microseconds per KB of frame for a durable capture (receiving thread 4.9 us +
#: roller 15.5 us per 2.7 KB frame: README "Live capture", ``benchmarks/bench_capture.py``).
CAPTURE_CPU_US_PER_KB = (4.9 + 15.5) / 2.7
#: CPU microseconds per KB of frame for ``diarkit convert`` (20.6 us per 1.9 KB frame:
#: README "Convert and load", ``benchmarks/bench_convert.py``).
CONVERT_CPU_US_PER_KB = 20.6 / 1.9
#: CPU microseconds per message of the SQS client alone (boto3 ``ReceiveMessage`` of 10 +
#: ``DeleteMessageBatch``): the bare loop of ``benchmarks/bench_sqs.py sqs`` against moto
#: on 127.0.0.1 (476 us; the whole SqsCapture, Parquet included, 896 us on ~4 KB events).
SQS_CPU_US_PER_MESSAGE = 476.0
#: Amazon EventBridge: partner events published, USD per million
#: (aws.amazon.com/eventbridge/pricing).
EVENTBRIDGE_USD_PER_MILLION = 1.00
#: Amazon SQS standard queue: USD per million requests (aws.amazon.com/sqs/pricing; one
#: request is up to 10 messages and 64 KB).
SQS_USD_PER_MILLION_REQUESTS = 0.40
#: Amazon SQS: a batch carries at most 256 KiB; every 64 KiB of payload is billed as a request.
SQS_MAX_BATCH_BYTES = 256 * 1024
SQS_BILLING_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class CapturePlan:
    """What capturing ``concurrent_calls`` needs (see the module docstring's definitions)."""

    mode: Mode
    concurrent_calls: int
    handle_time_s: float
    busy_hours: float
    grouping: str
    new_calls_per_s: float
    calls_per_day: float
    frames_per_s: float
    frames_per_day: float
    frame_bytes: int
    raw_gb_per_day: float
    parquet_gb_per_day: float
    capture_cpu_cores: float
    convert_cpu_cores: float
    # WebSocket
    channels: int
    subscription_requests_per_min_unbatched: float
    subscription_requests_per_min_batched: float
    batch_window_s: float
    oauth_clients: int
    # EventBridge
    eventbridge_events_per_day: float
    eventbridge_gb_per_day: float
    sqs_requests_per_day: float
    eventbridge_usd_per_day: float
    sqs_usd_per_day: float
    recommendation: Mode
    reasons: list[str] = field(default_factory=list)

    @property
    def limit_ratio_unbatched(self) -> float:
        """Unbatched subscription requests per minute / one token's limit."""
        return self.subscription_requests_per_min_unbatched / SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT

    def lines(self) -> list[str]:
        """The plan as printable lines (``diarkit plan``)."""
        out = [
            f"plan for {self.concurrent_calls:,} concurrent calls, "
            f"{self.handle_time_s:g} s handle time, mode {self.mode} "
            f"({self.grouping} transcripts, {self.busy_hours:g} busy hours a day)",
            f"  new calls            {self.new_calls_per_s:,.1f} /s, "
            f"{self.calls_per_day:,.0f} /day",
            f"  frames               {self.frames_per_s:,.0f} /s, "
            f"{self.frames_per_day:,.0f} /day (mean {self.frame_bytes:,} B)",
            f"  storage              {self.raw_gb_per_day:,.1f} GB/day raw JSON, "
            f"{self.parquet_gb_per_day:,.1f} GB/day as Parquet",
            f"  CPU                  capture {self.capture_cpu_cores:.2f} cores, "
            f"convert {self.convert_cpu_cores:.2f} cores (diarkit benchmarks)",
        ]
        if self.mode == "websocket":
            lim = SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT
            out += [
                f"  channels             {self.channels} ({TOPICS_PER_CHANNEL:,} topics each)",
                f"  subscription req/min {self.subscription_requests_per_min_unbatched:,.0f} "
                f"unbatched = {self.limit_ratio_unbatched:.1f}x the {lim}/min/token limit; "
                f"{self.subscription_requests_per_min_batched:,.0f} batched "
                f"(one PUT per channel every {self.batch_window_s:g} s)",
                f"  OAuth clients        {self.oauth_clients}",
            ]
        else:
            out += [
                f"  EventBridge events   {self.eventbridge_events_per_day:,.0f} /day, "
                f"{self.eventbridge_gb_per_day:,.1f} GB/day, "
                f"~${self.eventbridge_usd_per_day:,.2f}/day",
                f"  SQS requests         {self.sqs_requests_per_day:,.0f} /day "
                f"(receives billed per 64 KB, + deletes), ~${self.sqs_usd_per_day:,.2f}/day",
                "  channels, OAuth clients, subscription requests: none (one rule, whole org)",
            ]
        out.append(f"recommendation: {self.recommendation}")
        out += [f"  - {r}" for r in self.reasons]
        return out


def plan_capture(
    concurrent_calls: int,
    handle_time_s: float,
    mode: Mode = "websocket",
    *,
    busy_hours: float = 10.0,
    grouping: str = "low_latency",
    max_batch_window_s: float = 5.0,
) -> CapturePlan:
    """Plan the capture of ``concurrent_calls`` calls of ``handle_time_s`` seconds on average.

    Args:
        concurrent_calls: peak number of calls in progress.
        handle_time_s: mean call length, seconds.
        mode: ``websocket`` (Notifications API) or ``eventbridge`` (SQS or Firehose).
        busy_hours: hours a day at the peak (calls per day = rate x busy hours).
        grouping: a key of ``FRAME_PROFILES``.
        max_batch_window_s: longest acceptable subscription delay for a new call, seconds
            (frames before the subscription are lost: there is no replay).

    Raises:
        ValueError: a non-positive count or time, or an unknown mode or grouping.
    """
    if concurrent_calls < 1:
        raise ValueError(f"concurrent calls must be at least 1, got {concurrent_calls}")
    if not handle_time_s > 0:
        raise ValueError(f"handle time must be positive seconds, got {handle_time_s}")
    if not 0 < busy_hours <= 24:
        raise ValueError(f"busy hours must be in (0, 24], got {busy_hours}")
    if mode not in ("websocket", "eventbridge"):
        raise ValueError(f"mode must be websocket or eventbridge, got {mode!r}")
    if grouping not in FRAME_PROFILES:
        raise ValueError(f"grouping must be one of {sorted(FRAME_PROFILES)}, got {grouping!r}")
    rate = concurrent_calls / handle_time_s
    calls_day = rate * busy_hours * 3600
    per_call_s, frame_bytes = FRAME_PROFILES[grouping]
    fps = concurrent_calls * per_call_s
    frames_day = fps * busy_hours * 3600
    raw_gb = frames_day * frame_bytes / 1e9
    kb = frame_bytes / 1000
    capture_cores = fps * kb * CAPTURE_CPU_US_PER_KB / 1e6
    if mode == "eventbridge":
        capture_cores += fps * SQS_CPU_US_PER_MESSAGE / 1e6
    convert_cores = fps * kb * CONVERT_CPU_US_PER_KB / 1e6

    # topics held: the calls in progress plus those ended but still awaiting their last
    # transcripts (Little's law: rate x linger)
    channels = math.ceil((concurrent_calls + rate * LINGER_S[grouping]) / TOPICS_PER_CHANNEL)
    unbatched = 2 * rate * 60
    budget = SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT * HEADROOM
    # shortest window (whole seconds, at least 1) keeping one client's channels in budget
    clients_by_channels = math.ceil(channels / CHANNELS_PER_CLIENT)
    per_client_channels = math.ceil(channels / clients_by_channels)
    window = max(1.0, math.ceil(per_client_channels * 60 / budget))
    window = min(window, max_batch_window_s)
    batched_per_channel = min(60 / window, unbatched / channels)
    batched = channels * batched_per_channel
    clients = max(clients_by_channels, math.ceil(batched / budget))

    eb_events = frames_day
    eb_gb = frames_day * (frame_bytes + EVENTBRIDGE_ENVELOPE_BYTES) / 1e9
    event_bytes = frame_bytes + EVENTBRIDGE_ENVELOPE_BYTES
    per_receive = max(1, min(10, SQS_MAX_BATCH_BYTES // event_bytes))
    chunks = math.ceil(per_receive * event_bytes / SQS_BILLING_CHUNK_BYTES)
    batches = math.ceil(eb_events / per_receive)
    sqs_requests = batches * chunks + batches  # receives (billed per 64 KB) + deletes

    reasons: list[str] = []
    if unbatched > SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT:
        reasons.append(
            f"subscribing each call alone needs {unbatched:,.0f} requests/min, "
            f"{unbatched / SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT:.1f}x one token's limit"
        )
    if clients > 1:
        reasons.append(
            f"the WebSocket needs {clients} OAuth clients (tokens) and {channels} channels"
        )
    if concurrent_calls > TOPICS_PER_CHANNEL:
        reasons.append("more calls than one channel's 1,000 topics: topics spread over channels")
    if reasons:
        recommendation: Mode = "eventbridge"
        reasons.append(
            "EventBridge: one rule receives every call of the org, retried for 24 h, with "
            "archive/replay; the WebSocket has no replay and misses a call's first frames "
            "until it is subscribed"
        )
    else:
        recommendation = "websocket"
        reasons.append(
            f"one OAuth client, {channels} channel(s) and {batched:,.0f} subscription "
            f"requests/min fit the {SUBSCRIPTION_REQUESTS_PER_MIN_LIMIT}/min limit; "
            "no AWS account needed"
        )
    return CapturePlan(
        mode=mode,
        concurrent_calls=concurrent_calls,
        handle_time_s=handle_time_s,
        busy_hours=busy_hours,
        grouping=grouping,
        new_calls_per_s=rate,
        calls_per_day=calls_day,
        frames_per_s=fps,
        frames_per_day=frames_day,
        frame_bytes=frame_bytes,
        raw_gb_per_day=raw_gb,
        parquet_gb_per_day=raw_gb * PARQUET_RATIO,
        capture_cpu_cores=capture_cores,
        convert_cpu_cores=convert_cores,
        channels=channels if mode == "websocket" else 0,
        subscription_requests_per_min_unbatched=unbatched,
        subscription_requests_per_min_batched=batched,
        batch_window_s=window,
        oauth_clients=clients if mode == "websocket" else 0,
        eventbridge_events_per_day=eb_events,
        eventbridge_gb_per_day=eb_gb,
        sqs_requests_per_day=sqs_requests,
        eventbridge_usd_per_day=eb_events / 1e6 * EVENTBRIDGE_USD_PER_MILLION,
        sqs_usd_per_day=sqs_requests / 1e6 * SQS_USD_PER_MILLION_REQUESTS,
        recommendation=recommendation,
        reasons=reasons,
    )
