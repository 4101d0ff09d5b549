"""Crash consistency: kill capture, convert, compact and recover at seeded points (including
between a part's raw and segments renames) and check against the simulator's ledger that
nothing received is lost and nothing is stored twice (#14, done-when).

A command is killed with ``os._exit`` right after its k-th ``os.replace`` (every part,
journal and generation file appears by one): the state a ``kill -9`` leaves at that
instant, at every rename boundary, deterministically. Bounded: a few seeded points each.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from diarkit.capture.spool import SpoolWriter, spool_name
from diarkit.io.dataset import list_parts, raw_without_segments, segments_twin
from diarkit.io.load import load_raw, load_segments
from diarkit.io.segments import raw_to_segments
from tests.capture.simhelp import ledger_entries, make_capture, make_sim, wait_for, wait_live
from tests.capture.test_kill import capture_cmd, env_for, start_when_subscribed

from .helpers import stored

KILLED = 137
_KILL_AFTER_RENAME = """
import os, runpy, sys
at = int(os.environ["DIARKIT_KILL_AT_RENAME"])
real, count = os.replace, [0]
def replace(src, dst, *a, **kw):
    real(src, dst, *a, **kw)
    count[0] += 1
    if count[0] == at:
        os._exit(137)
os.replace = replace
sys.argv[0] = "diarkit"
runpy.run_module("diarkit", run_name="__main__")
"""


def diarkit(*args: str, kill_at: int | None = None) -> subprocess.CompletedProcess[str]:
    """``diarkit ARGS`` in a subprocess, killed right after its ``kill_at``-th rename."""
    env = dict(os.environ)
    if kill_at is not None:
        env["DIARKIT_KILL_AT_RENAME"] = str(kill_at)
        cmd = [sys.executable, "-c", _KILL_AFTER_RENAME, *args]
    else:
        cmd = [sys.executable, "-m", "diarkit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> list[bytes]:
    """Frames the simulator sent to a live capture (what a crash must never lose)."""
    out = tmp_path_factory.mktemp("live") / "ds"
    # whole calls (they open with IVR and queue phases, and transcripts come grouped)
    with make_sim(conversations=12, speed=60.0, call_duration_s=(120.0, 180.0)) as sim:
        cap = make_capture(sim, out)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(60)
        cap.stop()
        sent = [e.text.encode() for e in ledger_entries(sim)]
    assert len(set(sent)) == len(sent) >= 60
    return sent


def consistent(ds: Path, expected: Counter) -> None:
    """Raw holds exactly ``expected``; every raw part has its segments, equal to derived."""
    got = Counter(r["frame"].encode() for r in stored(ds, columns=["frame"]))
    assert got == expected
    assert raw_without_segments(ds) == []
    for part in list_parts(ds):
        seg = pq.read_table(segments_twin(ds, part))
        assert seg.num_rows == raw_to_segments(pq.read_table(part)).num_rows
    assert len(load_raw(ds)) == sum(expected.values())
    assert len(load_segments(ds)) == sum(
        pq.read_metadata(segments_twin(ds, p)).num_rows for p in list_parts(ds)
    )


def _files(tmp_path: Path, ledger: list[bytes], size: int = 20) -> list[Path]:
    """The ledger in files of ``size`` frames: one part each, so many rename points."""
    out = []
    for k, i in enumerate(range(0, len(ledger), size)):
        f = tmp_path / "in" / f"sent{k:02d}.jsonl"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"\n".join(ledger[i : i + size]) + b"\n")
        out.append(f)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_convert_killed_at_any_rename_then_rerun(tmp_path, ledger, seed):
    files = _files(tmp_path, ledger)
    ds = tmp_path / "ds"
    args = ("convert", str(tmp_path / "in"), "-o", str(ds), "--quiet", "--workers", "1")
    kill_at = random.Random(seed).randint(1, 2 * len(files) - 1)  # raw, segments, raw, ...
    first = diarkit(*args, kill_at=kill_at)
    assert first.returncode == KILLED, first.stderr
    again = diarkit(*args)  # the rerun repairs, dedupes what is stored, completes
    assert again.returncode == 0, again.stderr
    consistent(ds, Counter(ledger))


@pytest.mark.parametrize("seed", [1, 3])
def test_compact_killed_at_any_rename_then_read_and_rerun(tmp_path, ledger, seed):
    from datetime import UTC, datetime

    from diarkit.io import build_raw_table, write_raw_part

    ds = tmp_path / "ds"
    chunks = range(0, len(ledger), 15)
    for start in chunks:  # one part per chunk, as a capture writes them
        raw = build_raw_table(ledger[start : start + 15], session_id="cc", start_seq=start,
                              received_at=datetime(2026, 12, 5, tzinfo=UTC), source="ch")
        write_raw_part(ds, raw, session_id="cc", seq=start)
    assert len(list_parts(ds)) == len(chunks)
    kill_at = random.Random(seed).randint(1, 5)  # journal, raw, generation, segments, ...
    first = diarkit("compact", str(ds), kill_at=kill_at)
    assert first.returncode == KILLED, first.stderr
    # readers see each row once even with the compaction unfinished
    assert len(load_raw(ds)) == len(ledger)
    again = diarkit("compact", str(ds))
    assert again.returncode == 0, again.stderr
    consistent(ds, Counter(ledger))
    assert len(list_parts(ds)) == 1


@pytest.mark.parametrize("seed", [2, 3])
def test_recover_killed_at_any_rename_then_rerun(tmp_path, ledger, seed):
    ds = tmp_path / "ds"
    (ds / "_spool").mkdir(parents=True)
    for k, start in enumerate(range(0, len(ledger), 15)):  # spools of a dead capture
        w = SpoolWriter(ds / "_spool" / spool_name("dead", start), "dead", start)
        w.append_batch(start, 1_780_000_000_000_000 + k, "ch", ledger[start : start + 15])
        w.close()
    kill_at = random.Random(seed).randint(1, 9)
    first = diarkit("recover", str(ds), kill_at=kill_at)
    assert first.returncode == KILLED, first.stderr
    again = diarkit("recover", str(ds))
    assert again.returncode == 0, again.stdout + again.stderr
    assert list((ds / "_spool").glob("*.spool")) == []
    consistent(ds, Counter(ledger))


def test_capture_killed_then_recover_killed_then_recovered(tmp_path):
    """A live capture killed (SIGKILL) at seeded moments, its recovery killed between two
    renames, then recovered: every frame that reached a spool or part is stored once, and
    each was sent (the ledger)."""
    out = tmp_path / "ds"
    rng = random.Random(7)
    with make_sim(conversations=6, speed=40.0, call_duration_s=(200.0, 240.0)) as sim:
        for run in range(2):
            session = f"ck{run}"
            proc = subprocess.Popen(
                capture_cmd(sim, out, session, "--roll-seconds", "0.3"),
                env=env_for(sim), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                start_when_subscribed(sim)
                wait_for(
                    lambda s=session: any((out / "_spool").glob(f"{s}-*.spool")), 30, "spool"
                )
                time.sleep(rng.uniform(0.2, 0.8))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        sent = Counter(e.text for e in ledger_entries(sim))
    first = diarkit("recover", str(out), kill_at=1)  # right after a raw part's rename
    assert first.returncode in (KILLED, 0), first.stderr
    again = diarkit("recover", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    rows = stored(out)
    keys = Counter((r["session_id"], r["seq"]) for r in rows)
    assert rows and max(keys.values()) == 1  # nothing stored twice
    assert not Counter(r["frame"] for r in rows) - sent  # each stored frame was sent
    assert raw_without_segments(out) == []
    assert {r["cause"] for r in pq.read_table(out / "gaps").to_pylist()} >= {"capture_down"}
