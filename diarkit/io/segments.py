"""Flatten raw-event tables into segment tables (``diarkit.schema.SEGMENTS``); pure.

One segment row per utterance version, from its best (first) alternative:
speaker from channel (``INTERNAL`` -> agent, ``EXTERNAL`` -> customer; legacy tutorial
frames keep their speaker), ``start_s``/``end_s`` in seconds from the session start
(``offsetMs``/``durationMs`` / 1000), ``start_at`` = ``sessionStartTimeMs + offsetMs`` as
UTC. Rows come in the raw table's order, then transcript order; ``order`` numbers them.

Well-formed transcription frames are flattened vectorised (pyarrow.json + pyarrow.compute);
anything else with ``kind == "transcription"`` (legacy frames, import documents, frames the
fast path rejects) goes through ``diarkit.genesys.parse_frame`` one by one. Both paths give
the same rows; tests hold them to that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.genesys import ProtocolError, TranscriptionEvent, parse_frame
from diarkit.schema import SEGMENTS, SPEAKER_BY_CHANNEL, UTC_TS, WORD_TYPE

from ._frames import fast_envelope, parse_block
from .formats import import_rows
from .raw import STA_TRANSCRIPT_TOPIC, TUTORIAL_EXPORT_TOPIC

SEGMENTS_SCHEMA = SEGMENTS.arrow_schema()
_WORD_STRUCT = WORD_TYPE.value_type
_DICT_COLS = ("conversation_id", "communication_id", "channel", "speaker", "session_id")


def _speaker(channel: str) -> str:
    return SPEAKER_BY_CHANNEL.get(channel, channel.lower())


def _fast_columns(
    raw: pa.Table, parsed: pa.Table, rows: np.ndarray, parsed_rows: np.ndarray | None
) -> dict[str, Any]:
    """Segment columns (plain types) of the raw rows ``rows``, from their parsed frames.

    ``parsed_rows[i]`` is the row of ``parsed`` holding raw row ``i`` (None: aligned).
    The parsed block is never copied: transcripts of other rows are dropped after
    flattening, which costs nothing when those rows have none (heartbeats, status).
    """
    prow = rows if parsed_rows is None else parsed_rows[rows]
    body = parsed.column("eventBody").combine_chunks()
    tr = pc.struct_field(body, "transcripts")
    local = pc.list_parent_indices(tr).to_numpy().astype(np.int64, copy=False)
    flat = pc.list_flatten(tr)
    to_raw = np.full(parsed.num_rows, -1, dtype=np.int64)
    to_raw[prow] = rows
    child_raw = to_raw[local]
    if len(child_raw) and child_raw.min() < 0:
        sel = np.flatnonzero(child_raw >= 0)
        flat = flat.take(pa.array(sel))
        local = local[sel]
        child_raw = child_raw[sel]
    local_arr = pa.array(local)
    raw_idx = pa.array(child_raw, pa.int64())
    alts = pc.struct_field(flat, "alternatives")
    lens = pc.fill_null(pc.list_value_length(alts), 0)
    if len(alts) and pc.min(lens).as_py() == 0:
        alts = pc.if_else(pc.greater(lens, 0), alts, pa.scalar(None, alts.type))
    best = pc.list_element(alts, 0) if len(alts) else pa.nulls(0, alts.type.value_type)
    offset = pc.struct_field(best, "offsetMs")
    duration = pc.struct_field(best, "durationMs")
    start_s = pc.divide(offset, 1000.0)
    end_s = pc.divide(pc.add(offset, duration), 1000.0)
    session_start = pc.take(pc.struct_field(body, "sessionStartTimeMs"), local_arr)
    start_ms = pc.add(session_start, offset)
    channel = pc.fill_null(pc.struct_field(flat, "channel"), "UNKNOWN")
    text = pc.fill_null(pc.struct_field(best, "transcript"), "")
    # words: wire ms -> seconds
    wl = pc.struct_field(best, "words")
    wlen = pc.fill_null(pc.list_value_length(wl), 0).to_numpy(zero_copy_only=False)
    wflat = pc.list_flatten(wl)
    w_off = pc.struct_field(wflat, "offsetMs")
    values = pa.StructArray.from_arrays(
        [
            pc.struct_field(wflat, "word"),
            pc.divide(w_off, 1000.0),
            pc.divide(pc.add(w_off, pc.struct_field(wflat, "durationMs")), 1000.0),
            pc.struct_field(wflat, "confidence"),
        ],
        fields=list(_WORD_STRUCT),
    )
    offsets = np.zeros(len(wlen) + 1, dtype=np.int32)
    np.cumsum(wlen, out=offsets[1:])
    words = pa.ListArray.from_arrays(pa.array(offsets), values, type=WORD_TYPE)
    return {
        "_row": raw_idx,
        "_sub": _sub_index(local),
        "conversation_id": pc.take(raw.column("conversation_id"), raw_idx),
        "communication_id": pc.take(pc.struct_field(body, "communicationId"), local_arr),
        "utterance_id": pc.struct_field(flat, "utteranceId"),
        "channel": channel,
        "speaker": None,  # mapped from channel after concatenation
        "is_final": pc.fill_null(pc.struct_field(flat, "isFinal"), False),
        "confidence": pc.struct_field(best, "confidence"),
        "start_s": start_s,
        "end_s": end_s,
        "start_at_ms": start_ms,
        "text": text,
        "words": words,
    }


def _sub_index(parents: np.ndarray) -> pa.Array:
    """0-based position of each child within its parent (parents sorted ascending)."""
    n = len(parents)
    if n == 0:
        return pa.array([], pa.int64())
    starts = np.r_[0, np.flatnonzero(np.diff(parents)) + 1]
    run = np.repeat(starts, np.diff(np.r_[starts, n]))
    return pa.array(np.arange(n) - run, pa.int64())


def _event_rows(ev: TranscriptionEvent) -> list[dict[str, Any]]:
    rows = []
    for u in ev.utterances:
        best = u.best
        off = None if best is None else best.offset_ms
        dur = None if best is None else best.duration_ms
        words = []
        if best is not None:
            for w in best.words:
                words.append(
                    {
                        "word": w.word,
                        "start_s": None if w.offset_ms is None else w.offset_ms / 1000.0,
                        "end_s": None
                        if w.offset_ms is None or w.duration_ms is None
                        else (w.offset_ms + w.duration_ms) / 1000.0,
                        "confidence": w.confidence,
                    }
                )
        sst = ev.session_start_time_ms
        rows.append(
            {
                "conversation_id": ev.conversation_id,
                "communication_id": ev.communication_id,
                "utterance_id": u.utterance_id,
                "channel": u.channel,
                "speaker": u.speaker if (ev.legacy and u.speaker) else _speaker(u.channel),
                "is_final": u.is_final,
                "confidence": None if best is None else best.confidence,
                "start_s": None if off is None else off / 1000.0,
                "end_s": None if off is None or dur is None else (off + dur) / 1000.0,
                "start_at_ms": None if sst is None or off is None else sst + off,
                "text": "" if best is None else best.transcript,
                "words": words,
            }
        )
    return rows


def rows_of_frame(topic: str | None, frame: str) -> list[dict[str, Any]]:
    """Segment rows (plain dicts) of one raw frame, by its topic; [] when it has none.

    Import rows (element rows, document rows, whole documents of earlier versions) skip
    bad elements (the converter quarantines them); a notification frame that fails
    ``parse_frame`` has no rows.
    """
    if topic in (TUTORIAL_EXPORT_TOPIC, STA_TRANSCRIPT_TOPIC):
        try:
            doc = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return []
        return import_rows(doc)[0]
    try:
        msg = parse_frame(frame)
    except ProtocolError:
        return []
    if isinstance(msg, TranscriptionEvent):
        return _event_rows(msg)
    return []


#: One segment row per utterance before ids become dictionaries and ``speaker`` is added:
#: ``_row``/``_sub`` locate it in the raw table; times in seconds, ``start_at_ms`` epoch ms.
_PLAIN = pa.schema(
    [
        ("_row", pa.int64()),
        ("_sub", pa.int64()),
        ("conversation_id", pa.string()),
        ("communication_id", pa.string()),
        ("utterance_id", pa.string()),
        ("channel", pa.string()),
        ("is_final", pa.bool_()),
        ("confidence", pa.float64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("start_at_ms", pa.float64()),
        ("text", pa.string()),
        ("words", WORD_TYPE),
    ]
)


def _slow_columns(raw: pa.Table, rows: np.ndarray) -> dict[str, Any]:
    frames = raw.column("frame").take(pa.array(rows, pa.int64())).to_pylist()
    topics = raw.column("topic").take(pa.array(rows, pa.int64())).to_pylist()
    got = [rows_of_frame(topic, frame) for topic, frame in zip(topics, frames, strict=True)]
    return _row_columns(rows.tolist(), got)


def _row_columns(raw_rows: Sequence[int], got: Sequence[list[dict[str, Any]]]) -> dict[str, Any]:
    """Plain segment columns from the row dicts ``got[k]`` of raw row ``raw_rows[k]``."""
    out: list[dict[str, Any]] = []
    idx: list[int] = []
    sub: list[int] = []
    for r, rows in zip(raw_rows, got, strict=True):
        out.extend(rows)
        idx.extend([r] * len(rows))
        sub.extend(range(len(rows)))
    cols: dict[str, Any] = {"_row": pa.array(idx, pa.int64()), "_sub": pa.array(sub, pa.int64())}
    for field in [*_PLAIN, pa.field("speaker", pa.string())]:
        if field.name not in cols:  # _row and _sub are set above
            cols[field.name] = pa.array([o[field.name] for o in out], field.type)
    return cols


def _word_count(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    n = pc.add(pc.count_substring_regex(trimmed, r"\s+"), 1)
    return pc.if_else(pc.equal(trimmed, ""), 0, n).cast(pa.int32())


def _dict(arr: pa.Array) -> pa.Array:
    out = pc.dictionary_encode(arr)
    return out.cast(pa.dictionary(pa.int32(), pa.string()))


def _finish(raw: pa.Table, parts: list[dict[str, Any]], words: bool) -> pa.Table:
    tables = []
    speakers = []
    for part in parts:
        t = pa.Table.from_arrays([part[n] for n in _PLAIN.names], schema=_PLAIN)
        tables.append(t)
        sp = part["speaker"]
        if sp is None:  # map channel -> speaker through the (small) dictionary
            enc = pc.dictionary_encode(part["channel"])
            mapped = pa.array([_speaker(c) for c in enc.dictionary.to_pylist()], pa.string())
            sp = pc.take(mapped, enc.indices)
        speakers.append(sp)
    t = pa.concat_tables(tables) if tables else _PLAIN.empty_table()
    sp_all = pa.concat_arrays(speakers) if speakers else pa.array([], pa.string())
    t = t.append_column("speaker", sp_all.cast(pa.string()))
    if len(parts) > 1:
        t = t.take(pc.sort_indices(t, [("_row", "ascending"), ("_sub", "ascending")]))
    t = t.combine_chunks()
    row = t.column("_row")
    n = t.num_rows
    start_at = pc.multiply(pc.round(t.column("start_at_ms")), 1000.0)
    # a time no timestamp can hold (|us| >= 2**63) has no absolute start: null, no crash
    fits = pc.less(pc.abs(start_at), float(2**62))
    start_at = pc.if_else(fits, start_at, pa.scalar(None, pa.float64()))
    start_at = pc.cast(pc.cast(start_at, pa.int64()), UTC_TS)
    text = t.column("text").combine_chunks()
    cols = {
        "conversation_id": _dict(t.column("conversation_id").combine_chunks()),
        "communication_id": _dict(t.column("communication_id").combine_chunks()),
        "utterance_id": t.column("utterance_id"),
        "channel": _dict(t.column("channel").combine_chunks()),
        "speaker": _dict(t.column("speaker").combine_chunks()),
        "is_final": t.column("is_final"),
        "confidence": t.column("confidence"),
        "start_s": t.column("start_s"),
        "end_s": t.column("end_s"),
        "start_at": start_at,
        "text": text,
        "word_count": _word_count(text),
        "session_id": _dict(pc.take(raw.column("session_id"), row).combine_chunks()),
        "seq": pc.take(raw.column("seq"), row),
        "received_at": pc.take(raw.column("received_at"), row),
        "order": pa.array(np.arange(n, dtype=np.int64)),
        "words": t.column("words"),
    }
    schema = SEGMENTS_SCHEMA if words else SEGMENTS.arrow_schema(include_optional=False)
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)


def segments_from_parsed(
    raw: pa.Table,
    parsed: pa.Table | None,
    ok: pa.Array | None,
    *,
    words: bool = True,
    parsed_rows: np.ndarray | None = None,
) -> pa.Table:
    """Segments of ``raw`` reusing an already parsed block (see ``_frames.parse_block``).

    Args:
        raw: a ``RAW`` table.
        parsed: ``parse_block`` of ``raw``'s frames (row-aligned), or ``None``.
        ok: rows the fast path vouched for (``raw.envelope_columns``, row-aligned with
            ``raw``), or ``None``.
        words: include the optional ``words`` column.
        parsed_rows: the row of ``parsed`` of each raw row (ascending), when ``raw`` kept
            only some of the parsed frames; ``None`` when they are row-aligned.
    """
    kind = raw.column("kind").combine_chunks()
    is_tr = pc.fill_null(pc.equal(kind, "transcription"), False).to_numpy(zero_copy_only=False)
    parts = []
    if parsed is not None and ok is not None:
        okn = ok.to_numpy(zero_copy_only=False) & is_tr
        fast_rows = np.flatnonzero(okn)
        slow_rows = np.flatnonzero(is_tr & ~okn)
        if len(fast_rows):
            parts.append(_fast_columns(raw, parsed, fast_rows, parsed_rows))
    else:
        slow_rows = np.flatnonzero(is_tr)
    if len(slow_rows):
        parts.append(_slow_columns(raw, slow_rows))
    return _finish(raw, parts, words)


def segments_from_rows(
    raw: pa.Table,
    rows: dict[int, list[dict[str, Any]]],
    columns: dict[int, dict[str, pa.Array]] | None = None,
    *,
    words: bool = True,
) -> pa.Table:
    """Segments of ``raw`` from utterance rows already derived (import rows).

    Args:
        raw: a ``RAW`` table.
        rows: raw row index -> its row dicts (as ``rows_of_frame`` gives them).
        columns: raw row indices -> the same rows as columns (``_row``/``_sub``/``words``
            not needed: one utterance per raw row, without words), for rows derived
            vectorised (``formats.export_segment_columns``); keys are each run's first
            raw row, and the run is consecutive.
        words: include the optional ``words`` column.

    The result is what ``raw_to_segments(raw)`` gives.
    """
    idx = sorted(rows)
    parts = [_row_columns(idx, [rows[i] for i in idx])] if idx else []
    for first, cols in (columns or {}).items():
        n = len(cols["conversation_id"])
        part: dict[str, Any] = dict(cols)
        part["_row"] = pa.array(np.arange(first, first + n, dtype=np.int64))
        part["_sub"] = pa.array(np.zeros(n, dtype=np.int64))
        empty = pa.array(np.zeros(n + 1, dtype=np.int32))
        part["words"] = pa.ListArray.from_arrays(empty, pa.array([], _WORD_STRUCT), type=WORD_TYPE)
        parts.append(part)
    return _finish(raw, parts, words)


def raw_to_segments(raw: pa.Table, *, words: bool = True) -> pa.Table:
    """Flatten a ``RAW`` table into a ``SEGMENTS`` table (one row per utterance version).

    Args:
        raw: a table with ``diarkit.schema.RAW``'s columns (``frame``, ``kind``, ``topic``,
            ``conversation_id``, ``session_id``, ``seq``, ``received_at``).
        words: include the optional ``words`` column (word times in seconds).

    Returns:
        A ``pyarrow.Table`` with ``diarkit.schema.SEGMENTS``'s columns; ids, channel,
        speaker and session are dictionary-encoded. Raw rows without transcripts
        (heartbeats, status-only messages, invalid frames) contribute no rows.
    """
    kind = raw.column("kind").combine_chunks()
    topic = raw.column("topic").combine_chunks()
    is_tr = pc.fill_null(pc.equal(kind, "transcription"), False)
    is_wire = pc.fill_null(pc.starts_with(topic, "v2."), False)
    wire = np.flatnonzero(pc.and_(is_tr, is_wire).to_numpy(zero_copy_only=False))
    parsed = ok = pos = None
    if len(wire):
        frames = raw.column("frame").take(pa.array(wire, pa.int64())).combine_chunks()
        buf = _joined(frames)
        if buf is not None:
            block = parse_block(buf, len(wire))
            if block is not None:
                okw = fast_envelope(block)["ok"].to_numpy(zero_copy_only=False)
                # a raw-aligned mask; each raw row's row in the block (wire rows only)
                full_ok = np.zeros(raw.num_rows, dtype=bool)
                full_ok[wire] = okw
                pos = np.zeros(raw.num_rows, dtype=np.int64)
                pos[wire] = np.arange(len(wire))
                parsed = block
                ok = pa.array(full_ok)
    return segments_from_parsed(raw, parsed, ok, words=words, parsed_rows=pos)


def _joined(frames: pa.Array) -> pa.Buffer | None:
    """The frames' bytes separated by newlines, or None if a frame contains a newline."""
    if len(frames) == 0:
        return None
    if pc.any(pc.match_substring_regex(frames, r"[\r\n]")).as_py():
        return None
    if frames.null_count:
        return None
    empty = pa.array(np.full(len(frames), "", dtype=object), pa.string())
    with_nl = pc.binary_join_element_wise(frames, empty, pa.scalar("\n"))  # "frame\n"
    offsets = with_nl.buffers()[1]
    data = with_nl.buffers()[2]
    off = np.frombuffer(offsets, dtype=np.int32)[with_nl.offset : with_nl.offset + len(frames) + 1]
    return data[off[0] : off[-1]]
