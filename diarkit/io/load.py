"""Load a diarkit dataset (or any supported capture file) into pandas, fast.

Filters are pushed down into pyarrow.dataset: ``start``/``end`` prune ``date=``
partitions and row groups by ``received_at``; ``conversations`` prunes row groups by
``conversation_id`` statistics. Only complete part files are listed (temporary names are
skipped), so loading works while a capture is writing. Ids, kinds, channels and
speakers come back as categoricals, text as Arrow-backed strings.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from diarkit.schema import GAPS, QUARANTINE, RAW, SEGMENTS, validate

if TYPE_CHECKING:
    from diarkit.analysis.conversation import ConversationModel

from .dataset import (
    GAPS_DIR,
    QUARANTINE_DIR,
    RAW_DIR,
    SEGMENTS_DIR,
    readable_parts,
    retry_vanished,
    segments_snapshot,
)
from .dataset import (
    is_dataset as _is_local_dataset,
)
from .dataset import (
    list_files as _list_local_files,
)

TimeLike: TypeAlias = datetime | date | pd.Timestamp | str | None

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")

_PARTITIONING = ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive")
_RAW_CATEGORIES = ("session_id", "topic", "kind", "conversation_id", "source")


class RemoteRoot:
    """A dataset on object storage (``s3://bucket/prefix``, any fsspec URL), read in place.

    Parts are listed and read through fsspec (s3fs for ``s3://``: endpoint and
    credentials from the AWS chain, ``AWS_ENDPOINT_URL`` for moto or MinIO); pyarrow
    reads only the row groups and columns a load needs. The dataset is read as
    :func:`diarkit.scale.objectstore.publish_dataset` wrote it: every object is
    complete (S3 shows an object only once its upload completed), hidden/temporary
    keys are ignored. Unlike on disk, segments of a raw part whose segments object is
    not uploaded yet are not derived (publish uploads raw first, so such segments are
    simply not there yet).
    """

    def __init__(self, url: str) -> None:
        from diarkit.scale.objectstore import filesystem

        self.url = url.rstrip("/")
        self.fs, self.base = filesystem(self.url)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemoteRoot({self.url!r})"

    def key(self, *parts: str) -> str:
        """The key (bucket/prefix/...) of a path inside the dataset."""
        return "/".join([self.base, *parts])

    def exists(self) -> bool:
        """True if the URL holds a dataset (a ``raw/`` or ``segments/`` prefix)."""
        return any(self.fs.exists(self.key(area)) for area in (RAW_DIR, SEGMENTS_DIR))

    def parts(self, kind: str) -> list[str]:
        """Keys of the complete part files of ``kind`` (``date=`` partitions), sorted."""
        from diarkit.scale.objectstore import list_remote_parts

        return [u.split("://", 1)[1] for u in list_remote_parts(self.url, kind)]

    def files(self, kind: str) -> list[str]:
        """Keys of the complete files directly under ``kind`` (gaps, quarantine)."""
        from .dataset import is_visible

        try:
            keys = self.fs.ls(self.key(kind), detail=False)
        except FileNotFoundError:
            return []
        return sorted(k for k in keys if is_visible(k.rsplit("/", 1)[-1])
                      and k.endswith(".parquet"))


#: A dataset's root: a local directory or file, or a dataset on object storage.
DatasetRoot: TypeAlias = "Path | RemoteRoot"


def is_dataset(root: DatasetRoot) -> bool:
    """True for a local dataset directory or a dataset URL."""
    return isinstance(root, RemoteRoot) or _is_local_dataset(root)


def list_files(root: DatasetRoot, kind: str) -> list[Path] | list[str]:
    """Complete files directly under ``root/kind`` (local paths or object keys)."""
    if isinstance(root, RemoteRoot):
        return root.files(kind)
    return _list_local_files(root, kind)


def _local(root: DatasetRoot) -> Path:
    """``root`` as a local path (files ``diarkit convert`` reads are local)."""
    if isinstance(root, RemoteRoot):
        raise ValueError(f"{root}: a dataset URL is read as a dataset, not converted")
    return root


def _filesystem(root: DatasetRoot) -> Any:
    """The fsspec filesystem pyarrow reads ``root`` through (None: the local disk)."""
    return root.fs if isinstance(root, RemoteRoot) else None


def _ts(value: TimeLike, name: str) -> pd.Timestamp | None:
    """A UTC timestamp; a bare date (``"2026-11-24"``, ``date``) is that day's 00:00 UTC."""
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return pd.Timestamp(value).tz_localize(UTC)
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return pd.Timestamp(value.strip()).tz_localize(UTC)
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(
            f"{name}={value!r} has no time zone; pass a date, a UTC or a zoned time "
            "(e.g. 2026-11-24, 2026-11-24T09:00Z, 2026-11-24T10:00+01:00)"
        )
    return ts.tz_convert(UTC)


def _filter(
    conversations: Iterable[str] | None, start: TimeLike, end: TimeLike
) -> ds.Expression | None:
    parts: list[ds.Expression] = []
    t0, t1 = _ts(start, "start"), _ts(end, "end")
    if t0 is not None:
        parts.append(ds.field("date") >= t0.strftime("%Y-%m-%d"))
        parts.append(
            ds.field("received_at") >= pa.scalar(t0.to_pydatetime(), RAW.column("received_at").type)
        )
    if t1 is not None:
        parts.append(ds.field("date") <= t1.strftime("%Y-%m-%d"))
        parts.append(
            ds.field("received_at") < pa.scalar(t1.to_pydatetime(), RAW.column("received_at").type)
        )
    if conversations is not None:
        ids = [conversations] if isinstance(conversations, str) else list(conversations)
        parts.append(ds.field("conversation_id").isin(pa.array(ids, pa.string())))
    return functools.reduce(operator.and_, parts) if parts else None


class _Parts:
    """The parts of one kind, listed when read and listed again if one vanished meanwhile
    (a compaction deleting what it merged): readers never fail during a compaction.

    Segments of a raw part whose segments twin is missing (a crash between a part's two
    renames, or a writer between them right now) are derived in memory, so a load never
    silently lacks rows; ``diarkit recover`` writes them.
    """

    def __init__(self, root: DatasetRoot, kind: str, schema: pa.Schema) -> None:
        self.root, self.kind, self.schema = root, kind, schema

    def to_table(self, **kwargs: Any) -> pa.Table:
        return retry_vanished(lambda: self._read(**kwargs))

    def _read(self, **kwargs: Any) -> pa.Table:
        if isinstance(self.root, RemoteRoot):
            return self._of(self.root.parts(self.kind)).to_table(**kwargs)
        if self.kind != SEGMENTS_DIR:
            return self._of(readable_parts(self.root, self.kind)).to_table(**kwargs)
        segs, missing = segments_snapshot(self.root)
        table = self._of(segs).to_table(**kwargs)
        if not missing:
            return table
        from .segments import raw_to_segments

        full = self.schema.append(pa.field("date", pa.string()))
        derived = []
        for part in missing:
            seg = raw_to_segments(pq.read_table(part)).unify_dictionaries()
            date = part.parent.name.removeprefix("date=")
            seg = seg.append_column("date", pa.array([date] * seg.num_rows, pa.string()))
            derived.append(seg.select(full.names).cast(full))
        extra = ds.dataset(pa.concat_tables(derived).unify_dictionaries()).to_table(**kwargs)
        return pa.concat_tables([table, extra.cast(table.schema)])

    def _of(self, parts: list[Path] | list[str]) -> ds.Dataset:
        full = self.schema.append(pa.field("date", pa.string()))
        base = (self.root.key(self.kind) if isinstance(self.root, RemoteRoot)
                else str(self.root / self.kind))
        return ds.dataset(
            [str(p) for p in parts],
            schema=full,
            format="parquet",
            partitioning=_PARTITIONING,
            partition_base_dir=base,
            filesystem=_filesystem(self.root),
        )


def _dataset(root: DatasetRoot, kind: str, schema: pa.Schema) -> _Parts:
    return _Parts(root, kind, schema)


def _as_categories(table: pa.Table, categories: Iterable[str]) -> pa.Table:
    for name in categories:
        i = table.schema.get_field_index(name)
        if i < 0 or pa.types.is_dictionary(table.schema.field(name).type):
            continue
        col = pc.dictionary_encode(table.column(i))
        table = table.set_column(i, pa.field(name, col.type), col)
    return table


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    def mapper(t: pa.DataType) -> Any:
        if pa.types.is_integer(t):
            return pd.Int64Dtype() if t == pa.int64() else None
        if pa.types.is_list(t) or pa.types.is_struct(t):
            return pd.ArrowDtype(t)
        return None

    nullable_ints = [
        f.name
        for f in table.schema
        if pa.types.is_integer(f.type) and table.column(f.name).null_count
    ]
    if nullable_ints or any(pa.types.is_list(f.type) for f in table.schema):
        return table.to_pandas(types_mapper=mapper)
    return table.to_pandas()


def _filter_in_memory(table: pa.Table, expr: ds.Expression) -> pa.Table:
    dated = table.append_column("date", pc.strftime(table["received_at"], "%Y-%m-%d"))
    return ds.dataset(dated).to_table(filter=expr).drop_columns(["date"])


def _check_root(path: str | Path | RemoteRoot) -> DatasetRoot:
    if isinstance(path, RemoteRoot):
        return path
    from diarkit.scale.objectstore import is_url

    if is_url(path):
        remote = RemoteRoot(str(path))
        if not remote.exists():
            raise FileNotFoundError(f"{remote}: no dataset there (no raw/ or segments/ prefix)")
        return remote
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset or file")
    return path


def load_raw(
    path: str | Path | RemoteRoot,
    conversations: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Load raw events (``diarkit.schema.RAW``) as a DataFrame.

    Args:
        path: a dataset directory, or any file/folder ``diarkit convert`` reads (converted
            in memory, nothing written).
        conversations: keep only these conversation ids.
        start: keep frames received at or after this time (UTC, inclusive).
        end: keep frames received before this time (UTC, exclusive).
        columns: columns to read (default: all); leave out ``frame`` to save memory.

    Returns:
        One row per frame in storage order (date, part, seq); ids and kinds categorical.
    """
    root = _check_root(path)
    cols = list(columns) if columns is not None else RAW.names
    unknown = [c for c in cols if c not in RAW.names]
    if unknown:
        raise ValueError(f"unknown raw columns {unknown}; known: {RAW.names}")
    if is_dataset(root):
        table = _dataset(root, RAW_DIR, RAW.arrow_schema()).to_table(
            columns=cols, filter=_filter(conversations, start, end)
        )
    else:
        from .convert import read_to_tables

        table, _ = read_to_tables([_local(root)])
        expr = _filter(conversations, start, end)
        if expr is not None:
            table = _filter_in_memory(table, expr)
        table = table.select(cols)
    df = _to_pandas(_as_categories(table, _RAW_CATEGORIES))
    if columns is None:
        validate(df, RAW, where=f"load_raw({root})")
    return df


def _segment_table(
    root: DatasetRoot, cols: list[str], expr: ds.Expression | None
) -> pa.Table:
    if is_dataset(root):
        return _dataset(root, SEGMENTS_DIR, SEGMENTS.arrow_schema()).to_table(
            columns=cols, filter=expr
        )
    from .convert import read_to_tables

    _, seg = read_to_tables([_local(root)])
    if expr is not None:
        seg = _filter_in_memory(seg, expr)
    return seg.select(cols)


def call_times(
    path: str | Path | RemoteRoot, conversations: Iterable[str] | None = None
) -> pd.Series:
    """Call start (UTC) per conversation id, from the data (never a file's mtime).

    The conversation model's ``start_at`` (first participant connected, from the call
    events) where the dataset has call events, else the earliest ``start_at`` of the
    conversation's segments (transcription session start + offset).
    """
    root = _check_root(path)
    expr = _filter(conversations, None, None)
    seg = _segment_table(root, ["conversation_id", "start_at"], expr)
    df = seg.to_pandas()
    df["conversation_id"] = df["conversation_id"].astype("string")
    times = df.groupby("conversation_id", sort=True)["start_at"].min()
    events = _call_events(root, conversations)
    if len(events):
        from diarkit.analysis.conversation import build_model

        model = build_model(events)
        starts = model.conversations.set_index("conversation_id")["start_at"].dropna()
        starts.index = starts.index.astype("string")
        times = starts.combine_first(times)
    return times.rename("call_start_at")


def _conversations_in_window(
    root: DatasetRoot, conversations: Iterable[str] | None, start: TimeLike, end: TimeLike
) -> list[str] | None:
    t0, t1 = _ts(start, "start"), _ts(end, "end")
    if t0 is None and t1 is None:
        return None if conversations is None else (
            [conversations] if isinstance(conversations, str) else list(conversations)
        )
    times = call_times(root, conversations)
    keep = times.notna()
    if t0 is not None:
        keep &= times >= t0
    if t1 is not None:
        keep &= times < t1
    return [str(c) for c in times.index[keep.to_numpy()]]


def load_segments(
    path: str | Path | RemoteRoot,
    conversations: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    words: bool = False,
    source: bool = True,
) -> pd.DataFrame:
    """Load segments (``diarkit.schema.SEGMENTS``): one row per utterance version.

    ``start``/``end`` select by **call time**: whole conversations whose call started in
    ``[start, end)`` (UTC; see :func:`call_times`), never a call cut at the window edge.
    Dates (``"2026-11-24"``) mean 00:00 UTC that day; zoned times are converted to UTC.

    Args:
        path: a dataset directory, or any file/folder ``diarkit convert`` reads (converted
            in memory, nothing written).
        conversations: keep only these conversation ids.
        start: keep conversations whose call started at or after this time.
        end: keep conversations whose call started before this time (exclusive).
        words: also load the ``words`` list column (word times in seconds; slower).
        source: add the ``source`` column (``live``/``backfill``/``import``, from each
            row's raw frame; see ``diarkit.analysis.conversation.source_of``), which
            every metric and export uses to merge sources; ``False`` skips reading raw.

    Returns:
        Columns of ``SEGMENTS`` (``start_s``/``end_s`` in seconds from the session start,
        ``start_at``/``received_at`` UTC); ids, channel, speaker and session categorical.
    """
    root = _check_root(path)
    cols = SEGMENTS.names if words else [c.name for c in SEGMENTS.columns if c.required]
    ids = _conversations_in_window(root, conversations, start, end)
    expr = _filter(ids, None, None)
    table = _segment_table(root, cols, expr)
    # Parts number ``order`` from 0 each; renumber so it is unique across the dataset
    # (storage order: date, part, row, i.e. order received within each session).
    i = table.schema.get_field_index("order")
    table = table.set_column(i, "order", pa.array(range(table.num_rows), pa.int64()))
    df = _to_pandas(table)
    if source:
        df["source"] = _sources(root, df, ids)
    return validate(df, SEGMENTS, where=f"load_segments({root})")


def _sources(root: DatasetRoot, seg: pd.DataFrame, ids: list[str] | None) -> pd.Categorical:
    """Each segment's source, from the topic/source of its raw frame (session, seq).

    A session holds frames of one source (a capture, or one input file of a convert
    run): then the source is mapped per session, without a join; a session that mixes
    sources is joined row by row on (``session_id``, ``seq``).
    """
    from diarkit.analysis.conversation import source_of
    from diarkit.schema import SEGMENT_SOURCES

    raw = load_raw(root, conversations=ids, columns=["session_id", "seq", "topic", "source"])
    src = pd.Series(np.asarray(source_of(raw["topic"], raw["source"])), index=raw.index)
    session = raw["session_id"].astype("string")
    per_session = pd.DataFrame({"s": session, "src": src}).drop_duplicates()
    if not per_session["s"].duplicated().any():
        mapping = dict(zip(per_session["s"], per_session["src"], strict=True))
        codes, sessions = pd.factorize(seg["session_id"].astype(object))
        names = [mapping.get(str(x), "live") for x in sessions]
        rank = np.array([SEGMENT_SOURCES.index(n) for n in names] + [0], dtype=np.int8)
        return pd.Categorical.from_codes(rank[codes], categories=list(SEGMENT_SOURCES))
    raw = raw.assign(session_id=session, seq=raw["seq"].astype("int64"), src=src)
    raw = raw.drop_duplicates(["session_id", "seq"])
    key = pd.MultiIndex.from_arrays(
        [seg["session_id"].astype("string"), seg["seq"].astype("int64")]
    )
    found = raw.set_index(["session_id", "seq"])["src"].reindex(key)
    return pd.Categorical(found.fillna("live").to_numpy(), categories=list(SEGMENT_SOURCES))


def _call_events(root: DatasetRoot, conversations: Iterable[str] | None) -> pd.DataFrame:
    """Raw rows of kind ``conversation`` (frame text of transcription rows is never read)."""
    cols = ["session_id", "seq", "received_at", "conversation_id", "frame"]
    expr = ds.field("kind") == "conversation"
    if conversations is not None:
        ids = [conversations] if isinstance(conversations, str) else list(conversations)
        expr = expr & ds.field("conversation_id").isin(pa.array(ids, pa.string()))
    if is_dataset(root):
        table = _dataset(root, RAW_DIR, RAW.arrow_schema()).to_table(columns=cols, filter=expr)
    else:
        from .convert import read_to_tables

        table, _ = read_to_tables([_local(root)])
        table = ds.dataset(table).to_table(columns=cols, filter=expr)
    events = table.to_pandas()
    if len(events):
        events["neighbour_at"] = _neighbour_times(root, events)
    return events


def _neighbour_times(root: DatasetRoot, events: pd.DataFrame) -> pd.Series:
    """For each call event, the time of the frames around it (UTC), from ``event_time``.

    The midpoint of the ``event_time`` of the nearest earlier and later frames of the
    same session that carry one (transcription frames), or whichever exists: the wire
    time of an event whose receive time is not the call clock (a converted file).
    """
    frames = load_raw(root, columns=["session_id", "seq", "event_time"])
    frames = frames.assign(session_id=frames["session_id"].astype("string"))
    frames = frames.sort_values(["session_id", "seq"], kind="stable")
    by = frames.groupby("session_id", sort=False)["event_time"]
    before = by.shift(1)
    after = by.shift(-1)
    frames = frames.assign(
        before=before.groupby(frames["session_id"], sort=False).ffill(),
        after=after.groupby(frames["session_id"], sort=False).bfill(),
    )
    mid = frames["before"] + (frames["after"] - frames["before"]) / 2
    frames["at"] = mid.fillna(frames["before"]).fillna(frames["after"])
    key = pd.MultiIndex.from_arrays(
        [events["session_id"].astype("string"), events["seq"].astype("int64")]
    )
    found = frames.set_index(["session_id", "seq"])["at"]
    found = found[~found.index.duplicated()]
    return pd.Series(found.reindex(key).to_numpy(), index=events.index)


def _session_starts(root: DatasetRoot, conversations: Iterable[str] | None) -> pd.DataFrame:
    """Per conversation: transcription session start and the speech span (UTC).

    ``session_start_at`` is ``start_at - start_s`` (median over the segments);
    ``speech_start_at``/``speech_end_at`` bound the conversation's segments.
    """
    seg = _segment_table(
        root,
        ["conversation_id", "start_s", "end_s", "start_at"],
        _filter(conversations, None, None),
    ).to_pandas()
    seg = seg.dropna(subset=["start_at", "start_s"])
    origin = seg["start_at"] - pd.to_timedelta(np.round(seg["start_s"] * 1000), unit="ms")
    stop = seg["start_at"] + pd.to_timedelta(
        np.round((seg["end_s"] - seg["start_s"]).fillna(0.0) * 1000), unit="ms"
    )
    key = seg["conversation_id"].astype("string")
    return pd.DataFrame(
        {
            "session_start_at": origin.groupby(key, sort=True).median(),
            "speech_start_at": seg["start_at"].groupby(key, sort=True).min(),
            "speech_end_at": stop.groupby(key, sort=True).max(),
        }
    )


def load_conversation_model(
    path: str | Path | RemoteRoot,
    conversations: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> ConversationModel:
    """The conversation model of a dataset: conversations, participants and phases.

    Derived at load time from the ``.calls`` events stored in ``raw/`` (rows of kind
    ``conversation``, selected with a pushed-down filter) and the capture gaps; nothing
    is written. ``start``/``end`` select by call time, as :func:`load_segments`.

    Returns:
        ``ConversationModel(conversations, participants, phases)`` following
        ``diarkit.schema.CONVERSATIONS``, ``PARTICIPANTS`` and ``PHASES``; times
        ``*_at`` UTC and ``*_s`` seconds on each conversation's transcription session
        clock (NaN where the conversation has no transcript).
    """
    from diarkit.analysis.conversation import build_model

    root = _check_root(path)
    ids = _conversations_in_window(root, conversations, start, end)
    events = _call_events(root, ids)
    gaps = load_gaps(root) if is_dataset(root) else None
    clocks = _session_starts(root, ids)
    return build_model(
        events,
        clocks["session_start_at"],
        gaps,
        speech_spans=clocks[["speech_start_at", "speech_end_at"]],
        transcripts=_transcript_documents(root, ids),
    )


def _transcript_documents(root: DatasetRoot, conversations: Iterable[str] | None) -> pd.DataFrame:
    """Post-call transcript document rows (the document minus its phrases), frame text.

    Only rows of the STA transcript topics that are not phrase elements are read, so no
    transcription frame text is.
    """
    from diarkit.analysis.conversation import BACKFILL_TOPIC

    from .raw import STA_TRANSCRIPT_TOPIC

    topics = pa.array([STA_TRANSCRIPT_TOPIC, BACKFILL_TOPIC])
    element = pc.starts_with(ds.field("frame"), pattern='{"path"')
    expr = ds.field("topic").isin(topics) & ~element
    if conversations is not None:
        ids = [conversations] if isinstance(conversations, str) else list(conversations)
        expr = expr & ds.field("conversation_id").isin(pa.array(ids, pa.string()))
    cols = ["conversation_id", "frame"]
    if is_dataset(root):
        table = _dataset(root, RAW_DIR, RAW.arrow_schema()).to_table(columns=cols, filter=expr)
    else:
        from .convert import read_to_tables

        table, _ = read_to_tables([_local(root)])
        table = ds.dataset(table).to_table(columns=cols, filter=expr)
    return table.to_pandas()


def load_conversations(path: str | Path | RemoteRoot, **filters: Any) -> pd.DataFrame:
    """The ``CONVERSATIONS`` table (one row per call); see :func:`load_conversation_model`."""
    return load_conversation_model(path, **filters).conversations


def load_participants(path: str | Path | RemoteRoot, **filters: Any) -> pd.DataFrame:
    """The ``PARTICIPANTS`` table; see :func:`load_conversation_model`."""
    return load_conversation_model(path, **filters).participants


def load_phases(path: str | Path | RemoteRoot, **filters: Any) -> pd.DataFrame:
    """The ``PHASES`` table (ivr/queue/talk/hold/...); see :func:`load_conversation_model`."""
    return load_conversation_model(path, **filters).phases


def session_sources(path: str | Path | RemoteRoot) -> dict[str, str]:
    """``source`` (live/backfill/import) of each capture/convert session of a dataset.

    Read from the raw rows' ``topic``/``source`` columns only (no frame text). A session
    holding rows of several sources (``diarkit convert`` of one JSONL file mixing
    notification frames and post-call transcripts) is named by its most common one; the
    rows of its other sources are in :func:`source_labels` ``.rows``, so the session's
    label plus those rows gives every row its own source, as :func:`load_segments` does.
    """
    return source_labels(path).sessions


class SourceLabels(NamedTuple):
    """The ``source`` of every raw row of a dataset, as per-session labels plus exceptions.

    ``sessions`` maps each session id to its most common source; ``rows`` lists the raw
    rows whose source differs from their session's (empty unless a session mixes
    sources) with columns ``session_id`` (string), ``seq`` (int64) and ``source``
    (string), keyed like segments; a (session, seq) stored twice counts once (its first
    row), as :func:`load_segments` joins it.
    """

    sessions: dict[str, str]
    rows: pd.DataFrame


def empty_source_rows() -> pd.DataFrame:
    """An empty :attr:`SourceLabels.rows` table (``session_id``, ``seq``, ``source``)."""
    return pd.DataFrame(
        {
            "session_id": pd.Series(dtype="string"),
            "seq": pd.Series(dtype="int64"),
            "source": pd.Series(dtype="string"),
        }
    )


def source_labels(path: str | Path | RemoteRoot) -> SourceLabels:
    """Per-session sources and the rows of mixed sessions that differ (one read of raw).

    Args:
        path: a dataset directory, a file ``diarkit convert`` reads, or a dataset URL.

    Returns:
        :class:`SourceLabels` (see there).
    """
    from diarkit.analysis.conversation import source_of

    raw = load_raw(path, columns=["session_id", "seq", "topic", "source"])
    if not len(raw):
        return SourceLabels({}, empty_source_rows())
    table = pd.DataFrame(
        {
            "session_id": raw["session_id"].astype("string"),
            "seq": raw["seq"].astype("int64"),
            "source": pd.Series(
                np.asarray(source_of(raw["topic"], raw["source"])), index=raw.index
            ).astype("string"),
        }
    )
    top = table.groupby("session_id")["source"].agg(lambda x: x.value_counts().index[0])
    labels = {str(k): str(v) for k, v in top.items()}
    kinds = table.groupby("session_id")["source"].nunique()
    mixed = kinds.index[kinds.to_numpy() > 1]
    if not len(mixed):
        return SourceLabels(labels, empty_source_rows())
    rows = table[table["session_id"].isin(mixed)].drop_duplicates(["session_id", "seq"])
    rows = rows[rows["source"].to_numpy() != rows["session_id"].map(labels).to_numpy()]
    rows = rows.sort_values(["session_id", "seq"], kind="stable").reset_index(drop=True)
    return SourceLabels(labels, rows)


def conversation_stats(
    path: str | Path | RemoteRoot,
    profile: str | Any = None,
    *,
    conversations: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    coverage: bool = False,
    queues: bool = False,
    **overrides: Any,
) -> pd.DataFrame:
    """``talk_stats`` of a dataset on the conversation model, as ``diarkit stats`` gives.

    Loads the segments (with ``source``) and the conversation model, attributes every
    segment (speaker = party: ``agent`` per user id, ``ivr``, ``acd``, ``customer``) and
    computes :func:`diarkit.analysis.talk_stats` with ``profile`` and the phases.

    Args:
        path: a dataset directory (or a file ``diarkit convert`` reads).
        profile: a profile name or ``Profile`` (default: ``default``).
        conversations: keep only these conversation ids.
        start: keep conversations whose call started at or after this time (UTC).
        end: keep conversations whose call started before this time.
        coverage: add each call's coverage (``call_coverage_live``,
            ``call_coverage_backfill``, ``call_coverage_unknown`` as fractions 0-1,
            ``call_complete``; ``diarkit.capture.backfill.coverage_table``), so
            ``fleet_stats(..., complete_only=True)`` can keep complete calls only.
        queues: add each call's queue (``queue_id``, ``queue_name``: the first queue the
            call was routed to, ``diarkit.analysis.fleet.with_queues``) to every row, so
            ``fleet_by(..., "queue")`` can break the fleet down per queue.
        **overrides: threshold overrides of ``talk_stats`` (``min_confidence``, ...).

    Returns:
        A ``STATS`` table (seconds) in canonical order (conversation, speaker, user_id).
    """
    from diarkit.scale.fleet import canonical, default_pipeline

    root = _check_root(path)
    segments = load_segments(root, conversations, start, end, source=True)
    ids = sorted(segments["conversation_id"].astype(str).unique())
    model = load_conversation_model(root, ids) if ids else None
    phases = model.phases if model is not None else None
    out = canonical(default_pipeline(segments, phases=phases, profile=profile, **overrides))
    if queues:
        from diarkit.analysis.fleet import with_queues
        from diarkit.schema import CONVERSATIONS

        out = with_queues(out, model.conversations if model is not None
                          else CONVERSATIONS.empty())
    if coverage:  # a directory or a dataset URL: coverage reads raw, segments and gaps
        from diarkit.analysis.reconcile import with_coverage
        from diarkit.capture.backfill import coverage_table

        out = with_coverage(out, coverage_table(root))
    return out


def load_gaps(path: str | Path | RemoteRoot) -> pd.DataFrame:
    """Load the capture disconnection gaps (``diarkit.schema.GAPS``) of a dataset.

    ``start_at``/``end_at`` are UTC, ``duration_s`` seconds; empty when there were none.
    """
    root = _check_root(path)
    if not list_files(root, GAPS_DIR):
        return GAPS.empty()
    return validate(_to_pandas(gaps_table(root)), GAPS, where=f"load_gaps({root})")


# ----------------------------------------------------- readers of back-fill and coverage


def dataset_root(path: str | Path | RemoteRoot) -> DatasetRoot:
    """A dataset directory (``Path``) or a dataset URL (:class:`RemoteRoot`) to read.

    Raises:
        FileNotFoundError: naming the path or URL when no dataset is there.
    """
    return _check_root(path)


def gaps_table(path: str | Path | RemoteRoot) -> pa.Table:
    """The ``gaps/`` rows of a dataset as an Arrow table (``GAPS`` columns; maybe empty)."""
    root = _check_root(path)
    files = list_files(root, GAPS_DIR)
    if not files:
        return GAPS.arrow_schema().empty_table()
    return ds.dataset([str(f) for f in files], schema=GAPS.arrow_schema(),
                      filesystem=_filesystem(root)).to_table()


def part_names(path: str | Path | RemoteRoot, kind: str = RAW_DIR) -> list[str]:
    """File names (no folder) of the complete parts of ``kind``, local or on a bucket."""
    root = _check_root(path)
    if isinstance(root, RemoteRoot):
        return [k.rsplit("/", 1)[-1] for k in root.parts(kind)]
    if not (root / kind).is_dir():
        return []
    return [p.name for p in readable_parts(root, kind)]


def read_area(path: str | Path | RemoteRoot, kind: str, columns: list[str],
              filter: ds.Expression | None = None) -> pa.Table:
    """Columns of a dataset's ``raw/`` or ``segments/`` parts, the filter pushed down.

    Local directories and dataset URLs (``s3://``) alike, through the loaders' part
    listing (complete parts only; on disk, segments of a raw part whose segments part
    is missing are derived). Returns an empty table with those columns when there are
    no parts.

    Raises:
        ValueError: for a ``kind`` other than ``raw``/``segments``.
    """
    schemas = {RAW_DIR: RAW.arrow_schema(), SEGMENTS_DIR: SEGMENTS.arrow_schema()}
    if kind not in schemas:
        raise ValueError(f"read_area(): kind must be {RAW_DIR!r} or {SEGMENTS_DIR!r}, "
                         f"got {kind!r}")
    root = _check_root(path)
    if not part_names(root, kind) and not (kind == SEGMENTS_DIR and part_names(root, RAW_DIR)):
        full = schemas[kind].append(pa.field("date", pa.string()))
        return full.empty_table().select(columns)
    return _dataset(root, kind, schemas[kind]).to_table(columns=columns, filter=filter)


def load_quarantine(path: str | Path | RemoteRoot) -> pd.DataFrame:
    """Load rejected input (``diarkit.schema.QUARANTINE``): source, line, reason, raw text."""
    root = _check_root(path)
    files = list_files(root, QUARANTINE_DIR)
    if not files:
        return QUARANTINE.empty()
    table = ds.dataset([str(f) for f in files], schema=QUARANTINE.arrow_schema(),
                       filesystem=_filesystem(root)).to_table()
    return validate(_to_pandas(table), QUARANTINE, where=f"load_quarantine({root})")
