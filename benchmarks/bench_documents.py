"""Benchmark: convert large JSON documents (tutorial export, JSON array of frames).

Writes a pretty-printed tutorial export ``{"totalSegments", "segments": [...]}`` and a
JSON array of notification frames (3 utterances with words each), each of every size in
``--mb``, then converts each file in a fresh process and prints wall time, elements/s,
MB/s, the process's RSS after imports and its peak RSS (``VmHWM``). Memory is flat when
the peak does not grow with the file size.

Usage: ``.venv/bin/python benchmarks/bench_documents.py --mb 100 1000``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

_MEASURE = """
import json, sys, time
import psutil
from diarkit.io.convert import convert
base = psutil.Process().memory_info().rss
t0 = time.perf_counter()
s = convert([sys.argv[1]], sys.argv[2], progress=False,
            workers=None if sys.argv[3] == "auto" else int(sys.argv[3]))
seconds = time.perf_counter() - t0
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(json.dumps({"seconds": seconds, "records": s.records, "segments": s.segments,
                  "parts": s.parts, "quarantined": s.quarantined, "base": base,
                  "peak": int(hwm.split()[1]) * 1024}))
"""


def write_export(path: Path, megabytes: float) -> int:
    """A pretty-printed export of about ``megabytes`` MB; returns its segment count."""
    limit = megabytes * 1e6
    n = 0
    with open(path, "w") as f:
        f.write('{\n  "totalSegments": null,\n  "segments": [\n')
        while f.tell() < limit:
            t = (n % 400) * 3.0
            speaker = "agent" if n % 2 else "customer"
            f.write(
                ("" if n == 0 else ",\n")
                + f'    {{\n      "conversation_id": "conv-{n // 400:07d}",\n'
                f'      "speaker": "{speaker}",\n'
                f'      "text": "segment {n} says \\"hello\\" and a few more words",\n'
                f'      "start_seconds": {t:.1f},\n      "end_seconds": {t + 2.5:.1f},\n'
                '      "confidence": 0.9,\n      "is_final": true,\n'
                '      "timestamp": "2026-11-24T10:00:00Z"\n    }'
            )
            n += 1
        f.write("\n  ]\n}\n")
    return n


def _frame(i: int) -> bytes:
    transcripts = []
    for u in range(3):
        off = 1000 + 2000 * u
        words = [
            {"word": w, "confidence": 0.9, "offsetMs": off + 300 * k, "durationMs": 300}
            for k, w in enumerate(["hello", "number", str(u), "and", "more"])
        ]
        transcripts.append(
            {
                "utteranceId": f"c{i}-u{u}",
                "isFinal": True,
                "channel": "INTERNAL" if u % 2 == 0 else "EXTERNAL",
                "alternatives": [
                    {
                        "confidence": 0.9,
                        "offsetMs": off,
                        "durationMs": 1500,
                        "transcript": "hello number and more",
                        "words": words,
                    }
                ],
            }
        )
    return orjson.dumps(
        {
            "topicName": f"v2.conversations.c{i}.transcription",
            "version": "2",
            "eventBody": {
                "eventTime": "2026-11-24T10:15:42.318Z",
                "conversationId": f"c{i}",
                "communicationId": f"c{i}-comm",
                "sessionStartTimeMs": 1795513500000,
                "transcripts": transcripts,
            },
            "metadata": {"CorrelationId": "c"},
        }
    )


def write_array(path: Path, megabytes: float) -> int:
    """A JSON array of about ``megabytes`` MB of frames; returns the frame count."""
    limit = megabytes * 1e6
    n = 0
    with open(path, "wb") as f:
        f.write(b"[")
        while f.tell() < limit:
            f.write((b",\n " if n else b"") + _frame(n))
            n += 1
        f.write(b"]\n")
    return n


def measure(src: Path, ds: Path, workers: str) -> dict[str, float]:
    """Convert ``src`` in a fresh process; its figures."""
    shutil.rmtree(ds, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(src), str(ds), workers],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    """Run the benchmark and print one line per file and setting."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, nargs="+", default=[100.0, 1000.0], help="file sizes")
    ap.add_argument("--workers", nargs="+", default=["1", "auto"], help="1, 2 or auto")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="diarkit-bench-docs-"))
    mib = 1 << 20
    print(
        f"{'input':<28} {'workers':>7} {'MB':>7} {'elements':>10} {'wall s':>7} "
        f"{'elem/s':>9} {'MB/s':>6} {'base MiB':>8} {'peak MiB':>8} {'growth':>7}"
    )
    try:
        for mb in args.mb:
            for kind, write in (
                ("tutorial export", write_export),
                ("JSON array of frames", write_array),
            ):
                src = tmp / f"{kind.split()[0]}-{mb:g}.json"
                count = write(src, mb)
                size = src.stat().st_size
                for workers in args.workers:
                    r = measure(src, tmp / "ds", workers)
                    assert r["quarantined"] == 0, r
                    print(
                        f"{kind:<28} {workers:>7} {size / 1e6:>7.0f} {count:>10,} "
                        f"{r['seconds']:>7.1f} {count / r['seconds']:>9,.0f} "
                        f"{size / 1e6 / r['seconds']:>6.1f} {r['base'] / mib:>8.0f} "
                        f"{r['peak'] / mib:>8.0f} {(r['peak'] - r['base']) / mib:>7.0f}",
                        flush=True,
                    )
                src.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
