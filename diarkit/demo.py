"""The ``diarkit demo`` job: simulate, capture live, analyse, and write an HTML fleet report.

Starts the embedded Genesys Cloud simulator, captures its calls over the real protocol
(OAuth, notification channel, WebSocket) in follow-the-queue mode with a live progress
line, writes the Parquet dataset, computes statistics with ``diarkit.analysis`` and
writes a self-contained HTML report, all under one output folder.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: Counters of ``CaptureStats`` shown in the report: label -> attribute.
REPORT_COUNTERS = {
    "frames received": "frames",
    "transcription events": "transcription_events",
    "utterance versions": "utterances",
    "final versions": "finals",
    "heartbeats": "heartbeats",
    "reconnects": "reconnects",
    "gaps": "gaps",
    "rejected topics": "rejected",
    "Parquet parts": "parts",
    "rows in Parquet": "rows",
}


#: File marking a folder the demo wrote (so a rerun may replace its dataset).
MARKER = ".diarkit-demo"

#: Faults the demo injects by default: one dropped WebSocket 12 s into the calls.
DEFAULT_FAULTS = ("drop@12",)

#: Analysis profile of the demo's statistics and report (the library's default profile, so
#: ``diarkit stats`` on the demo's dataset gives the rows of its ``talk_stats.csv``).
PROFILE = "default"


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote (paths absolute) and how much it saw."""

    out: Path
    report: Path
    dataset: Path
    stats_csv: Path
    conversations: int
    frames: int
    elapsed_s: float


class ProgressLine:
    """A one-line live status: rewritten in place on a terminal, a line per interval otherwise."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self._last = float("-inf")
        self._width = 0

    def __call__(self, text: str, final: bool = False) -> None:
        """Show ``text``; on a terminal, overwrite the previous line."""
        now = time.monotonic()
        if self.tty:
            pad = " " * max(0, self._width - len(text))
            self.stream.write(f"\r{text}{pad}" + ("\n" if final else ""))
            self._width = len(text)
        elif final or now - self._last >= self.every_s:
            self.stream.write(text + "\n")
            self._last = now
        self.stream.flush()


def _progress_text(snap: Any, done: int, total: int) -> str:
    return (
        f"[{snap.elapsed_s:5.1f} s] {snap.status:<12} calls ended {done}/{total} · "
        f"{snap.active_conversations} live · {snap.frames:,} frames · "
        f"{snap.utterances:,} utterances · {snap.reconnects} reconnects · {snap.gaps} gaps"
    )


def run_demo(
    echo: Callable[[str], Any] = print,
    *,
    out: str | Path = "diarkit-demo",
    conversations: int = 36,
    speed: float = 20.0,
    seed: int = 7,
    max_seconds: float = 100.0,
    timelines: int = 3,
    faults: Sequence[str] = DEFAULT_FAULTS,
    progress: Callable[[str, bool], Any] | None = None,
) -> DemoResult:
    """Simulate ``conversations`` calls, capture them live, analyse, write the HTML report.

    Args:
        echo: prints one line of narration (``click.echo`` from the CLI).
        out: output folder: ``dataset/`` (Parquet), ``talk_stats.csv``, ``report.html``.
            A dataset an earlier demo wrote (marker file) is replaced, and so are the
            report and CSV when their bytes are still what diarkit wrote (manifest
            ``.diarkit-outputs.json``); any other existing dataset, report or CSV is
            refused (``FileExistsError``) before anything starts.
        conversations: simulated calls, running concurrently.
        speed: simulated seconds per wall-clock second.
        seed: simulator seed (same seed, same calls).
        max_seconds: stop capturing after this many wall-clock seconds at the latest.
        timelines: call timelines drawn in the report.
        faults: simulator faults ``KIND[:N]@SECONDS`` after the calls start (default: one
            dropped socket at 12 s, so the report shows a reconnect and the gap it left);
            ``()`` for none.
        progress: receives the live status line (``text, final``); default rewrites a
            line on stderr.

    Returns:
        A ``DemoResult`` with the paths written.
    """
    from diarkit.analysis.fleet import fleet_stats
    from diarkit.capture import Capture
    from diarkit.io.load import load_gaps
    from diarkit.report import fleet_report
    from diarkit.report.analyse import analyse_dataset
    from diarkit.report.ownership import check_writable, write_owned
    from diarkit.scale.fleet import canonical
    from diarkit.sim import Simulator, parse_fault_spec

    plan = [parse_fault_spec(f) for f in faults]
    show = progress or ProgressLine()
    root = Path(out).resolve()
    dataset = root / "dataset"
    marker = root / MARKER
    check_writable([root / "report.html", root / "talk_stats.csv"],
                   hint="pass another --out, or remove them")
    if dataset.exists() and any(dataset.iterdir()):
        if not marker.exists():
            raise FileExistsError(f"{dataset} already holds a dataset (not one the demo "
                                  "wrote); pass another --out or remove it")
        echo(f"Replacing the previous demo in {root}")
        shutil.rmtree(dataset)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by `diarkit demo`; the next demo run replaces this folder's "
                      "dataset/, talk_stats.csv and report.html\n")
    t0 = time.monotonic()
    echo(f"Starting the embedded Genesys Cloud simulator: {conversations} concurrent calls "
         f"at {speed:g}x speed (seed {seed}).")
    if plan:
        echo("Injected faults: " + ", ".join(faults) + " (seconds after the calls start).")
    with Simulator(seed=seed, conversations=conversations, speed=speed, autostart=False,
                   fault_plan=plan) as sim:
        capture = Capture(
            dataset, login_base=sim.login_base, api_base=sim.api_base,
            client_id=sim.client_id, client_secret=sim.client_secret,
            follow_queues=list(sim.queue_ids), roll_seconds=2.0, grace_s=2.0,
            # the 60 s wait for a late SESSION_ENDED is call time: at `speed`x it is
            # 60/speed s of wall time (an abandoned call has no transcription to end it)
            session_end_wait_s=max(2.0, 60.0 / speed),
        )
        echo(f"Capturing over OAuth + notification channel + WebSocket from {sim.api_base}, "
             f"following {len(sim.queue_ids)} queue(s) into {dataset}")
        capture.start()
        try:
            _wait_live(capture, timeout_s=30)
            sim.start_conversations()
            total = len(sim.conversation_ids)
            deadline = time.monotonic() + max_seconds
            while time.monotonic() < deadline:
                snap = capture.stats()
                done = len(sim.finished_conversations)
                show(_progress_text(snap, done, total), False)
                if snap.status == "error" or (done >= total and snap.active_conversations == 0):
                    break
                time.sleep(0.5)
        finally:
            snap = capture.stop()
        show(_progress_text(snap, len(sim.finished_conversations), len(sim.conversation_ids)),
             True)
    if snap.status == "error":
        raise RuntimeError(f"capture failed: {snap.message}")
    echo(f"Captured {snap.frames:,} frames ({snap.rows:,} rows in {snap.parts} Parquet parts).")

    analysis = analyse_dataset(dataset, PROFILE)
    stats = canonical(analysis.stats)
    fleet = fleet_stats(stats, by=())
    gaps = load_gaps(dataset)
    stats_csv = write_owned(root / "talk_stats.csv", stats.to_csv(index=False),
                            writer="diarkit demo")
    n_calls = int(stats["conversation_id"].nunique())
    echo(f"Analysed {n_calls} calls (analysis profile {analysis.profile!r}): "
         f"{len(analysis.segments):,} final utterances, {len(analysis.low_confidence):,} "
         f"with text below confidence {analysis.min_confidence:g} (still counted as speech).")
    silent = analysis.without_speech
    n_silent = 0 if silent is None else len(silent)
    if silent is not None and n_silent:
        abandoned = int(silent["abandoned"].fillna(False).astype(bool).sum())
        echo(f"{n_silent} captured call(s) had no transcribed speech to analyse "
             f"({abandoned} abandoned before an agent answered).")
    counters = {label: getattr(snap, attr) for label, attr in REPORT_COUNTERS.items()}
    counters["capture time"] = f"{snap.elapsed_s:.1f} s"
    built = fleet_report(
        stats, analysis.segments,
        title="Contact-center conversation report",
        subtitle=f"{n_calls + n_silent} simulated calls captured live by diarkit demo "
        f"(seed {seed}, {speed:g}x speed) · dataset {dataset}",
        capture=counters, gaps=gaps, unfinished=len(analysis.unfinished),
        fleet=fleet, timelines=timelines, profile=PROFILE, without_speech=silent,
        low_confidence=analysis.low_confidence, phases=analysis.phases,
        notes="Utterances: latest final version of each (finalize). Statistics: talk_stats "
        f"with analysis profile {analysis.profile!r}, the rows `diarkit stats` gives for "
        "this dataset; definitions above.",
    )
    report = write_owned(root / "report.html", built.to_html(), writer="diarkit demo")
    elapsed = time.monotonic() - t0
    echo(f"Report: {report}  (open it in a browser; statistics in {stats_csv})")
    echo(f"Done in {elapsed:.0f} s.")
    return DemoResult(root, report, dataset, stats_csv, n_calls, snap.frames, elapsed)


def _wait_live(capture: Any, timeout_s: float) -> None:
    """Wait until the capture is live (subscribed, socket open); raise on error or timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        snap = capture.stats()
        if snap.status == "live":
            return
        if snap.status == "error":
            raise RuntimeError(f"capture failed: {snap.message}")
        time.sleep(0.05)
    raise TimeoutError(f"capture not live after {timeout_s} s (status {capture.stats().status})")
