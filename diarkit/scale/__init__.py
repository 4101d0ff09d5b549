"""Fleet statistics on Dask over the partitioned segments dataset (extra ``diarkit[dask]``).

Every conversation is analysed whole by the same pandas functions as the single-machine
path (:mod:`diarkit.analysis`); Dask only reads part files, shuffles rows by
``conversation_id`` and runs those functions on each partition. Importing this package
does not import Dask; the functions do, when called.
"""

from diarkit.scale.cluster import local_client, remote_client
from diarkit.scale.dataset import DatasetError, list_parts, read_part
from diarkit.scale.fleet import (
    FleetStats,
    by_conversation,
    canonical,
    default_pipeline,
    fleet_from_stats,
    fleet_stats_dask,
    map_conversations,
    read_segments_dask,
    stats_dask,
    stats_pandas,
    talk_stats_dask,
    talk_stats_pandas,
)
from diarkit.scale.report import compute_stats, run_stats, write_stats
from diarkit.scale.synth import SynthSpec, make_dataset, synthetic_segments

__all__ = [
    "DatasetError",
    "FleetStats",
    "SynthSpec",
    "by_conversation",
    "canonical",
    "compute_stats",
    "default_pipeline",
    "fleet_from_stats",
    "fleet_stats_dask",
    "list_parts",
    "local_client",
    "make_dataset",
    "map_conversations",
    "read_part",
    "read_segments_dask",
    "remote_client",
    "run_stats",
    "stats_dask",
    "stats_pandas",
    "synthetic_segments",
    "talk_stats_dask",
    "talk_stats_pandas",
    "write_stats",
]
