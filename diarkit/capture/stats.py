"""Live counters of a capture session and the gap record; plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

CONNECTING = "connecting"
LIVE = "live"
RECONNECTING = "reconnecting"
STOPPED = "stopped"
ERROR = "error"
STATUSES = (CONNECTING, LIVE, RECONNECTING, STOPPED, ERROR)


def utc_from_us(us: int | None) -> datetime | None:
    """A UTC datetime from microseconds since the epoch (None stays None)."""
    return None if us is None else datetime.fromtimestamp(us / 1e6, tz=UTC)


@dataclass(slots=True)
class WorkerCounters:
    """Counters owned by one channel worker thread (summed into ``CaptureStats``)."""

    frames: int = 0
    transcription_events: int = 0
    heartbeats: int = 0
    pongs: int = 0
    system: int = 0
    conversation_events: int = 0
    undecodable: int = 0
    reconnects: int = 0
    handovers: int = 0
    last_frame_us: int | None = None
    last_event_us: int | None = None


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """A snapshot of a capture's live counters (for a status line or a notebook widget).

    Live: ``frames``, ``transcription_events``, ``heartbeats``, ``reconnects``,
    ``gaps``, ``undecodable`` (not JSON), ``bytes_written`` (spool bytes: every frame,
    verbatim) and ``last_event_at`` (UTC receive time of the last transcription event).
    From the authoritative parse when a spool is rolled into Parquet, so at most
    ``roll_seconds`` behind: ``utterances`` and ``finals`` (utterance versions, final
    ones), ``invalid`` (stored frames that failed to parse), ``rows``, ``parts``,
    ``part_bytes``. ``elapsed_s`` is seconds since ``start()``. ``channels_released``:
    channels whose subscriptions were removed after the capture gave them up (or at stop);
    ``release_failures``: removals that failed (logged; never fatal). ``refused``: topics
    the server refused, each with its reason and missing permissions; ``truncated``:
    frames stored truncated (over ``max_frame_bytes``). ``subscription_requests``:
    subscription changes sent with this capture's token (every attempt);
    ``subscription_requests_per_min``: the most of them any sliding 60-second window
    held (the API allows 300 per minute per token; with several OAuth clients, the most
    any one token sent; ``subscription_requests_per_min_by_client`` has each client's
    figure, in client order). ``missed_calls``: followed calls that got no subscription
    at all (each recorded as a ``late_join`` gap, a back-fill candidate).
    """

    session_id: str
    status: str
    message: str
    frames: int
    transcription_events: int
    utterances: int
    finals: int
    heartbeats: int
    active_conversations: int
    reconnects: int
    handovers: int
    gaps: int
    rejected: int
    channels: int
    undecodable: int
    invalid: int
    parts: int
    rows: int
    bytes_written: int
    part_bytes: int
    last_event_at: datetime | None
    elapsed_s: float
    channels_released: int = 0
    release_failures: int = 0
    refused: tuple[str, ...] = ()
    truncated: int = 0
    subscription_requests: int = 0
    subscription_requests_per_min: int = 0
    subscription_requests_per_min_by_client: tuple[int, ...] = ()
    missed_calls: int = 0

    def line(self) -> str:
        """A one-line human summary."""
        last = self.last_event_at.strftime("%H:%M:%S") if self.last_event_at else "-"
        text = (
            f"{self.status}: {self.frames} frames, {self.transcription_events} transcription "
            f"events, {self.utterances} utterances ({self.finals} final), "
            f"{self.active_conversations} active conversations, {self.reconnects} reconnects, "
            f"{self.gaps} gaps, {self.bytes_written / 1e6:.1f} MB, last event {last}"
        )
        if self.undecodable or self.invalid:
            text += f", {max(self.invalid, self.undecodable)} invalid"
        if self.rejected:
            text += f", {self.rejected} refused topics"
        if self.truncated:
            text += f", {self.truncated} truncated frames"
        if self.release_failures:
            text += f", {self.release_failures} failed channel releases"
        if self.message:
            text += f" [{self.message}]"
        return text


@dataclass(slots=True)
class Gap:
    """One disconnection: from the last frame before it to the moment events flowed again.

    Times are microseconds since the epoch (UTC); ``end_us`` is None while still open.
    """

    start_us: int
    cause: str
    channel_id: str
    conversations: list[str] = field(default_factory=list)
    end_us: int | None = None

    def row(self, session_id: str) -> dict[str, object]:
        """The gap as a ``schema.GAPS`` row."""
        end = self.end_us if self.end_us is not None else self.start_us
        return {
            "session_id": session_id,
            "start_at": utc_from_us(self.start_us),
            "end_at": utc_from_us(end),
            "duration_s": (end - self.start_us) / 1e6,
            "cause": self.cause,
            "channel_id": self.channel_id,
            "conversations": list(self.conversations),
        }
