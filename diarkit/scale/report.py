"""Compute a dataset's statistics on the chosen engine and write them to files (the CLI job)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from diarkit.scale.dataset import list_parts
from diarkit.scale.fleet import (
    FleetStats,
    canonical,
    default_pipeline,
    fleet_from_stats,
    load_segments_pandas,
    model_context,
    stats_dask,
    stats_pandas,
)

FORMATS = ("parquet", "csv")


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def compute_stats(
    dataset: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    memory_limit: str | None = "auto",
    progress: bool = False,
    **talk_kwargs: Any,
) -> FleetStats:
    """Per-conversation and fleet statistics (seconds) on pandas, a scheduler or a local cluster.

    Args:
        dataset: the dataset root (or its ``segments/`` directory).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``).
        local_cluster: start a local cluster of this many worker processes on 127.0.0.1.
        memory_limit: per-worker memory limit of the local cluster (``"2GiB"``).
        progress: show progress (Dask's progress bar, or tqdm stages on pandas).
        **talk_kwargs: ``profile``, thresholds for :func:`diarkit.analysis.talk_stats`
            (seconds), and ``start``/``end``: whole conversations by call time (UTC), on
            every engine.

    Raises:
        DatasetError: when ``dataset`` has no segments part files (naming the path).
        ValueError: when both ``scheduler`` and ``local_cluster`` are given, or
            ``local_cluster`` is below 1.
    """
    if scheduler is not None and local_cluster is not None:
        raise ValueError("give either a scheduler address or a local cluster size, not both")
    list_parts(dataset)  # a clear DatasetError for a path without segments parts, early
    # start/end (call time) select whole conversations on either engine: on Dask the ids
    # are chosen on the client (call events, else first segment) before partitions are read
    if scheduler is not None:
        from diarkit.scale.cluster import remote_client

        with remote_client(scheduler) as client:
            return stats_dask(dataset, client, progress=progress, **talk_kwargs)
    if local_cluster is not None:
        if local_cluster < 1:
            raise ValueError(f"local cluster needs at least 1 worker, got {local_cluster}")
        from diarkit.scale.cluster import local_client

        with local_client(local_cluster, memory_limit=memory_limit) as client:
            return stats_dask(dataset, client, progress=progress, **talk_kwargs)
    if not progress or talk_kwargs.get("start") is not None or talk_kwargs.get("end") is not None:
        return stats_pandas(dataset, **talk_kwargs)
    from tqdm import tqdm

    with tqdm(total=3, desc="pandas statistics", unit="step") as bar:
        bar.set_postfix_str("load segments")
        talk_kwargs = {**model_context(dataset), **talk_kwargs}
        segments = load_segments_pandas(dataset)
        bar.update(1)
        bar.set_postfix_str("talk_stats")
        conversations = canonical(default_pipeline(segments, **talk_kwargs))
        del segments
        bar.update(1)
        bar.set_postfix_str("fleet_stats")
        fleet = fleet_from_stats(conversations)
        bar.update(1)
    return FleetStats(conversations, fleet)


def _root_of(dataset: str | os.PathLike[str]) -> str | Path:
    """The dataset root of ``dataset`` (a URL as it is; a local root or its segments/)."""
    from diarkit.scale.objectstore import is_url

    if is_url(os.fspath(dataset)):
        return os.fspath(dataset)
    path = Path(dataset)
    return path.parent if path.name == "segments" else path


def write_stats(
    stats: FleetStats,
    out: str | os.PathLike[str],
    fmt: Literal["parquet", "csv"] = "parquet",
) -> dict[str, Path]:
    """Write ``conversation_stats.<fmt>`` and ``fleet_stats.<fmt>`` into ``out`` atomically.

    Returns:
        ``{"conversations": path, "fleet": path}``.

    Raises:
        ValueError: on an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "conversations": _write(stats.conversations, folder / f"conversation_stats.{fmt}", fmt),
        "fleet": _write(stats.fleet, folder / f"fleet_stats.{fmt}", fmt),
    }


def run_stats(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fmt: Literal["parquet", "csv"] = "parquet",
    scheduler: str | None = None,
    local_cluster: int | None = None,
    memory_limit: str | None = "auto",
    progress: bool = True,
    coverage: bool = False,
    complete_only: bool = False,
    by: Literal["agent", "queue"] = "agent",
    **talk_kwargs: Any,
) -> dict[str, Path]:
    """Compute a dataset's statistics and write them to ``out`` (what ``diarkit stats`` does).

    See :func:`compute_stats` for the engines and :func:`write_stats` for the files;
    ``talk_kwargs`` (``profile``, ``min_confidence``, thresholds) go to ``talk_stats``.
    With ``coverage`` (or ``complete_only``) each call gets its coverage columns
    (``diarkit.analysis.reconcile.with_coverage``: shares 0-1, ``call_complete``; a dataset
    directory or URL); with ``complete_only`` the fleet figures count complete calls
    only (the per-conversation table keeps every call). ``by`` breaks the fleet table
    down per agent (``user_id``, the default) or per queue (``"queue"``: every row gets
    the call's first queue, ``queue_id``/``queue_name``, and the fleet table has a
    whole-fleet block then one per queue; ``diarkit.analysis.fleet.fleet_by``). When the
    dataset has names (``DATASET/dims/``, written by ``diarkit names``), both tables get
    ``user_name`` (and ``queue_name``, ``wrapup_name``) next to their id columns
    (``add_names``: the resolved names replace the call events' queue names).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if by not in ("agent", "queue"):
        raise ValueError(f"by must be 'agent' or 'queue', got {by!r}")
    stats = compute_stats(
        dataset,
        scheduler=scheduler,
        local_cluster=local_cluster,
        memory_limit=memory_limit,
        progress=progress,
        **talk_kwargs,
    )
    conversations = stats.conversations
    if by == "queue":
        from diarkit.analysis.fleet import with_queues
        from diarkit.io.load import load_conversations

        conversations = with_queues(conversations, load_conversations(_root_of(dataset)))
    if coverage or complete_only:
        from diarkit.analysis.reconcile import with_coverage
        from diarkit.capture.backfill import coverage_table

        conversations = with_coverage(conversations, coverage_table(_root_of(dataset)))
    if by == "queue" or coverage or complete_only:
        from diarkit.analysis.fleet import fleet_by

        kept = conversations[conversations["call_complete"].to_numpy(dtype=bool)] \
            if complete_only else conversations
        fleet = fleet_by(kept, "queue") if by == "queue" else fleet_from_stats(kept)
        stats = FleetStats(conversations, fleet)
    from diarkit.io.dims import add_names, has_names

    if has_names(os.fspath(dataset)):  # names resolved by `diarkit names`: label by them
        stats = FleetStats(add_names(stats.conversations, str(dataset)),
                           add_names(stats.fleet, str(dataset)))
    return write_stats(stats, out, fmt)
