"""Releasing given-up channels: a thread that removes their subscriptions, best effort.

``DELETE .../channels/{id}/subscriptions`` is all the API offers: there is no call that
deletes a channel. A channel already gone (404) counts as released; any other failure is
logged and counted, never fatal, and the channel is tried again at stop.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading

from .errors import ChannelGoneError
from .notifications import NotificationsClient

log = logging.getLogger("diarkit.capture")


class Releaser:
    """Queue of channels whose subscriptions go, worked off by one thread.

    Args:
        client: its own notifications client (its retries outlive the capture's stop);
            built with ``sleep=abort.wait`` so ``finish`` can cut retries short.
        timeout_s: seconds ``finish`` waits for the queued removals.
        abort: set by ``finish`` when the removals take longer than ``timeout_s``.
    """

    def __init__(self, client: NotificationsClient, timeout_s: float = 10.0,
                 abort: threading.Event | None = None) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.abort = abort if abort is not None else threading.Event()
        self.failures = 0
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._subscribed: dict[str, None] = {}  # every channel we subscribed, in order
        self._released: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the release thread."""
        self._thread = threading.Thread(target=self._loop, name="diarkit-capture-release",
                                        daemon=True)
        self._thread.start()

    def subscribed(self, channel_id: str) -> None:
        """Remember a channel we subscribe topics on (its subscriptions go at stop)."""
        with self._lock:
            self._subscribed[channel_id] = None

    def release(self, channel_id: str) -> None:
        """Queue removing a given-up channel's subscriptions (returns at once)."""
        self._queue.put(channel_id)

    @property
    def released(self) -> int:
        """Channels whose subscriptions were removed."""
        with self._lock:
            return len(self._released)

    def left_subscribed(self) -> list[str]:
        """Channels subscribed whose subscriptions were not removed (yet)."""
        with self._lock:
            return [c for c in self._subscribed if c not in self._released]

    def release_now(self, channel_id: str) -> bool:
        """Remove a channel's subscriptions in this thread; True when done (or gone)."""
        try:
            self.client.remove_subscriptions(channel_id)
        except ChannelGoneError:
            pass
        except Exception as exc:  # never fail the capture over a cleanup
            log.warning("could not remove the subscriptions of channel %s: %s", channel_id, exc)
            return False
        with self._lock:
            self._released.add(channel_id)
        return True

    def _loop(self) -> None:
        while True:
            cid = self._queue.get()
            if cid is None:
                return
            with self._lock:
                if cid in self._released:
                    continue
            if not self.release_now(cid):
                with self._lock:
                    self.failures += 1

    def finish(self) -> None:
        """Queue every channel left subscribed, wait up to ``timeout_s``, then cut short."""
        for cid in self.left_subscribed():
            self.release(cid)
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(self.timeout_s)
            if thread.is_alive():
                self.abort.set()
                thread.join(2.0)
        with contextlib.suppress(Exception):
            self.client.close()
