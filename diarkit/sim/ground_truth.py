"""Ground truth of simulated calls: who spoke when, as RTTM and as post-call transcripts.

Pure functions over ``CallPlan``s. RTTM times are seconds from the transcription session
start (3 decimals); post-call transcript times are epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .generator import CallPlan, SpokenUtterance, iso_ms

#: RTTM speaker label of each party when labelling ``by="channel"`` (the schema's default
#: speakers: IVR prompts are on the INTERNAL channel, so they count as ``agent``).
CHANNEL_SPEAKER = {"ivr": "agent", "agent": "agent", "customer": "customer"}


def truth_utterances(plan: CallPlan) -> list[SpokenUtterance]:
    """Utterances somebody really spoke (empty recogniser results left out), by start."""
    return [u for u in plan.utterances if u.kind != "empty"]


def rttm_lines(plans: Iterable[CallPlan], *, by: str = "channel") -> list[str]:
    """RTTM ``SPEAKER`` records of every spoken utterance (seconds from session start).

    Args:
        plans: the calls.
        by: ``"channel"`` labels ``agent``/``customer`` (IVR counts as agent, like the
            INTERNAL channel it is on); ``"party"`` labels ``ivr`` separately.
    """
    if by not in ("channel", "party"):
        raise ValueError(f"by must be 'channel' or 'party', got {by!r}")
    lines = []
    for plan in plans:
        for u in truth_utterances(plan):
            speaker = CHANNEL_SPEAKER[u.party] if by == "channel" else u.party
            start = u.start_ms / 1000
            dur = (u.end_ms - u.start_ms) / 1000
            lines.append(
                f"SPEAKER {plan.conversation_id} 1 {start:.3f} {dur:.3f} <NA> <NA> {speaker} "
                "<NA> <NA>"
            )
    return lines


def write_rttm(plans: Iterable[CallPlan], path: str | Path, *, by: str = "channel") -> Path:
    """Write the RTTM ground truth of ``plans`` to ``path``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rttm_lines(plans, by=by)) + "\n", encoding="utf-8")
    return path


def post_call_transcript(plan: CallPlan) -> dict[str, Any]:
    """The post-call Speech and Text Analytics transcript document of one call.

    ``transcripts[].phrases[]`` carry ``text``, ``decoratedText``, ``confidence``,
    ``stability``, ``startTimeMs`` (epoch ms), ``duration.milliseconds``,
    ``participantPurpose`` (``internal``/``external``), ``phraseIndex`` and ``words[]``.
    Empty recogniser results are left out, as the post-call service drops them.
    """
    e0 = plan.session_start_epoch_ms
    phrases = []
    for i, u in enumerate(truth_utterances(plan)):
        words = [
            {"word": w, "confidence": c, "startTimeMs": e0 + s, "duration": {"milliseconds": d}}
            for w, c, s, d in zip(u.words, u.word_confidences, u.word_starts_ms,
                                  u.word_durations_ms, strict=True)
        ]
        phrases.append({
            "text": u.text,
            "decoratedText": u.decorated,
            "confidence": u.confidence,
            "stability": 1.0,
            "startTimeMs": e0 + u.start_ms,
            "duration": {"milliseconds": u.end_ms - u.start_ms},
            "participantPurpose": "external" if u.channel == "EXTERNAL" else "internal",
            "phraseIndex": i,
            "type": "transcript",
            "words": words,
        })
    return {
        "organizationId": plan.organization_id,
        "conversationId": plan.conversation_id,
        "communicationId": plan.communication_id,
        "mediaType": "call",
        "conversationStartTime": e0,
        "startTime": e0,
        "duration": {"milliseconds": plan.duration_ms},
        "participants": [
            {"participantPurpose": "external", "address": plan.customer_address},
            {"participantPurpose": "internal", "userId": plan.user_id,
             "queueId": plan.queue_id},
        ],
        "transcripts": [{
            "transcriptId": plan.communication_id,
            "language": "en-US",
            "programId": plan.program_id,
            "engineId": "r2d2",
            "startTime": e0,
            "startTimeIso": iso_ms(e0),
            "phrases": phrases,
            "analytics": {},
        }],
    }
