"""The simulator's ledger of every frame it sent, and its log of injected faults.

Both are appended from the server's event loop thread and read from test threads, so
access goes through a lock and readers get snapshots.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

log = logging.getLogger("diarkit.sim")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One frame sent on a channel's socket.

    Attributes:
        channel_id: the notification channel whose socket carried it.
        topic: its ``topicName`` (``""`` for replies without one, e.g. subscribe replies).
        correlation_id: ``metadata.CorrelationId`` or the reply's ``correlationId`` (or None).
        sent_at: wall-clock epoch seconds (``time.time()``) when it was handed to the socket.
        text: the exact text sent.
        fault: the fault that shaped it (``truncated``, ``malformed``), else None.
    """

    channel_id: str
    topic: str
    correlation_id: str | None
    sent_at: float
    text: str
    fault: str | None = None


class Ledger:
    """Thread-safe, append-only list of :class:`LedgerEntry` (iterate for a snapshot).

    Args:
        maxlen: keep only the newest ``maxlen`` entries (long CLI runs); ``None`` keeps
            all. ``total`` counts every entry ever recorded either way.
    """

    def __init__(self, maxlen: int | None = None) -> None:
        self._lock = threading.Lock()
        self._items: list[LedgerEntry] | deque[LedgerEntry] = (
            [] if maxlen is None else deque(maxlen=maxlen))
        self.total = 0

    def append(self, entry: LedgerEntry) -> None:
        """Record one sent frame."""
        with self._lock:
            self._items.append(entry)
            self.total += 1

    def extend(self, entries: list[LedgerEntry]) -> None:
        """Record many sent frames at once."""
        with self._lock:
            self._items.extend(entries)
            self.total += len(entries)

    def snapshot(self) -> list[LedgerEntry]:
        """A copy of all entries so far, in send order."""
        with self._lock:
            return list(self._items)

    def texts(self, channel_id: str | None = None) -> list[str]:
        """Texts sent (to one channel, or all), in send order."""
        return [e.text for e in self.snapshot() if channel_id is None or e.channel_id == channel_id]

    def entries(self, channel_id: str | None = None, topic: str | None = None) -> list[LedgerEntry]:
        """Entries filtered by channel and/or exact topic."""
        return [
            e for e in self.snapshot()
            if (channel_id is None or e.channel_id == channel_id)
            and (topic is None or e.topic == topic)
        ]

    def clear(self) -> None:
        """Forget all entries (e.g. between benchmark rounds)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> LedgerEntry:
        with self._lock:
            return self._items[index]


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One injected fault: when (epoch seconds), what, and on what."""

    at: float
    kind: str
    detail: str


@dataclass
class FaultLog:
    """Thread-safe list of injected faults; each one is also logged to ``diarkit.sim``."""

    _items: list[FaultRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: FaultRecord) -> None:
        """Record and log one fault."""
        with self._lock:
            self._items.append(record)
        log.warning("fault %s: %s", record.kind, record.detail)

    def snapshot(self) -> list[FaultRecord]:
        """A copy of all fault records so far."""
        with self._lock:
            return list(self._items)

    def kinds(self) -> list[str]:
        """The kinds of all faults so far, in order."""
        return [r.kind for r in self.snapshot()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[FaultRecord]:
        return iter(self.snapshot())
