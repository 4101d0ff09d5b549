"""The foreground capture behind ``diarkit capture``: credentials, status line, signals.

Credentials come from ``GENESYS_CLIENT_ID`` / ``GENESYS_CLIENT_SECRET`` or a secret
file, never from a plain argument. A live tqdm status line shows the counters and each
retry with its cause (also logged); a summary is printed on exit, also after Ctrl-C or
SIGTERM (both stop the capture cleanly: every spooled frame is flushed into Parquet
first; more Ctrl-C presses while stopping only say so, they never cut the flush short).

Exit codes: 0 a clean stop after the capture was live; 1 the capture ended in an error,
never went live (wrong host, credentials, permissions), or could not store everything
it received (then the message says to run ``diarkit recover``).
"""

from __future__ import annotations

import logging
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
from .token import Secret, read_clients_file, read_secret_file

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
    lines += [f"  refused topic {r}" for r in rejected]
    if stats.truncated:
        lines.append(f"  {stats.truncated} frame(s) over the size limit stored truncated "
                     "(flagged invalid; see gaps/)")
    if stats.message and stats.status != "error":  # an error is said once, by the caller
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
    clients_file: str | Path | None = None,
    conversations: Iterable[str] = (),
    follow_queues: Iterable[str] = (),
    follow_users: Iterable[str] = (),
    duration: float | None = None,
    status_line: bool = True,
    echo: Callable[[str], Any] = print,
    ignore_late_ctrl_c: bool = False,
    **options: Any,
) -> int:
    """Run a capture in the foreground until ``duration`` s, Ctrl-C or SIGTERM; return exit code.

    Extra ``options`` go to ``Capture`` (``heartbeat_s``, ``keep_heartbeats``, ...).
    Returns 0 after a clean stop of a capture that went live; 1 when it ended in an
    error, never went live, or left frames unstored (the message then says to run
    ``diarkit recover``). The summary and any error are printed with ``echo`` either
    way; a capture that received no transcription event gets a warning.

    SIGINT and SIGTERM stop the capture (in the main thread); the handlers in place
    before come back when it returns, whichever way it ends (a clean stop, an error,
    Ctrl-C), so a caller in the same process (a notebook, click's ``CliRunner``) still
    reacts to Ctrl-C afterwards. A press after the return is the caller's: it raises
    ``KeyboardInterrupt`` there. ``ignore_late_ctrl_c=True`` (the ``diarkit`` process,
    which only exits afterwards) ignores SIGINT from the return on instead: Python gives
    its own handlers up while it exits, so a late press would otherwise kill the process
    (exit -2) after the summary said all was stored.
    """
    try:
        if clients_file is not None:  # several OAuth clients (diarkit.capture.token)
            if client_id or client_secret_file:
                raise CaptureError("give --clients-file or --client-id/--client-secret-file, "
                                   "not both")
            who: dict[str, Any] = {"clients": read_clients_file(clients_file)}
        else:
            cid, secret = credentials(client_id, client_secret_file)
            who = {"client_id": cid, "client_secret": secret}
        capture = Capture(
            out,
            environment=environment,
            login_base=login_base,
            api_base=api_base,
            **who,
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
        name = signal.Signals(signum).name
        stop_reason.append(name)
        if len(stop_reason) > 1:  # pressed again while stopping: say so, keep flushing
            sys.stderr.write(f"\n{name} again: still storing the frames received "
                             "(stopping never drops them); please wait\n")
        capture.stopping.set()

    previous: dict[signal.Signals, Any] = {}
    bar = None
    handler: logging.Handler | None = None
    if status_line and sys.stderr.isatty():  # piped or logged: plain lines, no redrawn bar
        from tqdm import tqdm

        bar = tqdm(total=None, bar_format="{desc}", file=sys.stderr, dynamic_ncols=True,
                   leave=False)  # the summary follows; the last status line need not stay
    else:
        handler = _retry_log_handler(echo)
    said_after = _ErrorsSaidAfter()  # the runner prints the error once, after the summary
    logging.getLogger("diarkit.capture").addFilter(said_after)
    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        return _run_and_report(capture, out, duration, bar, stop_reason, echo)
    finally:
        if bar is not None:
            bar.close()
        logging.getLogger("diarkit.capture").removeFilter(said_after)
        if handler is not None:
            logging.getLogger("diarkit.capture").removeHandler(handler)
        for signum, old in previous.items():  # only now: presses while stopping are ours
            # (None: a handler not installed from Python, which cannot be put back)
            if signum == signal.SIGINT and ignore_late_ctrl_c:
                old = signal.SIG_IGN  # kept while Python exits, unlike a Python handler
            signal.signal(signum, signal.SIG_DFL if old is None else old)


def _run_and_report(capture: Capture, out: str | Path, duration: float | None, bar: Any,
                    stop_reason: list[str], echo: Callable[[str], Any]) -> int:
    capture.start()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not capture.stopping.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            capture.stopping.wait(0.5)
            if bar is not None:
                bar.set_description_str(capture.stats().line(), refresh=True)
    except KeyboardInterrupt:  # SIGINT before our handler was installed
        stop_reason.append("SIGINT")
    stats = _stop(capture)
    if bar is not None:
        bar.close()
    if stop_reason:
        echo(f"stopped by {stop_reason[0]}" + (
            f" (pressed {len(stop_reason)} times)" if len(stop_reason) > 1 else ""))
    echo(summary(stats, out, capture.rejected))
    if capture.recorder.recovery.results:
        echo("  " + capture.recorder.recovery.summary())
    if not capture.finished:
        echo(f"error: the capture did not finish storing what it received; frames may remain "
             f"in {capture.recorder.spool_dir}: run `diarkit recover {capture.dataset}`")
        return 1
    if capture.error is not None:
        echo(f"error: {capture.error}")
        return 1
    if not capture.went_live:
        echo(f"error: the capture never went live ({stats.message or 'no reason given'})")
        return 1
    if stats.transcription_events == 0:
        echo("warning: no transcription event was received: no call was in progress on the "
             "given conversations, queues or users (a simulator waits for a subscriber; "
             "real calls must have voice transcription enabled)")
    return 0


def _stop(capture: Capture) -> CaptureStats:
    """``capture.stop()``, shielded from KeyboardInterrupt: a stop always finishes its flush."""
    while True:
        try:
            return capture.stop()
        except KeyboardInterrupt:
            continue  # raised by a default SIGINT handler (not main thread): stop again


class _ErrorsSaidAfter(logging.Filter):
    """Drop the capture's error records while ``run_capture`` reports the error itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def _retry_log_handler(echo: Callable[[str], Any]) -> logging.Handler:
    """Show capture warnings (each retry and its cause) through ``echo`` at once."""

    class _Echo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.WARNING:  # errors are said once, after the summary
                echo(f"warning: {record.getMessage()}")

    handler = _Echo(logging.WARNING)
    logging.getLogger("diarkit.capture").addHandler(handler)
    return handler


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
