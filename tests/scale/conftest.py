"""Fixtures of the Dask scale tests: synthetic datasets and one 2-worker LocalCluster."""

from __future__ import annotations

import pytest

from diarkit.scale import SynthSpec, make_dataset

#: Small enough for seconds, big enough for many conversations split across part files.
#: Calls start over the hour around midnight, so some also span two ``date=`` partitions.
SPEC = SynthSpec(
    segments=24_000,
    conversation_segments=40,
    sessions=3,
    rows_per_part=500,
    days=1 / 24,
    first_call_s=23.5 * 3600,
)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A synthetic dataset where most conversations span several part files."""
    root = tmp_path_factory.mktemp("fleet")
    make_dataset(root, SPEC)
    return root


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster on 127.0.0.1 (no dashboard), shared by one test module."""
    from diarkit.scale import local_client

    with local_client(2, threads_per_worker=1, memory_limit="1GiB") as c:
        yield c
