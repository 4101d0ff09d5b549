"""The conversation model: conversations, participants and phases from call events.

:func:`build_model` turns the ``.calls`` events of ``raw/`` (or, where that is all there
is, a post-call transcript's participants: :func:`snapshot_from_transcript`) into the
``CONVERSATIONS``, ``PARTICIPANTS`` and ``PHASES`` tables (``diarkit.schema``); times on
the session clock in seconds, ``*_at`` UTC. ``docs/conversation-model.md`` states every
rule with its reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd

from diarkit.analysis._calls import one_conversation
from diarkit.genesys.calls import CallParticipant, CallSnapshot, parse_call_body, parse_time
from diarkit.genesys.errors import ProtocolError
from diarkit.schema import CONVERSATIONS, PARTICIPANTS, PHASES, validate

#: Largest difference (seconds) between a frame's receive time and the newest time in its
#: call body for the receive times to be taken as the call's clock.
RECEIVE_TOLERANCE_S = 120.0


def _event_doc(frame: str) -> tuple[Any, datetime | None]:
    """(eventBody, EventBridge time or None) of a stored call-event frame."""
    doc = orjson.loads(frame)
    if isinstance(doc, dict) and "detail" in doc and isinstance(doc["detail"], dict):
        detail = doc["detail"]
        when = parse_time(detail.get("timestamp") or doc.get("time"), "$.detail.timestamp")
        return detail.get("eventBody"), when
    if not isinstance(doc, dict):
        raise ProtocolError("expected an object", "$")
    # an EventBridge event is stored as its ``detail``: the frame plus ``timestamp``, when
    # Genesys published it (ISO-8601)
    stamp = doc.get("timestamp")
    when = parse_time(stamp, "$.timestamp") if isinstance(stamp, str) else None
    return doc.get("eventBody"), when


def _ms_time(value: Any, path: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"expected epoch milliseconds, got {type(value).__name__}", path)
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def snapshot_from_transcript(doc: Any) -> CallSnapshot:
    """The participants a post-call transcript document names, as a call snapshot.

    Used where that is all there is (no call events were captured): each participant's
    ``purpose`` (or ``participantPurpose`` external -> customer, internal -> agent),
    ``participantId``, ``userId``, ``queueId``, and ``startTimeMs``/``endTimeMs`` (epoch
    ms) as its connected interval.

    Raises:
        ProtocolError: a field of the wrong type, naming its JSON path.
    """
    if not isinstance(doc, dict):
        raise ProtocolError("expected an object", "$")
    cid = doc.get("conversationId")
    if not isinstance(cid, str):
        raise ProtocolError("required field is missing", "$.conversationId")
    parts = []
    raw_parts = doc.get("participants") or []
    if not isinstance(raw_parts, list):
        raise ProtocolError("expected an array", "$.participants")
    for i, raw in enumerate(raw_parts):
        path = f"$.participants[{i}]"
        if not isinstance(raw, dict):
            raise ProtocolError("expected an object", path)
        purpose = raw.get("purpose")
        if purpose is None:
            purpose = {"external": "customer", "internal": "agent"}.get(
                str(raw.get("participantPurpose", "")).lower()
            )
        start = _ms_time(raw.get("startTimeMs"), f"{path}.startTimeMs")
        end = _ms_time(raw.get("endTimeMs"), f"{path}.endTimeMs")
        parts.append(
            CallParticipant(
                id=raw.get("participantId") or f"{cid}#{i}",
                purpose=purpose,
                state="disconnected" if end is not None else "connected",
                start_time=start,
                connected_time=start,
                end_time=end,
                user_id=raw.get("userId"),
                queue_id=raw.get("queueId"),
                ani=raw.get("ani"),
                dnis=raw.get("dnis"),
            )
        )
    return CallSnapshot(conversation_id=cid, participants=tuple(parts))


@dataclass(frozen=True, slots=True)
class ConversationModel:
    """The three tables of the conversation model (``diarkit.schema`` contracts)."""

    conversations: pd.DataFrame
    participants: pd.DataFrame
    phases: pd.DataFrame



def calls_without_speech(conversations: pd.DataFrame, spoken: Iterable[object]) -> pd.DataFrame:
    """The model's conversations whose id is not among ``spoken`` (those with speech).

    A call with call events but no transcript in the data (abandoned before anything was
    transcribed, or followed by a live capture too late to see its speech) is in the
    ``conversations`` table and in no ``talk_stats`` row, so call counts from the two
    differ by exactly these rows. Reports count them instead of dropping them silently.
    """
    ids = {str(c) for c in spoken}
    keep = ~conversations["conversation_id"].astype(str).isin(ids).to_numpy(dtype=bool)
    return conversations.loc[keep].reset_index(drop=True)


def _session_clock(df: pd.DataFrame, starts: pd.Series | None, cols: Iterable[str]) -> None:
    """Add ``*_s`` columns (seconds from each conversation's session start) in place."""
    if starts is not None and len(starts) and len(df):
        found = starts.reindex(df["conversation_id"].astype(str)).to_numpy()
        origin = pd.Series(pd.to_datetime(found, utc=True), index=df.index)
    else:
        origin = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]")
    for col in cols:
        at = pd.to_datetime(df[f"{col}_at"], utc=True)
        df[f"{col}_s"] = (at - origin).dt.total_seconds().astype(np.float64)


def build_model(
    events: pd.DataFrame,
    session_starts: pd.Series | None = None,
    gaps: pd.DataFrame | None = None,
    speech_spans: pd.DataFrame | None = None,
    transcripts: pd.DataFrame | None = None,
) -> ConversationModel:
    """Conversations, participants and phases from stored ``.calls`` events.

    Each event is placed at ``event_at``: the EventBridge ``detail.timestamp`` when the
    frame came that way, else its ``received_at`` when that is the call's clock (within
    ``RECEIVE_TOLERANCE_S`` of the newest time in its body), else the newest time in the
    body (hold ends are then ``estimated``). A hold ends at the first event that shows the
    participant with ``held: false``.

    Args:
        events: raw rows of kind ``conversation``: ``conversation_id``, ``received_at``
            (UTC), ``frame`` (text), and optionally ``seq``, ``session_id``.
        session_starts: transcription session start (UTC) per conversation id; gives the
            ``*_s`` columns (NaN where unknown).
        gaps: capture gaps (``diarkit.schema.GAPS``); their spans become ``unknown``.
        speech_spans: ``speech_start_at``/``speech_end_at`` (UTC) indexed by conversation
            id: a conversation without call events gets one ``unknown`` phase per capture
            gap inside its speech span (and no other phase), so silence never covers a
            gap even where nothing else is known.
        transcripts: post-call transcript document rows (``frame`` text): for a
            conversation without call events, its participants come from there
            (``source = "transcript"``; times from ``startTimeMs``/``endTimeMs``).

    Returns:
        A :class:`ConversationModel` (tables ``CONVERSATIONS``, ``PARTICIPANTS``,
        ``PHASES``), sorted by conversation and time.

    Raises:
        ValueError: naming the session and sequence of a frame that cannot be parsed.
    """
    gap_list: list[tuple[datetime, datetime]] = []
    if gaps is not None and len(gaps):
        for a, b in zip(gaps["start_at"], gaps["end_at"], strict=True):
            if pd.notna(a) and pd.notna(b):
                gap_list.append((pd.Timestamp(a).to_pydatetime(), pd.Timestamp(b).to_pydatetime()))
    by_conv: dict[str, list[tuple[datetime | None, bool, CallSnapshot, int]]] = {}
    neighbour = (
        pd.to_datetime(events["neighbour_at"], utc=True)
        if "neighbour_at" in events.columns and len(events)
        else None
    )
    received = pd.to_datetime(events["received_at"], utc=True) if len(events) else None
    frames = events["frame"].tolist() if len(events) else []
    seqs = events["seq"].tolist() if "seq" in events.columns else list(range(len(events)))
    sessions = (
        events["session_id"].tolist() if "session_id" in events.columns else [""] * len(events)
    )
    for i, frame in enumerate(frames):
        try:
            body, bridge_at = _event_doc(frame)
            snap = parse_call_body(body)
        except (ProtocolError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"call event session {sessions[i]} seq {seqs[i]}: {exc}") from None
        rec = received.iloc[i] if received is not None else pd.NaT
        if bridge_at is not None:
            when, real = bridge_at, True
        elif pd.notna(rec):
            when, real = rec.to_pydatetime(), True
        else:
            when, real = None, False
        by_conv.setdefault(snap.conversation_id, []).append((when, real, snap, i))
    tol = timedelta(seconds=RECEIVE_TOLERANCE_S)
    for cid, evs in by_conv.items():
        # receive times are the call's clock only when no frame arrived before the times
        # its body carries and the first arrived within the tolerance of its own newest
        # time (a converted file's receive time is the file's mtime: not the call clock)
        firsts = sorted(evs, key=lambda e: (e[0] is None, e[0] or datetime.min, e[3]))
        ok = all(e[1] for e in evs)
        for w, _, snap, _ in evs:
            latest = snap.latest_time()
            if ok and latest is not None and w is not None and w < latest - tol:
                ok = False
        first_latest = firsts[0][2].latest_time() if firsts else None
        if ok and first_latest is not None and firsts[0][0] is not None:
            ok = abs(firsts[0][0] - first_latest) <= tol
        if not ok:  # storage order; time: the body's newest, or the frames around it
            est = []
            for _, _, snap, i in sorted(evs, key=lambda e: e[3]):
                when = snap.latest_time()
                near = neighbour.iloc[i] if neighbour is not None else pd.NaT
                if pd.notna(near):
                    near_dt = near.to_pydatetime()
                    when = near_dt if when is None else max(when, near_dt)
                est.append((when, False, snap, i))
            by_conv[cid] = est
    from_transcript: set[str] = set()
    if transcripts is not None and len(transcripts):
        for j, frame in enumerate(transcripts["frame"].tolist()):
            try:
                snap = snapshot_from_transcript(orjson.loads(frame))
            except (ProtocolError, orjson.JSONDecodeError) as exc:
                raise ValueError(f"post-call transcript row {j}: {exc}") from None
            if snap.conversation_id in by_conv or not snap.participants:
                continue  # call events, when captured, are the better source
            by_conv[snap.conversation_id] = [(snap.latest_time(), False, snap, -1 - j)]
            from_transcript.add(snap.conversation_id)
    conv_rows, part_rows, phase_rows = [], [], []
    for cid in sorted(by_conv):
        evs = by_conv[cid]
        if all(real for _, real, _, _ in evs):
            evs = sorted(evs, key=lambda e: (e[0] is None, e[0] or datetime.min, e[3]))
        c, p, ph = one_conversation(cid, [(w, r, s) for w, r, s, _ in evs], gap_list)
        if cid in from_transcript:
            c["source"] = "transcript"
            c["event_count"] = 0
            for row in p:
                row["source"] = "transcript"
        conv_rows.append(c)
        part_rows.extend(p)
        phase_rows.extend(ph)
    if speech_spans is not None and gap_list:
        for cid, row in speech_spans.iterrows():  # a few rows per conversation, no segments
            if str(cid) in by_conv or pd.isna(row["speech_start_at"]):
                continue
            lo0 = pd.Timestamp(row["speech_start_at"]).to_pydatetime()
            hi0 = pd.Timestamp(row["speech_end_at"]).to_pydatetime()
            for g0, g1 in gap_list:
                lo, hi = max(g0, lo0), min(g1, hi0)
                if hi > lo:
                    phase_rows.append(
                        {
                            "conversation_id": str(cid),
                            "phase": "unknown",
                            "start_at": pd.Timestamp(lo),
                            "end_at": pd.Timestamp(hi),
                            "participant_id": None,
                            "user_id": None,
                            "holder_purpose": None,
                            "holder_count": 0,
                            "holder_user_ids": None,
                            "end_source": "event",
                        }
                    )
    conversations = _frame(conv_rows, CONVERSATIONS)
    participants = _frame(part_rows, PARTICIPANTS)
    phases = _frame(
        phase_rows, PHASES, extra=("holder_purpose", "holder_count", "holder_user_ids")
    )
    starts = session_starts
    if starts is not None:
        starts = pd.to_datetime(starts, utc=True)
        starts.index = starts.index.astype(str)
        conversations["session_start_at"] = pd.to_datetime(
            starts.reindex(conversations["conversation_id"].astype(str)).to_numpy(), utc=True
        )
    _session_clock(conversations, starts, ("start", "end"))
    _session_clock(participants, starts, ("connected", "end"))
    _session_clock(phases, starts, ("start", "end"))
    phases["duration_s"] = (
        (pd.to_datetime(phases["end_at"], utc=True) - pd.to_datetime(phases["start_at"], utc=True))
        .dt.total_seconds()
        .astype(np.float64)
    )
    phases["holder_count"] = phases["holder_count"].astype(np.int64)
    return ConversationModel(
        validate(conversations, CONVERSATIONS, where="build_model() conversations"),
        validate(participants, PARTICIPANTS, where="build_model() participants"),
        validate(phases, PHASES, where="build_model() phases"),
    )


def _frame(rows: list[dict[str, Any]], contract: Any, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows as a DataFrame with every contract column, typed like the contract."""
    empty = contract.empty()
    for name in extra:
        empty[name] = pd.Series(dtype=np.int64 if name.endswith("count") else object)
    if not rows:
        return empty
    df = pd.DataFrame(rows)
    for col in empty.columns:
        if col not in df.columns:
            df[col] = pd.Series([None] * len(df), dtype=empty[col].dtype)
    for col in contract.columns:
        if col.kind == "datetime":
            df[col.name] = pd.to_datetime(df[col.name], utc=True).astype("datetime64[us, UTC]")
        elif col.kind == "string":
            df[col.name] = df[col.name].astype("string")
        elif col.kind == "float":
            df[col.name] = df[col.name].astype(np.float64)
        elif col.kind == "int":
            df[col.name] = df[col.name].astype(np.int64)
        elif col.kind == "bool":
            df[col.name] = df[col.name].astype(bool)
    return df[list(empty.columns)].reset_index(drop=True)
