"""Connect to a Dask scheduler or start a local one on 127.0.0.1 (no dashboard)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def local_client(
    n_workers: int = 2,
    *,
    threads_per_worker: int = 1,
    memory_limit: str | int | None = "auto",
    processes: bool = True,
    local_directory: str | None = None,
) -> Iterator[Any]:
    """A ``distributed.Client`` on a fresh ``LocalCluster`` bound to 127.0.0.1.

    The dashboard is disabled; every listening socket (scheduler, workers, nannies and the
    scheduler's health/metrics HTTP server) is on 127.0.0.1, on free ports. The cluster is
    closed on exit.

    Args:
        n_workers: worker processes.
        threads_per_worker: threads in each worker.
        memory_limit: per-worker memory limit in bytes or as ``"1.5GiB"``; ``"auto"``
            splits the machine's memory between the workers; ``None`` means no limit.
        processes: use worker processes (``True``) or threads of this process.
        local_directory: where workers spill to disk (default: Dask's temporary dir).
    """
    from distributed import Client, LocalCluster

    limit = 0 if memory_limit is None else memory_limit
    # the in-process scheduler logs every P2P shuffle start/stop at WARNING level
    shuffle_log = logging.getLogger("distributed.shuffle._scheduler_plugin")
    level = shuffle_log.level
    shuffle_log.setLevel(logging.ERROR)
    try:
        with (
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=processes,
                host="127.0.0.1",
                dashboard_address=None,  # no dashboard; the scheduler's health/metrics
                # HTTP server still starts: a free port on 127.0.0.1, never 8787 or 0.0.0.0
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                memory_limit=limit,
                local_directory=local_directory,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    finally:
        shuffle_log.setLevel(level)


@contextmanager
def remote_client(address: str) -> Iterator[Any]:
    """A ``distributed.Client`` connected to the scheduler at ``address`` (closed on exit)."""
    from distributed import Client

    with Client(address) as client:
        yield client
