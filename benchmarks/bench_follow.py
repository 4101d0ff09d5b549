"""Benchmark: follow mode's subscription requests per minute per token, live simulator.

Run by hand (not a test). Two modes:

``--mode rate`` (default; ~70-150 s)::

    .venv/bin/python benchmarks/bench_follow.py --seconds 30

The live simulator (127.0.0.1, speed 1: call time is wall time, so requests per minute
are real) starts calls as a Poisson process at the rate of a 5,000-seat contact center
with a 6-minute handle time (5000 / 360 = 13.9 new calls a second) for ``--seconds``;
calls last 30-42 s instead of 6 minutes, so the machine carries ~500 concurrent calls
instead of 5,000 while the *rate of subscription changes* (one add and one drop per call,
~28 a second) is that of 5,000 concurrent 6-minute calls. Channels hold 100 topics
instead of 1,000 so the capture spreads its topics over ~5 channels, as 5,000 calls
would. The calls are the simulator's full calls (IVR, queue, agents, speech).

``--mode steady`` (~3.5 min at the defaults)::

    .venv/bin/python benchmarks/bench_follow.py --mode steady --speed 1.5 --minutes 3

(on the shared 2-core machine speed 4 was too fast: the capture fell behind the frames)

5,000 calls *really* concurrent, each lasting 5-7 minutes (mean 6), on an accelerated
clock: the simulator runs call time ``--speed`` times faster than the wall clock and
enforces 300 requests per client per *simulated* minute (``rate_limit=(300, 60 /
speed)``); the capture's budget window, batch window, grace and end wait are scaled
the same way (``rate_window_s = 60 / speed`` etc.), so every "per minute" below is per
simulated minute. The run starts with 5,000 calls in progress (each reaches the
capture with its next queue event, spread over the first 30 s), and new calls arrive at
13.9 a second for ``--minutes``. Calls are light (a queue event when routed after 5-20 s
of IVR, a transcript group every ~35 s, the call-end event, the last group and
``SESSION_ENDED`` 2-35 s later): what they say does not change subscription requests,
and 20,000 full calls would take minutes to plan. Channels hold 1,000 topics (Genesys).

Both modes: one follow-mode capture (``follow_queues``; one OAuth client unless
``--clients``) follows the calls with batching (``--batch`` seconds of call time); the
report gives the most subscription requests any sliding minute held per token, the mean
rate, 429 retries, calls captured, and every call without a captured frame as either
*accounted* (a ``late_join`` gap row names it, so ``diarkit backfill`` lists it) or
*unaccounted* (silently absent: must be 0).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diarkit.capture import Capture
from diarkit.sim import Simulator


def _iso(epoch_ms: int) -> str:
    t = time.gmtime(epoch_ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{epoch_ms % 1000:03d}Z"


def _frame(topic: str, body: dict[str, Any], corr: str) -> str:
    return orjson.dumps({"topicName": topic, "version": "2", "eventBody": body,
                         "metadata": {"CorrelationId": corr}}).decode()


def light_schedule(n_initial: int, rate: float, minutes: float, handle_s: float,
                   queue_ids: list[str], seed: int) -> tuple[Any, list[str], dict[str, float]]:
    """A ``Simulator(schedule=...)`` builder of light calls, the calls' ids, and when
    (call-time seconds from the start) each call's first queue event is sent.

    ``n_initial`` calls are in progress at time 0 (uniformly through their 5-7 minutes);
    new calls arrive as a Poisson process at ``rate`` a second for ``minutes``.
    """
    rng = random.Random(seed)
    org = str(uuid.UUID(int=rng.getrandbits(128)))
    calls: list[tuple[str, float, float, str]] = []  # (id, start s, length s, queue)
    lo, hi = handle_s * 5 / 6, handle_s * 7 / 6
    for _ in range(n_initial):
        length = rng.uniform(lo, hi)
        calls.append((str(uuid.UUID(int=rng.getrandbits(128))), -rng.uniform(0, length),
                      length, rng.choice(queue_ids)))
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t > minutes * 60:
            break
        calls.append((str(uuid.UUID(int=rng.getrandbits(128))), t, rng.uniform(lo, hi),
                      rng.choice(queue_ids)))

    seen_at: dict[str, float] = {}

    def build(epoch_ms: int) -> list[Any]:
        specs: list[Any] = []
        seq = 0

        def add(at_s: float, kind: str, topic: str, body: dict[str, Any], cid: str) -> None:
            nonlocal seq
            corr = str(uuid.UUID(int=rng.getrandbits(128)))
            specs.append((int(at_s * 1000), seq, kind, topic, corr, _frame,
                          (topic, body, corr), cid))
            seq += 1

        for cid, start, length, queue in calls:
            e0 = epoch_ms + int(start * 1000)
            end = start + length
            qtopic = f"v2.routing.queues.{queue}.conversations.calls"
            ttopic = f"v2.conversations.{cid}.transcription"
            routed = start + rng.uniform(5, 20)

            def call(at_s: float, ended: bool, *, e0: int = e0, cid: str = cid,
                     queue: str = queue, routed: float = routed) -> dict[str, Any]:
                state = "disconnected" if ended else "connected"
                parts = [{"id": f"{cid[:8]}-c", "purpose": "customer", "state": state,
                          "startTime": _iso(e0)},
                         {"id": f"{cid[:8]}-a", "purpose": "acd", "state": state,
                          "startTime": _iso(epoch_ms + int(routed * 1000)),
                          "queue": {"id": queue, "name": "bench"}}]
                return {"id": cid, "participants": parts}

            # the capture learns of a call at its queue event (calls in progress at time
            # 0: at their next event, within the first 30 s)
            seen = routed if routed >= 0 else rng.uniform(0, min(30.0, end))
            seen_at[cid] = max(seen, 0.0)
            add(max(seen, 0.0), "conversation", qtopic, call(seen, False), cid)
            head = {"organizationId": org, "conversationId": cid,
                    "communicationId": f"{cid[:24]}{cid[-12:]}",
                    "sessionStartTimeMs": e0}

            def tx(at_s: float, status: str, words: int, *, e0: int = e0,
                   head: dict[str, Any] = head) -> dict[str, Any]:
                off = int((at_s - (e0 - epoch_ms) / 1000) * 1000)
                body = {**head, "eventTime": _iso(epoch_ms + int(at_s * 1000)),
                        "status": {"offsetMs": off, "status": status}}
                if words:
                    body["transcripts"] = [{
                        "utteranceId": str(uuid.UUID(int=rng.getrandbits(128))),
                        "isFinal": True, "channel": rng.choice(("INTERNAL", "EXTERNAL")),
                        "alternatives": [{"confidence": 0.9, "offsetMs": max(off - 3000, 0),
                                          "durationMs": 2500,
                                          "transcript": " ".join(["word"] * words)}]}]
                return body

            g = start + rng.uniform(30, 40)
            while g < end:
                if g >= 0:
                    add(g, "transcription", ttopic, tx(g, "SESSION_ONGOING", 6), cid)
                g += rng.uniform(30, 40)
            add(end, "conversation", qtopic, call(end, True), cid)
            last = end + rng.uniform(2, 35)  # the last group comes after the call ends
            add(last, "transcription", ttopic, tx(last, "SESSION_ONGOING", 4), cid)
            add(last + 0.1, "status", ttopic, tx(last + 0.1, "SESSION_ENDED", 0), cid)
        specs.sort(key=lambda s: (s[0], s[1]))
        return specs

    return build, [c[0] for c in calls], seen_at


def accounting(dataset: Path, ids: list[str]) -> tuple[set[str], set[str], set[str]]:
    """(calls with a captured transcription frame, missed but in a late_join gap and
    listed for back-fill, missed and unaccounted)."""
    from diarkit.capture.backfill import find_candidates
    from diarkit.io.load import load_raw

    raw = load_raw(dataset, columns=["conversation_id", "kind"])
    found = set(raw.loc[raw["kind"] == "transcription", "conversation_id"].astype(str))
    missing = set(ids) - found
    listed = set(find_candidates(dataset)["conversation_id"].astype(str)) if missing else set()
    return found, missing & listed, missing - listed


def subscription_delays(dataset: Path, seen_at: dict[str, float], t0: float) -> list[float]:
    """Seconds (call time) from each call's first queue event to its subscription: the
    end of its late_join gap (stamped on the call clock), sorted."""
    from diarkit.io.load import load_gaps

    gaps = load_gaps(dataset)
    gaps = gaps[gaps["cause"] == "late_join"]
    out = []
    for convs, end in zip(gaps["conversations"], gaps["end_at"], strict=True):
        for cid in convs if convs is not None else ():
            if cid in seen_at:
                out.append(end.timestamp() - t0 - seen_at[cid])
    return sorted(out)


def clients_of(sim: Simulator, n: int) -> dict[str, Any]:
    if n <= 1:
        return {"client_id": sim.client_id, "client_secret": sim.client_secret}
    pairs = [(sim.client_id, sim.client_secret)]
    for i in range(1, n):
        sim.add_client(f"bench-{i}", f"secret-{i}")
        pairs.append((f"bench-{i}", f"secret-{i}"))
    return {"clients": pairs}


def report(cap: Capture, stats: Any, ids: list[str], dataset: Path, minute: str) -> None:
    found, accounted, unaccounted = accounting(dataset, ids)
    retries = sum(c.notifications.retries for c in cap.clients)
    print(f"retries (429/5xx): {retries}; calls with transcription captured: "
          f"{len(found)}/{len(ids)}; gaps: {stats.gaps}")
    print(f"calls without any captured frame: {len(accounted) + len(unaccounted)} "
          f"(accounted: {len(accounted)} in late_join gaps and listed for back-fill; "
          f"unaccounted: {len(unaccounted)}); missed_calls counter: {stats.missed_calls}")
    per = ", ".join(str(n) for n in stats.subscription_requests_per_min_by_client)
    print(f"max subscription requests per {minute} by client: {per}")


def run_rate(args: argparse.Namespace) -> None:
    rate = args.concurrent / args.handle  # new calls per second
    calls = int(rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp, Simulator(
        seed=3, conversations=calls, speed=1.0, autostart=False, agents=calls, queues=4,
        call_duration_s=(30.0, 42.0), stagger_s=1.0 / rate, heartbeat_s=5.0,
    ) as sim:
        cap = Capture(
            Path(tmp) / "ds", login_base=sim.login_base, api_base=sim.api_base,
            follow_queues=sim.queue_ids, heartbeat_s=5.0, grace_s=1.0,
            follow_batch_s=args.batch, max_topics_per_channel=args.per_channel,
            **clients_of(sim, args.clients),
        )
        cap.start(wait=True, timeout=20)
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
        print(f"emulated: {args.concurrent} concurrent calls x {args.handle:.0f} s handle "
              f"time = {rate:.1f} new calls/s; {calls} calls started over "
              f"{args.seconds:.0f} s")
        print(f"run: {wall:.0f} s wall, peak {peak_active} calls followed at once, "
              f"{stats.channels} channels, batch {args.batch} s")
        print(f"subscription requests: {stats.subscription_requests} total, "
              f"max {stats.subscription_requests_per_min} in any 60 s (limit 300/min/token), "
              f"mean {stats.subscription_requests / wall * 60:.0f}/min; "
              f"changes: {2 * calls} (unbatched: ~{2 * rate * 60:.0f}/min)")
        report(cap, stats, sim.conversation_ids, Path(tmp) / "ds", "minute")


def run_steady(args: argparse.Namespace) -> None:
    speed = args.speed
    rate = args.concurrent / args.handle
    queues = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(4)]
    t_plan = time.monotonic()
    build, ids, seen_at = light_schedule(args.concurrent, rate, args.minutes, args.handle,
                                         queues, 3)
    minute = 60.0 / speed  # wall seconds of one simulated minute
    with tempfile.TemporaryDirectory() as tmp, Simulator(
        seed=3, conversations=0, speed=speed, autostart=False, heartbeat_s=5.0,
        rate_limit=(300, minute), schedule=build, ledger_maxlen=1000,
    ) as sim:
        ds = Path(tmp) / "ds"
        cap = Capture(
            ds, login_base=sim.login_base, api_base=sim.api_base, follow_queues=queues,
            heartbeat_s=5.0, clock=sim.call_clock, rate_window_s=minute,
            follow_batch_s=args.batch / speed, grace_s=10.0 / speed,
            session_end_wait_s=60.0 / speed, roll_seconds=5.0,
            **clients_of(sim, args.clients),
        )
        cap.start(wait=True, timeout=20)
        sim.start_conversations(timeout=600)
        t0 = time.monotonic()
        plan_s = t0 - t_plan
        peak = 0
        end_wall = args.minutes * minute + 2 * minute  # arrivals, then two minutes more
        samples: list[tuple[float, int]] = []
        while time.monotonic() - t0 < end_wall:
            time.sleep(1.0)
            n = cap.stats().active_conversations
            peak = max(peak, n)
            samples.append(((time.monotonic() - t0) / minute, n))
        stats = cap.stop()
        wall = time.monotonic() - t0
        sim_min = wall / minute
        steady = [n for m, n in samples if 1.0 <= m <= args.minutes]
        print(f"steady: {args.concurrent} concurrent calls of {args.handle * 5 / 6:.0f}-"
              f"{args.handle * 7 / 6:.0f} s (mean {args.handle:.0f} s), {rate:.1f} new "
              f"calls/s for {args.minutes:g} simulated min; speed {speed:g} "
              f"(1 simulated min = {minute:.1f} s wall); {len(ids)} calls")
        print(f"run: {wall:.0f} s wall ({sim_min:.1f} simulated min; planning "
              f"{plan_s:.0f} s), peak {peak} calls followed at once, followed from minute 1 "
              f"to {args.minutes:g}: min {min(steady, default=0)} max {max(steady, default=0)}"
              f", {stats.channels} channels, batch {args.batch:g} s (simulated)")
        print(f"subscription requests: {stats.subscription_requests} total, max "
              f"{stats.subscription_requests_per_min} in any simulated minute (limit 300 per "
              f"token, budget 240), mean {stats.subscription_requests / sim_min:.0f} per "
              f"simulated min; changes: ~{2 * rate * 60:.0f} per min (unbatched)")
        report(cap, stats, ids, ds, "simulated minute")
        delays = subscription_delays(ds, seen_at, (sim.call_epoch_ms or 0) / 1000.0)
        if delays:
            q = [delays[min(len(delays) - 1, int(p * len(delays)))] for p in (0.5, 0.99)]
            print(f"delay from a call's queue event to its subscription (simulated s, "
                  f"{len(delays)} calls): p50 {q[0]:.1f}, p99 {q[1]:.1f}, max {delays[-1]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("rate", "steady"), default="rate")
    ap.add_argument("--seconds", type=float, default=30.0, help="rate: seconds of arrivals")
    ap.add_argument("--concurrent", type=int, default=5000, help="seats emulated")
    ap.add_argument("--handle", type=float, default=360.0, help="handle time (s)")
    ap.add_argument("--batch", type=float, default=1.0, help="follow_batch_s (call-time s)")
    ap.add_argument("--per-channel", type=int, default=100, help="rate: topics per channel")
    ap.add_argument("--speed", type=float, default=1.5, help="steady: call s per wall s")
    ap.add_argument("--minutes", type=float, default=3.0,
                    help="steady: simulated minutes of arrivals")
    ap.add_argument("--clients", type=int, default=1, help="OAuth clients of the capture")
    args = ap.parse_args()
    (run_steady if args.mode == "steady" else run_rate)(args)


if __name__ == "__main__":
    main()
