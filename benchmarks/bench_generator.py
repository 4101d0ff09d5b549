"""Benchmark the offline call generator per transcript grouping (frames/s, transcripts/s).

Run by hand (not a timed test; about 30 s)::

    .venv/bin/python benchmarks/bench_generator.py             # 150 calls per grouping
    .venv/bin/python benchmarks/bench_generator.py --calls 400

For each grouping (``grouped``, the default; ``low_latency``; ``per_frame``, the earlier
one-transcript-per-frame shape) the same seeded calls are planned and rendered with
``iter_frames``; rates are given per frame, per transcript (utterance version) and per
MB, on CPU time (``time.process_time``: this machine's 2 cores are shared) and wall time,
next to a baseline measured in the same run on the same frames: ``orjson.loads`` of every
frame (the cheapest thing a consumer does with one). ``gen/parse`` above 1 means the
generator outruns a consumer that only parses.
"""

from __future__ import annotations

import argparse
import time

import orjson

from diarkit.sim import iter_frames
from diarkit.sim.calls import GROUPINGS


def bench(calls: int, grouping: str) -> None:
    opts = {"grouping": grouping, "call_duration_s": (120.0, 480.0), "stagger_s": 2.0}
    w, c = time.perf_counter(), time.process_time()
    frames = list(iter_frames(calls, 1, **opts))
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    mb = sum(map(len, frames)) / 1e6
    c = time.process_time()
    transcripts = sum(len(orjson.loads(f)["eventBody"].get("transcripts") or ()) for f in frames)
    parse = time.process_time() - c
    print(f"{grouping:11} {len(frames):8,} frames {transcripts:8,} transcripts {mb:7.1f} MB | "
          f"CPU {len(frames) / cpu:9,.0f} frames/s {transcripts / cpu:9,.0f} transcripts/s "
          f"{mb / cpu:6.1f} MB/s | wall {len(frames) / wall:9,.0f} frames/s | "
          f"gen/parse {parse / cpu:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=150)
    args = ap.parse_args()
    for grouping in GROUPINGS:
        bench(args.calls, grouping)


if __name__ == "__main__":
    main()
