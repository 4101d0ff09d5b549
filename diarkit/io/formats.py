"""Pure parsing of the non-frame import documents into utterance rows.

Two document formats carry transcripts but are not notification frames:

* the tutorial export ``{"totalSegments", "segments": [{conversation_id, speaker, text,
  start_seconds, end_seconds, confidence, is_final, timestamp}]}`` (times in seconds);
* the post-call Speech and Text Analytics transcript ``{conversationId, communicationId,
  transcripts: [{phrases: [{text, decoratedText, confidence, stability, startTimeMs,
  duration: {milliseconds}, participantPurpose, phraseIndex, words[]}]}]}`` (epoch ms).

Each document is stored as one raw row (verbatim); these functions turn it into segment
rows. A bad element is reported with its JSON path and skipped; good ones are kept.
"""

from __future__ import annotations

from typing import Any

from diarkit.genesys import ProtocolError
from diarkit.genesys.fields import boolean, number, string
from diarkit.genesys.messages import LEGACY_SPEAKER_CHANNELS
from diarkit.schema import SPEAKER_BY_CHANNEL

Row = dict[str, Any]

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


def tutorial_export_rows(doc: Any) -> tuple[list[Row], list[tuple[str, Any]]]:
    """Utterance rows of a tutorial export, and ``(error, element)`` for bad segments.

    Row times are seconds (``start_s``/``end_s``) as in the export.
    """
    rows: list[Row] = []
    errors: list[tuple[str, Any]] = []
    for i, seg in enumerate(doc.get("segments") or []):
        p = f"$.segments[{i}]"
        try:
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
            rows.append(
                {
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
            )
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


def sta_transcript_rows(doc: Any) -> tuple[list[Row], list[tuple[str, Any]]]:
    """Utterance rows of a post-call transcript, and ``(error, element)`` for bad phrases.

    ``start_s`` is seconds from ``conversationStartTime`` (epoch ms) when the document has
    it, else from the transcript's ``startTime``, else from its earliest phrase;
    ``start_at`` is the phrase's ``startTimeMs`` (epoch ms) as UTC.
    """
    rows: list[Row] = []
    errors: list[tuple[str, Any]] = []
    cid = doc.get("conversationId") if isinstance(doc.get("conversationId"), str) else None
    comm = doc.get("communicationId") if isinstance(doc.get("communicationId"), str) else None
    base_doc = doc.get("conversationStartTime")
    for ti, tr in enumerate(doc.get("transcripts") or []):
        tp = f"$.transcripts[{ti}]"
        if not isinstance(tr, dict):
            errors.append((f"{tp}: expected an object", tr))
            continue
        phrases = tr.get("phrases") or []
        base_any = base_doc if isinstance(base_doc, int | float) else tr.get("startTime")
        if isinstance(base_any, int | float) and not isinstance(base_any, bool):
            base = float(base_any)
        else:
            starts = [
                float(p["startTimeMs"])
                for p in phrases
                if isinstance(p, dict) and isinstance(p.get("startTimeMs"), int | float)
            ]
            base = min(starts) if starts else 0.0
        tid = tr.get("transcriptId")
        for pi, ph in enumerate(phrases):
            p = f"{tp}.phrases[{pi}]"
            try:
                if not isinstance(ph, dict):
                    raise ProtocolError("expected an object", p)
                start_ms = number(ph, "startTimeMs", p)
                dur = _duration_ms(ph, p)
                purpose = (string(ph, "participantPurpose", p) or "").lower()
                channel = _PURPOSE_CHANNEL.get(purpose, "UNKNOWN")
                text = string(ph, "text", p) or ""
                index = ph.get("phraseIndex", pi)
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
                            "start_s": None if ws is None else (ws - base) / 1000.0,
                            "end_s": None if ws is None or wd is None else (ws + wd - base) / 1000,
                            "confidence": number(w, "confidence", wp),
                        }
                    )
                rows.append(
                    {
                        "conversation_id": cid,
                        "communication_id": comm,
                        "utterance_id": f"{tid}:{index}" if tid else str(index),
                        "channel": channel,
                        "speaker": SPEAKER_BY_CHANNEL[channel],
                        "is_final": True,
                        "confidence": number(ph, "confidence", p),
                        "start_s": None if start_ms is None else (start_ms - base) / 1000.0,
                        "end_s": None
                        if start_ms is None or dur is None
                        else (start_ms + dur - base) / 1000.0,
                        "start_at_ms": start_ms,
                        "text": text,
                        "words": words,
                    }
                )
            except ProtocolError as exc:
                errors.append((str(exc), ph))
    return rows, errors
