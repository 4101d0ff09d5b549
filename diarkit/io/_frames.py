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
WIRE_BODY = pa.struct(
    [
        ("eventTime", _S),
        ("conversationId", _S),
        ("communicationId", _S),
        ("sessionStartTimeMs", _F),
        ("transcripts", pa.list_(WIRE_TRANSCRIPT)),
    ]
)
#: The part of a notification frame the fast path reads; other fields are ignored.
WIRE_SCHEMA = pa.schema([("topicName", _S), ("eventBody", WIRE_BODY)])

#: Transcription topics; group 1 is the conversation id (same rule as genesys.topics).
TRANSCRIPTION_TOPIC_RE = (
    r"^v2\.conversations\.(?P<cid>[0-9A-Za-z][0-9A-Za-z_-]{0,127})\.transcription$"
)

_PARSE = pj.ParseOptions(explicit_schema=WIRE_SCHEMA, unexpected_field_behavior="ignore")


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
            read_options=pj.ReadOptions(block_size=BLOCK_SIZE, use_threads=True),
            parse_options=_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != expected_rows:
        return None
    return table.combine_chunks()


def fast_envelope(parsed: pa.Table) -> dict[str, pa.Array]:
    """Envelope columns of parsed frames, and which rows the fast path can vouch for.

    Returns a dict with ``topic``, ``conversation_id``, ``event_time`` (ISO strings) and
    ``ok`` (bool): ``ok`` rows are well-formed transcription frames; every other row must
    be classified by ``parse_frame``.
    """
    topic = parsed.column("topicName").combine_chunks()
    body = parsed.column("eventBody").combine_chunks()
    n = len(topic)
    topic_cid = pc.struct_field(pc.extract_regex(topic, TRANSCRIPTION_TOPIC_RE), "cid")
    is_tr = pc.fill_null(pc.is_valid(topic_cid), False)
    body_valid = pc.is_valid(body)
    body_cid = pc.struct_field(body, "conversationId")
    cid = pc.coalesce(body_cid, topic_cid)
    transcripts = pc.struct_field(body, "transcripts")
    # every transcript must carry an utteranceId (parse_frame requires it)
    flat = pc.list_flatten(transcripts)
    if len(flat):
        missing = pc.is_null(pc.struct_field(flat, "utteranceId"))
        if pc.any(missing).as_py():
            parents = pc.list_parent_indices(transcripts)
            bad_rows = pc.unique(pc.filter(parents, missing))
            bad = pc.is_in(pa.array(range(n), pa.int64()), value_set=bad_rows.cast(pa.int64()))
            is_tr = pc.and_(is_tr, pc.invert(bad))
        # a null element inside transcripts[] is not an object
        if flat.null_count:
            parents = pc.list_parent_indices(transcripts)
            bad_rows = pc.unique(pc.filter(parents, pc.is_null(flat)))
            bad = pc.is_in(pa.array(range(n), pa.int64()), value_set=bad_rows.cast(pa.int64()))
            is_tr = pc.and_(is_tr, pc.invert(bad))
    ok = pc.and_(is_tr, body_valid)
    return {
        "topic": topic,
        "conversation_id": cid,
        "event_time": pc.struct_field(body, "eventTime"),
        "ok": pc.fill_null(ok, False),
    }


def parse_event_times(values: pa.Array) -> pa.Array:
    """ISO-8601 strings to UTC timestamps (us); unparseable values become null."""
    target = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for v in values.to_pylist():
            try:
                out.append(None if v is None else pc.cast(pa.array([v]), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.array(out, target)
