"""Back-fill bookkeeping on a fleet-sized dataset (no network: documents written directly).

    .venv/bin/python benchmarks/bench_backfill.py --conversations 500

Builds a dataset from simulated calls' notification frames (``diarkit convert``), adds a
capture gap that touches every call, writes each call's post-call transcript as its
back-fill part (``write_backfill_part``, as ``diarkit backfill`` does after fetching), and
times the steps analysts and ``diarkit backfill``/``reconcile`` run on it:
``find_candidates`` (scanning the live frames), ``write_backfill_part`` per call,
``merged_segments`` and ``coverage_table``. Prints seconds per step and rows handled.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd

from diarkit.capture.backfill import (
    coverage_table,
    find_candidates,
    merged_segments,
    write_backfill_part,
)
from diarkit.io.convert import convert
from diarkit.io.dataset import write_gaps
from diarkit.io.load import load_raw
from diarkit.sim.generator import build_scenario, schedule
from diarkit.sim.ground_truth import post_call_transcript


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frames = root / "frames.jsonl"
        scenario = build_scenario(seed=args.seed, conversations=args.conversations)
        texts = [f.text for f in schedule(scenario)]
        frames.write_text("\n".join(texts) + "\n", encoding="utf-8")
        n = len(texts)
        ds = root / "ds"
        convert([frames], ds, progress=False)
        raw = load_raw(ds, columns=["conversation_id", "received_at"])
        ids = sorted(raw["conversation_id"].dropna().astype(str).unique())
        mid = raw["received_at"].min() + (raw["received_at"].max() - raw["received_at"].min()) / 2
        write_gaps(ds, "bench", pd.DataFrame({
            "session_id": ["bench"], "start_at": [mid], "end_at": [mid + timedelta(seconds=5)],
            "duration_s": [5.0], "cause": ["network error"], "channel_id": ["c"],
            "conversations": [ids]}))
        t = time.perf_counter()
        cand = find_candidates(ds)
        t_find = time.perf_counter() - t
        docs = {p.conversation_id: (p.communication_id, orjson.dumps(post_call_transcript(p)))
                for p in scenario.plans}
        t = time.perf_counter()
        now = datetime.now(UTC)
        for cid in cand["conversation_id"].unique():
            comm, doc = docs[cid]
            write_backfill_part(ds, [doc], cid, comm, now)
        t_write = time.perf_counter() - t
        t = time.perf_counter()
        merged = merged_segments(ds)
        t_merge = time.perf_counter() - t
        t = time.perf_counter()
        cov = coverage_table(ds)
        t_cov = time.perf_counter() - t
        print(f"{n:,} frames of {len(ids):,} calls; {len(cand):,} candidates")
        print(f"find_candidates      {t_find:7.2f} s  ({n / t_find:,.0f} frames/s)")
        print(f"write_backfill_part  {t_write:7.2f} s  ({t_write / max(len(cand), 1) * 1000:.1f}"
              " ms per call)")
        print(f"merged_segments      {t_merge:7.2f} s  ({len(merged):,} rows; "
              f"{merged['source'].value_counts().to_dict()})")
        print(f"coverage_table       {t_cov:7.2f} s  ({int(cov['complete'].sum()):,} of "
              f"{len(cov):,} complete)")


if __name__ == "__main__":
    main()
