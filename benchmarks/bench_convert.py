"""Benchmark: convert notification-frame JSONL to a dataset, then load the segments.

Generates ``--frames`` frames (~1.7 KB each; the simulator's generator when
``diarkit.sim.generator.iter_frames`` exists, else a built-in one of the same shape) into
``--files`` JSONL files, then measures in the same run:

* baseline: single process, orjson-parse every line and build the segment columns as
  Python lists into a pyarrow table;
* ``diarkit.io.convert`` (raw + segments parts written, both cores);
* ``diarkit.load_segments`` of the whole dataset (best of 3).

Prints frames/s, MB/s, peak RSS (whole process tree) and the ratio to the baseline.
Usage: ``.venv/bin/python benchmarks/bench_convert.py --frames 1000000``
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyarrow as pa


def _builtin_frames(n: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    words = [
        "thank",
        "you",
        "for",
        "calling",
        "how",
        "can",
        "i",
        "help",
        "today",
        "my",
        "account",
        "billing",
        "question",
        "payment",
        "card",
        "number",
        "please",
        "hold",
        "while",
        "check",
        "that",
        "for",
        "you",
        "sure",
        "the",
        "balance",
        "is",
        "due",
        "next",
        "week",
    ]
    convs = [f"{rng.getrandbits(128):032x}" for _ in range(max(1, n // 60))]
    start = 1795513500000
    for i in range(n):
        cid = convs[i % len(convs)]
        k = i // len(convs)
        off = 1000 + 2500 * k
        ws = [rng.choice(words) for _ in range(rng.randint(6, 10))]
        wl = [
            {
                "word": w,
                "confidence": round(rng.random(), 3),
                "offsetMs": off + 250 * j,
                "durationMs": 240,
            }
            for j, w in enumerate(ws)
        ]
        yield orjson.dumps(
            {
                "topicName": f"v2.conversations.{cid}.transcription",
                "version": "2",
                "eventBody": {
                    "eventTime": "2026-11-24T10:15:42.318Z",
                    "organizationId": "0d2a4b6c-8e0f-4a1b-b3c5-d7e9f1a3b5c7",
                    "conversationId": cid,
                    "communicationId": cid[::-1],
                    "sessionStartTimeMs": start,
                    "transcriptionStartTimeMs": start + 250,
                    "speechTextAnalyticsProgramId": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
                    "status": {"offsetMs": off, "status": "SESSION_ONGOING"},
                    "transcripts": [
                        {
                            "utteranceId": f"{cid[:8]}-{k}",
                            "isFinal": rng.random() < 0.5,
                            "channel": "INTERNAL" if k % 2 else "EXTERNAL",
                            "engineProvider": "GENESYS",
                            "engineId": "r2d2",
                            "engineName": "Genesys Native",
                            "dialect": "en-US",
                            "agentAssistEnabled": False,
                            "voiceTranscriptionEnabled": True,
                            "alternatives": [
                                {
                                    "confidence": round(rng.random(), 3),
                                    "offsetMs": off,
                                    "durationMs": 250 * len(ws),
                                    "transcript": " ".join(ws),
                                    "decoratedTranscript": " ".join(ws).capitalize() + ".",
                                    "words": wl,
                                    "decoratedWords": wl,
                                }
                            ],
                        }
                    ],
                },
                "metadata": {"CorrelationId": f"{rng.getrandbits(128):032x}"},
            }
        )


def frame_source(n: int, seed: int) -> tuple[str, Iterator[bytes]]:
    """The simulator's frame generator when available, else the built-in one."""
    try:
        from diarkit.sim.generator import iter_frames  # type: ignore[import-not-found]
    except ImportError:
        return "built-in generator", _builtin_frames(n, seed)

    def gen() -> Iterator[bytes]:
        for f in iter_frames(n_frames=n, seed=seed):
            yield f.encode() if isinstance(f, str) else f

    return "diarkit.sim.generator.iter_frames", gen()


def write_inputs(folder: Path, n: int, files: int, seed: int) -> tuple[list[Path], int, str]:
    """Write ``n`` frames round-robin over ``files`` JSONL files; returns paths, bytes."""
    name, frames = frame_source(n, seed)
    paths = [folder / f"frames-{i:02d}.jsonl" for i in range(files)]
    handles = [p.open("wb") for p in paths]
    per = -(-n // files)
    total = 0
    for i, f in enumerate(frames):
        h = handles[min(i // per, files - 1)]
        h.write(f)
        h.write(b"\n")
        total += len(f) + 1
    for h in handles:
        h.close()
    return paths, total, name


def baseline(paths: list[Path], words: bool = True) -> tuple[int, pa.Table]:
    """orjson per line + segment columns as Python lists -> pyarrow table; 1 process.

    The columns are the ones ``convert`` derives, including the ``words`` list (word,
    start_s, end_s, confidence) unless ``words=False``. The lists become a table at the
    end of each input file (memory stays bounded, as in ``convert``).
    """
    speakers = {"INTERNAL": "agent", "EXTERNAL": "customer"}
    names = [
        "conversation_id",
        "communication_id",
        "utterance_id",
        "channel",
        "speaker",
        "is_final",
        "confidence",
        "start_s",
        "end_s",
        "start_at_ms",
        "text",
        "word_count",
        "seq",
        "words",
    ]
    n = 0
    tables = []
    for p in paths:
        cols: dict[str, list[Any]] = {k: [] for k in names}
        with p.open("rb") as f:
            for line in f:
                doc = orjson.loads(line)
                body = doc.get("eventBody") or {}
                for t in body.get("transcripts") or ():
                    alts = t.get("alternatives") or [{}]
                    a = alts[0]
                    off = a.get("offsetMs")
                    dur = a.get("durationMs")
                    text = a.get("transcript") or ""
                    ch = t.get("channel") or "UNKNOWN"
                    cols["conversation_id"].append(body.get("conversationId"))
                    cols["communication_id"].append(body.get("communicationId"))
                    cols["utterance_id"].append(t.get("utteranceId"))
                    cols["channel"].append(ch)
                    cols["speaker"].append(speakers.get(ch, ch.lower()))
                    cols["is_final"].append(bool(t.get("isFinal")))
                    cols["confidence"].append(a.get("confidence"))
                    cols["start_s"].append(off / 1000.0)
                    cols["end_s"].append((off + dur) / 1000.0)
                    cols["start_at_ms"].append(body.get("sessionStartTimeMs", 0) + off)
                    cols["text"].append(text)
                    cols["word_count"].append(len(text.split()))
                    cols["seq"].append(n)
                    if words:
                        cols["words"].append(
                            [
                                {
                                    "word": w.get("word"),
                                    "start_s": w["offsetMs"] / 1000.0,
                                    "end_s": (w["offsetMs"] + w["durationMs"]) / 1000.0,
                                    "confidence": w.get("confidence"),
                                }
                                for w in a.get("words") or ()
                            ]
                        )
                n += 1
        if not words:
            del cols["words"]
        tables.append(pa.table(cols))
    return n, pa.concat_tables(tables)


class PeakRSS:
    """Sample the RSS of this process and its children (sum) every 20 ms; keep the peak."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            try:
                procs = [me, *me.children(recursive=True)]
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def run_stage(stage: str, tmp: Path, workers: int | None) -> tuple[float, str]:
    """Run one stage in a fresh interpreter; returns (peak RSS of its process tree, output)."""
    cmd = [sys.executable, __file__, "--stage", stage, "--dir", str(tmp)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with PeakRSS() as rss:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"stage {stage} failed:\n{out.stderr}")
    return rss.peak, out.stdout.strip()


def stage(name: str, tmp: Path, workers: int | None) -> None:
    """Body of one stage; prints 'seconds count' for the orchestrator."""
    inputs = sorted((tmp / "in").glob("*.jsonl"))
    gc.collect()
    load = os.getloadavg()[0]
    if name in ("baseline", "baseline-nowords"):
        t0, c0 = time.perf_counter(), time.process_time()
        n, table = baseline(inputs, words=name == "baseline")
        print(time.perf_counter() - t0, time.process_time() - c0, load, n, table.num_rows)
    elif name == "convert":
        from diarkit.io.convert import convert

        t0, c0 = time.perf_counter(), time.process_time()
        s = convert(inputs, tmp / "ds", workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(wall, cpu, load, s.records, s.segments, s.parts)
    elif name == "load":
        from diarkit import load_raw, load_segments

        best = []
        for _ in range(3):
            t0 = time.perf_counter()
            df = load_segments(tmp / "ds")
            best.append(time.perf_counter() - t0)
            rows = len(df)
            del df
        t0 = time.perf_counter()
        nraw = len(load_raw(tmp / "ds", columns=["conversation_id", "seq"]))
        print(min(best), rows, time.perf_counter() - t0, nraw)


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=8, help="input files (parallel across files)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        stage(args.stage, Path(args.dir), args.workers)
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-convert-"))
    try:
        (tmp / "in").mkdir()
        inputs, nbytes, source = write_inputs(tmp / "in", args.frames, args.files, args.seed)
        mb = nbytes / 1e6
        print(
            f"input: {args.frames:,} frames in {len(inputs)} files, {mb:,.0f} MB "
            f"({nbytes / args.frames:,.0f} B/frame), from {source}; cpus={os.cpu_count()}"
        )
        base = {}
        for name, what in (
            ("baseline", "baseline (orjson + lists incl. words)"),
            ("baseline-nowords", "baseline without the words column"),
        ):
            rss, out = run_stage(name, tmp, None)
            bt, bc, bl, bn, _segs = out.split()
            base[name] = bt = float(bt)
            base[name + "-cpu"] = float(bc)
            print(
                f"{what:<38} {bt:6.2f} s {int(bn) / bt:>9,.0f} frames/s {mb / bt:7.1f} MB/s  "
                f"CPU {float(bc) / int(bn) * 1e6:5.1f} us/frame  peak RSS {rss / 2**20:,.0f} MiB "
                f"(load {float(bl):.1f})"
            )
        rss, out = run_stage("convert", tmp, args.workers)
        ct, cc, cl, cn, cseg, parts = out.split()
        ct, cc = float(ct), float(cc)
        label = f"diarkit convert ({args.workers or 'auto'} workers)"
        print(
            f"{label:<38} {ct:6.2f} s {int(cn) / ct:>9,.0f} frames/s {mb / ct:7.1f} MB/s  "
            f"CPU {cc / int(cn) * 1e6:5.1f} us/frame  peak RSS {rss / 2**20:,.0f} MiB "
            f"(load {float(cl):.1f}; {int(cseg):,} segments, {parts} parts)\n"
            f"  wall-clock ratio {base['baseline'] / ct:.2f}x the baseline with the same columns, "
            f"{base['baseline-nowords'] / ct:.2f}x the baseline without words\n"
            f"  CPU ratio {base['baseline-cpu'] / cc:.2f}x / "
            f"{base['baseline-nowords-cpu'] / cc:.2f}x (CPU seconds: less sensitive to other jobs)"
        )
        rss, out = run_stage("load", tmp, None)
        lt, rows, rt, nraw = out.split()
        print(
            f"load_segments (best of 3):            {float(lt):6.2f} s {int(rows):,} rows; "
            f"load_raw 2 columns {float(rt):.2f} s {int(nraw):,} rows; "
            f"peak RSS {rss / 2**20:,.0f} MiB"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
