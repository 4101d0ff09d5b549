"""Back-fill: fetch post-call transcripts of calls live capture saw only in part.

Live notifications have no replay: a disconnection loses what was said meanwhile, a
capture that joins a call late never sees its start, and a call whose session never
ended (``SESSION_ENDED``) or whose utterances never became final is incomplete. Genesys
keeps the post-call Speech and Text Analytics transcript of every such call. This module

1. finds the conversations that need it (``find_candidates``): touched by a capture gap,
   joined late (first frame well after the session start, or a gap of cause
   ``late_join``), utterances never final, no ``SESSION_ENDED``;
2. keeps a resumable pending list in the dataset, ``DATASET/backfill/pending.parquet``,
   with each item's state (``pending``, ``done``, ``unavailable``) and next-try time
   (transcripts can arrive hours or days after the call: 404 until then);
3. fetches each transcript (``AnalyticsClient.fetch_transcripts``: the single or plural
   ``transcripturl`` endpoint, refetching an expired pre-signed URL; 429s wait for
   ``Retry-After``) and writes it into the dataset as raw rows through the same writer
   capture and convert use: part ``backfill-<communicationId>-000000`` (session id
   ``backfill-<communicationId>``, ``source`` ``backfill:<conversation>/<communication>``,
   topic ``diarkit.import.sta_transcript``, ``received_at`` the fetch time). A part that
   already exists is never written again, so reruns and interrupted runs never duplicate.

``merged_segments`` and ``coverage_table`` read the result back: one timeline per
conversation with a ``source`` column (``live``, ``backfill``, ``both``; see
``diarkit.analysis.reconcile.merge_sources``) and each call's coverage.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from diarkit.analysis.reconcile import (
    BACKFILL_SESSION_PREFIX,
    LiveView,
    coverage,
    is_backfill,
    merge_sources,
)
from diarkit.io.dataset import (
    RAW_DIR,
    SEGMENTS_DIR,
    find_part,
    is_dataset,
    part_name,
    pid_alive,
    write_raw_part,
    write_table_atomic,
)
from diarkit.io.load import DatasetRoot, RemoteRoot, dataset_root, gaps_table, part_names, read_area

from .analytics import AnalyticsClient, AnalyticsError

BACKFILL_DIR = "backfill"
PENDING_FILE = "pending.parquet"
#: A first frame later than this after the session start means the capture joined late (ms).
LATE_JOIN_MS = 3_000
#: Waits between tries of a transcript that is not ready yet (seconds); the last repeats.
RETRY_DELAYS_S = (60.0, 300.0, 900.0, 3_600.0, 4 * 3_600.0, 12 * 3_600.0, 24 * 3_600.0)
#: After this long (seconds since first queued) a transcript still missing is unavailable.
GIVE_UP_AFTER_S = 7 * 86_400.0
#: Reasons a conversation needs back-fill.
REASONS = ("gap", "late_join", "not_final", "no_session_end")

_TS = pa.timestamp("us", tz="UTC")
PENDING_SCHEMA = pa.schema([
    ("conversation_id", pa.string()),
    ("communication_id", pa.string()),
    ("reasons", pa.string()),
    ("state", pa.string()),
    ("attempts", pa.int64()),
    ("first_seen_at", _TS),
    ("next_try_at", _TS),
    ("last_try_at", _TS),
    ("last_result", pa.string()),
    ("rows", pa.int64()),
])


def backfill_session(communication_id: str) -> str:
    """Session id of the back-fill part of a communication (``backfill-<id>``)."""
    return f"{BACKFILL_SESSION_PREFIX}{communication_id}"


# --------------------------------------------------------------------------- scanning


@dataclass
class _Conv:
    """One conversation as live capture recorded it (positions ms on the session clock,
    receive times µs since the epoch, in receive order)."""

    conversation_id: str
    communications: set[str] = field(default_factory=set)
    positions_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    received_us: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ended_ms: int | None = None
    reasons: set[str] = field(default_factory=set)
    not_final: list[tuple[float, float]] = field(default_factory=list)
    missing: list[tuple[float, float]] = field(default_factory=list)


def _position_ms(body: dict[str, Any]) -> int | None:
    """Where on the session clock a transcription frame was sent (ms), if it says."""
    status = body.get("status")
    if isinstance(status, dict) and isinstance(status.get("offsetMs"), int):
        return int(status["offsetMs"])
    start, ev = body.get("sessionStartTimeMs"), body.get("eventTime")
    if isinstance(start, int) and isinstance(ev, str):
        try:
            t = datetime.fromisoformat(ev.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int(t.timestamp() * 1000) - start
    return None


_EPOCH = pd.Timestamp(0, tz="UTC")


def _us(values: pd.Series) -> np.ndarray:
    """Microseconds since the epoch of a UTC datetime column (NaT -> min int64)."""
    return np.asarray(((values - _EPOCH) // pd.Timedelta(microseconds=1)).fillna(
        np.iinfo(np.int64).min), dtype=np.int64)


def _live_segments(root: DatasetRoot) -> pd.DataFrame:
    cols = ["conversation_id", "communication_id", "utterance_id", "session_id", "is_final",
            "start_s", "end_s", "start_at"]
    seg = read_area(root, SEGMENTS_DIR, cols).to_pandas()
    seg = seg[~is_backfill(seg["session_id"])]
    seg["conversation_id"] = seg["conversation_id"].astype(str)
    return seg


def scan_live(dataset: str | Path | RemoteRoot) -> dict[str, _Conv]:
    """What live capture recorded of each conversation (transcription frames, gaps).

    Vectorised: a frame's position on the session clock is its ``event_time`` minus the
    session start its conversation's segments give (``start_at - start_s``), and
    ``SESSION_ENDED`` is found with a substring match; only frames of conversations with
    no segment to anchor the clock are parsed (``status.offsetMs``). ``dataset`` is a
    directory or a dataset URL (``s3://bucket/prefix``: read in place).
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    root = dataset_root(dataset)
    out: dict[str, _Conv] = {}
    seg = _live_segments(root)
    has_raw = bool(part_names(root, RAW_DIR))
    if has_raw:
        live = ~pc.starts_with(ds.field("session_id"), BACKFILL_SESSION_PREFIX)
        frames = (ds.field("kind") == "transcription") & live
        # the frame text is read only where a filter needs it, never held for every row
        table = read_area(root, RAW_DIR, ["received_at", "conversation_id", "event_time"],
                          frames)
        ended_rows = read_area(
            root, RAW_DIR, ["conversation_id", "event_time"],
            frames & pc.match_substring(ds.field("frame"), '"SESSION_ENDED"'))
        df = table.to_pandas()
        df["conversation_id"] = df["conversation_id"].astype("string")
        origin_ms = pd.Series(dtype="float64")
        if len(seg):
            anchored = seg.dropna(subset=["start_at"])
            origin_ms = (pd.Series(_us(anchored["start_at"]) / 1000, index=anchored.index)
                         - anchored["start_s"] * 1000).groupby(
                anchored["conversation_id"]).median()

        def positions(frame: pd.DataFrame) -> np.ndarray:
            org = frame["conversation_id"].astype("string").map(origin_ms).to_numpy(
                dtype=float, na_value=np.nan)
            us = _us(frame["event_time"])
            ev = np.where(us == np.iinfo(np.int64).min, np.nan, us / 1000)
            return np.asarray(np.round(ev - org), dtype=float)

        df["pos"] = positions(df)
        df["rec"] = _us(df["received_at"])
        unanchored = df.loc[df["pos"].isna(), "conversation_id"].dropna().unique()
        if len(unanchored):  # no segment anchors the clock: read status.offsetMs
            _positions_from_frames(root, frames, df, list(unanchored))
        df = df[df["conversation_id"].notna()]
        ends = ended_rows.to_pandas()
        ends["pos"] = positions(ends)
        ended_at = ends.dropna(subset=["pos"]).groupby(
            ends["conversation_id"].astype("string"))["pos"].max()
        ended_any = set(ends["conversation_id"].astype(str))
        for cid, g in df.groupby("conversation_id", sort=False):
            c = _Conv(str(cid))
            ok = g["pos"].notna().to_numpy()
            c.positions_ms = g["pos"].to_numpy()[ok].astype(np.int64)
            c.received_us = g["rec"].to_numpy()[ok]
            if cid in ended_at.index:
                c.ended_ms = int(ended_at[cid])
            elif str(cid) in ended_any:  # ended, at a position the frame does not say
                c.ended_ms = int(c.positions_ms.max()) if len(c.positions_ms) else 0
            out[str(cid)] = c
    if len(seg) and out:
        comms = seg.dropna(subset=["communication_id"]).groupby(
            "conversation_id")["communication_id"].unique()
        for cid, ids in comms.items():
            if cid in out:
                out[cid].communications.update(str(i) for i in ids)
        key = ["conversation_id", "communication_id", "utterance_id"]
        final_any = seg.groupby(key, observed=True, dropna=True)["is_final"].transform("any")
        never = seg[~final_any.to_numpy(dtype=bool)]
        spans = never.groupby(key, observed=True)[["start_s", "end_s"]].agg(
            {"start_s": "min", "end_s": "max"}).reset_index()
        for cid, s, e in zip(spans["conversation_id"], spans["start_s"], spans["end_s"],
                             strict=True):
            if cid in out:
                out[cid].not_final.append((float(s), float(e)))
    missing_comm = [c for c in out.values() if not c.communications]
    if missing_comm and has_raw:
        _communications_from_frames(root, missing_comm)
    gap_rows = gaps_table(root).to_pylist()
    for g in gap_rows:  # subscribed during a gap, yet not one frame recorded
        g["_conversations"] = set(g.get("conversations") or [])
        for cid in g["_conversations"]:
            out.setdefault(cid, _Conv(cid))
    for c in out.values():
        _classify(c, gap_rows)
    return out


def _positions_from_frames(root: DatasetRoot, frames: Any, df: pd.DataFrame,
                           ids: list[str]) -> None:
    """Fill ``df["pos"]`` of these conversations' frames from their ``status.offsetMs``.

    Rows are matched by (conversation, receive time) as both scans return them.
    """
    import pyarrow.dataset as ds

    table = read_area(root, RAW_DIR, ["conversation_id", "received_at", "frame"],
                      frames & ds.field("conversation_id").isin(
                          pa.array(sorted(ids), pa.string())))
    pos: dict[tuple[str, int], int] = {}
    rec = _us(table.column("received_at").to_pandas())
    for cid, r, text in zip(table.column("conversation_id").to_pylist(), rec,
                            table.column("frame").to_pylist(), strict=True):
        try:
            body = orjson.loads(text).get("eventBody") or {}
        except (orjson.JSONDecodeError, AttributeError):
            continue
        p = _position_ms(body) if isinstance(body, dict) else None
        if p is not None:
            pos[(str(cid), int(r))] = p
    todo = df["pos"].isna() & df["conversation_id"].isin(ids)
    keys = zip(df.loc[todo, "conversation_id"].astype(str), df.loc[todo, "rec"], strict=True)
    df.loc[todo, "pos"] = [pos.get((c, int(r)), np.nan) for c, r in keys]


def _communications_from_frames(root: DatasetRoot, convs: list[_Conv]) -> None:
    """Communication ids of conversations whose frames made no segment (status only)."""
    import pyarrow.dataset as ds

    want = {c.conversation_id: c for c in convs}
    table = read_area(root, RAW_DIR, ["conversation_id", "frame"],
                      (ds.field("kind") == "transcription")
                      & ds.field("conversation_id").isin(pa.array(sorted(want), pa.string())))
    for cid, text in zip(table.column("conversation_id").to_pylist(),
                         table.column("frame").to_pylist(), strict=True):
        try:
            comm = (orjson.loads(text).get("eventBody") or {}).get("communicationId")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(comm, str) and cid in want:
            want[cid].communications.add(comm)


def _gap_us(g: dict[str, Any], key: str) -> int:
    return int((pd.Timestamp(g[key]) - _EPOCH) // pd.Timedelta(microseconds=1))


def _touches(c: _Conv, g: dict[str, Any]) -> bool:
    """Did gap ``g`` touch conversation ``c``: it was subscribed, and the gap was not over
    before the call's session started (its start status received after the gap)."""
    if c.conversation_id not in g["_conversations"]:
        return False
    if not len(c.positions_ms):
        return True
    first = int(np.argmin(c.positions_ms))
    return not (c.positions_ms[first] <= LATE_JOIN_MS
                and c.received_us[first] >= _gap_us(g, "end_at"))


def _missing_ranges(c: _Conv, gap_rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Ranges (seconds on the session clock) live capture did not see."""
    if not len(c.positions_ms):
        return [(0.0, float("inf"))]
    pos, rec = c.positions_ms, c.received_us
    missing: list[tuple[float, float]] = []
    first = int(pos.min())
    if first > LATE_JOIN_MS:
        missing.append((0.0, first / 1000))
    for g in gap_rows:
        if not _touches(c, g):
            continue
        before = pos[rec <= _gap_us(g, "start_at")]
        after = pos[rec >= _gap_us(g, "end_at")]
        lo = float(before.max()) / 1000 if len(before) else 0.0
        hi = float(after.min()) / 1000 if len(after) else float("inf")
        if hi > lo:
            missing.append((lo, hi))
    if c.ended_ms is None:
        missing.append((float(pos.max()) / 1000, float("inf")))
    missing.extend(c.not_final)
    return missing


def _classify(c: _Conv, gap_rows: list[dict[str, Any]]) -> None:
    for g in gap_rows:
        if _touches(c, g):
            c.reasons.add("late_join" if g.get("cause") == "late_join" else "gap")
    if not len(c.positions_ms) or int(c.positions_ms.min()) > LATE_JOIN_MS:
        c.reasons.add("late_join")
    if c.not_final:
        c.reasons.add("not_final")
    if c.ended_ms is None:
        c.reasons.add("no_session_end")
    c.missing = _missing_ranges(c, gap_rows)


def find_candidates(dataset: str | Path) -> pd.DataFrame:
    """Conversations (and communications) of a dataset that need back-fill.

    Returns:
        One row per (conversation, communication) with ``reasons`` (comma-separated:
        ``gap``, ``late_join``, ``not_final``, ``no_session_end``), sorted by id. A
        conversation that was subscribed during a gap but has no frame at all gets an
        empty ``communication_id``: ``run_backfill`` looks it up in the analytics details.
    """
    rows = [{"conversation_id": c.conversation_id, "communication_id": comm,
             "reasons": ",".join(r for r in REASONS if r in c.reasons)}
            for c in scan_live(dataset).values() if c.reasons
            for comm in (sorted(c.communications) or [""])]
    df = pd.DataFrame(rows, columns=["conversation_id", "communication_id", "reasons"])
    return df.sort_values(["conversation_id", "communication_id"], ignore_index=True)


# --------------------------------------------------------------------------- pending list


def pending_path(dataset: str | Path) -> Path:
    """``DATASET/backfill/pending.parquet``."""
    return Path(dataset) / BACKFILL_DIR / PENDING_FILE


def load_pending(dataset: str | Path) -> pd.DataFrame:
    """The back-fill pending list (empty when back-fill never ran); times UTC."""
    p = pending_path(dataset)
    if not p.exists():
        return PENDING_SCHEMA.empty_table().to_pandas()
    try:
        return pq.read_table(p, schema=PENDING_SCHEMA).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{p}: unreadable back-fill pending list ({exc}); delete it and "
                         "rerun `diarkit backfill` (parts already written are kept)") from None


def _save_pending(dataset: Path, df: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(df[PENDING_SCHEMA.names], schema=PENDING_SCHEMA,
                                 preserve_index=False)
    write_table_atomic(table, pending_path(dataset))


# --------------------------------------------------------------------------- writing


def write_backfill_part(dataset: str | Path, documents: Sequence[bytes], conversation_id: str,
                        communication_id: str, fetched_at: datetime) -> tuple[Path, int]:
    """Write post-call transcript documents as the back-fill raw part of a communication.

    The documents go through ``diarkit.io.convert.read_to_tables`` (the reader ``diarkit
    convert`` uses for post-call transcripts: one raw row per phrase and one for the rest
    of the document, every byte kept), then get the back-fill session id, ``source`` and
    ``received_at`` and are written with ``write_raw_part`` (raw, then segments).

    Returns:
        The raw part's path and its row count.
    """
    from diarkit.io.convert import read_to_tables

    root = Path(dataset)
    sid = backfill_session(communication_id)
    tmp_root = root / BACKFILL_DIR
    tmp_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(tmp_root)
    with tempfile.TemporaryDirectory(prefix=f".tmp-{os.getpid()}-", dir=tmp_root) as tmp:
        paths = []
        for i, doc in enumerate(documents):
            p = Path(tmp) / f"{i:03d}.json"
            p.write_bytes(doc)
            paths.append(p)
        raw, _seg = read_to_tables(paths)
    n = raw.num_rows
    if n == 0:
        raise AnalyticsError(f"transcript of {conversation_id}/{communication_id} is empty")
    other = set(raw.column("conversation_id").drop_null().to_pylist()) - {conversation_id}
    if other:
        raise AnalyticsError(f"transcript fetched for {conversation_id}/{communication_id} "
                             f"belongs to conversation(s) {sorted(other)}; not written")
    ts = pa.scalar(fetched_at.astimezone(UTC), _TS)

    def put(table: pa.Table, name: str, arr: pa.Array) -> pa.Table:
        return table.set_column(table.schema.get_field_index(name), name, arr)

    raw = put(raw, "session_id", pa.array([sid] * n, pa.string()))
    raw = put(raw, "seq", pa.array(np.arange(n, dtype=np.int64)))
    raw = put(raw, "received_at", pa.array([ts.as_py()] * n, _TS))
    raw = put(raw, "source", pa.array([f"backfill:{conversation_id}/{communication_id}"] * n,
                                      pa.string()))
    return write_raw_part(root, raw, session_id=sid, seq=0), n


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove what a killed back-fill left in ``folder`` (its process is gone).

    Transcript folders (``.tmp-<pid>-*/``) and the pending list's temporary file
    (``.tmp-<pid>-pending.parquet``) alike.
    """
    for p in folder.glob(".tmp-*"):
        parts = p.name.split("-")
        if len(parts) > 2 and parts[1].isdigit() and not pid_alive(int(parts[1])):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


# --------------------------------------------------------------------------- running


@dataclass
class BackfillSummary:
    """What one ``run_backfill`` did (counts of pending-list items)."""

    candidates: int = 0
    fetched: int = 0
    already: int = 0
    not_ready: int = 0
    unavailable: int = 0
    failed: int = 0
    rows: int = 0
    pending: int = 0
    next_try_at: datetime | None = None
    requests: int = 0
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A short human summary."""
        out = [f"{self.candidates} conversation(s) need back-fill; fetched {self.fetched} "
               f"transcript(s) ({self.rows} raw rows), {self.already} already present, "
               f"{self.not_ready} not ready yet, {self.unavailable} unavailable, "
               f"{self.failed} failed; {self.requests} request(s), "
               f"{self.rate_limited} rate-limited (429) retr(ies)"]
        if self.pending:
            when = self.next_try_at.isoformat() if self.next_try_at else "?"
            out.append(f"{self.pending} still pending; next try at {when} "
                       "(rerun `diarkit backfill` then)")
        out.extend(f"error: {e}" for e in self.errors)
        return out


def _delay(attempts: int, delays: Sequence[float]) -> float:
    return float(delays[min(max(attempts - 1, 0), len(delays) - 1)])


def run_backfill(
    dataset: str | Path,
    client: AnalyticsClient,
    *,
    plural: bool = False,
    retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    give_up_after_s: float = GIVE_UP_AFTER_S,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    conversations: Iterable[str] | None = None,
    after_item: Callable[[str], None] | None = None,
    discover: bool = True,
) -> BackfillSummary:
    """Find what needs back-fill, fetch what is due, and record the rest as pending.

    Safe to interrupt at any moment and to rerun: the pending list is rewritten
    atomically after each item, and a communication whose part exists is never fetched
    or written again.

    Args:
        dataset: the dataset directory.
        client: the REST client (its token needs the permissions in ``docs/backfill.md``).
        plural: use the plural ``transcripturls`` endpoint.
        retry_delays_s: waits (seconds) after the 1st, 2nd, ... not-ready answer.
        give_up_after_s: seconds after first queuing when a missing transcript becomes
            ``unavailable`` (kept in the list; never tried again).
        now: the clock (UTC), injectable for tests.
        conversations: only these conversations (default: every candidate).
        after_item: called with each conversation id after its item was saved.
        discover: scan the dataset for new candidates first (False: only work through
            the pending list, as ``backfill_until``'s later passes do).

    Returns:
        A ``BackfillSummary``.
    """
    root = Path(dataset)
    if not is_dataset(root):
        raise FileNotFoundError(f"{root}: not a diarkit dataset (no raw/ folder)")
    if (root / BACKFILL_DIR).is_dir():
        _remove_stale_temporaries(root / BACKFILL_DIR)
    summary = BackfillSummary()
    cand = find_candidates(root) if discover else load_pending(root)[
        ["conversation_id", "communication_id", "reasons"]]
    if conversations is not None:
        keep = set(conversations)
        cand = cand[cand["conversation_id"].isin(keep)]
    summary.candidates = int(cand["conversation_id"].nunique())
    pend = load_pending(root)
    t0 = now()
    known = set(zip(pend["conversation_id"], pend["communication_id"], strict=True))
    listed = set(pend["conversation_id"])
    # an unknown communication ("") is known once its conversation is listed at all
    new = [r for r in cand.itertuples(index=False)
           if (r.conversation_id, r.communication_id) not in known
           and not (r.communication_id == "" and r.conversation_id in listed)]
    if new:
        add = pd.DataFrame({
            "conversation_id": [r.conversation_id for r in new],
            "communication_id": [r.communication_id for r in new],
            "reasons": [r.reasons for r in new], "state": "pending", "attempts": 0,
            "first_seen_at": pd.Timestamp(t0), "next_try_at": pd.Timestamp(t0),
            "last_try_at": pd.NaT, "last_result": None, "rows": 0})
        pend = pd.concat([pend, add], ignore_index=True) if len(pend) else add
        for col in ("first_seen_at", "next_try_at", "last_try_at"):
            pend[col] = pd.to_datetime(pend[col], utc=True)
        _save_pending(root, pend)
    before_req, before_429 = client.requests, client.rate_limited
    pend = _resolve_communications(root, client, pend, t0, summary)
    wanted = set(cand["conversation_id"]) if conversations is not None else None
    parts = _backfill_parts(root)
    for i in pend.index:
        item = pend.loc[i]
        cid, comm = str(item["conversation_id"]), str(item["communication_id"])
        if wanted is not None and cid not in wanted:
            continue
        if item["state"] != "pending":
            continue
        t = now()
        part = parts.get(part_name(backfill_session(comm), 0)) if comm else None
        if part is None and comm:  # written since the index was taken (another run)
            part = find_part(root, backfill_session(comm), 0)
        if part is not None:
            _ensure_segments(root, part)
            pend.loc[i, ["state", "last_result"]] = ["done", "part already present"]
            summary.already += 1
        elif pd.Timestamp(item["next_try_at"]) > pd.Timestamp(t):
            continue
        else:
            _try_item(root, client, pend, i, cid, comm, t, plural, retry_delays_s,
                      give_up_after_s, summary)
        _save_pending(root, pend)
        if after_item is not None:
            after_item(cid)
    still = pend[pend["state"] == "pending"]
    summary.pending = len(still)
    if len(still):
        summary.next_try_at = pd.Timestamp(still["next_try_at"].min()).to_pydatetime()
    summary.requests = client.requests - before_req
    summary.rate_limited = client.rate_limited - before_429
    return summary


def _resolve_communications(root: Path, client: AnalyticsClient, pend: pd.DataFrame,
                            t: datetime, summary: BackfillSummary) -> pd.DataFrame:
    """Fill in unknown communication ids from the analytics details (customer sessions).

    A conversation with no recorded frame has no known communication id; the analytics
    details list each participant's sessions, and the customer's voice session id is
    the communication id the transcript URL needs. Unresolved items stay as they are.
    """
    todo = pend[(pend["communication_id"] == "") & (pend["state"] == "pending")]
    if not len(todo):
        return pend
    gaps = root / "gaps"
    times = [r["start_at"] for f in sorted(gaps.glob("*.parquet")) if not f.name.startswith(".")
             for r in pq.read_table(f, columns=["start_at"]).to_pylist() if r["start_at"]]
    lo = min(times, default=t) - timedelta(days=1)
    hi = max(times, default=t) + timedelta(days=1)
    try:
        found = client.details(todo["conversation_id"].tolist(), (lo, hi)).conversations
    except AnalyticsError as exc:
        summary.errors.append(f"communication ids: {exc}")
        return pend
    comms: dict[str, list[str]] = {}
    for c in found:
        for p in c.get("participants") or []:
            if p.get("purpose") not in ("customer", "external"):
                continue
            for sess in p.get("sessions") or []:
                if sess.get("mediaType") == "voice" and sess.get("sessionId"):
                    comms.setdefault(str(c.get("conversationId")), []).append(
                        str(sess["sessionId"]))
    rows = []
    for i in todo.index:
        for comm in comms.get(str(pend.loc[i, "conversation_id"]), []):
            row = pend.loc[i].copy()
            row["communication_id"] = comm
            rows.append(row)
    if not rows:
        return pend
    resolved = {str(r["conversation_id"]) for r in rows}
    drop = todo.index[todo["conversation_id"].astype(str).isin(resolved)]
    out = pd.concat([pend.drop(index=drop), pd.DataFrame(rows)], ignore_index=True)
    _save_pending(root, out)
    return out


def backfill_until(dataset: str | Path, client: AnalyticsClient, *, wait_s: float = 0.0,
                   sleep: Callable[[float], None] = time.sleep,
                   **options: Any) -> BackfillSummary:
    """``run_backfill``, rerun as items fall due until none is pending or ``wait_s`` passed.

    Args:
        dataset, client, options: as for ``run_backfill``.
        wait_s: keep waiting for pending transcripts this many seconds (0: one pass).
        sleep: the wait (seconds), injectable for tests.

    Returns:
        The last pass's summary, with ``fetched``/``rows``/``already`` summed over passes.
    """
    deadline = time.monotonic() + wait_s
    total = run_backfill(dataset, client, **options)
    while total.pending and total.next_try_at is not None:
        due = (total.next_try_at - datetime.now(UTC)).total_seconds()
        if time.monotonic() + max(due, 0.0) > deadline:
            break
        sleep(max(due, 0.0) + 0.01)
        last = run_backfill(dataset, client, discover=False, **options)
        last.candidates = total.candidates
        last.fetched += total.fetched
        last.rows += total.rows
        last.already += total.already
        last.requests += total.requests
        last.rate_limited += total.rate_limited
        last.errors = total.errors + last.errors
        total = last
    return total


def _backfill_parts(root: Path) -> dict[str, Path]:
    """Part name -> the raw file holding it, for every back-fill part (also compacted ones).

    Taken once per run, so checking an item costs a dictionary lookup, not a walk over
    the dataset (``find_part`` per item would list every part each time).
    """
    from diarkit.io.dataset import MERGED_NAME, list_parts, merged_part_names

    out = {p.name: p for p in sorted((root / "raw").glob(
        f"date=*/{BACKFILL_SESSION_PREFIX}*.parquet"))}
    for part in list_parts(root, "raw"):
        if MERGED_NAME.fullmatch(part.name):
            for name in merged_part_names(part):
                if name.startswith(BACKFILL_SESSION_PREFIX):
                    out.setdefault(name, part)
    return out


def _ensure_segments(root: Path, raw_part: Path) -> None:
    """Derive the segments part of a raw part a killed run left without one."""
    from diarkit.io.dataset import RAW_DIR, SEGMENTS_DIR
    from diarkit.io.segments import raw_to_segments

    try:
        rel = raw_part.relative_to(root / RAW_DIR)
    except ValueError:
        return
    seg = root / SEGMENTS_DIR / rel
    if not seg.exists():
        write_table_atomic(raw_to_segments(pq.read_table(raw_part)), seg)


def _try_item(root: Path, client: AnalyticsClient, pend: pd.DataFrame, i: Any, cid: str,
              comm: str, t: datetime, plural: bool, delays: Sequence[float],
              give_up_s: float, summary: BackfillSummary) -> None:
    attempts = int(pend.loc[i, "attempts"]) + 1
    pend.loc[i, "attempts"] = attempts
    pend.loc[i, "last_try_at"] = pd.Timestamp(t)
    try:
        # no communication id yet (no frame and no analytics record): like not ready
        docs = client.fetch_transcripts(cid, comm, plural=plural) if comm else None
    except AnalyticsError as exc:
        summary.failed += 1
        summary.errors.append(f"{cid}/{comm}: {exc}")
        pend.loc[i, "last_result"] = str(exc)[:500]
        pend.loc[i, "next_try_at"] = pd.Timestamp(t + timedelta(seconds=_delay(attempts, delays)))
        return
    if docs is None:
        age = (pd.Timestamp(t) - pd.Timestamp(pend.loc[i, "first_seen_at"])).total_seconds()
        if age >= give_up_s:
            pend.loc[i, ["state", "last_result"]] = ["unavailable", "404: never became ready"]
            summary.unavailable += 1
        else:
            pend.loc[i, "last_result"] = "404: not ready yet"
            pend.loc[i, "next_try_at"] = pd.Timestamp(
                t + timedelta(seconds=_delay(attempts, delays)))
            summary.not_ready += 1
        return
    _path, n = write_backfill_part(root, docs, cid, comm, t)
    pend.loc[i, ["state", "last_result", "rows"]] = ["done", "fetched", n]
    summary.fetched += 1
    summary.rows += n


# --------------------------------------------------------------------------- reading back


def merged_segments(dataset: str | Path) -> pd.DataFrame:
    """The dataset's segments on one timeline per conversation, with a ``source`` column.

    See ``diarkit.analysis.reconcile.merge_sources``: live finals, back-filled phrases
    filling what live capture missed, nothing twice.
    """
    from diarkit.io.load import load_segments

    return merge_sources(load_segments(dataset))


def backfilled_durations(dataset: str | Path | RemoteRoot) -> dict[str, float]:
    """Conversation id to the duration (seconds) of its back-filled transcript document.

    ``dataset`` is a directory or a dataset URL (``s3://``); back-fill parts are found by
    their session ids (``backfill-...``), also inside compacted parts.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    root = dataset_root(dataset)
    if not part_names(root, RAW_DIR):
        return {}
    # the session column alone first (cheap), then only those sessions' row groups
    ids = read_area(root, RAW_DIR, ["session_id"],
                    pc.starts_with(ds.field("session_id"), BACKFILL_SESSION_PREFIX))
    sessions = sorted(set(ids.column("session_id").to_pylist()) - {None})
    if not sessions:
        return {}
    table = read_area(
        root, RAW_DIR, ["session_id", "conversation_id", "frame"],
        ds.field("session_id").isin(pa.array(sessions, pa.string()))
        & ~pc.starts_with(ds.field("frame"), '{"path"'))  # document rows, not phrases
    out: dict[str, float] = {}
    for cid, text in zip(table.column("conversation_id").to_pylist(),
                         table.column("frame").to_pylist(), strict=True):
        if not text.startswith("{\"path\""):  # the document row (phrases are element rows)
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            dur = (doc.get("duration") or {}).get("milliseconds") if isinstance(doc, dict) \
                else None
            if isinstance(dur, int | float) and cid:
                out[str(cid)] = max(out.get(str(cid), 0.0), float(dur) / 1000)
    return out


def live_views(dataset: str | Path | RemoteRoot) -> list[LiveView]:
    """What live capture saw of each conversation (missing ranges in seconds); ``dataset``
    is a directory or a dataset URL (``s3://``)."""
    out = []
    for c in scan_live(dataset).values():
        if not len(c.positions_ms):  # subscribed, nothing received: the duration is unknown
            out.append(LiveView(c.conversation_id, ((0.0, float("inf")),), float("nan"),
                                False))
            continue
        last = int(c.positions_ms.max())
        dur = (c.ended_ms if c.ended_ms is not None else last) / 1000
        out.append(LiveView(c.conversation_id, tuple(c.missing), dur, c.ended_ms is not None))
    return out


def coverage_table(dataset: str | Path | RemoteRoot) -> pd.DataFrame:
    """Coverage of every conversation: live, back-fill only and unknown shares.

    Columns are ``diarkit.analysis.reconcile.COVERAGE_COLUMNS``; see ``coverage``.
    ``dataset`` is a directory or a dataset URL (``s3://bucket/prefix``, read in place:
    its ``raw/``, ``segments/`` and ``gaps/``).
    """
    return coverage(live_views(dataset), backfilled_durations(dataset))


__all__ = [
    "BACKFILL_DIR",
    "PENDING_SCHEMA",
    "REASONS",
    "BackfillSummary",
    "backfill_session",
    "backfill_until",
    "backfilled_durations",
    "coverage_table",
    "find_candidates",
    "live_views",
    "load_pending",
    "merged_segments",
    "pending_path",
    "run_backfill",
    "scan_live",
    "write_backfill_part",
]
