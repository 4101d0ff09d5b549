"""The foreground capture behind ``diarkit capture``: credentials, status line, signals.

Credentials come from ``GENESYS_CLIENT_ID`` / ``GENESYS_CLIENT_SECRET`` or a secret
file, never from a plain argument. A live tqdm status line shows the counters; a summary
is printed on exit, also after Ctrl-C or SIGTERM (both stop the capture cleanly: every
spooled frame is flushed into Parquet first).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import CaptureError
from .recorder import recover_dataset
from .session import Capture
from .stats import CaptureStats
from .token import Secret, read_secret_file

ENV_CLIENT_ID = "GENESYS_CLIENT_ID"
ENV_CLIENT_SECRET = "GENESYS_CLIENT_SECRET"


def credentials(
    client_id: str | None = None, secret_file: str | Path | None = None
) -> tuple[str, Secret]:
    """The OAuth client id and secret from the environment or a secret file.

    Raises:
        CaptureError: naming the missing variable or the unreadable file.
    """
    cid = client_id or os.environ.get(ENV_CLIENT_ID, "")
    if not cid:
        raise CaptureError(f"no OAuth client id: set {ENV_CLIENT_ID} (or pass --client-id)")
    if secret_file is not None:
        return cid, read_secret_file(secret_file)
    value = os.environ.get(ENV_CLIENT_SECRET, "")
    if not value:
        raise CaptureError(
            f"no OAuth client secret: set {ENV_CLIENT_SECRET} or pass --client-secret-file"
        )
    return cid, Secret(value)


def summary(stats: CaptureStats, out: str | Path, rejected: Iterable[object] = ()) -> str:
    """The multi-line summary printed when a capture ends."""
    lines = [
        f"capture {stats.session_id} {stats.status} after {stats.elapsed_s:.1f} s -> {out}",
        f"  frames {stats.frames} (heartbeats {stats.heartbeats}), transcription events "
        f"{stats.transcription_events}, utterances {stats.utterances} ({stats.finals} final)",
        f"  stored rows {stats.rows} in {stats.parts} raw part(s), invalid {stats.invalid}, "
        f"spooled {stats.bytes_written / 1e6:.2f} MB, parquet {stats.part_bytes / 1e6:.2f} MB",
        f"  reconnects {stats.reconnects}, handovers {stats.handovers}, gaps {stats.gaps}, "
        f"channels {stats.channels}, active conversations {stats.active_conversations}",
    ]
    lines += [f"  rejected topic {r}" for r in rejected]
    if stats.message:
        lines.append(f"  {stats.status}: {stats.message}")
    return "\n".join(lines)


def run_capture(
    out: str | Path,
    *,
    environment: str | None = None,
    login_base: str | None = None,
    api_base: str | None = None,
    client_id: str | None = None,
    client_secret_file: str | Path | None = None,
    conversations: Iterable[str] = (),
    follow_queues: Iterable[str] = (),
    follow_users: Iterable[str] = (),
    duration: float | None = None,
    status_line: bool = True,
    echo: Callable[[str], Any] = print,
    **options: Any,
) -> int:
    """Run a capture in the foreground until ``duration`` s, Ctrl-C or SIGTERM; return exit code.

    Extra ``options`` go to ``Capture`` (``heartbeat_s``, ``keep_heartbeats``, ...).
    Returns 0 after a clean stop, 1 when the capture ended in an error; the summary and
    any error are printed with ``echo`` either way.
    """
    try:
        cid, secret = credentials(client_id, client_secret_file)
        capture = Capture(
            out,
            environment=environment,
            login_base=login_base,
            api_base=api_base,
            client_id=cid,
            client_secret=secret,
            conversations=conversations,
            follow_queues=follow_queues,
            follow_users=follow_users,
            **options,
        )
    except (CaptureError, ValueError) as exc:
        echo(f"error: {exc}")
        return 1
    stop_reason: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_reason.append(signal.Signals(signum).name)
        capture.stopping.set()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_signal)
    bar = None
    if status_line:
        from tqdm import tqdm

        bar = tqdm(total=None, bar_format="{desc}", file=sys.stderr, dynamic_ncols=True)
    capture.start()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not capture.stopping.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            capture.stopping.wait(0.5)
            if bar is not None:
                bar.set_description_str(capture.stats().line(), refresh=True)
    except KeyboardInterrupt:
        stop_reason.append("SIGINT")
    finally:
        try:
            stats = capture.stop()
        except KeyboardInterrupt:  # a second Ctrl-C while flushing: flush anyway
            stats = capture.stop()
        if bar is not None:
            bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if stop_reason:
        echo(f"stopped by {stop_reason[0]}")
    echo(summary(stats, out, capture.rejected))
    if capture.recorder.recovery.results:
        echo("  " + capture.recorder.recovery.summary())
    if capture.error is not None:
        echo(f"error: {capture.error}")
        return 1
    return 0


def run_recover(
    dataset: str | Path, *, keep_heartbeats: bool = False, echo: Callable[[str], Any] = print
) -> int:
    """Recover leftover spools of ``dataset`` (``diarkit recover``); return the exit code.

    0: everything recovered; 1: recovered what could be, with problems (a damaged spool
    kept, a file that is no spool). Errors (not a dataset, busy, disk) are raised.
    """
    report = recover_dataset(Path(dataset), keep_heartbeats=keep_heartbeats)
    echo(report.summary())
    return 1 if report.failed or report.damaged else 0
