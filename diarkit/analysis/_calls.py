"""One conversation's call events cut into participants and a phase timeline (internal).

:func:`one_conversation` is the per-conversation step of
:func:`diarkit.analysis.model.build_model`: it follows each participant across the
events (holds, secure pause, after-call work) and paints the call span into
non-overlapping phases (``PHASE_PRIORITY``), each naming the internal participant(s)
holding the line.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from diarkit.genesys.calls import CallParticipant, CallSnapshot

#: Internal purposes that can hold the line (speak on the INTERNAL channel).
INTERNAL_PURPOSES = ("agent", "ivr", "acd", "bot", "workflow", "voicemail")
#: Purposes of the customer side (EXTERNAL channel).
EXTERNAL_PURPOSES = ("customer", "external")
#: Phase kinds painted on the call timeline, highest priority first.
PHASE_PRIORITY = ("unknown", "secure_pause", "hold", "dialing", "talk", "queue", "ivr")


@dataclass(slots=True)
class _Part:
    """Everything known about one participant across a conversation's events."""

    latest: CallParticipant
    first_seen: int
    holds: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)
    hold_open: datetime | None = None
    secure: bool = False



def _utc(ts: datetime | None) -> pd.Timestamp | None:
    return None if ts is None else pd.Timestamp(ts)


_Piece = tuple[str, datetime, datetime, str | None, str | None, str | None, int, str | None]


def _paint(
    intervals: list[tuple[str, datetime, datetime, str | None, str | None, str | None]],
) -> list[_Piece]:
    """Cut overlapping (kind, start, end, participant, user, purpose) into one timeline.

    The highest-priority kind active in each piece wins (``PHASE_PRIORITY``); the
    internal holders of the piece are the ``talk``/``queue``/``ivr`` intervals active in
    it (one holder: its ids; several: none, and the count says how many). The last field
    is the holders' user ids, sorted and joined by ``,`` (None when none has one): the
    agents of a conference.
    """
    cuts = sorted({t for iv in intervals for t in (iv[1], iv[2])})
    out: list[_Piece] = []
    prio = {k: i for i, k in enumerate(PHASE_PRIORITY)}
    for a, b in itertools.pairwise(cuts):
        active = [iv for iv in intervals if iv[1] <= a and iv[2] >= b and iv[1] < iv[2]]
        if not active:
            continue
        kind = min((iv[0] for iv in active), key=lambda k: prio[k])
        holders = [iv for iv in active if iv[0] in ("talk", "queue", "ivr")]
        best = min((prio[iv[0]] for iv in holders), default=None)
        top = [iv for iv in holders if prio[iv[0]] == best]
        pid = top[0][3] if len(top) == 1 else None
        uid = top[0][4] if len(top) == 1 else None
        purpose = top[0][5] if top and len({iv[5] for iv in top}) == 1 else None
        uids = ",".join(sorted({iv[4] for iv in top if iv[4]})) or None
        piece = (kind, a, b, pid, uid, purpose, len(top), uids)
        last = out[-1] if out else None
        if last is not None and last[2] == a and last[0] == kind and last[3:] == piece[3:]:
            out[-1] = (kind, last[1], b, pid, uid, purpose, len(top), uids)
        else:
            out.append(piece)
    return out


def one_conversation(
    cid: str,
    events: list[tuple[datetime | None, bool, CallSnapshot]],
    gaps: list[tuple[datetime, datetime]],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The conversation row, participant rows and phase rows of one call (UTC times).

    Args:
        cid: the conversation id.
        events: ``(event_at, real_time, snapshot)`` in event order; ``real_time`` False
            means ``event_at`` is estimated (hold ends are then ``estimated``).
        gaps: capture gaps ``(start, end)``; inside the call span they are ``unknown``.
    """
    parts: dict[str, _Part] = {}
    secure_spans: list[tuple[datetime, datetime | None]] = []
    secure_open: datetime | None = None
    times_real = all(real for _, real, _ in events)
    prev_at: datetime | None = None
    last_at: datetime | None = None
    for i, (when, _real, snap) in enumerate(events):
        latest = snap.latest_time()
        at = when if when is not None else latest
        if at is None:
            at = prev_at
        if prev_at is not None and at is not None and at < prev_at:
            at = prev_at
        prev_at = at
        last_at = at if at is not None else last_at
        for k, p in enumerate(snap.participants):
            key = p.id or f"#{k}"
            st = parts.get(key)
            if st is None:
                st = parts[key] = _Part(latest=p, first_seen=i * 1000 + k)
            st.latest = p
            if p.held and st.hold_open is None:
                st.hold_open = p.start_hold_time or at
            elif not p.held and st.hold_open is not None:
                end = at if at is not None else st.hold_open
                st.holds.append((st.hold_open, end, "event" if times_real else "estimated"))
                st.hold_open = None
            st.secure |= p.secure_pause
        paused = snap.secure_pause or any(p.secure_pause for p in snap.participants)
        if paused and secure_open is None and at is not None:
            secure_open = at
        elif not paused and secure_open is not None:
            secure_spans.append((secure_open, at))
            secure_open = None

    ordered = sorted(parts.values(), key=lambda s: s.first_seen)
    ps = [s.latest for s in ordered]
    customers = [p for p in ps if p.purpose in EXTERNAL_PURPOSES]
    side = customers or ps
    # the call starts with its first connected participant: the customer of an inbound
    # call, the queued callback (acd) of an outbound one
    starts = [t for p in ps if (t := p.connected_time or p.start_time) is not None]
    call_start = min(starts) if starts else None
    ended = bool(ps) and all(p.disconnected for p in ps)
    ends = [p.end_time for p in side if p.end_time is not None]
    call_end = max(ends) if ends and all(p.end_time for p in side) else None
    open_end = call_end or last_at

    intervals: list[tuple[str, datetime, datetime, str | None, str | None, str | None]] = []
    part_rows: list[dict[str, Any]] = []
    agents_connected: list[tuple[datetime, datetime]] = []
    for st in ordered:
        p = st.latest
        holds = list(st.holds)
        if st.hold_open is not None:
            hold_end = p.end_time or open_end or st.hold_open
            holds.append((st.hold_open, hold_end, "event" if p.end_time else "estimated"))
        if p.connected_time is not None:
            end = p.end_time or open_end or p.connected_time
            kind = {"agent": "talk", "acd": "queue", "ivr": "ivr", "bot": "ivr"}.get(
                p.purpose or ""
            )
            if kind is not None:
                intervals.append((kind, p.connected_time, end, p.id, p.user_id, p.purpose))
            if p.purpose == "agent":
                agents_connected.append((p.connected_time, end))
        for h0, h1, _src in holds:
            if h1 is not None and h1 > h0:
                intervals.append(("hold", h0, h1, p.id, p.user_id, p.purpose))
        acw_s = None
        if p.start_acw_time is not None and p.end_acw_time is not None:
            acw_s = (p.end_acw_time - p.start_acw_time).total_seconds()
        part_rows.append(
            {
                "conversation_id": cid,
                "participant_id": p.id,
                "purpose": p.purpose,
                "name": p.name,
                "user_id": p.user_id,
                "user_name": p.user_name,
                "queue_id": p.queue_id,
                "queue_name": p.queue_name,
                "direction": p.direction,
                "ani": p.ani,
                "dnis": p.dnis,
                "start_at": _utc(p.start_time),
                "connected_at": _utc(p.connected_time),
                "end_at": _utc(p.end_time),
                "disconnect_type": p.disconnect_type,
                "hold_count": len(holds),
                "hold_s": float(sum((b - a).total_seconds() for a, b, _ in holds if b)),
                "acw_start_at": _utc(p.start_acw_time),
                "acw_end_at": _utc(p.end_acw_time),
                "acw_s": acw_s,
                "wrapup_code": p.wrapup_code,
                "secure_pause": st.secure,
                "consult_participant_id": p.consult_participant_id,
                "source": "events",
            }
        )
    # an agent connected before the customer (a callback being dialled): dialing
    cust_connect = [p.connected_time for p in customers if p.connected_time is not None]
    first_agent = [a for a, _ in agents_connected]
    if cust_connect and first_agent and min(first_agent) < min(cust_connect):
        intervals.append(("dialing", min(first_agent), min(cust_connect), None, None, None))
    if secure_open is not None and open_end is not None:
        secure_spans.append((secure_open, open_end))
    for a, b in secure_spans:
        if b is not None and b > a:
            intervals.append(("secure_pause", a, b, None, None, None))
    phase_rows: list[dict[str, Any]] = []
    if call_start is not None and open_end is not None and open_end > call_start:
        # the call span itself is unknown unless something better covers it
        intervals.append(("unknown_base", call_start, open_end, None, None, None))
        for g0, g1 in gaps:
            lo, hi = max(g0, call_start), min(g1, open_end)
            if hi > lo:
                intervals.append(("unknown", lo, hi, None, None, None))
        clipped = []
        for iv in intervals:
            lo, hi = max(iv[1], call_start), min(iv[2], open_end)
            if hi > lo:
                clipped.append((iv[0], lo, hi, *iv[3:]))
        base = [iv for iv in clipped if iv[0] == "unknown_base"]
        rest = [iv for iv in clipped if iv[0] != "unknown_base"]
        painted = _paint(rest)
        # the parts of the span nothing covers are unknown
        covered = _paint(rest + [("ivr", b[1], b[2], None, None, None) for b in base])
        holes = [
            (b[1], b[2]) for b in covered if not any(r[1] <= b[1] and r[2] >= b[2] for r in painted)
        ]
        pieces = sorted(
            painted + [("unknown", a, b, None, None, None, 0, None) for a, b in holes],
            key=lambda r: r[1],
        )
        for kind, a, b, pid, uid, purpose, count, uids in pieces:
            phase_rows.append(
                {
                    "conversation_id": cid,
                    "phase": kind,
                    "start_at": pd.Timestamp(a),
                    "end_at": pd.Timestamp(b),
                    "participant_id": pid,
                    "user_id": uid,
                    "holder_purpose": purpose,
                    "holder_count": count,
                    "holder_user_ids": uids,
                    "end_source": "event" if times_real else "estimated",
                }
            )
    # after-call work once the call is over (per agent, may overlap each other)
    for st in ordered:
        p = st.latest
        if p.start_acw_time is None or open_end is None:
            continue
        a = max(p.start_acw_time, open_end)
        b = p.end_acw_time
        if b is not None and b > a:
            phase_rows.append(
                {
                    "conversation_id": cid,
                    "phase": "acw",
                    "start_at": pd.Timestamp(a),
                    "end_at": pd.Timestamp(b),
                    "participant_id": p.id,
                    "user_id": p.user_id,
                    "holder_purpose": p.purpose,
                    "holder_count": 1,
                    "holder_user_ids": p.user_id,
                    "end_source": "event",
                }
            )
    agents = [p for p in ps if p.purpose == "agent" and p.connected_time is not None]
    conferenced = any(
        a0 < b1 and b0 < a1
        for i, (a0, a1) in enumerate(agents_connected)
        for (b0, b1) in agents_connected[i + 1 :]
    )
    queues = [p for p in ps if p.queue_id]
    wrapups = [p.wrapup_code for p in ps if p.wrapup_code]
    cust = customers[0] if customers else None
    hold_total = sum(
        (r["end_at"] - r["start_at"]).total_seconds() for r in phase_rows if r["phase"] == "hold"
    )
    conv_row = {
        "conversation_id": cid,
        "start_at": _utc(call_start),
        "end_at": _utc(call_end),
        "call_duration_s": (call_end - call_start).total_seconds()
        if call_end and call_start
        else np.nan,
        "direction": (cust.direction if cust else None),
        "ani": next((p.ani for p in ps if p.ani), None),
        "dnis": next((p.dnis for p in ps if p.dnis), None),
        "queue_id": queues[0].queue_id if queues else None,
        "queue_name": queues[0].queue_name if queues else None,
        "user_ids": [p.user_id for p in agents if p.user_id],
        "agent_count": len(agents),
        "wrapup_code": wrapups[-1] if wrapups else None,
        "ended": ended,
        "abandoned": ended and not agents,
        "transferred": any(
            p.purpose == "agent" and (p.disconnect_type or "").startswith("transfer") for p in ps
        ),
        "conferenced": conferenced,
        "hold_s": float(hold_total),
        "event_count": len(events),
        "source": "events",
    }
    return conv_row, part_rows, phase_rows
