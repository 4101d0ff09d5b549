"""Vectorised parsing of notification frames with pyarrow.json (the fast path).

A block of newline-separated frames is parsed in one call with an explicit schema that
names only the fields diarkit derives from (envelope + transcription body). When a block
does not fit the schema (a malformed line, a wrong type, a frame with a newline inside),
``parse_block`` returns ``None`` and callers fall back to ``diarkit.genesys.parse_frame``
per frame, which is the authority on what is valid and says where a frame is wrong.
Times keep the wire's units (milliseconds); numbers are read as float64 so that both
``1`` and ``1.0`` are accepted, as ``parse_frame`` does.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

BLOCK_SIZE = 16 << 20

_F = pa.float64()
_S = pa.string()

WIRE_WORD = pa.struct([("word", _S), ("confidence", _F), ("offsetMs", _F), ("durationMs", _F)])
WIRE_ALTERNATIVE = pa.struct(
    [
        ("confidence", _F),
        ("offsetMs", _F),
        ("durationMs", _F),
        ("transcript", _S),
        ("words", pa.list_(WIRE_WORD)),
    ]
)
WIRE_TRANSCRIPT = pa.struct(
    [
        ("utteranceId", _S),
        ("isFinal", pa.bool_()),
        ("channel", _S),
        ("alternatives", pa.list_(WIRE_ALTERNATIVE)),
    ]
)
WIRE_PARTICIPANT = pa.struct(
    [(k, _S) for k in ("id", "purpose", "state", "connectedTime", "endTime", "userId", "queueId")]
    + [("calls", pa.list_(pa.struct([("state", _S)])))]
)
WIRE_BODY = pa.struct(
    [
        ("eventTime", _S),
        ("conversationId", _S),
        ("communicationId", _S),
        ("sessionStartTimeMs", _F),
        ("transcripts", pa.list_(WIRE_TRANSCRIPT)),
        ("id", _S),  # conversation events (queue/user calls topics)
        ("participants", pa.list_(WIRE_PARTICIPANT)),
    ]
)
#: The part of a notification frame the fast path reads; other fields are ignored.
WIRE_SCHEMA = pa.schema(
    [
        ("topicName", _S),
        ("eventBody", WIRE_BODY),
        ("metadata", pa.struct([("CorrelationId", _S)])),
    ]
)

#: Transcription topics; group 1 is the conversation id (same rule as genesys.topics).
TRANSCRIPTION_TOPIC_RE = (
    r"^v2\.conversations\.(?P<cid>[0-9A-Za-z][0-9A-Za-z_-]{0,127})\.transcription$"
)

#: Queue and user conversation topics (``conversations.calls``).
CALLS_TOPIC_RE = (
    r"^v2\.(?:routing\.queues|users)\.[0-9A-Za-z][0-9A-Za-z_-]{0,127}\.conversations\.calls$"
)

_PARSE = pj.ParseOptions(explicit_schema=WIRE_SCHEMA, unexpected_field_behavior="ignore")


#: pyarrow.json's own threads; switched off while several files convert on threads.
PARSE_THREADS = [True]


def parse_block(buffer: bytes | pa.Buffer, expected_rows: int) -> pa.Table | None:
    """Parse newline-separated frames into a ``WIRE_SCHEMA`` table, or ``None`` if it fails.

    Args:
        buffer: frames separated by ``\\n``, without blank lines.
        expected_rows: number of frames in ``buffer``; a different row count means a frame
            spanned lines and the block is rejected.
    """
    if expected_rows == 0:
        return WIRE_SCHEMA.empty_table()
    source = pa.BufferReader(buffer) if isinstance(buffer, pa.Buffer) else io.BytesIO(buffer)
    try:
        table = pj.read_json(
            source,
            read_options=pj.ReadOptions(block_size=BLOCK_SIZE, use_threads=PARSE_THREADS[0]),
            parse_options=_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != expected_rows:
        return None
    return table.combine_chunks()


def parse_block_strict(frame: bytes) -> pa.Table | None:
    """One frame (no newline in it) parsed with ``WIRE_SCHEMA``, for ``raw.strict_problem``.

    Returns:
        The one-row table, or ``None`` when Arrow cannot read it for any reason but one.

    Raises:
        ValueError: a member of ``WIRE_SCHEMA`` appears twice in one object (the message
            names it as Arrow does, e.g. ``Column(/eventBody/conversationId)``).
    """
    try:
        return pj.read_json(
            pa.BufferReader(frame + b"\n"),
            read_options=pj.ReadOptions(use_threads=False),
            parse_options=_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        text = str(exc)
        if "specified twice" in text:
            column = text.split("Column(", 1)[-1].split(")", 1)[0]
            raise ValueError(f"$.{column.strip('/').replace('/', '.')}: duplicate key") from None
        return None


#: Numbers at or beyond this magnitude do not fit int64 (the wire's integers).
INT64_LIMIT = float(2**63)

_NUMERIC_PATHS = (
    ("eventBody", "sessionStartTimeMs"),
    ("eventBody", "transcripts", "alternatives", "offsetMs"),
    ("eventBody", "transcripts", "alternatives", "durationMs"),
    ("eventBody", "transcripts", "alternatives", "confidence"),
    ("eventBody", "transcripts", "alternatives", "words", "offsetMs"),
    ("eventBody", "transcripts", "alternatives", "words", "durationMs"),
    ("eventBody", "transcripts", "alternatives", "words", "confidence"),
)


def too_big_numbers(table: pa.Table) -> dict[str, float]:
    """The numeric ``WIRE_SCHEMA`` members of parsed frames beyond the int64 range.

    Returns:
        ``{dotted member name: first such value}``, empty when there is none.
    """
    out: dict[str, float] = {}
    for path in _NUMERIC_PATHS:
        arr: pa.Array = table.column(path[0]).combine_chunks()
        for name in path[1:]:
            while pa.types.is_list(arr.type):
                arr = pc.list_flatten(arr)
            arr = pc.struct_field(arr, name)
        big = pc.filter(arr, pc.fill_null(pc.greater_equal(pc.abs(arr), INT64_LIMIT), False))
        if len(big):
            out[".".join(path)] = big[0].as_py()
    return out


def _rows_with(parents: pa.Array, bad: pa.Array, n: int) -> np.ndarray:
    """Bool mask (length ``n``) of parent rows that have at least one ``bad`` child."""
    mask = np.zeros(n, dtype=bool)
    idx = pc.filter(parents, bad).to_numpy(zero_copy_only=False)
    mask[idx] = True
    return mask


#: Largest magnitude of a number the fast path vouches for: 2**53, below which float64
#: holds every integer exactly (epoch milliseconds reach 2**41). Larger numbers are left
#: to ``parse_frame`` and ``raw.strict_problem`` (an integer beyond int64 is invalid).
SAFE_NUMBER = float(2**53)


def _too_big(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.greater(pc.abs(values), SAFE_NUMBER), False)


def _out_of_range(body: pa.Array, transcripts: pa.Array, flat: pa.Array, n: int) -> np.ndarray:
    """Bool mask of frames with a number the fast path does not vouch for (see above)."""
    bad: np.ndarray = np.asarray(
        _too_big(pc.struct_field(body, "sessionStartTimeMs")).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    if not len(flat):
        return bad
    alts = pc.struct_field(flat, "alternatives")
    aflat = pc.list_flatten(alts)
    if not len(aflat):
        return bad
    words = pc.list_flatten(pc.struct_field(aflat, "words"))
    alt_bad = np.zeros(len(aflat), dtype=bool)
    for name in ("offsetMs", "durationMs", "confidence"):
        alt_bad |= _too_big(pc.struct_field(aflat, name)).to_numpy(zero_copy_only=False)
    if len(words):
        word_bad = np.zeros(len(words), dtype=bool)
        for name in ("offsetMs", "durationMs", "confidence"):
            word_bad |= _too_big(pc.struct_field(words, name)).to_numpy(zero_copy_only=False)
        if word_bad.any():
            wparents = pc.list_parent_indices(pc.struct_field(aflat, "words"))
            alt_bad |= _rows_with(wparents, pa.array(word_bad), len(aflat))
    if alt_bad.any():
        tr_bad = _rows_with(pc.list_parent_indices(alts), pa.array(alt_bad), len(flat))
        bad |= _rows_with(pc.list_parent_indices(transcripts), pa.array(tr_bad), n)
    return bad


def fast_envelope(parsed: pa.Table) -> dict[str, pa.Array]:
    """Envelope columns of parsed frames, and which rows the fast path can vouch for.

    Returns a dict with ``topic``, ``kind``, ``conversation_id``, ``event_time`` (ISO
    strings) and ``ok`` (bool): ``ok`` rows are well-formed transcription or conversation
    (``conversations.calls``) frames; every other row must be classified by
    ``parse_frame``.
    """
    topic = parsed.column("topicName").combine_chunks()
    body = parsed.column("eventBody").combine_chunks()
    n = len(topic)
    topic_cid = pc.struct_field(pc.extract_regex(topic, TRANSCRIPTION_TOPIC_RE), "cid")
    body_valid = pc.is_valid(body).to_numpy(zero_copy_only=False)
    is_tr = pc.is_valid(topic_cid).to_numpy(zero_copy_only=False) & body_valid
    transcripts = pc.struct_field(body, "transcripts")
    flat = pc.list_flatten(transcripts)
    if len(flat):  # every transcript must be an object with an utteranceId
        bad = pc.or_kleene(pc.is_null(flat), pc.is_null(pc.struct_field(flat, "utteranceId")))
        bad = pc.fill_null(bad, True)
        if pc.any(bad).as_py():
            is_tr &= ~_rows_with(pc.list_parent_indices(transcripts), bad, n)
    conv_id = pc.struct_field(body, "id")
    is_calls = (
        pc.fill_null(pc.match_substring_regex(topic, CALLS_TOPIC_RE), False).to_numpy(
            zero_copy_only=False
        )
        & pc.is_valid(conv_id).to_numpy(zero_copy_only=False)
        & body_valid
    )
    if is_calls.any():
        parts = pc.struct_field(body, "participants")
        pflat = pc.list_flatten(parts)
        if len(pflat) and pflat.null_count:
            is_calls &= ~_rows_with(pc.list_parent_indices(parts), pc.is_null(pflat), n)
    if is_tr.any():
        is_tr &= ~_out_of_range(body, transcripts, flat, n)
    ok = is_tr | is_calls
    kind = pc.if_else(
        pa.array(is_tr),
        pa.scalar("transcription"),
        pc.if_else(pa.array(is_calls), pa.scalar("conversation"), pa.scalar(None, pa.string())),
    )
    cid = pc.if_else(
        pa.array(is_calls), conv_id, pc.coalesce(pc.struct_field(body, "conversationId"), topic_cid)
    )
    return {
        "topic": topic,
        "kind": kind,
        "conversation_id": cid,
        "event_time": pc.struct_field(body, "eventTime"),
        "ok": pa.array(ok),
    }


def parse_event_times(values: pa.Array) -> pa.Array:
    """ISO-8601 strings to UTC timestamps (us); unparseable values become null."""
    target = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for i in range(len(values)):
            try:
                v = values[i].as_py()
                out.append(None if v is None else pc.cast(pa.array([v]), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
                # UnicodeDecodeError: Arrow's JSON reader keeps a frame's bytes that are not
                # UTF-8 inside its strings; the frame is flagged not UTF-8 afterwards
                out.append(None)
        return pa.array(out, target)
