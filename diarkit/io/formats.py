"""Pure parsing of the non-frame import documents into utterance rows.

Two document formats carry transcripts but are not notification frames:

* the tutorial export ``{"totalSegments", "segments": [{conversation_id, speaker, text,
  start_seconds, end_seconds, confidence, is_final, timestamp}]}`` (times in seconds);
* the post-call Speech and Text Analytics transcript ``{conversationId, communicationId,
  transcripts: [{phrases: [{text, decoratedText, confidence, stability, startTimeMs,
  duration: {milliseconds}, participantPurpose, phraseIndex, words[]}]}]}`` (epoch ms).

Converting streams these documents element by element (``diarkit.io.documents``): each
segment or phrase is one raw row holding an *import element* ``{"path", "context",
"element"}`` (the element verbatim, with the scalar members of its enclosing objects as
context), and the document minus its elements is one more row. Raw rows written by
earlier versions hold whole documents. These functions turn either into segment rows; a
bad element is reported with its JSON path and skipped, good ones are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from diarkit.genesys import ProtocolError
from diarkit.genesys.fields import boolean, number, string
from diarkit.genesys.messages import LEGACY_SPEAKER_CHANNELS
from diarkit.schema import SPEAKER_BY_CHANNEL

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class InputFormat:
    """A pluggable input format of ``convert`` (e.g. ``diarkit.io.eventbridge``).

    Attributes:
        name: what ``detect_format`` answers for it (e.g. ``"eventbridge"``).
        detect: given a file's first bytes (up to 64 KiB, gzip already undone, a UTF-8
            byte-order mark removed), True if the file is in this format. Must not raise.
        read: ``read(path, chunk_bytes)`` yields ``diarkit.io.readers.Batch`` objects in
            file order (records in ``blobs``, verbatim; problems in ``rejected``; a
            per-record ``received_at`` array, when the format carries a time, e.g.
            EventBridge's ``time``).
    """

    name: str
    detect: Callable[[bytes], bool]
    read: Callable[[Path, int], Iterator[Any]]


#: Registered formats, tried in order before the built-in ones.
INPUT_FORMATS: list[InputFormat] = []


def register_format(fmt: InputFormat) -> InputFormat:
    """Add ``fmt`` to the formats ``detect_format``/``iter_batches`` know (idempotent by name).

    Call it at import time of the module defining the reader, and import that module
    from ``diarkit.io.readers``' ``_PLUGINS`` (so detection sees it without the caller
    importing anything).
    """
    INPUT_FORMATS[:] = [f for f in INPUT_FORMATS if f.name != fmt.name]
    INPUT_FORMATS.append(fmt)
    return fmt

_PURPOSE_CHANNEL = {
    "internal": "INTERNAL",
    "agent": "INTERNAL",
    "ivr": "INTERNAL",
    "external": "EXTERNAL",
    "customer": "EXTERNAL",
}


def is_tutorial_export(doc: Any) -> bool:
    """True for ``{"totalSegments", "segments": [...]}`` (or a ``segments`` list alone)."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("segments"), list)
        and ("totalSegments" in doc or "topicName" not in doc)
    )


def is_sta_transcript(doc: Any) -> bool:
    """True for a post-call transcript: ``transcripts[]`` whose items carry ``phrases``."""
    if not isinstance(doc, dict) or "topicName" in doc:
        return False
    tr = doc.get("transcripts")
    return isinstance(tr, list) and any(isinstance(t, dict) and "phrases" in t for t in tr)


def is_import_element(doc: Any) -> bool:
    """True for an import element row ``{"path": "$...", "context": [...], "element"}``."""
    return (
        isinstance(doc, dict)
        and len(doc) == 3
        and isinstance(doc.get("path"), str)
        and doc["path"].startswith("$.")
        and isinstance(doc.get("context"), list)
        and "element" in doc
    )


def export_segment_row(seg: Any, p: str) -> Row:
    """The utterance row of one tutorial export segment at JSON path ``p``.

    Times are seconds (``start_s``/``end_s``) as in the export.

    Raises:
        ProtocolError: a field has the wrong type or is missing (the message names it).
    """
    if not isinstance(seg, dict):
        raise ProtocolError("expected an object", p)
    start = number(seg, "start_seconds", p)
    end = number(seg, "end_seconds", p)
    if start is not None and end is not None and end < start:
        raise ProtocolError(f"end {end} is before start {start}", f"{p}.end_seconds")
    cid = string(seg, "conversation_id", p)
    if not cid:
        raise ProtocolError("required field is missing", f"{p}.conversation_id")
    speaker = string(seg, "speaker", p)
    final = boolean(seg, "is_final", p)
    channel = LEGACY_SPEAKER_CHANNELS.get((speaker or "").lower(), "UNKNOWN")
    text = string(seg, "text", p) or ""
    return {
        "conversation_id": cid,
        "communication_id": None,
        "utterance_id": None,
        "channel": channel,
        "speaker": speaker or SPEAKER_BY_CHANNEL[channel],
        "is_final": True if final is None else final,
        "confidence": number(seg, "confidence", p),
        "start_s": start,
        "end_s": end,
        "start_at_ms": None,
        "text": text,
        "words": [],
    }


def tutorial_export_rows(doc: Any) -> tuple[list[Row], list[tuple[str, Any]]]:
    """Utterance rows of a whole tutorial export, and ``(error, element)`` for bad segments.

    Row times are seconds (``start_s``/``end_s``) as in the export.
    """
    rows: list[Row] = []
    errors: list[tuple[str, Any]] = []
    for i, seg in enumerate(doc.get("segments") or []):
        try:
            rows.append(export_segment_row(seg, f"$.segments[{i}]"))
        except ProtocolError as exc:
            errors.append((str(exc), seg))
    return rows, errors


def _duration_ms(obj: dict[str, Any], path: str) -> float | None:
    d = obj.get("duration")
    if d is None:
        return number(obj, "durationMs", path)
    if isinstance(d, dict):
        return number(d, "milliseconds", f"{path}.duration")
    if isinstance(d, int | float) and not isinstance(d, bool):
        return float(d)
    raise ProtocolError("expected an object", f"{path}.duration")


def _epoch_ms(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def sta_phrase_row(
    ph: Any,
    p: str,
    *,
    conversation_id: str | None,
    communication_id: str | None,
    transcript_id: Any,
    index: int,
    base_ms: float,
) -> Row:
    """The utterance row of one post-call transcript phrase at JSON path ``p``.

    Args:
        ph: the phrase (decoded JSON).
        p: its JSON path, for error messages.
        conversation_id: the document's ``conversationId``.
        communication_id: the document's ``communicationId``.
        transcript_id: the enclosing transcript's ``transcriptId`` (or ``None``).
        index: the phrase's position in its transcript (used without ``phraseIndex``).
        base_ms: epoch ms that ``start_s``/``end_s`` (seconds) are measured from.

    Raises:
        ProtocolError: a field has the wrong type (the message names it).
    """
    if not isinstance(ph, dict):
        raise ProtocolError("expected an object", p)
    start_ms = number(ph, "startTimeMs", p)
    dur = _duration_ms(ph, p)
    purpose = (string(ph, "participantPurpose", p) or "").lower()
    channel = _PURPOSE_CHANNEL.get(purpose, "UNKNOWN")
    text = string(ph, "text", p) or ""
    utterance = ph.get("phraseIndex", index)
    words = []
    for wi, w in enumerate(ph.get("words") or []):
        wp = f"{p}.words[{wi}]"
        if not isinstance(w, dict):
            raise ProtocolError("expected an object", wp)
        ws = number(w, "startTimeMs", wp)
        wd = _duration_ms(w, wp)
        words.append(
            {
                "word": string(w, "word", wp) or "",
                "start_s": None if ws is None else (ws - base_ms) / 1000.0,
                "end_s": None if ws is None or wd is None else (ws + wd - base_ms) / 1000,
                "confidence": number(w, "confidence", wp),
            }
        )
    return {
        "conversation_id": conversation_id,
        "communication_id": communication_id,
        "utterance_id": f"{transcript_id}:{utterance}" if transcript_id else str(utterance),
        "channel": channel,
        "speaker": SPEAKER_BY_CHANNEL[channel],
        "is_final": True,
        "confidence": number(ph, "confidence", p),
        "start_s": None if start_ms is None else (start_ms - base_ms) / 1000.0,
        "end_s": None if start_ms is None or dur is None else (start_ms + dur - base_ms) / 1000.0,
        "start_at_ms": start_ms,
        "text": text,
        "words": words,
    }


def _str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def sta_transcript_rows(doc: Any) -> tuple[list[Row], list[tuple[str, Any]]]:
    """Utterance rows of a whole post-call transcript, and ``(error, element)`` for bad phrases.

    ``start_s`` is seconds from ``conversationStartTime`` (epoch ms) when the document has
    it, else from the transcript's ``startTime``, else from its earliest phrase;
    ``start_at`` is the phrase's ``startTimeMs`` (epoch ms) as UTC.
    """
    rows: list[Row] = []
    errors: list[tuple[str, Any]] = []
    cid, comm = _str(doc, "conversationId"), _str(doc, "communicationId")
    base_doc = _epoch_ms(doc.get("conversationStartTime"))
    for ti, tr in enumerate(doc.get("transcripts") or []):
        tp = f"$.transcripts[{ti}]"
        if not isinstance(tr, dict):
            errors.append((f"{tp}: expected an object", tr))
            continue
        phrases = tr.get("phrases") or []
        base = base_doc if base_doc is not None else _epoch_ms(tr.get("startTime"))
        if base is None:
            starts = [
                float(p["startTimeMs"])
                for p in phrases
                if isinstance(p, dict) and isinstance(p.get("startTimeMs"), int | float)
            ]
            base = min(starts) if starts else 0.0
        for pi, ph in enumerate(phrases):
            try:
                rows.append(
                    sta_phrase_row(
                        ph,
                        f"{tp}.phrases[{pi}]",
                        conversation_id=cid,
                        communication_id=comm,
                        transcript_id=tr.get("transcriptId"),
                        index=pi,
                        base_ms=base,
                    )
                )
            except ProtocolError as exc:
                errors.append((str(exc), ph))
    return rows, errors


_INDEX = re.compile(r"\[(\d+)\]")


def import_element_rows(doc: Any) -> tuple[list[Row], list[str]]:
    """Utterance rows of one import element row (``is_import_element``), and errors.

    An export segment's row is as in ``tutorial_export_rows``. A phrase's ``start_s`` is
    seconds from the context's ``conversationStartTime``, else the transcript's
    ``startTime`` (epoch ms); a phrase without either is measured from the epoch (a
    streamed phrase cannot see its transcript's earliest phrase). Errors name the
    element's path in its document.
    """
    path: str = doc["path"]
    context = [c if isinstance(c, dict) else {} for c in doc["context"]]
    element = doc["element"]
    try:
        if path.startswith("$.segments["):
            return [export_segment_row(element, path)], []
        if path.startswith("$.transcripts[") and len(context) == 2:
            top, tr = context
            base = _epoch_ms(top.get("conversationStartTime"))
            if base is None:
                base = _epoch_ms(tr.get("startTime"))
            row = sta_phrase_row(
                element,
                path,
                conversation_id=_str(top, "conversationId"),
                communication_id=_str(top, "communicationId"),
                transcript_id=tr.get("transcriptId"),
                index=int(_INDEX.findall(path)[-1]),
                base_ms=0.0 if base is None else base,
            )
            return [row], []
    except ProtocolError as exc:
        return [], [str(exc)]
    return [], [f"{path}: not an element of a known import format"]


def import_rows(doc: Any) -> tuple[list[Row], list[tuple[str, Any]]]:
    """Utterance rows and ``(error, element)`` of any import row: element or document."""
    if is_import_element(doc):
        rows, errors = import_element_rows(doc)
        return rows, [(e, doc["element"]) for e in errors]
    if is_sta_transcript(doc):
        return sta_transcript_rows(doc)
    if is_tutorial_export(doc):
        return tutorial_export_rows(doc)
    return [], []


#: The fields of a tutorial export segment that its utterance row reads, as parsed by
#: pyarrow.json (numbers as float64, like ``number``).
EXPORT_SEGMENT_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("speaker", pa.string()),
        ("text", pa.string()),
        ("start_seconds", pa.float64()),
        ("end_seconds", pa.float64()),
        ("confidence", pa.float64()),
        ("is_final", pa.bool_()),
    ]
)
_EXPORT_PARSE = pj.ParseOptions(
    explicit_schema=EXPORT_SEGMENT_SCHEMA, unexpected_field_behavior="ignore"
)
_JSON_NEWLINES = bytes.maketrans(b"\r\n", b"  ")


def export_segment_columns(segments: list[bytes]) -> dict[str, pa.Array] | None:
    """``export_segment_row`` of many segments at once, as columns (vectorised).

    Args:
        segments: segment texts, each already known to be valid JSON (so a newline in
            one can only be whitespace between tokens).

    Returns:
        The rows' fields as Arrow arrays (the keys of ``export_segment_row``'s dicts,
        ``words`` excepted), or ``None`` when a segment is not one ``export_segment_row``
        accepts (a field of the wrong type, a missing ``conversation_id``, an end before
        the start): then each must go through ``export_segment_row``, which says why.
    """
    n = len(segments)
    if n == 0:
        return None
    buf = b"\n".join(s.translate(_JSON_NEWLINES) for s in segments)
    try:
        t = pj.read_json(
            pa.BufferReader(buf),
            read_options=pj.ReadOptions(block_size=16 << 20, use_threads=False),
            parse_options=_EXPORT_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if t.num_rows != n:
        return None
    t = t.combine_chunks()
    cid = t.column("conversation_id").chunk(0) if t.column("conversation_id").num_chunks else None
    if cid is None or cid.null_count or not pc.all(pc.greater(pc.utf8_length(cid), 0)).as_py():
        return None
    start, end = t.column("start_seconds"), t.column("end_seconds")
    if pc.any(pc.less(end, start)).as_py():
        return None
    speaker = t.column("speaker").combine_chunks()
    keys = pa.array(list(LEGACY_SPEAKER_CHANNELS), pa.string())
    found = pc.index_in(pc.utf8_lower(pc.fill_null(speaker, "")), value_set=keys)
    channels = pa.array([*LEGACY_SPEAKER_CHANNELS.values(), "UNKNOWN"], pa.string())
    channel = pc.take(channels, pc.fill_null(found, len(keys)))
    default = pc.take(
        pa.array([SPEAKER_BY_CHANNEL[c] for c in channels.to_pylist()], pa.string()),
        pc.fill_null(found, len(keys)),
    )
    named = pc.fill_null(pc.greater(pc.utf8_length(speaker), 0), False)
    return {
        "conversation_id": cid,
        "communication_id": pa.nulls(n, pa.string()),
        "utterance_id": pa.nulls(n, pa.string()),
        "channel": channel,
        "speaker": pc.if_else(named, speaker, default),
        "is_final": pc.fill_null(t.column("is_final").combine_chunks(), True),
        "confidence": t.column("confidence").combine_chunks(),
        "start_s": start.combine_chunks(),
        "end_s": end.combine_chunks(),
        "start_at_ms": pa.nulls(n, pa.float64()),
        "text": pc.fill_null(t.column("text").combine_chunks(), ""),
    }
