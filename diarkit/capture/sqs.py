"""Capture EventBridge events from an Amazon SQS queue into a dataset (extra ``diarkit[aws]``).

An EventBridge rule on ``v2.conversations.{id}.transcription`` (one rule for the whole
organisation, see ``docs/eventbridge.md``) targets an SQS queue; this module long-polls
that queue and records each event's notification frame (its ``detail``, verbatim) with the
same :class:`~diarkit.capture.recorder.RawRecorder` as the WebSocket capture: the same
spools, parts, layout, gaps file and counters.

Order of operations for each batch of up to 10 messages (``ReceiveMessage``):

1. parse each body as an EventBridge envelope (:func:`diarkit.genesys.eventbridge.parse_envelope`);
2. events already stored (same EventBridge ``id``, or the same ``detail`` bytes) are
   duplicates: not stored again;
3. new events are appended to the spool (``RawRecorder.append``: written to the OS before
   it returns, so they survive ``kill -9``) and, with ``fsync=True``, the spool is fsynced;
   their raw rows carry ``source = "eventbridge:<id>"``;
4. poisoned messages (not an EventBridge event: not JSON, no ``id``, no ``detail`` frame)
   are written to ``quarantine/<session>-<n>.parquet`` with the reason, atomically;
5. only then are all of them deleted from the queue (``DeleteMessageBatch``).

A crash anywhere before step 5 leaves the messages in the queue: SQS delivers them again
after the visibility timeout (at least once). On start, leftover spools are recovered and
the EventBridge ids of the parts a crash can leave undeleted (the recovered spools and the
last raw part of each session) are loaded, so a message stored but not deleted before a
crash is recognised and only deleted: nothing deleted is lost, nothing is stored twice.
A batch whose processing takes longer than half the visibility timeout has its visibility
extended before deletion; a delete that still fails (``ReceiptHandleIsInvalid``) is
counted, and the copy delivered again within ``dedupe_window_s`` is a duplicate (a later
copy is stored again: ``finalize`` keeps one version per utterance, and converting the
dataset with ``diarkit convert`` drops equal frames by hash).

Gaps: SQS keeps messages while the capture is away (up to the queue's retention period),
so a capture restart loses nothing. A gap is recorded when receiving fails (the endpoint
is unreachable, credentials expired): from the first failed call to the next success,
with the queue URL as ``channel_id``: events are delayed, not lost, during it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from diarkit.genesys import ProtocolError
from diarkit.genesys.eventbridge import parse_envelope

from .errors import CaptureError, RecorderError
from .recorder import RawRecorder
from .session import new_session_id
from .stats import ERROR, LIVE, STOPPED, CaptureStats, Gap, utc_from_us

#: ``source`` of the raw rows of an EventBridge event: this prefix plus the event id.
SOURCE_PREFIX = "eventbridge:"
#: SQS ``ReceiveMessage`` returns at most 10 messages.
MAX_BATCH = 10
#: SQS long polling waits at most 20 s.
MAX_WAIT_S = 20


def queue_from_source(source: str) -> tuple[str, str | None]:
    """The queue URL and region of ``sqs://...`` (``diarkit capture --source``).

    ``sqs://sqs.eu-west-1.amazonaws.com/123456789012/name`` is
    ``https://sqs.eu-west-1.amazonaws.com/123456789012/name`` (region ``eu-west-1``);
    ``sqs://http://127.0.0.1:5000/123456789012/name`` keeps its scheme (local endpoints).

    Raises:
        ValueError: not an ``sqs://`` URL with a host and a queue path.
    """
    if not source.startswith("sqs://"):
        raise ValueError(f"{source!r}: expected sqs://QUEUE_URL")
    rest = source.removeprefix("sqs://")
    url = rest if rest.startswith(("http://", "https://")) else f"https://{rest}"
    parts = urlsplit(url)
    if not parts.hostname or parts.path.strip("/").count("/") != 1:
        raise ValueError(
            f"{source!r}: expected sqs://HOST/ACCOUNT/QUEUE "
            "(e.g. sqs://sqs.eu-west-1.amazonaws.com/123456789012/genesys-transcription)"
        )
    labels = parts.hostname.split(".")
    region = labels[1] if len(labels) >= 4 and labels[0] == "sqs" else None
    return url, region


def sqs_client(queue_url: str, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 SQS client for ``queue_url`` (credentials from the usual AWS chain).

    The endpoint is ``endpoint_url``, else the queue URL's scheme and host (so a local
    endpoint such as moto's works without configuration).
    """
    import boto3
    from botocore.config import Config

    parts = urlsplit(queue_url)
    endpoint = endpoint_url or f"{parts.scheme}://{parts.netloc}"
    # the read timeout must exceed the 20 s long poll
    config = Config(read_timeout=MAX_WAIT_S + 10, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client(
        "sqs", region_name=region or "us-east-1", endpoint_url=endpoint, config=config
    )


@dataclass(slots=True)
class SqsCounters:
    """Counters of an SQS capture (messages, not frames)."""

    receive_calls: int = 0
    empty_receives: int = 0
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    poisoned: int = 0
    deleted: int = 0
    delete_failures: int = 0
    visibility_extensions: int = 0
    receive_errors: int = 0
    transcription_events: int = 0
    last_event_us: int | None = None


@dataclass(slots=True)
class Received:
    """One received batch, split by what happens to each message."""

    new: list[tuple[dict[str, Any], bytes, str]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    poisoned: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    received_at: float = 0.0
    received_us: int = 0

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message of the batch."""
        return [m for m, _, _ in self.new] + self.duplicates + [m for m, _ in self.poisoned]


def digest(frame: bytes) -> bytes:
    """A frame's dedupe digest: blake2b-128, as ``frame_hash`` (hex) in raw rows."""
    return hashlib.blake2b(frame, digest_size=16).digest()


def key_of(value: str | bytes) -> int:
    """A 64-bit dedupe key of an event id (str) or a frame digest (bytes)."""
    data = value.encode() if isinstance(value, str) else value
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class RecentKeys:
    """Dedupe keys seen in the last ``window_s`` seconds, in one-minute buckets.

    Memory is bounded by the event rate times the window (about 70 bytes a key), not by
    how long the capture runs: older buckets are dropped as time passes.
    """

    def __init__(self, window_s: float, bucket_s: float = 60.0) -> None:
        self.window_s = window_s
        self.bucket_s = bucket_s
        self._buckets: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return sum(map(len, self._buckets.values()))

    def __contains__(self, key: object) -> bool:
        return any(key in b for b in self._buckets.values())

    def add(self, key: int, at_s: float) -> None:
        """Remember ``key`` as seen at ``at_s`` (seconds, the capture's clock)."""
        self._buckets.setdefault(int(at_s // self.bucket_s), set()).add(key)

    def expire(self, now_s: float) -> None:
        """Forget keys seen before ``now_s - window_s``."""
        oldest = int((now_s - self.window_s) // self.bucket_s)
        for b in [b for b in self._buckets if b < oldest]:
            del self._buckets[b]


class SqsCapture:
    """Long-poll an SQS queue of EventBridge events into a dataset.

    Args:
        out: dataset directory (created if missing).
        queue_url: the queue's URL.
        client: a boto3 SQS client (default: :func:`sqs_client` for ``queue_url``).
        session_id: capture session id (default: time + random).
        wait_s: long-poll wait per ``ReceiveMessage``, seconds (0-20).
        batch_size: messages per ``ReceiveMessage`` (1-10).
        visibility_timeout_s: visibility timeout asked for each receive, seconds (default:
            the queue's own).
        fsync: fsync the spool after each batch, before deleting it from the queue
            (durable against an OS crash too; without it, against a killed process).
        dedupe_window_s: events are deduplicated against those stored in the last this
            many seconds (EventBridge retries and redeliveries come within it; a later
            copy is stored again, and counted once by ``finalize`` and frame-hash dedupe).
            On start, the ids of raw parts modified within it are loaded, plus the parts a
            crash can leave undeleted (:meth:`load_stored_ids`). Memory: about 140 bytes
            per event in the window (an id key and a frame key).
        roll_seconds: roll a spool into a Parquet part after this many seconds.
        roll_frames: ... or after this many frames.
        roller: ``"process"`` or ``"thread"`` (see ``RawRecorder``).
        clock: wall clock in seconds (for gaps and the visibility deadline).
    """

    def __init__(
        self,
        out: str | Path,
        queue_url: str,
        *,
        client: Any = None,
        region: str | None = None,
        session_id: str | None = None,
        wait_s: float = MAX_WAIT_S,
        batch_size: int = MAX_BATCH,
        visibility_timeout_s: int | None = None,
        fsync: bool = True,
        dedupe_window_s: float = 3600.0,
        roll_seconds: float = 5.0,
        roll_frames: int = 10_000,
        roller: str = "thread",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1-{MAX_BATCH}, got {batch_size}")
        if not 0 <= wait_s <= MAX_WAIT_S:
            raise ValueError(f"wait_s must be 0-{MAX_WAIT_S} seconds, got {wait_s}")
        if visibility_timeout_s is not None and not 0 < visibility_timeout_s <= 43_200:
            raise ValueError(f"visibility_timeout_s must be 1-43200, got {visibility_timeout_s}")
        self.out = Path(out)
        self.queue_url = queue_url
        self.client = client if client is not None else sqs_client(queue_url, region)
        self.session_id = session_id or new_session_id()
        self.wait_s = wait_s
        self.batch_size = batch_size
        self.visibility_timeout_s = visibility_timeout_s
        self.fsync = fsync
        self.dedupe_window_s = dedupe_window_s
        self.clock = clock
        self.recorder = RawRecorder(
            self.out,
            self.session_id,
            roll_seconds=roll_seconds,
            roll_frames=roll_frames,
            sync_seconds=0.0 if fsync else 1.0,
            roller=roller,
        )
        self.counters = SqsCounters()
        self.seen = RecentKeys(dedupe_window_s)  # keys of event ids and of frame digests
        self.gaps: list[Gap] = []
        self._open_gap: Gap | None = None
        self._quarantined = 0
        self.stopping = threading.Event()
        self.error: Exception | None = None
        self.status = "connecting"
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._opened = False

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open the recorder (recovering leftover spools) and load the ids already stored.

        Raises:
            RecorderError: the dataset cannot be written.
        """
        if self._opened:
            return
        report = self.recorder.open()
        self._opened = True
        self._started = time.monotonic()
        recovered = [r.part for r in report.results if r.part is not None]
        self.load_stored_ids(recovered)

    def load_stored_ids(self, extra_parts: Sequence[Path] = ()) -> int:
        """Add the EventBridge ids and frame hashes of stored events to the dedupe window.

        Read (columns ``source`` and ``frame_hash`` only): raw parts modified within
        ``dedupe_window_s``, and the parts a crash can leave stored but not deleted
        whatever their age. A batch is deleted right after it is spooled, so that is a
        crashed capture's last batch: in its last spool (recovered on start,
        ``extra_parts``) or, when that batch rolled the spool, in the last raw part of
        its session.

        Returns:
            How many events were loaded.
        """
        import pyarrow.parquet as pq

        from diarkit.io.dataset import RAW_DIR, list_parts

        now = self.clock()
        horizon = now - self.dedupe_window_s
        parts = {p: now for p in extra_parts}
        last: dict[str, tuple[int, Path]] = {}
        for part in list_parts(self.out, RAW_DIR):
            session, _, seq = part.stem.rpartition("-")
            if seq.isdigit() and int(seq) >= last.get(session, (-1, part))[0]:
                last[session] = (int(seq), part)
            with contextlib.suppress(OSError):
                mtime = part.stat().st_mtime
                if mtime >= horizon:
                    parts[part] = max(mtime, parts.get(part, mtime))
        for _, part in last.values():
            parts.setdefault(part, now)  # at risk whatever its age: kept for a window
        loaded = 0
        for part, at in sorted(parts.items()):
            table = pq.read_table(part, columns=["source", "frame_hash"])
            for src, h in zip(
                table.column("source").to_pylist(),
                table.column("frame_hash").to_pylist(),
                strict=True,
            ):
                if isinstance(src, str) and src.startswith(SOURCE_PREFIX):
                    self.seen.add(key_of(src.removeprefix(SOURCE_PREFIX)), at)
                    if h:
                        self.seen.add(key_of(bytes.fromhex(h)), at)
                    loaded += 1
        return loaded

    def start(self) -> None:
        """Open and poll in a background thread until :meth:`stop`."""
        self.open()
        self._thread = threading.Thread(
            target=self._run, name=f"diarkit-sqs-{self.session_id}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.poll_once()
        except Exception as exc:  # reported by stats() and stop()
            self.error = exc
            self.status = ERROR
            self.stopping.set()

    def run(
        self,
        *,
        duration_s: float | None = None,
        max_messages: int | None = None,
        idle_polls: int | None = None,
    ) -> CaptureStats:
        """Poll in this thread until a limit is reached, then :meth:`stop`.

        Args:
            duration_s: stop after this many seconds.
            max_messages: stop after this many messages received.
            idle_polls: stop after this many consecutive empty receives.
        """
        self.open()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        idle = 0
        try:
            while not self.stopping.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if max_messages is not None and self.counters.received >= max_messages:
                    break
                got = self.poll_once()
                idle = 0 if got else idle + 1
                if idle_polls is not None and idle >= idle_polls:
                    break
        except Exception as exc:
            self.error = exc
        return self.stop()

    def stop(self) -> CaptureStats:
        """Stop polling, flush every spool into Parquet, write the gaps; return the stats.

        Raises:
            RecorderError: a spool could not be converted (it stays for recovery).
        """
        self.stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._open_gap is not None:
            self._close_gap()
        if self._opened:
            try:
                self.recorder.close()
            except RecorderError as exc:
                self.error = self.error or exc
            self._opened = False
        if self.gaps:
            import pandas as pd

            from diarkit.io.dataset import write_gaps

            rows = pd.DataFrame([g.row(self.session_id) for g in self.gaps])
            write_gaps(self.out, self.session_id, rows)
        if self.status != ERROR:
            self.status = STOPPED if self.error is None else ERROR
        return self.stats()

    # ------------------------------------------------------------------ one batch

    def poll_once(self) -> int:
        """Receive one batch, store it, delete it from the queue; return messages received.

        Raises:
            RecorderError: the spool or the quarantine cannot be written (the batch is
                left in the queue: it comes back after the visibility timeout).
        """
        batch = self.receive()
        if batch is None:
            self.recorder.tick()  # roll an old spool while the queue is quiet
            return 0
        self.store(batch)
        self.delete(batch)
        return len(batch.messages)

    def receive(self) -> Received | None:
        """One ``ReceiveMessage`` call, sorted into new, duplicate and poisoned messages.

        A failed call opens (or extends) a gap and returns None after a short pause.
        """
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.batch_size,
            "WaitTimeSeconds": int(self.wait_s),
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if self.visibility_timeout_s is not None:
            kwargs["VisibilityTimeout"] = self.visibility_timeout_s
        try:
            reply = self.client.receive_message(**kwargs)
        except Exception as exc:
            self._receive_failed(exc)
            return None
        if self._open_gap is not None:
            self._close_gap()
        self.status = LIVE
        self.counters.receive_calls += 1
        messages = reply.get("Messages") or []
        if not messages:
            self.counters.empty_receives += 1
            return None
        now = self.clock()
        batch = Received(received_at=now, received_us=int(now * 1e6))
        self.counters.received += len(messages)
        in_batch: set[str] = set()
        for message in messages:
            body = message.get("Body", "")
            try:
                event = parse_envelope(body)
            except ProtocolError as exc:
                batch.poisoned.append((message, str(exc)))
                continue
            d = digest(event.detail)
            if key_of(event.id) in self.seen or event.id in in_batch or key_of(d) in self.seen:
                batch.duplicates.append(message)
                continue
            in_batch.add(event.id)
            batch.new.append((message, event.detail, event.id))
            topic = event.topic or ""
            if topic.endswith(".transcription"):
                self.counters.transcription_events += 1
                self.counters.last_event_us = batch.received_us
        return batch

    def store(self, batch: Received) -> None:
        """Spool the new events and quarantine the poisoned messages, durably.

        Raises:
            RecorderError: as :meth:`poll_once`.
        """
        for _message, frame, event_id in batch.new:
            self.recorder.append(frame, SOURCE_PREFIX + event_id, batch.received_us)
        if batch.new:
            self.recorder.tick()  # fsyncs the spool (sync_seconds=0 with fsync=True)
        if batch.poisoned:
            self._quarantine(batch)
        for _message, frame, event_id in batch.new:
            self.seen.add(key_of(event_id), batch.received_at)
            self.seen.add(key_of(digest(frame)), batch.received_at)
        self.seen.expire(batch.received_at)
        self.counters.stored += len(batch.new)
        self.counters.duplicates += len(batch.duplicates)
        self.counters.poisoned += len(batch.poisoned)

    def _quarantine(self, batch: Received) -> None:
        from diarkit.io.dataset import write_quarantine

        rows = [
            {
                "run_id": self.session_id,
                "source": f"{self.queue_url}#{m.get('MessageId', '')}",
                "line": None,
                "reason": reason,
                "raw": m.get("Body", ""),
            }
            for m, reason in batch.poisoned
        ]
        name = f"{self.session_id}-{self._quarantined:06d}"
        try:
            write_quarantine(self.out, name, _table(rows))
        except OSError as exc:
            raise RecorderError(f"cannot write quarantine {name}: {exc}") from exc
        self._quarantined += 1

    def delete(self, batch: Received) -> None:
        """Delete every message of a stored batch (extending visibility first if late)."""
        messages = batch.messages
        if not messages:
            return
        vt = self.visibility_timeout_s
        if vt is not None and self.clock() - batch.received_at > vt / 2:
            self._extend(messages, vt)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        try:
            reply = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception:
            self.counters.delete_failures += len(entries)
            return  # they come back after the visibility timeout and are duplicates then
        failed = reply.get("Failed") or []
        self.counters.delete_failures += len(failed)
        self.counters.deleted += len(entries) - len(failed)

    def _extend(self, messages: list[dict[str, Any]], vt: int) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": vt}
            for i, m in enumerate(messages)
        ]
        with contextlib.suppress(Exception):
            self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            self.counters.visibility_extensions += 1

    # ------------------------------------------------------------------ gaps, stats

    def _receive_failed(self, exc: Exception) -> None:
        self.counters.receive_errors += 1
        now_us = int(self.clock() * 1e6)
        if self._open_gap is None:
            cause = f"sqs receive failed: {type(exc).__name__}: {exc}"
            self._open_gap = Gap(now_us, cause[:500], self.queue_url)
        self._open_gap.end_us = now_us
        self.status = "reconnecting"
        self.stopping.wait(min(5.0, 0.2 * 2 ** min(self.counters.receive_errors, 5)))

    def _close_gap(self) -> None:
        gap = self._open_gap
        assert gap is not None
        gap.end_us = int(self.clock() * 1e6)
        self.gaps.append(gap)
        self._open_gap = None
        self.counters.receive_errors = 0

    def stats(self) -> CaptureStats:
        """A snapshot of the counters in the WebSocket capture's shape."""
        c, r = self.counters, self.recorder
        message = "" if self.error is None else f"{type(self.error).__name__}: {self.error}"
        return CaptureStats(
            session_id=self.session_id,
            status=self.status,
            message=message,
            frames=c.stored,
            transcription_events=c.transcription_events,
            utterances=r.utterances,
            finals=r.finals,
            heartbeats=0,
            active_conversations=0,
            reconnects=0,
            handovers=0,
            gaps=len(self.gaps) + (self._open_gap is not None),
            rejected=0,
            channels=0,
            undecodable=c.poisoned,
            invalid=r.invalid,
            parts=r.parts,
            rows=r.rows,
            bytes_written=r.bytes_spooled,
            part_bytes=r.part_bytes,
            last_event_at=utc_from_us(c.last_event_us),
            elapsed_s=time.monotonic() - self._started if self._started else 0.0,
        )

    def summary(self) -> str:
        """Multi-line summary: the capture's lines plus the SQS message counters."""
        from .runner import summary

        c = self.counters
        return summary(self.stats(), self.out) + (
            f"\n  sqs: received {c.received} in {c.receive_calls} receive(s) "
            f"({c.empty_receives} empty), stored {c.stored}, duplicates {c.duplicates}, "
            f"poisoned {c.poisoned} (quarantined), deleted {c.deleted}, "
            f"delete failures {c.delete_failures}"
        )


def _table(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    from diarkit.schema import QUARANTINE

    return pa.Table.from_pylist(rows, schema=QUARANTINE.arrow_schema())


def run_sqs_capture(
    out: str | Path,
    source: str,
    *,
    duration: float | None = None,
    session_id: str | None = None,
    visibility_timeout_s: int | None = None,
    wait_s: float = MAX_WAIT_S,
    roll_seconds: float = 5.0,
    status_line: bool = True,
    echo: Callable[[str], Any] = print,
) -> int:
    """``diarkit capture --source sqs://QUEUE_URL``: poll until ``duration``, Ctrl-C or SIGTERM.

    Returns:
        0 after a clean stop, 1 after an error (printed with ``echo``).
    """
    import signal
    import sys

    try:
        url, region = queue_from_source(source)
        cap = SqsCapture(
            out,
            url,
            region=region,
            session_id=session_id,
            visibility_timeout_s=visibility_timeout_s,
            # a short capture must not outlive its duration by a whole long poll
            wait_s=wait_s if duration is None else min(wait_s, max(1.0, duration / 4)),
            roll_seconds=roll_seconds,
        )
    except (ValueError, CaptureError, ImportError) as exc:
        echo(f"error: {exc}")
        return 1
    stop_reason: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_reason.append(signal.Signals(signum).name)
        cap.stopping.set()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_signal)
    bar = None
    if status_line:
        from tqdm import tqdm

        bar = tqdm(total=None, bar_format="{desc}", file=sys.stderr, dynamic_ncols=True)
    try:
        cap.start()
    except RecorderError as exc:
        echo(f"error: {exc}")
        return 1
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not cap.stopping.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            cap.stopping.wait(0.5)
            if bar is not None:
                bar.set_description_str(cap.stats().line(), refresh=True)
    except KeyboardInterrupt:
        stop_reason.append("SIGINT")
    finally:
        cap.stop()
        if bar is not None:
            bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if stop_reason:
        echo(f"stopped by {stop_reason[0]}")
    echo(cap.summary())
    if cap.recorder.recovery.results:
        echo("  " + cap.recorder.recovery.summary())
    if cap.error is not None:
        echo(f"error: {cap.error}")
        return 1
    return 0
