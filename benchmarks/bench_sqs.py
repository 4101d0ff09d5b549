"""Benchmark: SQS capture of EventBridge events, Dask statistics from S3, frame profiles.

Run by hand (not a test); every AWS call goes to moto's server, started here as its own
process on 127.0.0.1 (so this process's CPU time is the client's alone)::

    .venv/bin/python benchmarks/bench_sqs.py sqs --messages 2000
    .venv/bin/python benchmarks/bench_sqs.py dask --segments 200000
    .venv/bin/python benchmarks/bench_sqs.py profile

``sqs``: the same EventBridge events (the simulator's low-latency frames, wrapped as
Genesys's EventBridge integration wraps them) are loaded into two queues; a bare boto3
loop (``ReceiveMessage`` of 10 + ``DeleteMessageBatch``, nothing else) drains one, the
SQS capture (:class:`diarkit.capture.sqs.SqsCapture`: parse, dedupe, spool + fsync,
delete, roll into raw + segments Parquet, converter in a thread of this process) drains
the other. Messages/s and CPU microseconds per message of each, and their ratio.

``dask``: per-conversation talk statistics of a synthetic dataset on a 2-worker
LocalCluster, read from the local disk and from the local S3 endpoint (after
``publish_dataset``); after one warm-up run, best of two alternating runs each; wall times
and their ratio; the results must be equal.

``profile``: transcription frames per call-second, mean frame bytes, EventBridge envelope
bytes and the Parquet/JSON size ratio of the simulator's calls, per grouping: the
constants of :mod:`diarkit.scale.plan`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """``moto_server`` in a child process on 127.0.0.1; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def sim_frames(n: int, grouping: str = "low_latency") -> list[str]:
    """At least ``n`` transcription frames of the simulator's calls."""
    from diarkit.sim.generator import build_scenario, frame_text, lazy_schedule

    calls = 20
    while True:
        sc = build_scenario(
            seed=3, conversations=calls, call_duration_s=(300, 420), grouping=grouping
        )
        frames = [frame_text(f) for f in lazy_schedule(sc)]
        frames = [f for f in frames if '.transcription"' in f[:160]]
        if len(frames) >= n:
            return frames[:n]
        calls *= 2


def bench_sqs(messages: int) -> None:
    import boto3

    from diarkit.capture.sqs import SqsCapture
    from diarkit.genesys.eventbridge import wrap_frame

    frames = sim_frames(messages)
    bodies = [
        wrap_frame(
            f, event_id=str(uuid.uuid4()), organization_id="org", time="2026-12-05T09:00:00Z"
        )
        for f in frames
    ]
    mean = sum(map(len, bodies)) / len(bodies)
    print(f"{len(bodies)} EventBridge events, mean {mean:,.0f} B")
    with moto_server() as endpoint:
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        urls = [sqs.create_queue(QueueName=f"bench-{i}")["QueueUrl"] for i in range(2)]
        t0 = time.perf_counter()
        for url in urls:
            for i in range(0, len(bodies), 10):
                entries = [
                    {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])
                ]
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
        print(f"loaded 2 queues in {time.perf_counter() - t0:.1f} s", flush=True)
        # bare loop: receive 10, delete 10, nothing else
        n = 0
        c0, t0 = time.process_time(), time.perf_counter()
        while True:
            got = sqs.receive_message(QueueUrl=urls[0], MaxNumberOfMessages=10, WaitTimeSeconds=0)
            batch = got.get("Messages") or []
            if not batch:
                break
            n += len(batch)
            sqs.delete_message_batch(
                QueueUrl=urls[0],
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        bare_s, bare_cpu = time.perf_counter() - t0, time.process_time() - c0
        with tempfile.TemporaryDirectory() as tmp:
            cap = SqsCapture(Path(tmp) / "ds", urls[1], client=sqs, wait_s=0, roller="thread")
            c0, t0 = time.process_time(), time.perf_counter()
            stats = cap.run(idle_polls=1)
            cap_s, cap_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert cap.error is None, cap.error
            assert cap.counters.stored == len(bodies) == stats.rows, cap.summary()
    bare_rate, cap_rate = n / bare_s, len(bodies) / cap_s
    print(
        f"bare boto3 loop : {n:,} msgs in {bare_s:.2f} s = {bare_rate:,.0f} msgs/s, "
        f"CPU {bare_cpu / n * 1e6:,.0f} us/msg"
    )
    print(
        f"SqsCapture      : {len(bodies):,} msgs in {cap_s:.2f} s = {cap_rate:,.0f} msgs/s, "
        f"CPU {cap_cpu / len(bodies) * 1e6:,.0f} us/msg (durable in raw + segments Parquet)"
    )
    print(
        f"ratio capture / bare: throughput {cap_rate / bare_rate:.2f}, "
        f"CPU per message {cap_cpu / len(bodies) / (bare_cpu / n):.2f}"
    )


def talk_pipeline(segments: pd.DataFrame) -> pd.DataFrame:
    from diarkit.analysis import finalize, talk_stats

    return talk_stats(finalize(segments).segments)


def bench_dask(segments: int) -> None:
    import boto3
    import cloudpickle

    from diarkit.scale import SynthSpec, local_client, make_dataset, map_conversations
    from diarkit.scale.objectstore import publish_dataset

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    spec = SynthSpec(segments=segments, conversation_segments=60, sessions=4, rows_per_part=20_000)
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        local = Path(tmp) / "ds"
        make_dataset(local, spec)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="diarkit-bench")
        t0 = time.perf_counter()
        report = publish_dataset(local, "s3://diarkit-bench/ds")
        up = time.perf_counter() - t0
        print(
            f"{segments:,} segments, {len(report.uploaded)} objects, "
            f"{report.bytes / 1e6:.1f} MB published in {up:.2f} s"
        )
        with local_client(2, threads_per_worker=1, memory_limit="1GiB") as client:
            times: dict[str, float] = {}
            results = {}
            map_conversations(local, talk_pipeline, client=client)  # warm the workers up
            for _ in range(2):  # alternate, keep the best of two
                for name, where in (("local disk", local), ("local S3", "s3://diarkit-bench/ds")):
                    t0 = time.perf_counter()
                    results[name] = map_conversations(where, talk_pipeline, client=client)
                    took = time.perf_counter() - t0
                    times[name] = min(times.get(name, took), took)
            for name in times:
                print(f"{name:10}: best {times[name]:.2f} s, {len(results[name]):,} rows")
        pd.testing.assert_frame_equal(results["local disk"], results["local S3"])
        print(f"ratio S3 / disk: {times['local S3'] / times['local disk']:.2f} (results equal)")


def bench_profile() -> None:
    from diarkit.genesys.eventbridge import wrap_frame
    from diarkit.io.convert import convert
    from diarkit.io.dataset import list_parts
    from diarkit.sim.generator import build_scenario, frame_text, lazy_schedule

    for grouping in ("grouped", "low_latency", "per_frame"):
        sc = build_scenario(
            seed=3, conversations=60, call_duration_s=(300.0, 420.0), grouping=grouping
        )
        frames = [frame_text(f) for f in lazy_schedule(sc)]
        tr = [f for f in frames if '.transcription"' in f[:160]]
        call_s = sum(p.duration_ms for p in sc.plans) / 1000
        nbytes = sum(len(f.encode()) for f in tr)
        env = sum(
            len(
                wrap_frame(
                    f,
                    event_id=str(uuid.uuid4()),
                    organization_id=str(uuid.uuid4()),
                    time="2026-12-05T09:00:00Z",
                )
            )
            - len(f)
            for f in tr[:500]
        ) / min(500, len(tr))
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.jsonl"
            src.write_text("\n".join(tr) + "\n")
            convert([src], Path(tmp) / "ds", progress=False, workers=1)
            pq_bytes = sum(
                p.stat().st_size
                for k in ("raw", "segments")
                for p in list_parts(Path(tmp) / "ds", k)
            )
        print(
            f"{grouping:11}: {len(tr) / call_s:.4f} frames/call-s, mean {nbytes / len(tr):,.0f} B, "
            f"envelope +{env:.0f} B, Parquet/JSON {pq_bytes / nbytes:.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("sqs")
    s.add_argument("--messages", type=int, default=2000)
    d = sub.add_parser("dask")
    d.add_argument("--segments", type=int, default=200_000)
    sub.add_parser("profile")
    args = ap.parse_args()
    if args.what == "sqs":
        bench_sqs(args.messages)
    elif args.what == "dask":
        bench_dask(args.segments)
    else:
        bench_profile()


if __name__ == "__main__":
    main()
