"""The roller process: turns closed spools into Parquet parts off the receiving process.

Converting a spool (pyarrow.json parse, hashing, Parquet writes) costs tens of
microseconds per frame; in the receiving process it competes with the receive loop for
the GIL. ``Roller`` runs ``recorder.spool_to_part`` in a child Python process (a plain
``subprocess`` talking over a socket pair: it never re-imports the caller's ``__main__``
and never forks a threaded process) and the recorder's converter thread waits for each
result. The recorder keeps each spool open, and so its ``flock``, until the roller
answered: exactly-once recovery is unchanged.

Robustness: the child dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and EOF on
its socket); a child that dies, hangs past ``timeout_s`` or cannot start is killed and
the caller converts the spool itself (``spool_to_part`` is idempotent).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .spool import SpoolIndex

_PR_SET_PDEATHSIG = 1
_CHILD = "from diarkit.capture.roller import _child_main; _child_main()"


class RollerDied(RuntimeError):
    """The roller process died, hung or could not start; convert in the caller instead."""


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits; exit if it already has."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)


def _child_main() -> None:
    """Child entry point: ``argv`` = socket fd, parent pid, dataset, keep_heartbeats."""
    fd, parent_pid, dataset, keep = sys.argv[1:5]
    _die_with_parent(int(parent_pid))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _serve(Connection(int(fd)), dataset, keep == "1")


def _serve(conn: Connection, dataset: str, keep_heartbeats: bool) -> None:
    """Convert each (spool path, ``SpoolIndex`` or None) received; answer ("ok", result)
    or an error tuple."""
    # Import all that converting needs before the first spool arrives (~0.4 s), so the
    # first conversion costs what the others do.
    import diarkit.io.dataset
    import diarkit.io.frame_buffer  # noqa: F401
    from diarkit.io import _frames

    from .recorder import spool_to_part

    # Several rollers convert in parallel, so pyarrow.json's own threads gain no wall
    # time; single-threaded it also takes ~5 % less CPU per frame (8.5 vs 9.0 us).
    _frames.PARSE_THREADS[0] = False
    root = Path(dataset)
    while True:
        try:
            msg: tuple[str, SpoolIndex | None] | None = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        try:
            path, index = msg
            result = spool_to_part(root, Path(path), keep_heartbeats=keep_heartbeats, index=index)
        except FileNotFoundError as exc:
            reply: tuple[Any, ...] = ("missing", exc.errno, exc.strerror, exc.filename)
        except OSError as exc:
            reply = ("oserror", exc.errno, exc.strerror, exc.filename)
        except Exception as exc:
            reply = ("error", f"{type(exc).__name__}: {exc}")
        else:
            reply = ("ok", result)
        try:
            conn.send(reply)
        except (OSError, EOFError):
            return


#: Environment variables a roller child never gets: it converts files and needs no
#: credentials (``GENESYS_CLIENT_SECRET`` and anything named like a secret).
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY", re.I)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables named like secrets (``_SECRET_NAME``)."""
    return {k: v for k, v in environ.items() if not _SECRET_NAME.search(k)}


class Roller:
    """A child process converting spools into parts, one at a time (used by ``RawRecorder``).

    Args:
        dataset: the dataset directory.
        keep_heartbeats: as ``RawRecorder``.
        timeout_s: seconds one conversion may take before the child is killed.
    """

    def __init__(self, dataset: Path, *, keep_heartbeats: bool, timeout_s: float = 300.0) -> None:
        self.timeout_s = timeout_s
        mine, theirs = socket.socketpair()
        env = child_environment(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        args = [
            str(theirs.fileno()),
            str(os.getpid()),
            str(dataset),
            "1" if keep_heartbeats else "0",
        ]
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, *args],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            mine.close()
            raise RollerDied(f"cannot start the roller process: {exc}") from None
        finally:
            theirs.close()
        self._conn = Connection(mine.detach())

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self._proc.poll() is None

    def convert(self, spool: Path, index: SpoolIndex | None) -> Any:
        """Convert a closed spool (through its trailer ``index``, if sealed) in the child.

        Returns:
            The ``PartResult``.

        Raises:
            OSError: the child could not write the part (the spool stays).
            RuntimeError: a bug in the conversion (the spool stays).
            RollerDied: the child died or hung (killed now): convert in the caller.
        """
        try:
            self._conn.send((str(spool), index))
        except (OSError, ValueError) as exc:
            self.kill()
            raise RollerDied(f"roller pipe broken: {exc}") from None
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if self._conn.poll(0.5):
                    reply = self._conn.recv()
                    break
            except (EOFError, OSError) as exc:
                self.kill()
                raise RollerDied(f"roller process died: {exc or 'EOF'}") from None
            if not self.alive:
                code = self._proc.returncode
                self.kill()
                raise RollerDied(f"roller process died (exit code {code})")
            if time.monotonic() > deadline:
                self.kill()
                raise RollerDied(f"roller process hung converting {spool.name}")
        tag = reply[0]
        if tag == "ok":
            return reply[1]
        if tag == "missing":
            raise FileNotFoundError(reply[1], reply[2], reply[3])
        if tag == "oserror":
            raise OSError(reply[1], reply[2], reply[3])
        raise RuntimeError(reply[1])

    def close(self, timeout: float = 10.0) -> None:
        """Ask the child to exit, without waiting: a daemon thread reaps it, killing it
        when it has not exited within ``timeout`` seconds. Nothing is in flight then:
        every conversion was answered."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)

        def reap() -> None:
            with contextlib.suppress(Exception):
                self._proc.wait(timeout)
            self.kill()

        threading.Thread(target=reap, name="diarkit-roller-reaper", daemon=True).start()

    def kill(self) -> None:
        """Kill the child (if alive) and release the pipe; never raises."""
        if self.alive:
            with contextlib.suppress(Exception):
                self._proc.kill()
            with contextlib.suppress(Exception):
                self._proc.wait(5)
        with contextlib.suppress(Exception):
            self._conn.close()
