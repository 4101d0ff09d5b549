"""Benchmark: what one bad line costs ``diarkit.io.convert`` and the capture recorder.

Writes ``--frames`` frames (~1.7 KB each, ``bench_convert``'s built-in generator) to a JSONL file,
and a copy with ONE line Arrow's JSON reader cannot parse (a truncated frame) in the
middle, then converts each (inline, one thread, best of ``--repeat``) in the same run.

Baseline: the clean file. Prints the seconds and frames/s of each and the ratio
bad/clean (1.0 = a bad line costs nothing beyond itself). Before the fix a bad line sent
its whole 4 MB block (~2,400 frames) down the per-frame path.

Capture path (``--spool-frames``, 0 to skip): the same frames written as one capture
spool (``SpoolWriter``, batches of 100, sealed), clean and with the bad frame in the
middle, each turned into its raw + segments part by ``recorder.spool_to_part`` (what the
recorder's flush and ``diarkit recover`` run; ``io.frame_buffer``), best of
``--repeat``, same run, ratio bad/clean. Before the fix the bad frame sent the whole
spool (10,000 frames at the default roll size) down the per-frame path.

Usage: ``.venv/bin/python benchmarks/bench_bad_lines.py --frames 50000`` (~30 s).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_convert import _builtin_frames

from diarkit.capture.recorder import spool_to_part
from diarkit.capture.spool import SpoolWriter, spool_name
from diarkit.io.convert import convert

BAD = b'{"topicName": "v2.conversations.x.transcription", "eventBody": {"conversat'


def _convert_s(src: Path, tmp: Path, repeat: int) -> tuple[float, int, int]:
    best = float("inf")
    written = quarantined = 0
    for k in range(repeat):
        out = tmp / f"ds-{src.stem}-{k}"
        t0 = time.perf_counter()
        s = convert([src], out, workers=1, progress=False)
        best = min(best, time.perf_counter() - t0)
        written, quarantined = s.written, s.quarantined
        shutil.rmtree(out)
    return best, written, quarantined


def _spool_s(frames: list[bytes], tmp: Path, name: str, repeat: int) -> tuple[float, int, int]:
    """Best seconds of ``spool_to_part`` on a sealed spool of ``frames``; stored, invalid."""
    best = float("inf")
    stored = invalid = 0
    for k in range(repeat):
        ds = tmp / f"ds-{name}-{k}"
        path = ds / "_spool" / spool_name(f"{name}{k}", 0)
        path.parent.mkdir(parents=True)
        w = SpoolWriter(path, f"{name}{k}", 0)
        for i in range(0, len(frames), 100):  # batches, as the receive loop spools them
            w.append_batch(i, 1_795_513_500_000_000 + i, "ch", frames[i : i + 100])
        index = w.seal()
        w.close()
        t0 = time.perf_counter()
        r = spool_to_part(ds, path, index=index)
        best = min(best, time.perf_counter() - t0)
        stored, invalid = r.stored, r.invalid
        shutil.rmtree(ds)
    return best, stored, invalid


def _capture_case(lines: list[bytes], tmp: Path, repeat: int) -> None:
    mid = len(lines) // 2
    print(f"capture spool: {len(lines)} frames; bad spool: the same + 1 bad frame at {mid + 1}")
    t_clean, s_clean, i_clean = _spool_s(lines, tmp, "clean", repeat)
    t_bad, s_bad, i_bad = _spool_s([*lines[:mid], BAD, *lines[mid:]], tmp, "bad", repeat)
    assert i_clean == 0 and (s_bad, i_bad) == (s_clean + 1, 1), (s_clean, s_bad, i_bad)
    print(f"clean (baseline): {t_clean:6.2f} s  {len(lines) / t_clean:9,.0f} frames/s")
    print(f"1 bad frame:      {t_bad:6.2f} s  {len(lines) / t_bad:9,.0f} frames/s")
    print(f"ratio bad/clean:  {t_bad / t_clean:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--spool-frames", type=int, default=10_000, help="0: no capture case")
    ap.add_argument("--no-convert", action="store_true", help="only the capture case")
    args = ap.parse_args()
    lines = list(_builtin_frames(max(args.frames, args.spool_frames), seed=7))
    with tempfile.TemporaryDirectory(prefix="bench-bad-") as d:
        tmp = Path(d)
        if args.spool_frames:
            _capture_case(lines[: args.spool_frames], tmp, args.repeat)
        if args.no_convert:
            return
        lines = lines[: args.frames]
        clean = tmp / "clean.jsonl"
        clean.write_bytes(b"\n".join(lines) + b"\n")
        bad = tmp / "bad.jsonl"
        mid = len(lines) // 2
        bad.write_bytes(b"\n".join([*lines[:mid], BAD, *lines[mid:]]) + b"\n")
        mb = clean.stat().st_size / 1e6
        print(f"{len(lines)} frames, {mb:.1f} MB; bad file: the same + 1 bad line at {mid + 1}")
        t_clean, w_clean, q_clean = _convert_s(clean, tmp, args.repeat)
        t_bad, w_bad, q_bad = _convert_s(bad, tmp, args.repeat)
        assert (w_clean, q_clean) == (len(lines), 0), (w_clean, q_clean)
        assert (w_bad, q_bad) == (len(lines), 1), (w_bad, q_bad)
        print(f"clean (baseline): {t_clean:6.2f} s  {len(lines) / t_clean:9,.0f} frames/s")
        print(f"1 bad line:       {t_bad:6.2f} s  {len(lines) / t_bad:9,.0f} frames/s")
        print(f"ratio bad/clean:  {t_bad / t_clean:.2f}x")


if __name__ == "__main__":
    main()
