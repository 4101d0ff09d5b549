"""Build raw-event tables (``diarkit.schema.RAW``) from verbatim notification frames.

Every frame becomes one row, valid or not: a frame that fails to parse gets
``kind="invalid"`` and an ``error`` naming the JSON path and reason. Envelope columns are
read vectorised with pyarrow.json (``diarkit.io._frames``); frames the fast path cannot
vouch for are classified by ``diarkit.genesys.parse_frame``, the single authority.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.genesys import ProtocolError, TranscriptionEvent, parse_frame
from diarkit.schema import RAW, UTC_TS

from ._frames import (
    fast_envelope,
    parse_block,
    parse_block_strict,
    parse_event_times,
    too_big_numbers,
)
from .formats import is_import_element, is_sta_transcript, is_tutorial_export

RAW_SCHEMA = RAW.arrow_schema()

#: ``kind`` is ``transcription`` for every transcript-bearing import format; these
#: topics say which non-frame format a raw row came from.
TUTORIAL_EXPORT_TOPIC = "diarkit.import.tutorial_export"
STA_TRANSCRIPT_TOPIC = "diarkit.import.sta_transcript"
IMPORT_TOPICS = (TUTORIAL_EXPORT_TOPIC, STA_TRANSCRIPT_TOPIC)


_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def frame_digests(blobs: Iterable[bytes | memoryview]) -> list[bytes]:
    """The dedupe key of each frame: its blake2b-128 digest (16 bytes) of the UTF-8 bytes.

    blake2b releases the GIL for inputs over 2 KB; memoryview slices are hashed in place.
    """
    b2 = hashlib.blake2b
    return [b2(b, digest_size=16).digest() for b in blobs]


def digests_hex(digests: Sequence[bytes]) -> pa.Array:
    """Digests as ``frame_hash`` strings (lowercase hex) in an Arrow array, vectorised."""
    n = len(digests)
    if n == 0:
        return pa.array([], pa.string())
    data = _HEX[np.frombuffer(b"".join(digests), dtype=np.uint8)].tobytes()
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def frame_hash(frame: str | bytes) -> str:
    """``frame_hash`` of one frame: the hex of its ``frame_digests`` key."""
    data = frame.encode("utf-8") if isinstance(frame, str) else frame
    return frame_digests([data])[0].hex()


def hash_frames(blobs: Iterable[bytes | memoryview]) -> pa.Array:
    """``frame_hash`` of each frame (bytes or a memoryview slice), as an Arrow string array."""
    return digests_hex(frame_digests(blobs))


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """Envelope facts of one frame as ``parse_frame`` sees them."""

    kind: str
    topic: str | None
    conversation_id: str | None
    event_time: str | None
    error: str | None


#: The range of a JSON integer diarkit stores as a number (int64); beyond it a frame is
#: kept verbatim and flagged invalid.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def strict_problem(frame: str | bytes) -> str | None:
    """Why a frame that parses as JSON still cannot be stored as valid, or ``None``.

    Judged on the members diarkit reads (``_frames.WIRE_SCHEMA``), exactly as the fast
    path judges a block, so a frame gets the same verdict whichever path classified it:

    * one of them twice in an object (which value wins depends on the parser);
    * a number in one of them beyond the int64 range (no column type holds it; times
      derived from it would overflow).

    Other members are stored verbatim and never interpreted. Runs only on frames the fast
    path does not vouch for, so its cost (a one-frame Arrow parse) is paid by few frames.
    """
    data = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
    if b"\n" in data or b"\r" in data:
        data = data.replace(b"\r", b" ").replace(b"\n", b" ")  # JSON whitespace only
    try:
        table = parse_block_strict(data)
    except ValueError as exc:
        return str(exc)
    if table is None:
        return None  # not a frame Arrow can read: parse_frame says why, if anything
    for name, value in too_big_numbers(table).items():
        shown = f"{value:.0f}" if value == value and abs(value) != float("inf") else value
        return f"$.{name}: {shown} is beyond the int64 range"
    return None


def classify_frame(frame: str | bytes) -> FrameInfo:
    """Parse one frame with ``parse_frame`` and return its envelope facts (never raises).

    A frame ``parse_frame`` accepts but ``strict_problem`` does not (duplicate keys, an
    integer beyond int64) is ``invalid`` with that reason. A transcription frame some of
    whose transcripts cannot be read stays a ``transcription`` (its good transcripts are
    flattened into segments) with ``error`` naming each bad one.
    """
    try:
        msg = parse_frame(frame)
        problem = strict_problem(frame)
        if problem is not None:
            where, why = problem.split(": ", 1)
            raise ProtocolError(why, where)
    except (ProtocolError, ArithmeticError, RecursionError) as exc:
        topic = None
        try:
            doc = orjson.loads(frame)
            if isinstance(doc, dict) and isinstance(doc.get("topicName"), str):
                topic = doc["topicName"]
        except orjson.JSONDecodeError:
            pass
        return FrameInfo("invalid", topic, None, None, str(exc))
    env = getattr(msg, "envelope", None)
    topic = env.topic if env is not None else None
    cid = getattr(msg, "conversation_id", None)
    event_time = msg.event_time if isinstance(msg, TranscriptionEvent) else None
    # some transcripts unreadable: the frame stands (its good ones become segments), and
    # ``error`` names each bad one (path and reason) so it is flagged, never silently lost
    bad = getattr(msg, "invalid", ())
    error = "; ".join(i.error for i in bad) or None
    return FrameInfo(msg.kind, topic or None, cid, event_time, error)


def classify_record(record: str | bytes) -> FrameInfo:
    """Like ``classify_frame``, but also recognises the import documents (never raises).

    A tutorial export gets topic ``TUTORIAL_EXPORT_TOPIC`` and a post-call transcript
    ``STA_TRANSCRIPT_TOPIC``, both with kind ``transcription``; their conversation id is
    set when the document names exactly one. So do their import element rows
    (``diarkit.io.documents``): an export segment's ``conversation_id``, a phrase's
    document ``conversationId``.
    """
    try:
        doc = orjson.loads(record)
    except orjson.JSONDecodeError:
        return classify_frame(record)
    if is_import_element(doc):
        path = doc["path"]
        context = doc["context"]
        element = doc["element"]
        if path.startswith("$.segments[") and isinstance(element, dict):
            cid = element.get("conversation_id")
            topic = TUTORIAL_EXPORT_TOPIC
        elif path.startswith("$.transcripts[") and context and isinstance(context[0], dict):
            cid = context[0].get("conversationId")
            topic = STA_TRANSCRIPT_TOPIC
        else:
            return FrameInfo("invalid", None, None, None, f"{path}: not a known import element")
        return FrameInfo("transcription", topic, cid if isinstance(cid, str) else None, None, None)
    if is_sta_transcript(doc):
        cid = doc.get("conversationId")
        return FrameInfo(
            "transcription",
            STA_TRANSCRIPT_TOPIC,
            cid if isinstance(cid, str) else None,
            None,
            None,
        )
    if is_tutorial_export(doc):
        cids = {s.get("conversation_id") for s in doc["segments"] if isinstance(s, dict)}
        cid = cids.pop() if len(cids) == 1 else None
        return FrameInfo(
            "transcription",
            TUTORIAL_EXPORT_TOPIC,
            cid if isinstance(cid, str) else None,
            None,
            None,
        )
    return classify_frame(record)


def _received_array(received_at: Any, n: int) -> pa.Array:
    if received_at is None:
        received_at = datetime.now(UTC)
    if isinstance(received_at, pa.Array | pa.ChunkedArray):
        arr = received_at
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if len(arr) != n:
            raise ValueError(f"received_at has {len(arr)} values for {n} frames")
        return arr.cast(UTC_TS)
    if isinstance(received_at, datetime | np.datetime64) or hasattr(received_at, "tz_convert"):
        scalar = pa.scalar(_as_utc(received_at), UTC_TS)
        return pa.array(np.full(n, scalar.value, dtype="int64"), pa.int64()).cast(UTC_TS)
    values = list(received_at)
    if len(values) != n:
        raise ValueError(f"received_at has {len(values)} values for {n} frames")
    return pa.array([_as_utc(v) for v in values], UTC_TS)


def _as_utc(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("received_at must be timezone-aware (UTC); got a naive datetime")
    return value


def _blobs(frames: Sequence[str | bytes]) -> list[bytes]:
    return [f.encode("utf-8") if isinstance(f, str) else bytes(f) for f in frames]


def _frame_texts(blobs: list[bytes]) -> tuple[pa.Array, np.ndarray]:
    n = len(blobs)
    lens = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    total = int(lens.sum())
    if 0 < total < 2**31 - 1:  # one joined buffer + offsets: no per-frame Python objects
        offsets = np.zeros(n + 1, dtype=np.int32)
        offsets[1:] = np.cumsum(lens)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(blobs))]
        binary = pa.Array.from_buffers(pa.binary(), n, buffers)
    else:
        binary = pa.array(blobs, pa.binary())
    return texts_checked(binary)


def texts_checked(binary: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``texts_of``, and the rows that were not valid UTF-8 (int64 indices, usually none).

    Validation is the cast itself (one C pass); rows are looked at one by one only when
    it fails.
    """
    try:
        return binary.cast(pa.string()), np.zeros(0, dtype=np.int64)
    except pa.ArrowInvalid:
        pass
    values = binary.to_pylist()
    bad = []
    texts = []
    for i, b in enumerate(values):
        try:
            texts.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(i)
            texts.append(b.decode("utf-8", errors="replace"))
    return pa.array(texts, pa.string()), np.asarray(bad, dtype=np.int64)


def flag_bad_utf8(envelope: dict[str, pa.Array], rows: np.ndarray) -> dict[str, pa.Array]:
    """Envelope columns with ``rows`` made ``invalid``: not UTF-8, so not JSON.

    Their topic, conversation id and event time are nulled: Arrow's JSON reader does not
    validate UTF-8, and a string column holding invalid bytes would make the whole part
    unreadable. The frame itself is kept (its bytes shown with U+FFFD).
    """
    if not len(rows):
        return envelope
    n = len(envelope["kind"])
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    m = pa.array(mask)
    out = dict(envelope)
    for name in ("topic", "conversation_id", "event_time"):
        col = out[name]
        out[name] = pc.if_else(m, pa.scalar(None, col.type), col)
    # one reason whichever path classified the row (the fast path reads such bytes)
    out["kind"] = pc.if_else(m, pa.scalar("invalid"), out["kind"])
    out["error"] = pc.if_else(m, pa.scalar(NOT_UTF8), out["error"])
    return out


#: The ``error`` of a frame that is not valid UTF-8.
NOT_UTF8 = "$: not valid JSON (not UTF-8)"


def texts_of(binary: pa.Array) -> pa.Array:
    """Frames as ``string`` (one C pass validating UTF-8); invalid bytes become U+FFFD."""
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array(
            [b.decode("utf-8", errors="replace") for b in binary.to_pylist()], pa.string()
        )


def _clean_frame(blob: bytes | memoryview) -> bool:
    """True when pyarrow.json reads ``blob`` as at most one row: one line, not blank."""
    b = bytes(blob)
    return b"\n" not in b and b"\r" not in b and bool(b.strip())


def _has_blank(blobs: Sequence[bytes]) -> bool:
    """True when some frame is empty or only whitespace (pyarrow.json reads no row)."""
    return any(not b or (b[:1].isspace() and not bytes(b).strip()) for b in blobs)


def parse_frames(
    blobs: Sequence[bytes], buffer: bytes | pa.Buffer | None = None
) -> pa.Table | None:
    """``parse_block`` of frames, where a frame Arrow cannot read costs only itself.

    The whole block is parsed in one call first. When Arrow refuses it (one malformed
    line fails the whole call), the block is bisected and the halves are parsed again,
    down to single frames, so only the frames Arrow cannot read are left to
    ``parse_frame`` (``envelope_columns``): a bad line costs about ``2 * log2(n)`` parses
    of ever smaller pieces instead of the per-frame path for the whole block.

    Args:
        blobs: the frames' bytes.
        buffer: the same frames joined by ``\n``, when the caller has it; ``None`` to
            join them here. It is parsed whole only when no frame is blank: pyarrow.json
            skips a blank line and reads a line of two objects as two rows, so the row
            count alone would not prove the rows align with the frames.

    Returns:
        A ``_frames.WIRE_SCHEMA`` table row-aligned with ``blobs`` whose rows Arrow could
        not read are null (``fast_envelope`` then vouches for none of them), or ``None``
        when Arrow could read no frame at all.
    """
    n = len(blobs)
    clean: list[bool] | None = None
    if buffer is None:
        clean = [_clean_frame(b) for b in blobs]
        if all(clean):
            buffer = b"\n".join(bytes(b) for b in blobs)
    elif _has_blank(blobs):  # a blank frame and a two-object one would cancel out
        buffer = None
    if buffer is not None:
        whole = parse_block(buffer, n)
        if whole is not None or n <= 1:
            return whole
    # Blank frames, and frames with a line break, never reach Arrow (see bisect_parse).
    flags = clean if clean is not None else [_clean_frame(b) for b in blobs]
    return bisect_parse(
        np.asarray(flags, dtype=bool),
        lambda rows: parse_block(b"\n".join(bytes(blobs[i]) for i in rows.tolist()), len(rows)),
        whole_failed=buffer is not None,
    )


def bisect_parse(
    clean: np.ndarray,
    parse_rows: Callable[[np.ndarray], pa.Table | None],
    *,
    whole_failed: bool = False,
) -> pa.Table | None:
    """The bisection behind ``parse_frames``, for callers that hold frames differently.

    The clean frames are parsed in pieces, halved each time Arrow refuses one, down to
    single frames; the frames Arrow cannot read end up as null rows.

    Args:
        clean: bool per frame, True when pyarrow.json reads it as at most one row (one
            line, not blank: ``_clean_frame``). Other frames never reach Arrow, so each
            frame of a piece yields at least one row and a piece's row count proves its
            rows align with its frames.
        parse_rows: ``parse_block`` of the frames at the given ascending int64 positions
            (all clean), joined by newlines; ``None`` when Arrow refuses them.
        whole_failed: the caller already parsed all frames as one block and Arrow refused
            it; when every frame is clean that block is not parsed again.

    Returns:
        A ``_frames.WIRE_SCHEMA`` table with one row per frame (null where Arrow could
        not read the frame), or ``None`` when Arrow could read no frame at all.
    """
    n = len(clean)
    idx = np.flatnonzero(clean).astype(np.int64)
    todo = [(0, len(idx))]
    if whole_failed and len(idx) == n:  # that exact block was just refused
        todo = [(n // 2, n), (0, n // 2)] if n > 1 else []
    pieces: list[tuple[int, int, pa.Table]] = []  # (first, end) positions in idx, rows
    while todo:  # depth-first, halves in order; a stack, not recursion
        lo, hi = todo.pop()
        if hi <= lo:
            continue
        table = parse_rows(idx[lo:hi])
        if table is not None:
            pieces.append((lo, hi, table))
        elif hi - lo > 1:
            mid = (lo + hi) // 2
            todo.append((mid, hi))
            todo.append((lo, mid))
    if not pieces:
        return None
    pieces.sort(key=lambda p: p[0])
    rows = pa.concat_tables([t for _, _, t in pieces]).combine_chunks()
    at = np.full(n, -1, dtype=np.int64)  # row of ``rows`` of each frame; -1: none
    at[np.concatenate([idx[lo:hi] for lo, hi, _ in pieces])] = np.arange(rows.num_rows)
    return rows.take(pa.array(at, mask=at < 0))


def envelope_columns(
    blobs: Sequence[bytes], parsed: pa.Table | None, *, documents: bool = False
) -> tuple[dict[str, pa.Array], pa.Array]:
    """Envelope columns (topic, kind, conversation_id, event_time, error) of frames.

    Args:
        blobs: the frames' bytes.
        parsed: ``parse_block`` of the same frames, or ``None`` to classify every frame
            with ``parse_frame``.

    Returns:
        The columns, and a bool array marking rows the fast path vouched for.
    """
    n = len(blobs)
    if parsed is not None:
        env = fast_envelope(parsed)
        ok = env["ok"]
        topic = env["topic"]
        cid = env["conversation_id"]
        event_time = env["event_time"]
        kind = env["kind"]
        error = pa.nulls(n, pa.string())
        slow = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
    else:
        ok = pa.array(np.zeros(n, dtype=bool))
        topic = cid = event_time = kind = error = pa.nulls(n, pa.string())
        slow = np.arange(n)
    if len(slow):
        classify = classify_record if documents else classify_frame
        infos = [classify(blobs[i]) for i in slow.tolist()]
        mask = np.zeros(n, dtype=bool)
        mask[slow] = True
        m = pa.array(mask)

        def fill(arr: pa.Array, values: list[str | None]) -> pa.Array:
            return pc.replace_with_mask(arr, m, pa.array(values, pa.string()))

        topic = fill(topic, [i.topic for i in infos])
        kind = fill(kind, [i.kind for i in infos])
        cid = fill(cid, [i.conversation_id for i in infos])
        event_time = fill(event_time, [i.event_time for i in infos])
        error = fill(error, [i.error for i in infos])
    cols = {
        "topic": topic,
        "kind": kind,
        "conversation_id": cid,
        "event_time": parse_event_times(event_time),
        "error": error,
    }
    return cols, ok


def assemble_raw(
    frames: pa.Array,
    hashes: pa.Array,
    envelope: dict[str, pa.Array],
    *,
    session_id: str,
    start_seq: int,
    received_at: Any,
    source: str | None,
    lines: Any = None,
) -> pa.Table:
    """Put frame texts, hashes and envelope columns together as a ``RAW`` table."""
    n = len(frames)
    if lines is None:
        line_arr = pa.nulls(n, pa.int64())
    else:
        line_arr = pa.array(np.asarray(lines, dtype="int64"), pa.int64())
        if len(line_arr) != n:
            raise ValueError(f"lines has {len(line_arr)} values for {n} frames")
    cols = {
        "session_id": pa.array(np.full(n, session_id, dtype=object), pa.string()),
        "seq": pa.array(np.arange(start_seq, start_seq + n, dtype="int64")),
        "received_at": _received_array(received_at, n),
        "topic": envelope["topic"],
        "kind": envelope["kind"],
        "conversation_id": envelope["conversation_id"],
        "event_time": envelope["event_time"],
        "frame": frames,
        "frame_hash": hashes,
        "error": envelope["error"],
        "source": pa.array(np.full(n, source, dtype=object), pa.string()),
        "line": line_arr,
    }
    return pa.Table.from_arrays([cols[f.name] for f in RAW_SCHEMA], schema=RAW_SCHEMA)


def build_raw_table(
    frames: Sequence[str | bytes],
    *,
    session_id: str,
    start_seq: int,
    received_at: Any,
    source: str | None,
    lines: Sequence[int] | None = None,
) -> pa.Table:
    """Build a ``RAW`` table with one row per frame, in order, none dropped.

    Args:
        frames: verbatim frame texts (``str`` or UTF-8 ``bytes``).
        session_id: capture session (or convert run) id, stored in every row.
        start_seq: ``seq`` of the first frame; the rest follow by one.
        received_at: when the frames were received: one timezone-aware datetime for all,
            a sequence with one per frame, an Arrow timestamp array, or ``None`` (now, UTC).
        source: channel id or input file the frames came from.
        lines: 1-based line numbers in the input file, one per frame, or ``None``.

    Returns:
        A ``pyarrow.Table`` with ``diarkit.schema.RAW``'s columns; frames that fail to
        parse have ``kind="invalid"`` and ``error`` set to ``"<json path>: <reason>"``.
    """
    return build_raw_parsed(
        frames,
        session_id=session_id,
        start_seq=start_seq,
        received_at=received_at,
        source=source,
        lines=lines,
    )[0]


def build_raw_parsed(
    frames: Sequence[str | bytes],
    *,
    session_id: str,
    start_seq: int,
    received_at: Any,
    source: str | None,
    lines: Sequence[int] | None = None,
    hashes: Callable[[], pa.Array] | None = None,
) -> tuple[pa.Table, pa.Table | None, pa.Array]:
    """``build_raw_table``, also returning the parsed block so segments need no second parse.

    Returns:
        The ``RAW`` table; ``parse_block`` of the frames (row-aligned with the table) or
        ``None`` when the block could not be parsed in one go; and the bool array of rows
        the fast path vouched for. Pass the last two, filtered like the table, to
        ``diarkit.io.segments.segments_from_parsed``.

    ``hashes``, if given, returns the frames' ``hash_frames`` (e.g. the ``result`` of a
    future computing them on another thread while the block is parsed).
    """
    blobs = _blobs(frames)
    parsed = parse_frames(blobs) if blobs else None
    envelope, ok = envelope_columns(blobs, parsed)
    texts, bad = _frame_texts(blobs)
    envelope = flag_bad_utf8(envelope, bad)
    table = assemble_raw(
        texts,
        hash_frames(blobs) if hashes is None else hashes(),
        envelope,
        session_id=session_id,
        start_seq=start_seq,
        received_at=received_at,
        source=source,
        lines=lines,
    )
    return table, parsed, ok
