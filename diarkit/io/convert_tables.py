"""Turning the records of one input file into Arrow tables (no I/O, no threads).

``process_batch`` takes one block of records from a reader (``diarkit.io.readers``) and
gives the raw rows, the segments derived from them, the rejections to quarantine and
the number of duplicates dropped. Kept apart from the writing of parts and the running
of files on threads (``diarkit.io.convert_files``) so that the record logic reads on its
own; ``read_to_tables`` (back-fill, ``diarkit.io.convert``) and the file converter both
call it.

Import rows (``diarkit.io.documents``: tutorial exports, STA transcripts) take their own
path, ``_process_imports``: each row is validated once and well-formed export segments
are flattened vectorised. ``received_at`` is always the time the data itself gives (a
frame's ``eventTime``, a phrase's start in epoch milliseconds), never a file time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.schema import RAW, UTC_TS

from .dedupe import SeenHashes, digest_keys
from .formats import export_segment_columns, import_rows
from .raw import (
    RAW_SCHEMA,
    STA_TRANSCRIPT_TOPIC,
    TUTORIAL_EXPORT_TOPIC,
    assemble_raw,
    digests_hex,
    envelope_columns,
    flag_bad_utf8,
    frame_digests,
    parse_frames,
    texts_checked,
)
from .readers import Batch, Rejected
from .segments import raw_to_segments, segments_from_parsed, segments_from_rows

__all__ = ["FileContext", "process_batch"]


@dataclass
class FileContext:
    """What the batches of one input file share: its name, convert session and seq.

    ``seen`` holds the record hashes of the run (and of the dataset, when it had data);
    ``next_seq`` is the sequence number of the file's next record.
    """

    source: str
    session_id: str
    seen: SeenHashes
    next_seq: int = 0


def _import_rejections(raw: pa.Table, source: str) -> list[Rejected]:
    topics = raw.column("topic").to_pylist()
    out: list[Rejected] = []
    for i, topic in enumerate(topics):
        if topic not in (TUTORIAL_EXPORT_TOPIC, STA_TRANSCRIPT_TOPIC):
            continue
        doc = orjson.loads(raw.column("frame")[i].as_py())
        line = raw.column("line")[i].as_py()
        for reason, element in import_rows(doc)[1]:
            out.append(Rejected(source, line, reason, orjson.dumps(element).decode()))
    return out


def process_batch(batch: Batch, ctx: FileContext) -> tuple[pa.Table, pa.Table, list[Rejected], int]:
    """Raw rows, segments, rejections and duplicate count of one batch (no I/O).

    Records already in ``ctx.seen`` are dropped as duplicates; new ones are added to it.
    """
    rejected = list(batch.rejected)
    if batch.raw is not None:  # a dataset input: rows as stored
        raw = batch.raw.select(RAW.names).cast(RAW_SCHEMA)
        digests = [bytes.fromhex(h) for h in raw.column("frame_hash").to_pylist()]
        keep = _dedupe(digests, ctx.seen)
        dup = int(len(digests) - keep.sum())
        raw = raw.filter(pa.array(keep))
        return raw, raw_to_segments(raw), rejected, dup
    blobs = batch.blobs
    n = len(blobs)
    empty = RAW_SCHEMA.empty_table()
    if n == 0:
        return empty, raw_to_segments(empty), rejected, 0
    if batch.topics is not None:
        return _process_imports(batch, ctx)
    # Dedupe first: a rerun over converted input hashes it and parses nothing.
    digests = frame_digests(blobs)
    new = _dedupe(digests, ctx.seen)
    dup = int(n - new.sum())
    frames = batch.frames
    buffer = batch.buffer
    lines = batch.lines
    seqs = np.arange(batch.start_seq, batch.start_seq + n, dtype=np.int64)
    if dup == n:
        return empty, raw_to_segments(empty), rejected, dup
    if dup:
        idx = np.flatnonzero(new)
        blobs = [blobs[i] for i in idx]
        digests = [digests[i] for i in idx]
        frames = None if frames is None else frames.take(pa.array(idx))
        buffer = None if buffer is None else b"\n".join(blobs)
        lines = None if lines is None else lines[idx]
        seqs = seqs[idx]
    parsed = parse_frames(blobs, buffer) if buffer is not None else None  # bad lines: bisected
    env, ok = envelope_columns(blobs, parsed, documents=True)
    if frames is None:  # the block's one-cast check failed (or never ran): row by row
        frames, bad_utf8 = texts_checked(pa.array(blobs, pa.binary()))
        env = flag_bad_utf8(env, bad_utf8)
    received = env["event_time"]  # the call time the data carries; never the file's mtime
    if batch.received_at is not None:  # a time the input format carries (EventBridge)
        given = batch.received_at if not dup else batch.received_at.take(pa.array(idx))
        received = pc.coalesce(given.cast(UTC_TS), received)
    raw = assemble_raw(
        frames,
        digests_hex(digests),
        env,
        session_id=ctx.session_id,
        start_seq=0,
        received_at=received,
        source=ctx.source,
        lines=lines,
    )
    raw = raw.set_column(raw.schema.get_field_index("seq"), "seq", pa.array(seqs))
    invalid = pc.fill_null(pc.equal(env["kind"], "invalid"), False).to_numpy(zero_copy_only=False)
    if invalid.any():
        idx = np.flatnonzero(invalid)
        errors = env["error"].take(pa.array(idx)).to_pylist()
        texts = frames.take(pa.array(idx)).to_pylist()
        bad_lines = [None] * len(idx) if lines is None else lines[idx].tolist()
        rejected.extend(
            Rejected(ctx.source, ln, err, txt)
            for ln, err, txt in zip(bad_lines, errors, texts, strict=True)
            if txt.strip(" \t\r\n")  # a blank line is no record: skipped, not rejected
        )
        mask = pa.array(~invalid)
        raw = raw.filter(mask)
        if parsed is not None:
            parsed = parsed.filter(mask)
            ok = ok.filter(mask)
    segments = segments_from_parsed(raw, parsed, ok if parsed is not None else None)
    if pc.any(
        pc.is_in(raw.column("topic"), pa.array([TUTORIAL_EXPORT_TOPIC, STA_TRANSCRIPT_TOPIC]))
    ).as_py():
        rejected.extend(_import_rejections(raw, ctx.source))
    return raw, segments, rejected, dup


def _process_imports(
    batch: Batch, ctx: FileContext
) -> tuple[pa.Table, pa.Table, list[Rejected], int]:
    """``process_batch`` of import rows (``diarkit.io.documents``).

    Every row is parsed once (orjson): an element row whose element is not valid JSON,
    or not a valid segment/phrase, is quarantined with its verbatim text and not stored;
    a document row is stored and its bad parts are quarantined. Runs of well-formed
    export segments become segment columns vectorised (``export_segment_columns``).
    """
    assert batch.topics is not None and batch.element_at is not None
    rejected = list(batch.rejected)
    blobs = batch.blobs
    n = len(blobs)
    digests = frame_digests(blobs)
    new = _dedupe(digests, ctx.seen)
    dup = int(n - new.sum())
    lines = batch.lines if batch.lines is not None else np.zeros(n, np.int64)
    topics, element_at = batch.topics, batch.element_at
    # Parse (validate) every row; export segments are then flattened vectorised, and
    # their parsed objects dropped at once (they would dominate the batch's memory).
    docs: dict[int, Any] = {}
    fast: list[int] = []
    loads = orjson.loads
    for i in np.flatnonzero(new).tolist():
        try:
            doc = loads(blobs[i])
        except orjson.JSONDecodeError:
            rejected.append(_invalid_import(blobs[i], element_at[i], int(lines[i]), ctx.source))
            continue
        if element_at[i] >= 0 and topics[i] == TUTORIAL_EXPORT_TOPIC:
            fast.append(i)
        docs[i] = None if fast and fast[-1] == i else doc
    fast_cols = export_segment_columns([blobs[i][element_at[i] : -1] for i in fast])
    if fast_cols is None:  # a bad segment among them: each goes through the checks
        for i in fast:
            docs[i] = loads(blobs[i])
        fast = []
    fast_set = set(fast)
    keep: list[int] = []
    derived: dict[int, list[dict[str, Any]]] = {}
    cids: list[str | None] = []
    times: dict[int, float | None] = {}  # kept row -> epoch ms the data itself gives
    fast_cid = iter(fast_cols["conversation_id"].to_pylist() if fast_cols else [])
    for i, doc in docs.items():
        if i in fast_set:
            keep.append(i)
            cids.append(next(fast_cid))
            continue
        rows, errors = import_rows(doc)
        line = int(lines[i])
        at = element_at[i]
        if errors and at >= 0:
            text = blobs[i][at:-1].decode("utf-8")
            rejected.extend(Rejected(ctx.source, line, reason, text) for reason, _ in errors)
            continue
        for reason, element in errors:
            rejected.append(Rejected(ctx.source, line, reason, orjson.dumps(element).decode()))
        derived[len(keep)] = rows
        keep.append(i)
        cid = rows[0]["conversation_id"] if rows else doc.get("conversationId")
        cids.append(cid if isinstance(cid, str) else None)
        times[len(keep) - 1] = _data_time_ms(rows, doc)
    m = len(keep)
    columns: dict[int, dict[str, pa.Array]] = {}
    if fast_cols is not None and fast:
        # fast rows keep their order; split them into runs of consecutive raw rows
        pos = np.flatnonzero(np.isin(np.asarray(keep), np.asarray(fast)))
        runs = np.split(np.arange(len(pos)), np.flatnonzero(np.diff(pos) != 1) + 1)
        for run in runs:
            sel = pa.array(run, pa.int64())
            columns[int(pos[run[0]])] = {k: v.take(sel) for k, v in fast_cols.items()}
    kept = [blobs[i] for i in keep]
    env = {
        "topic": pa.array([topics[i] for i in keep], pa.string()),
        "kind": pa.array(["transcription"] * m, pa.string()),
        "conversation_id": pa.array(cids, pa.string()),
        "event_time": pa.nulls(m, UTC_TS),
        "error": pa.nulls(m, pa.string()),
    }
    raw = assemble_raw(
        pa.array(kept, pa.binary()).cast(pa.string()),  # valid UTF-8: orjson parsed it
        digests_hex([digests[i] for i in keep]),
        env,
        session_id=ctx.session_id,
        start_seq=0,
        received_at=_ms_times(times, m),
        source=ctx.source,
        lines=lines[keep],
    )
    seqs = np.asarray(keep, dtype=np.int64) + batch.start_seq
    raw = raw.set_column(raw.schema.get_field_index("seq"), "seq", pa.array(seqs))
    return raw, segments_from_rows(raw, derived, columns), rejected, dup


def _data_time_ms(rows: list[dict[str, Any]], doc: Any) -> float | None:
    """The time an import row's data gives (epoch ms): its earliest phrase start, else
    the document's ``conversationStartTime``; ``None`` when it gives none."""
    starts = [r["start_at_ms"] for r in rows if isinstance(r.get("start_at_ms"), int | float)]
    if starts:
        return float(min(starts))
    if isinstance(doc, dict):
        value = doc.get("conversationStartTime")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _ms_times(times: dict[int, float | None], n: int) -> pa.Array:
    """``received_at`` of ``n`` import rows from epoch ms (null where unknown)."""
    us = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    for k, ms in times.items():
        if ms is not None and abs(ms) < 2**53 / 1000:
            us[k] = round(ms * 1000)
            valid[k] = True
    return pa.array(us, pa.int64(), mask=~valid).cast(UTC_TS)


def _invalid_import(blob: bytes, at: int, line: int, source: str) -> Rejected:
    """The rejection of an import row that is not valid JSON (its element, for a row)."""
    if at < 0:
        try:
            orjson.loads(blob)
        except orjson.JSONDecodeError as exc:
            return Rejected(source, line, f"$: not valid JSON ({exc})", _text(blob))
    element = blob[at:-1]
    path = blob[len(b'{"path":"') : blob.index(b'"', len(b'{"path":"'))].decode()
    try:
        orjson.loads(element)
        reason = f"{path}: not valid JSON (its context)"
    except orjson.JSONDecodeError as exc:
        reason = f"{path}: not valid JSON ({exc})"
    return Rejected(source, line, reason, _text(element))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _dedupe(digests: list[bytes], seen: SeenHashes) -> np.ndarray:
    """Mask of records to keep: not seen before (they are claimed in ``seen``)."""
    return seen.claim(digest_keys(digests))
