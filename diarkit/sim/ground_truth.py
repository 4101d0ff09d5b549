"""Ground truth of simulated calls: who was on the line, in which phase, who spoke when.

Pure functions over ``CallPlan``s (pandas is imported only by the table functions).
Tables (``participant_intervals``, ``phases``, ``speech_by_participant``,
``talk_time_by_participant``) give times both in ms and in seconds from the
transcription session start (``*_ms`` int, ``*_s`` float; negative before it) and as
epoch ms (``*_epoch_ms``); docs/call-events.md names their columns. RTTM times are seconds
from the session start (3 decimals); post-call transcript times are epoch milliseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .generator import CallPlan, SpokenUtterance, iso_ms

if TYPE_CHECKING:
    import pandas as pd

#: RTTM speaker label of each party when labelling ``by="channel"`` (the schema's default
#: speakers: IVR and queue prompts are on the INTERNAL channel, so they count as ``agent``).
CHANNEL_SPEAKER = {"ivr": "agent", "acd": "agent", "agent": "agent", "customer": "customer"}
#: Phases of a call's own timeline (non-overlapping, from its first participant to the
#: customer's end).
CALL_PHASES = ("ivr", "queue", "dialing", "talk", "hold")
#: Phase rows that overlap the call timeline: one agent's after-call work, a secure pause.
MARKER_PHASES = ("acw", "secure_pause")

PARTICIPANT_COLUMNS = (
    "conversation_id", "participant_id", "purpose", "name", "user_id", "user_name",
    "queue_id", "queue_name", "direction", "start_ms", "connected_ms", "end_ms",
    "acw_end_ms", "disconnect_type", "wrapup_code", "held_ms", "start_s", "connected_s",
    "end_s", "acw_end_s", "connected_epoch_ms", "end_epoch_ms",
)
PHASE_COLUMNS = (
    "conversation_id", "phase", "start_ms", "end_ms", "participant_id", "user_id",
    "start_s", "end_s", "start_epoch_ms", "end_epoch_ms",
)
SPEECH_COLUMNS = (
    "conversation_id", "utterance_id", "participant_id", "party", "user_id", "user_name",
    "channel", "kind", "start_ms", "end_ms", "start_s", "end_s", "text",
    "conference_user_ids", "voice_participant_id",
)
#: ``participant_id`` of conference speech: while two or more agents are connected, a
#: Genesys voice transcript has one internal speaker labelled "conference" (Genesys Cloud
#: Resource Center, "Work with a voice transcript"), so the truth says the same.
CONFERENCE = "conference"
TALK_COLUMNS = ("conversation_id", "participant_id", "party", "user_id", "talk_s", "utterances")


def _plans(plans: CallPlan | Iterable[CallPlan]) -> list[CallPlan]:
    return [plans] if isinstance(plans, CallPlan) else list(plans)


def truth_utterances(plan: CallPlan) -> list[SpokenUtterance]:
    """Utterances somebody spoke and the service transcribed, by start.

    Empty recogniser results (nobody spoke) and speech during a secure pause (never
    transcribed) are left out.
    """
    return [u for u in plan.utterances if u.kind not in ("empty", "paused")]


def participant_rows(plan: CallPlan) -> list[dict[str, Any]]:
    """One dict per participant of ``plan`` (columns ``PARTICIPANT_COLUMNS``)."""
    e0 = plan.session_start_epoch_ms
    rows = []
    for p in plan.participants:
        c, a = p.connected_ms, p.acw_end_ms
        rows.append({
            "conversation_id": plan.conversation_id, "participant_id": p.participant_id,
            "purpose": p.purpose, "name": p.name, "user_id": p.user_id,
            "user_name": p.user_name, "queue_id": p.queue_id, "queue_name": p.queue_name,
            "direction": p.direction, "start_ms": p.start_ms, "connected_ms": c,
            "end_ms": p.end_ms, "acw_end_ms": a, "disconnect_type": p.disconnect_type,
            "wrapup_code": p.wrapup_code, "held_ms": sum(e - s for s, e in p.holds_ms),
            "start_s": p.start_ms / 1000, "connected_s": None if c is None else c / 1000,
            "end_s": p.end_ms / 1000, "acw_end_s": None if a is None else a / 1000,
            "connected_epoch_ms": None if c is None else e0 + c, "end_epoch_ms": e0 + p.end_ms,
        })
    return rows


def _phase_at(plan: CallPlan, t: int) -> str:
    """The call-timeline phase at ms ``t`` (inside the call)."""
    customer = plan.participants[0]
    if any(s <= t < e for s, e in customer.holds_ms):
        return "hold"
    live = {p.purpose for p in plan.participants
            if p.connected_ms is not None and p.connected_ms <= t < p.end_ms}
    if "agent" in live:
        connected = customer.connected_ms
        return "talk" if connected is not None and t >= connected else "dialing"
    if "acd" in live:
        return "queue"
    if "ivr" in live:
        return "ivr"
    return "unknown"


def phase_rows(plan: CallPlan) -> list[dict[str, Any]]:
    """Phase rows of ``plan`` (columns ``PHASE_COLUMNS``), call timeline first, then markers.

    The call timeline covers the call, from its first participant (the customer, or a
    callback's queue) to the customer's end, with non-overlapping ``ivr``, ``queue``,
    ``dialing`` (a callback: agent connected, customer not yet), ``talk`` and ``hold``
    (the customer held: hold music, a consult) rows;
    ``participant_id``/``user_id`` are None there, except on ``hold`` (the customer). The
    markers overlap it: ``acw`` (one agent's after-call work, from its end to
    ``endAcwTime``) and ``secure_pause`` (the agent who paused).
    """
    customer = plan.participants[0]
    first = min(p.start_ms for p in plan.participants if p.purpose != "agent")
    cuts = {first, customer.end_ms}
    for p in plan.participants:
        for t in (p.start_ms, p.connected_ms, p.end_ms):
            if t is not None and first < t < customer.end_ms:
                cuts.add(t)
    for s, e in customer.holds_ms:
        cuts.update((s, e))
    points = sorted(cuts)
    merged: list[list[Any]] = []
    for a, b in itertools.pairwise(points):
        phase = _phase_at(plan, a)
        if merged and merged[-1][0] == phase:
            merged[-1][2] = b
        else:
            merged.append([phase, a, b])
    rows: list[tuple[str, int, int, str | None, str | None]] = [
        (ph, a, b, customer.participant_id if ph == "hold" else None, None)
        for ph, a, b in merged]
    for p in plan.participants:
        if p.acw_end_ms is not None:
            rows.append(("acw", p.end_ms, p.acw_end_ms, p.participant_id, p.user_id))
        for s, e in p.secure_pauses_ms:
            rows.append(("secure_pause", s, e, p.participant_id, p.user_id))
    e0 = plan.session_start_epoch_ms
    return [{"conversation_id": plan.conversation_id, "phase": ph, "start_ms": a, "end_ms": b,
             "participant_id": pid, "user_id": uid, "start_s": a / 1000, "end_s": b / 1000,
             "start_epoch_ms": e0 + a, "end_epoch_ms": e0 + b}
            for ph, a, b, pid, uid in rows]


def conference_agents(plan: CallPlan, t_ms: int) -> list[str]:
    """User ids (sorted) of the agents connected at ms ``t_ms`` when two or more are."""
    users = sorted(
        p.user_id or p.participant_id for p in plan.participants
        if p.purpose == "agent" and p.connected_ms is not None
        and p.connected_ms <= t_ms < p.end_ms
    )
    return users if len(users) > 1 else []


def speech_rows(plan: CallPlan, *, include_paused: bool = False) -> list[dict[str, Any]]:
    """One dict per transcribed utterance (columns ``SPEECH_COLUMNS``), by start.

    An agent's utterance whose midpoint falls while two or more agents are connected is
    *conference* speech, labelled as Genesys' transcript labels it: ``participant_id``
    ``"conference"``, ``party`` ``agent``, ``user_id``/``user_name`` None,
    ``conference_user_ids`` the connected agents' user ids (sorted, joined by ``,``).
    ``voice_participant_id`` always names the participant whose voice it is (what the
    wire cannot tell). ``include_paused`` adds what was said during secure pauses
    (``kind == "paused"``).
    """
    by_pid = {p.participant_id: p for p in plan.participants}
    rows = []
    for u in plan.utterances:
        if u.kind == "empty" or (u.kind == "paused" and not include_paused):
            continue
        who = by_pid.get(u.participant_id)
        together = (conference_agents(plan, (u.start_ms + u.end_ms) // 2)
                    if u.party == "agent" else [])
        if together:
            who = None
        rows.append({
            "conversation_id": plan.conversation_id, "utterance_id": u.utterance_id,
            "participant_id": CONFERENCE if together else u.participant_id, "party": u.party,
            "user_id": None if who is None else who.user_id,
            "user_name": None if who is None else who.user_name, "channel": u.channel,
            "kind": u.kind, "start_ms": u.start_ms, "end_ms": u.end_ms,
            "start_s": u.start_ms / 1000, "end_s": u.end_ms / 1000, "text": u.text,
            "conference_user_ids": ",".join(together) or None,
            "voice_participant_id": u.participant_id,
        })
    return rows


def _union_ms(intervals: list[tuple[int, int]]) -> int:
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


def talk_rows(plan: CallPlan, channels: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Talk time of each participant who spoke (columns ``TALK_COLUMNS``).

    Conference speech is the ``conference`` participant's (see :func:`speech_rows`).
    ``talk_s`` is the length (seconds) of the union of the participant's transcribed
    utterances, half-open ``[start, end)``: the talk time a conversation model should find.
    ``channels`` (e.g. ``("INTERNAL", "EXTERNAL")``) counts only utterances sent on those
    channels (a ``BOTH``/``UNKNOWN`` utterance names no side, so no party can be found
    for it from the data).
    """
    keep = None if channels is None else set(channels)
    spans: dict[str, list[tuple[int, int]]] = {}
    first: dict[str, dict[str, Any]] = {}
    for r in speech_rows(plan):
        if keep is not None and r["channel"] not in keep:
            continue
        spans.setdefault(r["participant_id"], []).append((r["start_ms"], r["end_ms"]))
        first.setdefault(r["participant_id"], r)
    return [{"conversation_id": plan.conversation_id, "participant_id": pid,
             "party": first[pid]["party"], "user_id": first[pid]["user_id"],
             "talk_s": _union_ms(iv) / 1000, "utterances": len(iv)}
            for pid, iv in spans.items()]


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns))


def participant_intervals(plans: CallPlan | Iterable[CallPlan]) -> pd.DataFrame:
    """Every participant of the calls: purpose, user/queue, connected..end, ACW (a DataFrame).

    Columns ``PARTICIPANT_COLUMNS``: times in ms and s from the session start, and epoch ms;
    ``connected_ms`` is null for a participant that never connected, ``acw_end_ms`` for
    non-agents; ``held_ms`` is the participant's total hold time.
    """
    return _frame([r for p in _plans(plans) for r in participant_rows(p)], PARTICIPANT_COLUMNS)


def phases(plans: CallPlan | Iterable[CallPlan]) -> pd.DataFrame:
    """Phases of the calls (a DataFrame, columns ``PHASE_COLUMNS``): see ``phase_rows``."""
    return _frame([r for p in _plans(plans) for r in phase_rows(p)], PHASE_COLUMNS)


def speech_by_participant(
    plans: CallPlan | Iterable[CallPlan], *, include_paused: bool = False
) -> pd.DataFrame:
    """Who said what, when: one row per transcribed utterance (``SPEECH_COLUMNS``).

    ``participant_id`` is the participant who said it (for INTERNAL speech: the IVR, the
    queue's announcement (``acd``) or the very agent), ``user_id`` the agent's user; in a
    conference (two or more agents connected) it is ``"conference"``, as Genesys labels
    it, with the agents in ``conference_user_ids`` and the voice in
    ``voice_participant_id``. Times in ms and s from the session start.
    """
    rows = [r for p in _plans(plans) for r in speech_rows(p, include_paused=include_paused)]
    return _frame(rows, SPEECH_COLUMNS)


def talk_time_by_participant(
    plans: CallPlan | Iterable[CallPlan], channels: Iterable[str] | None = None
) -> pd.DataFrame:
    """Talk time (seconds, union of utterances) per participant who spoke (``TALK_COLUMNS``).

    ``channels``: count only utterances sent on these channels (see :func:`talk_rows`).
    """
    chosen = None if channels is None else tuple(channels)
    return _frame([r for p in _plans(plans) for r in talk_rows(p, chosen)], TALK_COLUMNS)


def rttm_lines(plans: Iterable[CallPlan], *, by: str = "channel") -> list[str]:
    """RTTM ``SPEAKER`` records of every transcribed utterance (seconds from session start).

    Args:
        plans: the calls.
        by: ``"channel"`` labels ``agent``/``customer`` (IVR and queue prompts count as
            agent, like the INTERNAL channel they are on); ``"party"`` labels each party:
            ``ivr``, ``acd``, ``customer`` and, for an agent, the agent's user id (so two
            agents of one call are two speakers); ``"purpose"`` labels ``ivr``/``acd``/
            ``agent``/``customer``.

    Raises:
        ValueError: an unknown ``by``.
    """
    if by not in ("channel", "party", "purpose"):
        raise ValueError(f"by must be 'channel', 'party' or 'purpose', got {by!r}")
    lines = []
    for plan in plans:
        users = {p.participant_id: p.user_id for p in plan.participants}
        for u in truth_utterances(plan):
            if by == "channel":
                speaker = CHANNEL_SPEAKER[u.party]
            elif by == "party" and u.party == "agent":
                speaker = users.get(u.participant_id) or "agent"
            else:
                speaker = u.party
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


def _purpose(u: SpokenUtterance) -> str:
    return "external" if u.party == "customer" else "internal"


def post_call_transcript(plan: CallPlan) -> dict[str, Any]:
    """The post-call Speech and Text Analytics transcript document of one call.

    The document the pre-signed ``transcripturl`` points to: ``organizationId``,
    ``conversationId``, ``communicationId``, ``mediaType``, ``uri``,
    ``conversationStartTime`` / ``startTime`` (epoch ms), ``duration.milliseconds``,
    ``participants[]`` (``participantPurpose`` internal/external, ``participantId``,
    ``ani``, ``dnis``, ``startTimeMs``/``endTimeMs`` epoch ms, agents' ``userId``/
    ``queueId``) and ``transcripts[]`` with ``duration.milliseconds``, ``analytics``
    (per-phrase ``sentiment``) and ``phrases[]``: ``text``, ``decoratedText``,
    ``confidence``, ``stability``, ``startTimeMs`` (epoch ms), ``offset.milliseconds``
    (from the transcript start), ``duration.milliseconds``, ``participantPurpose``,
    ``phraseIndex`` and ``words[]`` (``word``, ``confidence``, ``startTimeMs``,
    ``offset``, ``duration``). Empty recogniser results and speech during a secure pause
    are left out, as the post-call service has neither.
    """
    e0 = plan.session_start_epoch_ms
    t0 = e0 - plan.transcription_lead_ms  # the transcript starts with transcription
    phrases = []
    sentiment = []
    for i, u in enumerate(truth_utterances(plan)):
        words = [
            {"word": w, "confidence": c, "startTimeMs": e0 + s,
             "offset": {"milliseconds": e0 + s - t0}, "duration": {"milliseconds": d}}
            for w, c, s, d in zip(u.words, u.word_confidences, u.word_starts_ms,
                                  u.word_durations_ms, strict=True)
        ]
        phrases.append({
            "text": u.text,
            "decoratedText": u.decorated,
            "confidence": u.confidence,
            "stability": 1.0,
            "startTimeMs": e0 + u.start_ms,
            "offset": {"milliseconds": e0 + u.start_ms - t0},
            "duration": {"milliseconds": u.end_ms - u.start_ms},
            "participantPurpose": _purpose(u),
            "phraseIndex": i,
            "type": "transcript",
            "words": words,
        })
        if u.party == "customer" and len(u.words) >= 6:
            score = round(((sum(map(len, u.words)) * 7919) % 200 - 100) / 100, 2)
            sentiment.append({"participant": "external", "phrase": i, "phraseIndex": i,
                              "sentiment": score})
    last = max((e0 + u.end_ms for u in truth_utterances(plan)), default=t0)
    participants: list[dict[str, Any]] = []
    for p in plan.participants:
        if p.purpose == "acd" or p.connected_ms is None:
            continue  # a queue has no media of its own
        entry: dict[str, Any] = {
            "participantPurpose": "external" if p.purpose == "customer" else "internal",
            "participantId": p.participant_id, "purpose": p.purpose,
            "ani": p.ani, "dnis": p.dnis,
            "startTimeMs": e0 + p.connected_ms, "endTimeMs": e0 + p.end_ms,
        }
        if p.purpose == "customer":
            entry["address"] = p.address
        if p.user_id:
            entry["userId"] = p.user_id
        if p.queue_id and p.purpose == "agent":
            entry["queueId"] = p.queue_id
        participants.append(entry)
    customer = plan.participants[0] if plan.participants else None
    start = e0 + (customer.start_ms if customer is not None else 0)
    return {
        "organizationId": plan.organization_id,
        "conversationId": plan.conversation_id,
        "communicationId": plan.communication_id,
        "mediaType": "call",
        "uri": (f"/api/v2/speechandtextanalytics/conversations/{plan.conversation_id}"
                f"/communications/{plan.communication_id}/transcripturl"),
        "conversationStartTime": start,
        "startTime": t0,
        "duration": {"milliseconds": plan.duration_ms - (start - e0)},
        "participants": participants,
        "transcripts": [{
            "transcriptId": plan.communication_id,
            "language": "en-US",
            "programId": plan.program_id,
            "engineProvider": "GENESYS",
            "engineId": "r2d2",
            "engineName": "Genesys Native",
            "startTime": t0,
            "startTimeIso": iso_ms(t0),
            "duration": {"milliseconds": last - t0},
            "phrases": phrases,
            "analytics": {"sentiment": sentiment, "topics": []},
        }],
    }
