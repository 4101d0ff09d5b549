"""``CaptureOptions``: the tuning settings of a capture, grouped and validated once.

Grouped as httpx groups ``Timeout`` and ``Limits``: ``Capture`` takes who and what to
capture as arguments and everything about *how* in one ``CaptureOptions`` (its old
keywords, ``heartbeat_s=`` etc., still work and land here).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from diarkit.genesys import backoff
from diarkit.genesys.topics import MAX_TOPICS_PER_CHANNEL

from ._http import MAX_RETRY_AFTER_S

#: Largest WebSocket frame kept whole, bytes. Genesys documents no limit; real frames
#: are kilobytes (a grouped transcription frame of 35 s of speech is ~2-20 KB). A larger
#: frame is stored truncated to this size, flagged, and the capture goes on.
MAX_FRAME_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """How a capture runs. Durations are seconds; sizes are bytes.

    Args:
        heartbeat_s: the server's heartbeat period (30 on Genesys Cloud).
        dead_after: heartbeat periods without a frame before the socket counts as dead.
        grace_s: seconds a followed conversation stays subscribed after its call ended
            and its transcription said ``SESSION_ENDED``.
        session_end_wait_s: seconds a followed conversation whose call ended stays
            subscribed, after its last event, while its transcription has not said
            ``SESSION_ENDED`` (transcripts are grouped in ~35 s windows: the last group
            comes after the call ends).
        follow_batch_s: follow mode gathers the subscription changes of this many seconds
            into one request per channel (new calls wait at most this long, plus a
            minute's budget when ``subscription_budget_per_min`` is spent).
        subscription_budget_per_min: subscription requests per sliding minute this
            capture's token may send (the API allows 300; 240 leaves room for retries);
            with several OAuth clients, each client's token.
        rate_window_s: the sliding window of ``subscription_budget_per_min``, seconds (60:
            a minute; against a simulator sped up ``speed`` times, ``60 / speed`` makes
            the budget one per simulated minute).
        roll_frames: roll the spool into a Parquet part after this many frames ...
        roll_seconds: ... or this many seconds ...
        roll_bytes: ... or this many bytes.
        keep_heartbeats: store heartbeat/pong frames too (default: only count them).
        max_topics_per_channel: topics per channel before another channel is opened.
        renew_fraction: re-subscribe a channel after this fraction of its lifetime.
        backoff_factory: retry/reconnect delays (default ``diarkit.genesys.backoff``).
        recover: recover leftover spools of earlier sessions at start.
        max_frame_bytes: frames larger than this are stored truncated and flagged.
        max_retry_after_s: longest wait a ``Retry-After`` header may impose.
        connect_timeout_s: WebSocket connect timeout.
        timeline: at the end of the capture, after every frame is stored, rewrite the
            dataset's derived ``timeline/timeline.parquet``
            (:func:`diarkit.io.timeline.write_timeline`; it loads the whole dataset's
            segments, so it is off by default in the library and on in ``diarkit capture``).
    """

    heartbeat_s: float = 30.0
    dead_after: float = 2.5
    grace_s: float = 10.0
    session_end_wait_s: float = 60.0
    follow_batch_s: float = 0.5
    subscription_budget_per_min: int = 240
    rate_window_s: float = 60.0
    roll_frames: int = 10_000
    roll_seconds: float = 5.0
    roll_bytes: int = 32 << 20
    keep_heartbeats: bool = False
    max_topics_per_channel: int = MAX_TOPICS_PER_CHANNEL
    renew_fraction: float = 0.8
    backoff_factory: Callable[[], Iterator[float]] = backoff
    recover: bool = True
    max_frame_bytes: int = MAX_FRAME_BYTES
    max_retry_after_s: float = MAX_RETRY_AFTER_S
    connect_timeout_s: float = 10.0
    timeline: bool = False

    def __post_init__(self) -> None:
        def positive(name: str, minimum: float = 0.0, *, strict: bool = True) -> None:
            value = getattr(self, name)
            ok = isinstance(value, int | float) and math.isfinite(value) and (
                value > minimum if strict else value >= minimum
            )
            if not ok:
                rel = ">" if strict else ">="
                raise ValueError(f"{name} must be a finite number {rel} {minimum:g}, got {value!r}")

        positive("heartbeat_s")
        positive("dead_after", 1.0, strict=False)
        positive("grace_s", strict=False)
        positive("session_end_wait_s", strict=False)
        positive("rate_window_s")
        positive("follow_batch_s", strict=False)
        positive("subscription_budget_per_min", 1, strict=False)
        positive("roll_frames", 1, strict=False)
        positive("roll_seconds")
        positive("roll_bytes", 1, strict=False)
        positive("max_topics_per_channel", 1, strict=False)
        positive("max_frame_bytes", 1024, strict=False)
        positive("max_retry_after_s")
        positive("connect_timeout_s")
        if not 0.0 < self.renew_fraction < 1.0:
            raise ValueError(f"renew_fraction must be in (0, 1), got {self.renew_fraction!r}")

    def replace(self, **changes: Any) -> CaptureOptions:
        """A copy with some settings changed (unknown names raise ``TypeError``)."""
        unknown = sorted(set(changes) - OPTION_NAMES)
        if unknown:
            raise TypeError(f"unknown capture option(s): {', '.join(unknown)}; "
                            f"valid: {', '.join(sorted(OPTION_NAMES))}")
        return dataclasses.replace(self, **changes)


OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(CaptureOptions))

__all__ = ["MAX_FRAME_BYTES", "OPTION_NAMES", "CaptureOptions"]
