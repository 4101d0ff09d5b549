"""Per-conversation statistics on Dask: every conversation analysed whole, then fleet-wide.

The segments dataset is read one part file per partition (:mod:`diarkit.scale.dataset`),
shuffled so that all rows of a conversation land in the same partition (a conversation
can be split across part files when capture rolls a part mid-call), and each partition is
handed to the same pandas functions the single-machine path uses
(:func:`diarkit.analysis.finalize`, :func:`diarkit.analysis.talk_stats`). The per-conversation
table is small (one row per conversation and speaker), so it is gathered on the client
and :func:`diarkit.analysis.fleet_stats` aggregates it there. No metric is implemented here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from diarkit.scale.dataset import (
    as_contract_dtypes,
    empty_segments,
    list_parts,
    read_part,
)

#: A per-conversation pandas function: segments of whole conversations in, a table out.
Pipeline = Callable[..., pd.DataFrame]


#: Hidden column: a row's position in the whole dataset (path order, then row in file).
POSITION = "_position"


#: Default rows per Dask partition: small part files are read together up to this size.
ROWS_PER_PARTITION = 200_000


def _read_positioned(paths: list[str], offsets: list[int]) -> pd.DataFrame:
    """Read consecutive parts and add their rows' positions in the whole dataset."""
    frames = []
    for path, offset in zip(paths, offsets, strict=True):
        frame = read_part(path)
        frame[POSITION] = np.arange(offset, offset + len(frame), dtype=np.int64)
        frames.append(frame)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _bundles(rows: list[int], target: int) -> list[list[int]]:
    """Group consecutive part indices so that each group holds about ``target`` rows."""
    groups: list[list[int]] = []
    size = 0
    for i, n in enumerate(rows):
        if not groups or size + n > target:
            groups.append([])
            size = 0
        groups[-1].append(i)
        size += n
    return groups


def read_segments_dask(
    dataset: str | os.PathLike[str], rows_per_partition: int = ROWS_PER_PARTITION
) -> Any:
    """The segments of ``dataset`` as a Dask DataFrame of whole part files.

    Consecutive part files are read into one partition until it would exceed
    ``rows_per_partition`` rows (a bigger file makes a partition of its own); no file is
    ever cut. Besides the contract columns (category columns as strings here), a hidden
    ``_position`` column holds each row's position in the whole dataset in the order
    :func:`diarkit.io.load_segments` returns rows (date, part name, row within the part);
    partitions are sorted by it before analysis, so every conversation reaches the pandas
    functions with the same rows in the same order as on the single-machine path.

    Raises:
        DatasetError: when the dataset has no segments part, naming the path.
        ValueError: when ``rows_per_partition`` is below 1.
    """
    import dask.dataframe as dd

    if rows_per_partition < 1:
        raise ValueError(f"rows_per_partition must be at least 1, got {rows_per_partition}")
    parts = list_parts(dataset)
    rows = [p.rows for p in parts]
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64).tolist()
    groups = _bundles(rows, rows_per_partition)
    return dd.from_map(
        _read_positioned,
        [[str(parts[i].path) for i in g] for g in groups],
        [[offsets[i] for i in g] for g in groups],
        meta=empty_segments().assign(**{POSITION: np.empty(0, np.int64)}),
        label="read-segments",
        enforce_metadata=False,
    )


def by_conversation(segments: Any, npartitions: int | None = None) -> Any:
    """Shuffle a Dask segments frame so every conversation lies within one partition.

    Args:
        segments: a Dask DataFrame with a ``conversation_id`` column.
        npartitions: partitions after the shuffle; default: as many as before.
    """
    n = npartitions or segments.npartitions
    return segments.shuffle(on="conversation_id", npartitions=n)


def default_pipeline(
    segments: pd.DataFrame,
    *,
    phases: pd.DataFrame | None = None,
    session_sources: dict[str, str] | None = None,
    source_rows: pd.DataFrame | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Per-conversation statistics of whole conversations, on the conversation model.

    ``talk_stats(attribute(segments with source, phases), profile, phases=phases)`` with
    speakers relabelled by party: the same rows as
    :func:`diarkit.io.load.conversation_stats` gives for the same data and profile.

    Args:
        segments: SEGMENTS rows of whole conversations.
        phases: the dataset's PHASES table (:func:`model_context`), or None.
        session_sources: ``source`` (live/backfill/import) per capture ``session_id``,
            used when ``segments`` has no ``source`` column (Dask reads segments only).
        source_rows: rows of sessions that mix sources whose source differs from the
            session's (``session_id``, ``seq``, ``source``;
            :func:`diarkit.io.load.source_labels`): they keep their own source, so every
            row is labelled as :func:`diarkit.io.load.load_segments` labels it.
        **kwargs: ``profile`` and threshold overrides of ``talk_stats``.
    """
    from diarkit.analysis import talk_stats
    from diarkit.analysis.conversation import attribute, by_party

    if session_sources is not None and "source" not in segments.columns:
        segments = with_sources(segments, session_sources, source_rows)
    attributed = by_party(attribute(segments, phases))
    return talk_stats(attributed, phases=phases, **kwargs)


def with_sources(
    segments: pd.DataFrame,
    session_sources: dict[str, str],
    source_rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``segments`` with a ``source`` column from the model context, without reading raw.

    Each row gets its session's source (``live`` for an unknown session); the rows listed
    in ``source_rows`` (sessions that mix sources) get their own. The result equals
    :func:`diarkit.io.load.load_segments` ``(source=True)``'s column for the same rows.

    Args:
        segments: SEGMENTS rows (``session_id``, ``seq``).
        session_sources: source per session (:func:`diarkit.io.load.session_sources`).
        source_rows: ``session_id``, ``seq``, ``source`` of the rows whose source differs
            from their session's (:func:`diarkit.io.load.source_labels`), or None.
    """
    from diarkit.schema import SEGMENT_SOURCES

    codes, sessions = pd.factorize(segments["session_id"].astype(object))
    names = [session_sources.get(str(x), "live") for x in sessions]
    rank = np.array([SEGMENT_SOURCES.index(n) for n in names] + [0], dtype=np.int8)
    ranks = rank[codes]
    if source_rows is not None and len(source_rows):
        ranks = _own_sources(segments, ranks, source_rows)
    return segments.assign(
        source=pd.Categorical.from_codes(ranks, categories=list(SEGMENT_SOURCES))
    )


def model_context(dataset: str | os.PathLike[str]) -> dict[str, Any]:
    """What :func:`default_pipeline` needs besides segments: phases and row sources.

    ``session_sources`` labels each capture session; ``source_rows`` lists the rows of
    sessions that mix sources (``diarkit convert`` of one file holding notification
    frames and post-call transcripts) whose source differs, so every row gets its own
    source as on the pandas path. All are small (a few rows per conversation / capture
    session; ``source_rows`` is empty unless a session mixes sources) and computed once on
    the client, then shipped with every partition's task. A dataset on object storage
    (``s3://...``) carries them as published (:func:`diarkit.scale.objectstore.model_context_url`).
    """
    from diarkit.io.load import load_conversation_model, source_labels
    from diarkit.scale.objectstore import is_url, model_context_url

    if is_url(dataset):
        return model_context_url(os.fspath(dataset))
    root = _dataset_root(dataset)
    labels = source_labels(root)
    return {
        "phases": load_conversation_model(root).phases,
        "session_sources": labels.sessions,
        "source_rows": labels.rows,
    }


def _own_sources(segments: pd.DataFrame, codes: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """``codes`` (SEGMENT_SOURCES ranks) with each listed (session, seq) given its own."""
    from diarkit.schema import SEGMENT_SOURCES

    session = segments["session_id"].astype("string")
    hit = session.isin(rows["session_id"].unique()).to_numpy(dtype=bool)
    if not hit.any():
        return codes
    key = pd.MultiIndex.from_arrays(
        [session[hit], segments["seq"][hit].astype("int64")], names=["session_id", "seq"]
    )
    lookup = rows.set_index(["session_id", "seq"])["source"]
    found = lookup.reindex(key).to_numpy(dtype=object)
    own = np.array([SEGMENT_SOURCES.index(str(x)) if isinstance(x, str) else -1 for x in found])
    out = codes.copy()
    idx = np.flatnonzero(hit)
    keep = own >= 0
    out[idx[keep]] = own[keep]
    return out


def _dataset_root(dataset: str | os.PathLike[str]) -> Path:
    path = Path(dataset)
    return path.parent if path.name == "segments" else path


def _apply(
    partition: pd.DataFrame, pipeline: Pipeline, kwargs: dict[str, Any]
) -> pd.DataFrame | None:
    if len(partition) == 0:
        return None
    ordered = partition.sort_values(POSITION, kind="stable")
    # ``order`` is the position in the whole dataset, as load_segments numbers it.
    ordered = ordered.assign(order=ordered[POSITION].astype("int64")).drop(columns=[POSITION])
    return pipeline(as_contract_dtypes(ordered.reset_index(drop=True)), **kwargs)


def canonical(
    frame: pd.DataFrame, keys: tuple[str, ...] = ("conversation_id", "speaker", "user_id")
) -> pd.DataFrame:
    """The canonical form of a per-conversation table: sorted by ``keys``, fresh index.

    Category columns get their categories sorted, so that two tables built from the same
    data in different partitions compare equal with ``pd.testing.assert_frame_equal``.
    """
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories
            out[name] = col.cat.set_categories(cats.sort_values())
    by = [k for k in keys if k in out.columns]
    if by:
        out = out.sort_values(by, kind="stable")
    return out.reset_index(drop=True)


def _concat(frames: list[pd.DataFrame | None], empty: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    kept = [f for f in frames if f is not None]
    if not kept:
        return empty()
    from pandas.api.types import union_categoricals

    out = pd.concat(kept, ignore_index=True)
    for name in kept[0].columns:
        if all(isinstance(f[name].dtype, pd.CategoricalDtype) for f in kept):
            out[name] = pd.Series(
                union_categoricals([f[name] for f in kept], ignore_order=True),
                index=out.index,
                name=name,
            )
    return out


def _current_client(client: Any) -> Any:
    """The client to compute with: ``client``, the current one, or ``None`` (threads)."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client in this process
        return None


def map_conversations(
    dataset: str | os.PathLike[str],
    pipeline: Pipeline,
    *,
    client: Any = None,
    npartitions: int | None = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    progress: bool = False,
    conversations: Iterable[str] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Apply a per-conversation pandas function to every conversation of ``dataset``.

    Each call of ``pipeline`` receives the segments of one or more *whole* conversations
    (contract dtypes, category columns as categories) and must return a table whose rows
    depend only on each conversation's own segments. The results are concatenated on the
    client in canonical form (:func:`canonical`).

    Args:
        dataset: the dataset root (or its ``segments/`` directory).
        pipeline: the pandas function, e.g. :func:`default_pipeline`.
        client: a ``distributed.Client``; default: the current client, else Dask's local
            threaded scheduler.
        npartitions: partitions after the shuffle by conversation (default: as many as
            were read).
        rows_per_partition: part files are read together up to this many rows per
            partition (default 200,000; bounds the memory of one task).
        progress: show a progress bar (``distributed.progress`` or Dask's local one).
        conversations: only these conversation ids (whole conversations); default: all.
        **kwargs: passed to ``pipeline``.
    """
    from dask.base import compute
    from dask.delayed import delayed

    segments = read_segments_dask(dataset, rows_per_partition)
    if conversations is not None:
        keep = sorted({str(c) for c in conversations})
        segments = segments[segments["conversation_id"].isin(keep)]
    grouped = by_conversation(segments, npartitions)
    tasks = [delayed(_apply)(d, pipeline, kwargs) for d in grouped.to_delayed()]
    cl = _current_client(client)
    if cl is not None:
        futures = cl.compute(tasks)
        if progress:
            from distributed import progress as show_progress

            show_progress(futures)
        frames = cl.gather(futures)
    elif progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            frames = list(compute(*tasks))
    else:
        frames = list(compute(*tasks))
    empty = lambda: pipeline(as_contract_dtypes(empty_segments()), **kwargs)  # noqa: E731
    return canonical(_concat(frames, empty))


def talk_stats_dask(
    dataset: str | os.PathLike[str],
    client: Any = None,
    *,
    npartitions: int | None = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    progress: bool = False,
    start: Any = None,
    end: Any = None,
    **talk_kwargs: Any,
) -> pd.DataFrame:
    """Per-conversation, per-speaker statistics (seconds) of ``dataset``, computed on Dask.

    The same rows as :func:`talk_stats_pandas` (the single-machine path): each conversation
    is finalized and measured whole by :func:`diarkit.analysis.finalize` and
    :func:`diarkit.analysis.talk_stats`, then the table is put in canonical form.

    Args:
        dataset: the dataset root (or its ``segments/`` directory).
        client: a ``distributed.Client``; default: the current one, else local threads.
        npartitions: partitions after the shuffle by conversation (default: as many as
            were read).
        rows_per_partition: rows read per partition (see :func:`map_conversations`).
        progress: show a progress bar while computing.
        start: keep whole conversations whose call started at or after this time (UTC;
            :func:`conversations_in_window`), selected on the client before any
            partition is read.
        end: keep whole conversations whose call started before this time (exclusive).
        **talk_kwargs: thresholds passed to :func:`diarkit.analysis.talk_stats`
            (``max_gap``, ``min_silence_s``, ... in seconds).

    Returns:
        A ``diarkit.schema.STATS`` table sorted by conversation and speaker.
    """
    ids = conversations_in_window(dataset, start, end)
    talk_kwargs = {**model_context(dataset), **talk_kwargs}
    return map_conversations(
        dataset,
        default_pipeline,
        client=client,
        npartitions=npartitions,
        rows_per_partition=rows_per_partition,
        progress=progress,
        conversations=ids,
        **talk_kwargs,
    )


def conversations_in_window(
    dataset: str | os.PathLike[str], start: Any = None, end: Any = None
) -> list[str] | None:
    """Ids of the conversations whose **call started** in ``[start, end)`` (UTC).

    The same selection as ``load_segments(start=, end=)``
    (:func:`diarkit.io.load.call_times`: the call events' start, else the first
    segment's ``start_at``; dates mean 00:00 UTC, zoned times are converted, naive
    times refused). ``None`` when neither bound is given (every conversation).
    """
    if start is None and end is None:
        return None
    from diarkit.io.load import _check_root, _conversations_in_window

    root = _check_root(_dataset_root(dataset) if not _is_url(dataset) else os.fspath(dataset))
    return _conversations_in_window(root, None, start, end) or []


def _is_url(dataset: str | os.PathLike[str]) -> bool:
    from diarkit.scale.objectstore import is_url

    return bool(is_url(dataset))


def load_segments_pandas(dataset: str | os.PathLike[str]) -> pd.DataFrame:
    """All segments of ``dataset`` in one pandas frame (the single-machine path)."""
    from diarkit.io.load import load_segments
    from diarkit.scale.objectstore import is_url

    return load_segments(os.fspath(dataset) if is_url(dataset) else _dataset_root(dataset))


def talk_stats_pandas(
    dataset: str | os.PathLike[str],
    *,
    start: Any = None,
    end: Any = None,
    **talk_kwargs: Any,
) -> pd.DataFrame:
    """Per-conversation statistics (seconds) of ``dataset`` in one pandas process.

    :func:`default_pipeline` over the whole dataset in canonical form: the reference
    :func:`talk_stats_dask` must match. ``start``/``end`` select whole conversations by
    call time (:func:`diarkit.io.load.load_segments`).
    """
    if start is not None or end is not None:
        from diarkit.io.load import conversation_stats

        root = os.fspath(dataset) if _is_url(dataset) else _dataset_root(dataset)
        return conversation_stats(root, start=start, end=end, **talk_kwargs)
    talk_kwargs = {**model_context(dataset), **talk_kwargs}
    return canonical(default_pipeline(load_segments_pandas(dataset), **talk_kwargs))


def fleet_from_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """Fleet aggregates of a per-conversation table (:func:`diarkit.analysis.fleet_stats`).

    Rows with a null ``user_id`` describe the whole fleet (every speaker; ``(call)``
    metrics once per call). When the table has agent rows with a ``user_id`` (the
    conversation model knew the participants), rows per agent follow, grouped by that
    real user id: the agent's own speaker metrics, and the ``(call)`` metrics of the
    calls that agent spoke in. Without participant data (``user_id`` all null) the
    table is the whole fleet only, with a null ``user_id`` column.
    """
    from diarkit.analysis.fleet import fleet_stats

    if "user_id" not in stats.columns:
        return fleet_stats(stats)
    user = stats["user_id"].astype("string")
    whole = fleet_stats(stats.drop(columns=["user_id"]), by=())
    whole.insert(0, "user_id", pd.Series(pd.NA, index=whole.index, dtype="string"))
    agents = stats[user.notna().to_numpy()]
    if not len(agents):
        return whole
    per_agent = fleet_stats(agents.assign(user_id=user[user.notna()]), by=["user_id"])
    per_agent["user_id"] = per_agent["user_id"].astype("string")
    return pd.concat([whole, per_agent], ignore_index=True)


def fleet_stats_dask(
    dataset: str | os.PathLike[str],
    client: Any = None,
    *,
    npartitions: int | None = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    progress: bool = False,
    **talk_kwargs: Any,
) -> pd.DataFrame:
    """Fleet-wide statistics (seconds) of ``dataset``: :func:`talk_stats_dask`, aggregated.

    The per-conversation table is gathered on the client (one row per conversation and
    speaker) and aggregated there by :func:`diarkit.analysis.fleet_stats`. Use
    :func:`stats_dask` to get both tables from one pass.
    """
    return stats_dask(
        dataset,
        client,
        npartitions=npartitions,
        rows_per_partition=rows_per_partition,
        progress=progress,
        **talk_kwargs,
    ).fleet


class FleetStats(NamedTuple):
    """Both statistics tables of a dataset."""

    conversations: pd.DataFrame  # per conversation and speaker (talk_stats), canonical
    fleet: pd.DataFrame  # fleet_stats of ``conversations``


def stats_dask(
    dataset: str | os.PathLike[str],
    client: Any = None,
    *,
    npartitions: int | None = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    progress: bool = False,
    **talk_kwargs: Any,
) -> FleetStats:
    """Per-conversation and fleet statistics (seconds) of ``dataset`` in one Dask pass."""
    conv = talk_stats_dask(
        dataset,
        client,
        npartitions=npartitions,
        rows_per_partition=rows_per_partition,
        progress=progress,
        **talk_kwargs,
    )
    return FleetStats(conv, fleet_from_stats(conv))


def stats_pandas(dataset: str | os.PathLike[str], **talk_kwargs: Any) -> FleetStats:
    """Per-conversation and fleet statistics (seconds) of ``dataset`` in one pandas process.

    ``talk_kwargs``: ``profile``, threshold overrides, and ``start``/``end`` (call time).
    """
    conv = talk_stats_pandas(dataset, **talk_kwargs)
    return FleetStats(conv, fleet_from_stats(conv))
