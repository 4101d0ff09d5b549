"""Benchmark: fleet statistics of 10M segments on a 2-worker Dask LocalCluster vs pandas.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_dask.py                 # 10,000,000 segments
    .venv/bin/python benchmarks/bench_dask.py --segments 500000

Steps, all measured in this run:

1. calibrate: pandas (``stats_pandas``) on a 1M-segment dataset in a child process gives
   its peak memory per segment; from it, the memory pandas alone needs for the full size.
2. the largest size pandas can hold within the cluster's total memory (workers x limit)
   is generated and run on pandas (child process, wall time and peak RSS) and on Dask
   (same cluster shape); the results must be identical; the ratio of wall times is printed.
3. the full size runs on a fresh LocalCluster whose per-worker memory limit is below
   what pandas needs: wall time and peak RSS of each worker process.

Memory is the peak resident set size of each process (``VmHWM``). Wall times exclude
dataset generation and cluster start-up (reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from diarkit.scale import SynthSpec, local_client, make_dataset, stats_dask

MiB = 1 << 20
GiB = 1 << 30


def spec_for(segments: int) -> SynthSpec:
    """The benchmark's dataset shape: 8 capture sessions, 50k-row parts, 2 days of calls."""
    return SynthSpec(
        segments=segments,
        conversation_segments=60,
        sessions=8,
        rows_per_part=50_000,
        days=2.0,
        seed=11,
    )


def ensure_dataset(root: Path, segments: int) -> tuple[Path, float]:
    """Generate (or reuse) the dataset of ``segments`` rows; returns its path and seconds."""
    path = root / f"segments-{segments}"
    marker = path / "_complete"
    if marker.exists():
        return path, 0.0
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    make_dataset(path, spec_for(segments))
    marker.write_text("ok\n")
    return path, time.perf_counter() - t0


def max_rss_bytes() -> int:
    """Peak resident set size of this process since it started, bytes (``VmHWM``).

    Unlike ``getrusage().ru_maxrss``, which a spawned process inherits from the process
    that forked it, the high-water mark restarts with each new program.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def pandas_child(dataset: str, out: str) -> None:
    """Run the pandas path in this (child) process and print wall time and peak RSS."""
    from diarkit.scale import stats_pandas

    base = max_rss_bytes()
    t0 = time.perf_counter()
    result = stats_pandas(dataset)
    wall = time.perf_counter() - t0
    result.conversations.to_parquet(Path(out) / "conversations.parquet")
    result.fleet.to_parquet(Path(out) / "fleet.parquet")
    print(json.dumps({"wall_s": wall, "peak_rss": max_rss_bytes(), "base_rss": base}))


def run_pandas(dataset: Path, out: Path) -> dict[str, float]:
    """The pandas path in a fresh child process (so its peak memory is its own)."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--_pandas-child", str(dataset), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_dask(dataset: Path, workers: int, memory_limit: int, spill: Path, rows: int) -> dict:
    """``stats_dask`` on a fresh LocalCluster: start-up, wall time, per-worker peak RSS."""
    t0 = time.perf_counter()
    with local_client(workers, memory_limit=memory_limit, local_directory=str(spill)) as client:
        startup = time.perf_counter() - t0
        pids_before = client.run(os.getpid)
        t1 = time.perf_counter()
        result = stats_dask(dataset, client, rows_per_partition=rows)
        wall = time.perf_counter() - t1
        peaks = client.run(max_rss_bytes)
        pids_after = client.run(os.getpid)
    restarted = len(set(pids_before.values()) - set(pids_after.values()))
    return {
        "startup_s": startup,
        "wall_s": wall,
        "worker_peak_rss": sorted(peaks.values()),
        "workers_restarted": restarted,
        "result": result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-memory",
        type=float,
        default=1.0,
        help="per-worker memory limit, GiB (default 1.0)",
    )
    parser.add_argument(
        "--rows-per-partition", type=int, default=100_000, help="rows per Dask task"
    )
    parser.add_argument("--calibrate", type=int, default=1_000_000, help="pandas calibration size")
    parser.add_argument("--dir", type=Path, help="keep datasets here (default: a temp dir)")
    parser.add_argument("--_pandas-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._pandas_child:
        pandas_child(*args._pandas_child)
        return

    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_dask-"))
    root.mkdir(parents=True, exist_ok=True)
    limit = int(args.worker_memory * GiB)
    budget = limit * args.workers
    n = args.segments
    print(f"# bench_dask: {n:,} segments, {args.workers} workers x {args.worker_memory} GiB")

    # 1. calibration: pandas peak memory per segment
    cal_n = min(args.calibrate, n)
    cal_ds, _ = ensure_dataset(root, cal_n)
    cal = run_pandas(cal_ds, root / "out-cal")
    per_seg = (cal["peak_rss"] - cal["base_rss"]) / cal_n
    print(
        f"calibration: pandas on {cal_n:,} segments peaks at {cal['peak_rss'] / MiB:,.0f} MiB "
        f"({per_seg:,.0f} B/segment above {cal['base_rss'] / MiB:,.0f} MiB of imports)"
    )

    # 2. the largest size pandas can hold within the cluster's total memory (15% headroom)
    fit = int((0.85 * budget - cal["base_rss"]) / per_seg) // 250_000 * 250_000
    p_n = max(min(n, fit), cal_n)
    p_ds, _ = ensure_dataset(root, p_n)
    pan = run_pandas(p_ds, root / "out-pandas")
    while pan["peak_rss"] > budget and p_n > cal_n:  # the estimate was optimistic
        p_n = max(cal_n, p_n - 500_000)
        p_ds, _ = ensure_dataset(root, p_n)
        pan = run_pandas(p_ds, root / "out-pandas")
    das = run_dask(p_ds, args.workers, limit, root / "spill", args.rows_per_partition)
    ref_conv = pd.read_parquet(root / "out-pandas" / "conversations.parquet")
    ref_fleet = pd.read_parquet(root / "out-pandas" / "fleet.parquet")
    pd.testing.assert_frame_equal(das["result"].conversations, ref_conv)
    pd.testing.assert_frame_equal(das["result"].fleet, ref_fleet)
    print(
        f"largest size pandas holds in {budget / GiB:.1f} GiB: {p_n:,} segments -> "
        f"pandas {pan['wall_s']:.1f} s (peak {pan['peak_rss'] / MiB:,.0f} MiB), "
        f"dask {das['wall_s']:.1f} s (+{das['startup_s']:.1f} s start-up), identical results; "
        f"dask/pandas wall ratio {das['wall_s'] / pan['wall_s']:.2f}"
    )
    # re-estimate what pandas needs at full size from the larger measured run
    per_seg = max(per_seg, (pan["peak_rss"] - pan["base_rss"]) / p_n)
    need_full = pan["base_rss"] + per_seg * n
    print(f"pandas alone would need ~{need_full / GiB:.2f} GiB for {n:,} segments")

    # 3. the full size on Dask with a per-worker limit below what pandas needs
    full_ds, gen_full = ensure_dataset(root, n)
    if limit >= need_full:
        print("note: the worker limit is not below what pandas needs; raise --segments")
    big = run_dask(full_ds, args.workers, limit, root / "spill", args.rows_per_partition)
    conv = big["result"].conversations
    peaks = ", ".join(f"{p / MiB:,.0f}" for p in big["worker_peak_rss"])
    print(
        f"full size: {n:,} segments ({conv['conversation_id'].nunique():,} conversations, "
        f"generated in {gen_full:.1f} s) on dask: {big['wall_s']:.1f} s "
        f"(+{big['startup_s']:.1f} s start-up); worker peak RSS [{peaks}] MiB "
        f"(limit {limit / MiB:,.0f} MiB, pandas alone ~{need_full / MiB:,.0f} MiB); "
        f"workers restarted: {big['workers_restarted']}; "
        f"{n / big['wall_s']:,.0f} segments/s"
    )
    summary = {
        "segments": n,
        "workers": args.workers,
        "worker_limit_mib": limit / MiB,
        "pandas_need_full_mib": need_full / MiB,
        "pandas_size": p_n,
        "pandas_wall_s": pan["wall_s"],
        "pandas_peak_mib": pan["peak_rss"] / MiB,
        "dask_wall_s_at_pandas_size": das["wall_s"],
        "ratio_dask_over_pandas": das["wall_s"] / pan["wall_s"],
        "dask_wall_s_full": big["wall_s"],
        "dask_worker_peak_mib_full": [p / MiB for p in big["worker_peak_rss"]],
        "workers_restarted": big["workers_restarted"],
    }
    print(json.dumps(summary))
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
