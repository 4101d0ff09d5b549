"""Benchmark: follow mode's subscription requests per minute per token, live simulator.

Run by hand (not a test; ~70-100 s)::

    .venv/bin/python benchmarks/bench_follow.py --seconds 45

The live simulator (127.0.0.1, speed 1: call time is wall time, so requests per minute
are real) starts calls as a Poisson process at the rate of a 5,000-seat contact center
with a 6-minute handle time (5000 / 360 = 13.9 new calls a second) for ``--seconds``;
calls last 30-42 s instead of 6 minutes, so the machine carries ~500 concurrent calls
instead of 5,000 while the *rate of subscription changes* (one add and one drop per call,
~28 a second) is that of 5,000 concurrent 6-minute calls. Channels hold 100 topics
instead of 1,000 so the capture spreads its topics over ~5 channels, as 5,000 calls
would. A follow-mode capture (``follow_queues``; one OAuth client, one token) follows
them with batching (``--batch`` seconds); it reports the most subscription requests any
sliding minute held, the mean rate, the changes they carried, and calls captured vs
started. The simulator answers 429 past 300 requests a minute per client; retries are
reported. One request per change (no batching) would be ~1,670 a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diarkit.capture import Capture
from diarkit.sim import Simulator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=45.0, help="seconds of call arrivals")
    ap.add_argument("--concurrent", type=int, default=5000, help="seats emulated")
    ap.add_argument("--handle", type=float, default=360.0, help="handle time emulated (s)")
    ap.add_argument("--batch", type=float, default=1.0, help="follow_batch_s (s)")
    ap.add_argument("--per-channel", type=int, default=100, help="topics per channel")
    args = ap.parse_args()
    rate = args.concurrent / args.handle  # new calls per second
    calls = int(rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp, Simulator(
        seed=3, conversations=calls, speed=1.0, autostart=False, agents=calls, queues=4,
        call_duration_s=(30.0, 42.0), stagger_s=1.0 / rate, heartbeat_s=5.0,
    ) as sim:
        cap = Capture(
            Path(tmp) / "ds", login_base=sim.login_base, api_base=sim.api_base,
            client_id=sim.client_id, client_secret=sim.client_secret,
            follow_queues=sim.queue_ids, heartbeat_s=5.0, grace_s=1.0,
            follow_batch_s=args.batch, max_topics_per_channel=args.per_channel,
        )
        cap.start()
        deadline = time.monotonic() + 20
        while cap.status != "live" and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        sim.start_conversations()
        peak_active = 0
        while not sim.wait_for_conversations_done(1.0):
            peak_active = max(peak_active, cap.stats().active_conversations)
            if time.monotonic() - t0 > args.seconds + 120:
                break
        time.sleep(2.0)
        wall = time.monotonic() - t0
        stats = cap.stop()
        from diarkit.io.load import load_raw

        raw = load_raw(Path(tmp) / "ds", columns=["conversation_id", "kind"])
        found = set(raw.loc[raw["kind"] == "transcription", "conversation_id"].astype(str))
        missing = set(sim.conversation_ids) - found
    print(f"emulated: {args.concurrent} concurrent calls x {args.handle:.0f} s handle time "
          f"= {rate:.1f} new calls/s; {calls} calls started over {args.seconds:.0f} s")
    print(f"run: {wall:.0f} s wall, peak {peak_active} calls followed at once, "
          f"{stats.channels} channels, batch {args.batch} s")
    print(f"subscription requests: {stats.subscription_requests} total, "
          f"max {stats.subscription_requests_per_min} in any 60 s (limit 300/min/token), "
          f"mean {stats.subscription_requests / wall * 60:.0f}/min; "
          f"changes: {2 * calls} (unbatched: ~{2 * rate * 60:.0f}/min)")
    print(f"retries (429/5xx): {cap.notifications.retries}; calls with transcription "
          f"captured: {len(found)}/{calls}; gaps: {stats.gaps}; "
          f"calls without any captured frame: {len(missing)}")


if __name__ == "__main__":
    main()
