"""Column contracts: the one place where every table's columns, types and units are named.

Times relative to a call are seconds (float) from the transcription session start,
named ``*_s``; absolute times are UTC timestamps named ``*_at``. Speakers are ``agent``
(channel ``INTERNAL``) and ``customer`` (``EXTERNAL``) by default; the raw channel is kept.
Tables are checked with ``validate`` where they enter and leave public functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

#: Default speaker names by Genesys channel.
SPEAKER_BY_CHANNEL: dict[str, str] = {
    "INTERNAL": "agent",
    "EXTERNAL": "customer",
    "BOTH": "both",
    "UNKNOWN": "unknown",
}


class SchemaError(ValueError):
    """A table does not meet its column contract; the message names table and column."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column: name, Arrow type, kind checked in pandas, unit and meaning."""

    name: str
    type: Any  # pyarrow.DataType
    kind: str  # string | int | float | bool | datetime | category | list | any
    doc: str
    required: bool = True
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Contract:
    """The columns of one table."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def arrow_schema(self, include_optional: bool = True) -> pa.Schema:
        """The Arrow schema used when the table is written to Parquet."""
        return pa.schema(
            [
                pa.field(c.name, c.type, nullable=c.nullable)
                for c in self.columns
                if include_optional or c.required
            ]
        )

    def column(self, name: str) -> Column:
        """The column named ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def empty(self) -> pd.DataFrame:
        """An empty DataFrame with every column of the contract, typed."""
        return self.arrow_schema().empty_table().to_pandas()


_STR = pa.string()
_DICT = pa.dictionary(pa.int32(), pa.string())

RAW = Contract(
    "raw",
    (
        Column("session_id", _STR, "string", "capture session (or convert run) id", nullable=False),
        Column("seq", pa.int64(), "int", "per-session sequence number, from 0", nullable=False),
        Column("received_at", UTC_TS, "datetime", "when the frame was received (UTC)"),
        Column("topic", _STR, "string", "topicName of the envelope"),
        Column("kind", _STR, "string", "message kind (diarkit.genesys.MESSAGE_KINDS)"),
        Column("conversation_id", _STR, "string", "conversation the frame belongs to"),
        Column("event_time", UTC_TS, "datetime", "eventBody.eventTime (UTC)"),
        Column("frame", _STR, "string", "the frame text, verbatim", nullable=False),
        Column("frame_hash", _STR, "string", "blake2b-128 hex of the frame text (dedupe key)"),
        Column("error", _STR, "string", "parse error (JSON path and reason), null when valid; "
               "for a transcription frame with unreadable transcripts, each one's error"),
        Column("source", _STR, "string", "channel id or input file the frame came from"),
        Column("line", pa.int64(), "int", "line number in the input file (1-based)"),
    ),
)

WORD_TYPE = pa.list_(
    pa.struct(
        [
            ("word", pa.string()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("confidence", pa.float64()),
        ]
    )
)

SEGMENTS = Contract(
    "segments",
    (
        Column("conversation_id", _DICT, "category", "conversation id"),
        Column("communication_id", _DICT, "category", "communication (call leg) id"),
        Column("utterance_id", _STR, "string", "utterance id; null in the tutorial format"),
        Column("channel", _DICT, "category", "INTERNAL | EXTERNAL | BOTH | UNKNOWN"),
        Column("speaker", _DICT, "category", "agent | customer | ... (from channel)"),
        Column("is_final", pa.bool_(), "bool", "this version is the settled one"),
        Column("confidence", pa.float64(), "float", "0-1 confidence of the best alternative"),
        Column("start_s", pa.float64(), "float", "start, seconds from session start"),
        Column("end_s", pa.float64(), "float", "end, seconds from session start"),
        Column("start_at", UTC_TS, "datetime", "absolute start (UTC), when known"),
        Column("text", _STR, "string", "transcript of the best alternative"),
        Column("word_count", pa.int32(), "int", "words in text"),
        Column("session_id", _DICT, "category", "capture session that received it"),
        Column("seq", pa.int64(), "int", "sequence of the raw frame within its session"),
        Column("received_at", UTC_TS, "datetime", "when the raw frame was received (UTC)"),
        Column("order", pa.int64(), "int", "order received within the table (0-based)"),
        Column("words", WORD_TYPE, "list", "words with times (s) and confidence", required=False),
    ),
)

TURNS = Contract(
    "turns",
    (
        Column("conversation_id", _DICT, "category", "conversation id"),
        Column("speaker", _DICT, "category", "who spoke the turn"),
        Column("turn_index", pa.int64(), "int", "0-based turn number within the conversation"),
        Column("start_s", pa.float64(), "float", "turn start, seconds from session start"),
        Column("end_s", pa.float64(), "float", "turn end, seconds from session start"),
        Column("duration_s", pa.float64(), "float", "end_s - start_s, seconds"),
        Column("text", _STR, "string", "segment texts joined with spaces"),
        Column("segment_count", pa.int64(), "int", "segments merged into the turn"),
        Column("word_count", pa.int64(), "int", "words in the turn"),
        Column("confidence", pa.float64(), "float", "duration-weighted mean confidence"),
    ),
)

STATS = Contract(
    "stats",
    (
        Column("conversation_id", _DICT, "category", "conversation id"),
        Column("speaker", _DICT, "category", "speaker the row describes"),
        Column("talk_time_s", pa.float64(), "float", "union of the speaker's intervals, s"),
        Column(
            "talk_share_call",
            pa.float64(),
            "float",
            "talk_time_s / call_duration_s, fraction 0-1",
        ),
        Column(
            "talk_share_speech",
            pa.float64(),
            "float",
            "talk_time_s / sum of all speakers' talk_time_s, fraction 0-1",
        ),
        Column(
            "segment_count",
            pa.int64(),
            "int",
            "segments (or segments in the given turns) of the speaker",
        ),
        Column("word_count", pa.int64(), "int", "words spoken by the speaker"),
        Column(
            "words_per_minute",
            pa.float64(),
            "float",
            "word_count / talk time in minutes, words/min",
        ),
        Column("turn_count", pa.int64(), "int", "turns of the speaker"),
        Column("turn_mean_s", pa.float64(), "float", "mean turn duration, s"),
        Column("turn_median_s", pa.float64(), "float", "median turn duration, s"),
        Column("turn_max_s", pa.float64(), "float", "longest turn (longest monologue), s"),
        Column(
            "overtalk_s",
            pa.float64(),
            "float",
            "time the speaker talks while another speaker talks, s",
        ),
        Column(
            "interruptions",
            pa.int64(),
            "int",
            "turns of this speaker that interrupt another speaker",
        ),
        Column("interrupted", pa.int64(), "int", "times this speaker was interrupted"),
        Column("response_count", pa.int64(), "int", "turns that follow another speaker's turn"),
        Column(
            "response_latency_mean_s",
            pa.float64(),
            "float",
            "mean of next start - other's end, s (negative = overlap)",
        ),
        Column("response_latency_median_s", pa.float64(), "float", "median response latency, s"),
        Column(
            "patience_s",
            pa.float64(),
            "float",
            "mean response latency clipped at 0 (agent patience), s",
        ),
        Column(
            "call_start_s",
            pa.float64(),
            "float",
            "conversation span start, s from session start",
        ),
        Column("call_end_s", pa.float64(), "float", "conversation span end (last speech end), s"),
        Column("call_duration_s", pa.float64(), "float", "call_end_s - call_start_s, s"),
        Column(
            "call_speech_s",
            pa.float64(),
            "float",
            "union of all speakers' speech in the conversation, s",
        ),
        Column(
            "call_overtalk_s",
            pa.float64(),
            "float",
            "time two or more speakers talk at once, s",
        ),
        Column(
            "call_overtalk_count",
            pa.int64(),
            "int",
            "overlap episodes at least min_overtalk_s long",
        ),
        Column(
            "call_silence_s",
            pa.float64(),
            "float",
            "total of gaps nobody speaks longer than min_silence_s, s",
        ),
        Column(
            "call_silence_count",
            pa.int64(),
            "int",
            "gaps nobody speaks longer than min_silence_s",
        ),
        Column("call_silence_max_s", pa.float64(), "float", "longest such gap, s (0 when none)"),
        Column(
            "talk_share",
            pa.float64(),
            "float",
            "talk_time_s / the profile's denominator (call, agent-connected or speech), 0-1",
            required=False,
        ),
        Column(
            "call_unknown_s",
            pa.float64(),
            "float",
            "time of the call in unknown phases (capture gaps, no events), s; NaN: no phases",
            required=False,
        ),
        Column(
            "user_id",
            _STR,
            "string",
            "agent's user id, when segments were attributed (one row per agent)",
            required=False,
        ),
        Column("call_coverage_live", pa.float64(), "float",
               "share of the call time live capture covered, fraction 0-1", required=False),
        Column("call_coverage_backfill", pa.float64(), "float",
               "share of the call time only the back-fill covers, fraction 0-1",
               required=False),
        Column("call_coverage_unknown", pa.float64(), "float",
               "share of the call time no source covers, fraction 0-1", required=False),
        Column("call_complete", pa.bool_(), "bool",
               "the whole call is covered (live or back-fill)", required=False),
    ),
)

GAPS = Contract(
    "gaps",
    (
        Column("session_id", _STR, "string", "capture session", nullable=False),
        Column("start_at", UTC_TS, "datetime", "last frame before the disconnection (UTC)"),
        Column("end_at", UTC_TS, "datetime", "socket back and subscribed again (UTC)"),
        Column("duration_s", pa.float64(), "float", "end_at - start_at, seconds"),
        Column("cause", _STR, "string", "why the socket was lost"),
        Column("channel_id", _STR, "string", "channel whose socket was lost"),
        Column("conversations", pa.list_(pa.string()), "list", "conversations subscribed"),
    ),
)

QUARANTINE = Contract(
    "quarantine",
    (
        Column("run_id", _STR, "string", "conversion run", nullable=False),
        Column("source", _STR, "string", "input file"),
        Column("line", pa.int64(), "int", "line number (1-based), null for whole-file errors"),
        Column("reason", _STR, "string", "what is wrong, with JSON path"),
        Column("raw", _STR, "string", "the rejected text, verbatim"),
    ),
)

#: Values of the ``source`` column of reconciled segments, best first (see
#: ``docs/conversation-model.md``): ``live`` notification frames, ``backfill`` post-call
#: transcripts fetched for a captured call, ``import`` files of other formats.
SEGMENT_SOURCES = ("live", "backfill", "import")

#: Phase kinds of a conversation's timeline (``PHASES.phase``).
PHASE_KINDS = ("ivr", "queue", "dialing", "talk", "hold", "secure_pause", "acw", "unknown")

CONVERSATIONS = Contract(
    "conversations",
    (
        Column("conversation_id", _STR, "string", "conversation id", nullable=False),
        Column("start_at", UTC_TS, "datetime", "call start: first participant connected (UTC)"),
        Column("end_at", UTC_TS, "datetime", "call end: last non-ACW participant end (UTC)"),
        Column("start_s", pa.float64(), "float", "start_at on the session clock, s"),
        Column("end_s", pa.float64(), "float", "end_at on the session clock, s"),
        Column("call_duration_s", pa.float64(), "float", "end_at - start_at, s (NaN if open)"),
        Column("session_start_at", UTC_TS, "datetime", "transcription session start (UTC)"),
        Column("direction", _STR, "string", "inbound | outbound (customer leg)"),
        Column("ani", _STR, "string", "caller number"),
        Column("dnis", _STR, "string", "dialled number"),
        Column("queue_id", _STR, "string", "first queue the call was routed to"),
        Column("queue_name", _STR, "string", "its name, when known"),
        Column("user_ids", pa.list_(pa.string()), "list", "agents' user ids, in connect order"),
        Column("agent_count", pa.int64(), "int", "agent participants that connected"),
        Column("wrapup_code", _STR, "string", "last agent's wrap-up code"),
        Column("ended", pa.bool_(), "bool", "every participant has disconnected"),
        Column("abandoned", pa.bool_(), "bool", "ended without any agent connecting"),
        Column("transferred", pa.bool_(), "bool", "an agent left by transfer"),
        Column("conferenced", pa.bool_(), "bool", "two agents were connected at once"),
        Column("hold_s", pa.float64(), "float", "time in hold phases, s"),
        Column("event_count", pa.int64(), "int", "call events the model was built from"),
        Column("source", _STR, "string", "events | transcript (post-call participants only)"),
    ),
)

PARTICIPANTS = Contract(
    "participants",
    (
        Column("conversation_id", _STR, "string", "conversation id", nullable=False),
        Column("participant_id", _STR, "string", "participant id"),
        Column("purpose", _STR, "string", "customer | external | ivr | acd | agent | ..."),
        Column("name", _STR, "string", "display name (queue, IVR, agent, caller)"),
        Column("user_id", _STR, "string", "agent's user id"),
        Column("user_name", _STR, "string", "agent's name, when known"),
        Column("queue_id", _STR, "string", "queue id (acd participants, queue agents)"),
        Column("queue_name", _STR, "string", "queue name, when known"),
        Column("direction", _STR, "string", "inbound | outbound"),
        Column("ani", _STR, "string", "caller number"),
        Column("dnis", _STR, "string", "dialled number"),
        Column("start_at", UTC_TS, "datetime", "participant created/alerting (UTC)"),
        Column("connected_at", UTC_TS, "datetime", "connected (UTC); null if never"),
        Column("end_at", UTC_TS, "datetime", "disconnected (UTC); null while connected"),
        Column("connected_s", pa.float64(), "float", "connected_at on the session clock, s"),
        Column("end_s", pa.float64(), "float", "end_at on the session clock, s"),
        Column("disconnect_type", _STR, "string", "client | endpoint | transfer | ..."),
        Column("hold_count", pa.int64(), "int", "holds of this participant"),
        Column("hold_s", pa.float64(), "float", "time this participant was held, s"),
        Column("acw_start_at", UTC_TS, "datetime", "after-call work start (UTC)"),
        Column("acw_end_at", UTC_TS, "datetime", "after-call work end (UTC)"),
        Column("acw_s", pa.float64(), "float", "after-call work, s"),
        Column("wrapup_code", _STR, "string", "wrap-up code"),
        Column("secure_pause", pa.bool_(), "bool", "secure pause seen on this participant"),
        Column("consult_participant_id", _STR, "string", "participant this one consulted"),
        Column("source", _STR, "string", "events | transcript"),
    ),
)

PHASES = Contract(
    "phases",
    (
        Column("conversation_id", _STR, "string", "conversation id", nullable=False),
        Column(
            "phase",
            _STR,
            "string",
            "ivr | queue | dialing | talk | hold | secure_pause | acw | unknown",
        ),
        Column("start_at", UTC_TS, "datetime", "phase start (UTC)"),
        Column("end_at", UTC_TS, "datetime", "phase end (UTC)"),
        Column("start_s", pa.float64(), "float", "start on the session clock, s"),
        Column("end_s", pa.float64(), "float", "end on the session clock, s"),
        Column("duration_s", pa.float64(), "float", "end_at - start_at, s"),
        Column("participant_id", _STR, "string", "agent/ivr/acd participant holding the line"),
        Column("user_id", _STR, "string", "that agent's user id"),
        Column("end_source", _STR, "string", "event (exact) | estimated (hold end from data)"),
    ),
)

CONTRACTS = {
    c.name: c
    for c in (
        RAW,
        SEGMENTS,
        TURNS,
        STATS,
        GAPS,
        QUARANTINE,
        CONVERSATIONS,
        PARTICIPANTS,
        PHASES,
    )
}


def _kind_ok(series: pd.Series, kind: str) -> bool:
    return bool(_kind_check(series, kind))


def _kind_check(series: pd.Series, kind: str) -> object:
    dtype = series.dtype
    if kind == "any" or (len(series) == 0 and pd.api.types.is_object_dtype(dtype)):
        return True
    if kind == "category":
        return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
    if kind == "string":
        return pd.api.types.is_string_dtype(dtype) or (
            isinstance(dtype, pd.CategoricalDtype) or series.isna().all()
        )
    if kind == "int":
        return pd.api.types.is_integer_dtype(dtype)
    if kind == "float":
        return pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    if kind == "bool":
        return pd.api.types.is_bool_dtype(dtype)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype) or series.isna().all()
    if kind == "list":
        return pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.ArrowDtype)
    return False


def validate(df: pd.DataFrame, contract: Contract | str, where: str = "") -> pd.DataFrame:
    """Check that ``df`` has the contract's required columns with compatible dtypes.

    Returns ``df`` unchanged so calls can be chained. Extra columns are allowed.

    Raises:
        SchemaError: naming the table, the place (``where``) and every bad column.
    """
    c = CONTRACTS[contract] if isinstance(contract, str) else contract
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{where or c.name}: expected a pandas DataFrame, got {type(df)}")
    problems = []
    for col in c.columns:
        if col.name not in df.columns:
            if col.required:
                problems.append(f"missing column {col.name!r} ({col.doc})")
            continue
        if not _kind_ok(df[col.name], col.kind):
            problems.append(
                f"column {col.name!r} has dtype {df[col.name].dtype}, expected {col.kind}"
            )
        elif not col.nullable and df[col.name].isna().any():
            problems.append(f"column {col.name!r} has nulls")
    if problems:
        place = f" in {where}" if where else ""
        raise SchemaError(f"{c.name} table{place}: " + "; ".join(problems))
    return df
