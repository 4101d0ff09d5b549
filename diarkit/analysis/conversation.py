"""The conversation model: participants, phases, attribution and source reconciliation.

Pure functions over tables (times on the session clock in seconds, ``*_at`` UTC):

- :func:`source_of` names each segment's source (``live``/``backfill``/``import``) from
  the raw row it came from; :func:`reconcile` merges sources and duplicate
  communications into one timeline per conversation, never adding them.
- :func:`build_model` turns the ``.calls`` events of ``raw/`` into the ``CONVERSATIONS``,
  ``PARTICIPANTS`` and ``PHASES`` tables (``diarkit.schema``).
- :func:`attribute` gives every segment its party and, for internal speech, the
  participant who held the line at that moment (vectorised interval join).

``docs/conversation-model.md`` states every rule with its reasons.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd

from diarkit.analysis._core import codes_of, float_array, order_by
from diarkit.genesys.calls import CallParticipant, CallSnapshot, parse_call_body, parse_time
from diarkit.genesys.errors import ProtocolError
from diarkit.schema import (
    CONVERSATIONS,
    PARTICIPANTS,
    PHASES,
    SEGMENT_SOURCES,
    SEGMENTS,
    SPEAKER_BY_CHANNEL,
    validate,
)

#: Raw ``topic`` of post-call transcripts written by ``diarkit backfill``.
BACKFILL_TOPIC = "diarkit.backfill.sta_transcript"
#: Prefix of the raw ``source`` column that marks a back-filled row.
BACKFILL_SOURCE_PREFIX = "backfill:"
#: Precedence rank of each source (lower wins).
SOURCE_RANK = {name: i for i, name in enumerate(SEGMENT_SOURCES)}
#: Internal purposes that can hold the line (speak on the INTERNAL channel).
INTERNAL_PURPOSES = ("agent", "ivr", "acd", "bot", "workflow", "voicemail")
#: Purposes of the customer side (EXTERNAL channel).
EXTERNAL_PURPOSES = ("customer", "external")
#: ``attribution`` values of :func:`attribute`.
ATTRIBUTIONS = ("participant", "conference", "ambiguous", "none", "channel")
#: ``participant_id`` and ``by_party`` speaker label of conference speech: the internal
#: speaker a Genesys voice transcript calls "conference" (docs/conversation-model.md).
CONFERENCE = "conference"
#: Largest difference (seconds) between a frame's receive time and the newest time in its
#: call body for the receive times to be taken as the call's clock.
RECEIVE_TOLERANCE_S = 120.0
#: Phase kinds painted on the call timeline, highest priority first.
PHASE_PRIORITY = ("unknown", "secure_pause", "hold", "dialing", "talk", "queue", "ivr")

_MS = 1000.0


def to_ms(seconds: np.ndarray) -> np.ndarray:
    """Seconds as integer milliseconds (the wire's unit), rounded to the nearest."""
    out: np.ndarray = np.rint(np.asarray(seconds, dtype=np.float64) * _MS).astype(np.int64)
    return out


# --------------------------------------------------------------------------- sources


def source_of(topics: pd.Series, raw_sources: pd.Series | None = None) -> pd.Categorical:
    """The ``source`` of segments from their raw rows' ``topic`` (and raw ``source``).

    - ``backfill``: raw topic ``diarkit.backfill.*`` or raw ``source`` starting with
      ``backfill:`` (post-call transcripts fetched by ``diarkit backfill``);
    - ``live``: notification frames (topic ``v2.*``), captured or converted from files;
    - ``import``: anything else (post-call transcript files, tutorial formats).
    """
    topic = topics.astype("string").fillna("")
    out = np.where(topic.str.startswith("v2.").to_numpy(dtype=bool), "live", "import")
    back = topic.str.startswith("diarkit.backfill.").to_numpy(dtype=bool)
    if raw_sources is not None:
        src = raw_sources.astype("string").fillna("")
        back |= src.str.startswith(BACKFILL_SOURCE_PREFIX).to_numpy(dtype=bool)
    out = np.where(back, "backfill", out)
    return pd.Categorical(out, categories=list(SEGMENT_SOURCES))


class Reconciled(NamedTuple):
    """Result of :func:`reconcile`: one timeline per conversation, and what was dropped."""

    segments: pd.DataFrame
    dropped: pd.DataFrame


def _overlaps_better(
    group: np.ndarray, rank: np.ndarray, start_ms: np.ndarray, end_ms: np.ndarray
) -> np.ndarray:
    """True for rows overlapping (positive length) a row of the same group with lower rank."""
    n = len(group)
    hit = np.zeros(n, dtype=bool)
    ranks = np.unique(rank)
    if len(ranks) < 2:
        return hit
    span = int(max(end_ms.max(), 0)) + 2
    base = group.astype(np.int64) * span
    for r in ranks[1:]:  # a handful of ranks, each pass vectorised
        better = rank < r
        mine = np.flatnonzero(rank == r)
        if not better.any() or not len(mine):
            continue
        # union of the better rows per group, as disjoint blocks on one integer axis
        bs = base[better] + start_ms[better]
        be = base[better] + end_ms[better]
        order = np.argsort(bs, kind="stable")
        bs, be = bs[order], be[order]
        run_end = np.maximum.accumulate(be)
        new = np.ones(len(bs), dtype=bool)
        new[1:] = bs[1:] >= run_end[:-1]
        first = np.flatnonzero(new)
        blk_s = bs[first]
        blk_e = np.maximum.reduceat(be, first)
        s = base[mine] + start_ms[mine]
        e = base[mine] + end_ms[mine]
        i = np.searchsorted(blk_e, s, side="right")  # first block ending after s
        ok = i < len(blk_s)
        j = np.where(ok, i, 0)
        hit[mine] = ok & (blk_s[j] < np.maximum(e, s + 1)) & (blk_e[j] > s)
    return hit


#: Channels that say nothing about the side: in :func:`reconcile` they collide with speech
#: on either side (``INTERNAL`` and ``EXTERNAL``).
WILDCARD_CHANNELS = ("BOTH", "UNKNOWN")


def align_to_live(segments: pd.DataFrame) -> pd.DataFrame:
    """Non-live rows re-timed onto their conversation's live session clock.

    A post-call transcript measures from its own start and the live stream from the
    transcription session start; the two clocks of one call can sit ~0.6 s apart. Both give
    absolute times (``start_at``, UTC). Where a conversation has live rows with
    ``start_at``, each non-live row with a ``start_at`` gets ``start_s = start_at -
    origin`` (seconds), ``origin`` being the median over the conversation's live rows of
    ``start_at - start_s``; ``end_s`` keeps the row's duration. Other rows are unchanged.

    Args:
        segments: segments with ``source``, ``conversation_id``, ``start_s``, ``end_s``
            and ``start_at`` columns (without ``source`` or ``start_at`` nothing changes).

    Returns:
        ``segments`` itself when nothing is re-timed, else a re-timed copy (same index).
    """
    if "source" not in segments.columns or "start_at" not in segments.columns:
        return segments
    src = segments["source"].astype("string").fillna("live")
    return _align(segments, (src == "live").to_numpy(dtype=bool))


def _align(segments: pd.DataFrame, live: np.ndarray) -> pd.DataFrame:
    """:func:`align_to_live` with the live rows given (a boolean mask)."""
    if live.all() or not live.any() or "start_at" not in segments.columns:
        return segments
    at = pd.to_datetime(segments["start_at"], utc=True)
    has_at = at.notna().to_numpy(dtype=bool)
    lv = live & has_at
    if not lv.any():
        return segments
    conv, _ = codes_of(segments["conversation_id"])
    start = float_array(segments["start_s"])
    at_ns = at.to_numpy(dtype="datetime64[ns]").astype(np.int64)  # NaT: int64 min
    # origin per conversation (ns since epoch): median of live start_at - start_s
    origin = pd.Series(at_ns[lv] - np.rint(start[lv] * 1e9).astype(np.int64)).groupby(
        conv[lv]).median()
    o = pd.Series(origin).reindex(conv).to_numpy(dtype=np.float64)
    ok = ~live & has_at & ~np.isnan(o)
    if not ok.any():
        return segments
    out = segments.copy()
    dur = float_array(out["end_s"]) - start
    new_start = np.where(ok, (at_ns - np.where(ok, o, 0).astype(np.int64)) / 1e9, np.nan)
    start = np.where(ok, new_start, start)
    out["start_s"] = np.where(ok, np.round(start, 6), out["start_s"].to_numpy(dtype=float))
    out["end_s"] = np.where(ok, np.round(start + dur, 6), out["end_s"].to_numpy(dtype=float))
    return out


def _wildcard_collisions(
    df: pd.DataFrame, conv: np.ndarray, src_rank: np.ndarray, start_ms: np.ndarray,
    end_ms: np.ndarray, dropped: np.ndarray,
) -> np.ndarray:
    """Rows of a worse source overlapping a better source's row where one of the two has a
    wildcard channel (``BOTH``/``UNKNOWN`` without a speaker of its own): such a row stands
    for either side, so it is the same speech as the other source's row on that side."""
    channel = df["channel"].astype("string").fillna("UNKNOWN")
    speaker = df["speaker"].astype("string")
    default = channel.map(SPEAKER_BY_CHANNEL)
    wild = (channel.isin(WILDCARD_CHANNELS) & (speaker.isna() | speaker.eq(default))
            ).to_numpy(dtype=bool, na_value=False)
    sided = channel.isin(("INTERNAL", "EXTERNAL")).to_numpy(dtype=bool)
    alive = ~dropped
    if not (wild & alive).any():
        return np.zeros(len(df), dtype=bool)
    side = np.where(channel.eq("EXTERNAL").to_numpy(dtype=bool, na_value=False), 1, 0)
    hit = np.zeros(len(df), dtype=bool)
    for k in np.unique(src_rank[alive]).tolist()[1:]:
        cand = alive & (src_rank == k)
        block = alive & (src_rank < k)
        # (blocker rows, blocker sides, candidate rows, candidate sides)
        passes = [
            (np.flatnonzero(block & wild), None, np.flatnonzero(cand & sided), "own"),
            (np.flatnonzero(block & sided), "own", np.flatnonzero(cand & wild), None),
            (np.flatnonzero(block & wild), None, np.flatnonzero(cand & wild), None),
        ]
        for b_rows, b_side, c_rows, c_side in passes:
            if not len(b_rows) or not len(c_rows):
                continue
            bi, bs = _expand(b_rows, side, b_side)
            ci, cs = _expand(c_rows, side, c_side)
            rows = np.concatenate([bi, ci])
            g = conv[rows].astype(np.int64) * 2 + np.concatenate([bs, cs])
            r = np.concatenate([np.zeros(len(bi), np.int64), np.ones(len(ci), np.int64)])
            h = _overlaps_better(g, r, start_ms[rows], end_ms[rows])
            np.logical_or.at(hit, ci, h[len(bi):])
    return hit


def _expand(rows: np.ndarray, side: np.ndarray, how: str | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Rows with their side (0 internal, 1 external): their own, or each row on both."""
    if how == "own":
        return rows, side[rows]
    return np.concatenate([rows, rows]), np.repeat(np.array([0, 1]), len(rows))


def reconcile(segments: pd.DataFrame) -> Reconciled:
    """Merge sources and duplicate communications into one timeline per conversation.

    The one definition of source merging (``diarkit.analysis.reconcile.merge_sources``
    and every metric use it). First, rows of other sources are re-timed onto their
    conversation's live clock by absolute time (:func:`align_to_live`). Then each segment
    belongs to a (``source``, ``communication_id``) stream. Within a conversation, channel
    and speaker, streams are ranked: by source (``live`` before ``backfill`` before
    ``import``), then by communication (most speech first, ties by id). A segment is
    dropped when it overlaps (positive length, at millisecond resolution) a segment of a
    better-ranked stream in the same conversation, channel and speaker; across sources, a
    row on a wildcard channel (``BOTH``/``UNKNOWN`` without a speaker of its own) also
    collides with either side. So a back-filled phrase fills a capture gap but never
    doubles live speech, and the other side's back-channel inside a live turn is kept.
    Rows without ``source`` are ``live``.

    Args:
        segments: finalized segments (``diarkit.schema.SEGMENTS``), optionally with a
            ``source`` column (:func:`source_of`).

    Returns:
        ``Reconciled(segments, dropped)``: kept rows (with a ``source`` column; non-live
        rows re-timed onto the live clock) and the dropped rows, in input order.
    """
    validate(segments, SEGMENTS, where="reconcile()")
    df = segments
    if "source" not in df.columns:
        live = np.zeros(len(df), dtype=np.int8)
        df = df.assign(source=pd.Categorical.from_codes(live, categories=list(SEGMENT_SOURCES)))
    n = len(df)
    if n == 0:
        return Reconciled(df, df.iloc[:0])
    known = pd.Index(list(SEGMENT_SOURCES))
    col = df["source"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        per_cat = known.get_indexer(col.cat.categories.astype(str))
        codes = col.cat.codes.to_numpy()
        src_rank = np.where(codes < 0, 0, np.append(per_cat, 0)[codes]).astype(np.int64)
    else:
        values = col.astype(object).where(col.notna(), "live")
        src_rank = known.get_indexer(values).astype(np.int64)
    if (src_rank < 0).any():
        bad = df["source"].iloc[int(np.flatnonzero(src_rank < 0)[0])]
        raise ValueError(f"reconcile(): unknown source {bad!r}; known: {list(SEGMENT_SOURCES)}")
    df = _align(df, src_rank == 0)
    conv, _ = codes_of(df["conversation_id"])
    chan, chan_labels = codes_of(df["channel"])
    spk, spk_labels = codes_of(df["speaker"])
    comm, _ = codes_of(df["communication_id"])
    n_chan = len(chan_labels) + 1
    n_spk = len(spk_labels) + 1
    group = (conv * n_chan + (chan + 1)) * n_spk + (spk + 1)
    n_comm = int(comm.max()) + 2
    stream = src_rank * n_comm + (comm + 1)
    drop = np.zeros(n, dtype=bool)
    # fast path: one stream per (conversation, channel, speaker) -> nothing can collide
    n_streams = len(SEGMENT_SOURCES) * n_comm
    pairs = np.unique(group * n_streams + stream)
    one_source = src_rank.max() == src_rank.min()
    if one_source and len(pairs) == len(np.unique(pairs // n_streams)):
        return Reconciled(df, df.iloc[:0])
    start_ms = to_ms(float_array(df["start_s"]))
    end_ms = to_ms(float_array(df["end_s"]))
    if len(pairs) != len(np.unique(pairs // n_streams)):
        speech = pd.DataFrame(
            {"g": group, "st": stream, "src": src_rank, "c": comm, "d": end_ms - start_ms}
        )
        totals = speech.groupby(["g", "st", "src", "c"], sort=False)["d"].sum().reset_index()
        totals = totals.sort_values(["g", "src", "d", "c"], ascending=[True, True, False, True])
        totals["r"] = totals.groupby("g").cumcount()
        rank_of = totals.set_index(["g", "st"])["r"]
        rank = rank_of.reindex(pd.MultiIndex.from_arrays([group, stream])).to_numpy(np.int64)
        drop = _overlaps_better(group, rank, start_ms, end_ms)
    if not one_source:
        drop |= _wildcard_collisions(df, conv, src_rank, start_ms, end_ms, drop)
    return Reconciled(df[~drop], df[drop])


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class _Part:
    """Everything known about one participant across a conversation's events."""

    latest: CallParticipant
    first_seen: int
    holds: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)
    hold_open: datetime | None = None
    secure: bool = False


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


def _one_conversation(
    cid: str,
    events: list[tuple[datetime | None, bool, CallSnapshot]],
    gaps: list[tuple[datetime, datetime]],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
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
        c, p, ph = _one_conversation(cid, [(w, r, s) for w, r, s, _ in evs], gap_list)
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


# --------------------------------------------------------------------------- attribution


def attribute(segments: pd.DataFrame, phases: pd.DataFrame | None) -> pd.DataFrame:
    """Add each segment's party and the participant holding the line (vectorised).

    Columns added: ``party`` (``customer`` for EXTERNAL speech; for INTERNAL speech the
    purpose of the participant holding the line: ``agent``, ``ivr``, ``acd``), then
    ``participant_id``, ``user_id`` and ``attribution``:

    - ``participant``: exactly one internal participant held the line at the segment's
      midpoint (EXTERNAL speech: the conversation has phases);
    - ``conference``: two or more agents held the line at once (a conference, or a
      consult both agents are in). A Genesys voice transcript has one internal speaker,
      labelled "conference" then, and nothing on the wire says which agent spoke, so the
      speech belongs to the *conference participant*: ``party`` ``agent``,
      ``participant_id`` ``"conference"`` (a label, not a Genesys id), ``user_id`` null,
      and ``conference_user_ids`` the connected agents' user ids (sorted, joined by
      ``,``). It is never guessed to one agent (docs/conversation-model.md);
    - ``ambiguous``: two or more internal participants of another purpose held it at
      once: ``party`` is their common purpose (else the channel's), ids are null;
    - ``none``: the conversation has phases but the segment has no party: speech on the
      ``BOTH``/``UNKNOWN`` channel (``party`` ``unknown``: the channel names no side), or
      INTERNAL speech that no phase covers (before the first or after the last call
      event; ``party`` falls back to the channel's);
    - ``channel``: no participant data for the conversation: ``party`` is the channel's
      default speaker (``agent``/``customer``), ids null.

    ``speaker`` is not changed: renaming speakers never changes these columns.

    Args:
        segments: a ``SEGMENTS`` table (seconds on the session clock).
        phases: a ``PHASES`` table with ``holder_purpose``/``holder_count`` (from
            :func:`build_model`), or None.

    Returns:
        A copy of ``segments`` with the four columns (categorical) and
        ``conference_user_ids`` (string; null outside conference speech).
    """
    validate(segments, SEGMENTS, where="attribute()")
    n = len(segments)
    conv, conv_labels = codes_of(segments["conversation_id"])
    chan, chan_labels = codes_of(segments["channel"])
    chan_names = np.append(np.asarray(chan_labels.astype(str), dtype=object), "")
    internal = (chan_names == "INTERNAL")[chan]
    external = (chan_names == "EXTERNAL")[chan]
    # party codes: 0 customer, 1 agent, 2 unknown, then holder purposes
    parties = ["customer", "agent", "unknown"]
    party = np.where(internal, 1, np.where(external, 0, 2)).astype(np.int64)
    how = np.full(n, ATTRIBUTIONS.index("channel"), dtype=np.int8)
    pid_code = np.full(n, -1, dtype=np.int64)
    uid_code = np.full(n, -1, dtype=np.int64)
    pid_labels: list[str] = []
    uid_labels: list[str] = []
    conf_users = pd.Series(pd.NA, index=segments.index, dtype="string")
    if phases is not None and len(phases) and n:
        ph = phases[
            ~phases["phase"].astype("string").isin(["acw", "unknown"]).to_numpy(dtype=bool)
            & phases["start_s"].notna().to_numpy()
        ]
        p_conv = pd.Index(conv_labels.astype(str)).get_indexer(
            ph["conversation_id"].astype(str)
        )
        ph = ph[p_conv >= 0]
        p_conv = p_conv[p_conv >= 0].astype(np.int64)
    if phases is not None and len(phases) and n and len(ph):
        has_model = np.zeros(len(conv_labels) + 1, dtype=bool)
        has_model[p_conv] = True
        modelled = has_model[conv]  # code -1 (missing id) hits the spare last slot
        start_ms = to_ms(float_array(segments["start_s"]))
        mid_ms = (start_ms + to_ms(float_array(segments["end_s"]))) // 2
        p_start = to_ms(ph["start_s"].to_numpy(np.float64))
        p_end = to_ms(ph["end_s"].to_numpy(np.float64))
        lo = int(min(p_start.min(initial=0), mid_ms.min(initial=0), 0))
        width = int(max(p_end.max(initial=0), mid_ms.max(initial=0), 0)) - lo + 2
        key_p = p_conv * width + (p_start - lo)
        order = np.argsort(key_p, kind="stable")
        key_p, end_p = key_p[order], (p_conv * width + (p_end - lo))[order]
        key_s = conv * width + (mid_ms - lo)
        j = np.searchsorted(key_p, key_s, side="right") - 1
        jj = np.where(j >= 0, j, 0)
        inside = modelled & (j >= 0) & (key_s < end_p[jj]) & (key_s >= key_p[jj])
        holder_labels = ph["holder_purpose"].astype("string").fillna("").to_numpy(dtype=object)
        h_codes, h_uniques = pd.factorize(holder_labels[order])
        h_party = np.array(
            [parties.index(h) if h in parties else -1 for h in h_uniques], dtype=np.int64
        )
        for k, h in enumerate(h_uniques):
            if h_party[k] < 0 and h:
                parties.append(str(h))
                h_party[k] = len(parties) - 1
        row_party = np.where(h_codes >= 0, h_party[np.maximum(h_codes, 0)], -1)
        row_party = np.where(holder_labels[order] == "", -1, row_party)
        count = ph["holder_count"].to_numpy(np.int64)[order]
        pc_codes, pc_uniques = pd.factorize(ph["participant_id"].astype(object).to_numpy()[order])
        uc_codes, uc_uniques = pd.factorize(ph["user_id"].astype(object).to_numpy()[order])
        pid_labels = [str(x) for x in pc_uniques]
        uid_labels = [str(x) for x in uc_uniques]
        how = np.where(modelled, ATTRIBUTIONS.index("none"), how).astype(np.int8)
        how[modelled & external] = ATTRIBUTIONS.index("participant")
        single = inside & internal & (count[jj] == 1) & (row_party[jj] >= 0)
        multi = inside & internal & (count[jj] > 1)
        party = np.where(single, row_party[jj], party)
        pid_code = np.where(single, pc_codes[jj], pid_code)
        uid_code = np.where(single, uc_codes[jj], uid_code)
        how[single] = ATTRIBUTIONS.index("participant")
        common = multi & (row_party[jj] >= 0)
        party = np.where(common, row_party[jj], party)
        how[multi] = ATTRIBUTIONS.index("ambiguous")
        conference = common & (row_party[jj] == parties.index("agent"))
        if conference.any():
            how[conference] = ATTRIBUTIONS.index("conference")
            if CONFERENCE not in pid_labels:
                pid_labels.append(CONFERENCE)
            pid_code = np.where(conference, pid_labels.index(CONFERENCE), pid_code)
            if "holder_user_ids" in ph.columns:
                ids = ph["holder_user_ids"].astype("string").to_numpy(dtype=object)[order]
                conf_users[conference] = ids[jj[conference]]
    out = segments.copy()
    out["party"] = pd.Categorical.from_codes(party, categories=parties)
    out["participant_id"] = pd.Categorical.from_codes(pid_code, categories=pid_labels)
    out["user_id"] = pd.Categorical.from_codes(uid_code, categories=uid_labels)
    out["attribution"] = pd.Categorical.from_codes(how, categories=list(ATTRIBUTIONS))
    out["conference_user_ids"] = conf_users.replace("", pd.NA)
    return out


def by_party(attributed: pd.DataFrame) -> pd.DataFrame:
    """Attributed segments with ``speaker`` set to ``party`` (IVR and queue speak apart).

    Conference speech (``attribution == "conference"``) gets the speaker ``conference``:
    a participant of its own, so ``talk_stats`` gives it one row per call (``user_id``
    null) and no single agent's row holds it.
    """
    speaker = attributed["party"]
    if "attribution" in attributed.columns:
        conf = (attributed["attribution"].astype("string") == "conference").to_numpy(
            dtype=bool, na_value=False
        )
        if conf.any():
            if isinstance(speaker.dtype, pd.CategoricalDtype):
                if CONFERENCE not in speaker.cat.categories:
                    speaker = speaker.cat.add_categories([CONFERENCE])
            else:
                speaker = speaker.astype("string")
            speaker = speaker.where(~conf, CONFERENCE)
    return attributed.assign(speaker=speaker)


# --------------------------------------------------------------------------- metrics


def one_timeline(segments: pd.DataFrame, profile: Any, where: str = "talk_stats()") -> pd.DataFrame:
    """Finalized, de-duplicated, reconciled segments with text: what every metric reads.

    Partial versions are finalized (``profile.unfinalized == "finalize"``, the latest
    final version of each utterance is kept) or refused with a ``ValueError`` naming the
    first partial row (``"error"``); repeated final versions of one utterance are kept
    once; final segments with blank text (the recogniser heard nothing) are not speech;
    sources and duplicate communications are merged by :func:`reconcile`.
    """
    from diarkit.analysis.finality import finalize

    final = segments["is_final"].to_numpy(dtype=bool, na_value=False)
    needs = not final.all()
    if not needs and len(segments) > 1:
        # repeated final versions share conversation, communication and times: a hash of
        # those finds candidates cheaply (a collision only costs a finalize)
        conv, _ = codes_of(segments["conversation_id"])
        comm, _ = codes_of(segments["communication_id"])
        start = to_ms(np.nan_to_num(float_array(segments["start_s"])))
        end = to_ms(np.nan_to_num(float_array(segments["end_s"])))
        with np.errstate(over="ignore"):
            h = (
                conv.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                ^ (comm + 1).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
                ^ start.astype(np.uint64) * np.uint64(0x165667B19E3779F9)
                ^ end.astype(np.uint64) * np.uint64(0x27D4EB2F165667C5)
            )
        h.sort()
        needs = bool((h[1:] == h[:-1]).any())
    if needs:
        if profile.unfinalized == "error" and not final.all():
            bad = np.flatnonzero(~final)
            raise ValueError(
                f"{where}: {len(bad)} unfinalized row(s) (is_final false), first at index "
                f"{segments.index[bad[0]]!r}; pass finalize(segments).segments, or use a "
                "profile with unfinalized='finalize'"
            )
        segments = finalize(segments).segments
    from diarkit.analysis.confidence import _blank

    blank = _blank(segments["text"])
    if blank.any():  # the recogniser heard nothing: no words, not speech
        segments = segments[~blank]
    return reconcile(segments).segments


@dataclass(frozen=True, slots=True)
class PhaseIndex:
    """Per-conversation figures of a PHASES table, aligned to a list of conversation labels.

    Times are seconds on the session clock; conversations without phases hold NaN and
    ``has_phases`` False.
    """

    has_phases: np.ndarray
    call_start: np.ndarray
    call_end: np.ndarray
    agent_time: np.ndarray
    unknown_time: np.ndarray
    conv: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    clipped: np.ndarray  # conversations whose silence is clipped (a model, or gaps only)

    def allowed(self, kinds: Iterable[str]) -> AllowedTime:
        """The phases of the given kinds, as the time silence may be counted in."""
        keep = np.isin(self.kind, list(kinds))
        return AllowedTime(self.clipped, self.conv[keep], self.start[keep], self.end[keep])


@dataclass(frozen=True, slots=True)
class AllowedTime:
    """Disjoint allowed intervals per conversation (seconds)."""

    has_phases: np.ndarray
    conv: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def clip(
        self, conv: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Intersect disjoint intervals with the allowed time: (conversation, length) runs.

        Conversations without phases pass through unchanged; in the others each interval
        is cut to the allowed time, and touching pieces (two adjacent allowed phases)
        stay one run.
        """
        valid = ~(np.isnan(start) | np.isnan(end)) & (end > start)
        through = valid & ~self.has_phases[conv]
        inside = valid & self.has_phases[conv]
        c_a, s_a, e_a = conv[inside], start[inside], end[inside]
        m, k = len(c_a), len(self.conv)
        t = np.concatenate([s_a, e_a, self.start, self.end])
        c = np.concatenate([c_a, c_a, self.conv, self.conv])
        da = np.concatenate([np.ones(m), -np.ones(m), np.zeros(2 * k)]).astype(np.int64)
        db = np.concatenate([np.zeros(2 * m), np.ones(k), -np.ones(k)]).astype(np.int64)
        order = order_by(c, len(self.has_phases), t, da + db)  # ends first at one instant
        t, c, da, db = t[order], c[order], da[order], db[order]
        ca, cb = np.cumsum(da), np.cumsum(db)
        if len(t) > 1:
            same = c[1:] == c[:-1]
            flag = ((ca[:-1] > 0) & (cb[:-1] > 0))[same]
            dur = (t[1:] - t[:-1])[same]
            grp = c[:-1][same]
            totals, groups = _runs(flag, grp, dur)
        else:
            totals, groups = np.empty(0), np.empty(0, np.int64)
        keep = totals > 0
        return (
            np.concatenate([conv[through], groups[keep]]).astype(np.int64),
            np.concatenate([(end - start)[through], totals[keep]]),
        )


def _runs(
    flag: np.ndarray, group: np.ndarray, duration: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    from diarkit.analysis._core import run_lengths

    return run_lengths(flag, group, duration)


def phase_index(phases: pd.DataFrame, conv_labels: pd.Index) -> PhaseIndex:
    """Index a ``PHASES`` table by the codes of ``conv_labels`` (vectorised).

    The call span is the union of the non-``acw`` phases; ``agent_time`` the talk and
    hold phases an agent held; ``unknown_time`` the ``unknown`` phases (capture gaps,
    time before the first event).
    """
    validate(phases, PHASES, where="phase_index()")
    n = len(conv_labels)
    lookup = pd.Index(pd.Index(conv_labels).astype("string"))
    ph = phases[phases["phase"].astype("string").ne("acw").to_numpy(dtype=bool)]
    ph = ph[ph["start_s"].notna().to_numpy() & ph["end_s"].notna().to_numpy()]
    code = lookup.get_indexer(ph["conversation_id"].astype("string"))
    ph = ph[code >= 0]
    code = code[code >= 0].astype(np.int64)
    start = ph["start_s"].to_numpy(np.float64)
    end = ph["end_s"].to_numpy(np.float64)
    kind = ph["phase"].astype("string").to_numpy(dtype=object)
    real = kind != "unknown"
    has = np.zeros(n, dtype=bool)
    has[code[real]] = True  # a call model (not only capture gaps)
    gaps_only = np.zeros(n, dtype=bool)
    gaps_only[code] = True
    gaps_only &= ~has
    call_start = np.full(n, np.nan)
    call_end = np.full(n, np.nan)
    modelled = has[code]  # every phase (unknown too) of a conversation with a call model
    if modelled.any():
        g = pd.DataFrame(
            {"c": code[modelled], "s": start[modelled], "e": end[modelled]}
        ).groupby("c")
        call_start[g["s"].min().index.to_numpy()] = g["s"].min().to_numpy()
        call_end[g["e"].max().index.to_numpy()] = g["e"].max().to_numpy()
    holder = (
        ph["holder_purpose"].astype("string").fillna("").to_numpy(dtype=object)
        if "holder_purpose" in ph.columns
        else np.full(len(ph), "", dtype=object)
    )
    agent = np.isin(kind, ["talk", "hold"]) & (holder == "agent")
    if "holder_purpose" not in ph.columns:
        agent = np.isin(kind, ["talk", "hold"])
    dur = end - start
    agent_time = np.bincount(code[agent], weights=dur[agent], minlength=n)[:n]
    unknown = kind == "unknown"
    unknown_time = np.bincount(code[unknown], weights=dur[unknown], minlength=n)[:n]
    # a conversation known only through capture gaps: silence may lie anywhere but there,
    # so its allowed time is the complement of its gaps
    g_idx = np.flatnonzero(gaps_only[code])
    if len(g_idx):
        gdf = pd.DataFrame({"c": code[g_idx], "s": start[g_idx], "e": end[g_idx]}).sort_values(
            ["c", "s"]
        )
        c_arr, s_arr, e_arr = (gdf[x].to_numpy() for x in ("c", "s", "e"))
        first = np.ones(len(c_arr), dtype=bool)
        first[1:] = c_arr[1:] != c_arr[:-1]
        last = np.ones(len(c_arr), dtype=bool)
        last[:-1] = c_arr[:-1] != c_arr[1:]
        prev_end = np.where(first, -1e12, np.roll(e_arr, 1))
        comp_c = np.concatenate([c_arr, c_arr[last]])
        comp_s = np.concatenate([prev_end, e_arr[last]])
        comp_e = np.concatenate([s_arr, np.full(int(last.sum()), 1e12)])
        code = np.concatenate([code, comp_c])
        kind = np.concatenate([kind, np.full(len(comp_c), "talk", dtype=object)])
        start = np.concatenate([start, comp_s])
        end = np.concatenate([end, comp_e])
    return PhaseIndex(
        has_phases=has,
        call_start=call_start,
        call_end=call_end,
        agent_time=agent_time.astype(np.float64),
        unknown_time=unknown_time.astype(np.float64),
        conv=code,
        kind=kind,
        start=start,
        end=end,
        clipped=has | gaps_only,
    )
