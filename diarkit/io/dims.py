"""Dimension tables of a dataset (``DATASET/dims/``): the names of user, queue and
wrap-up code ids that ``diarkit names`` resolved, read back for stats, plots and reports.

Reading only: ``diarkit.capture.analytics.refresh_names`` fetches and writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

DIMS_DIR = "dims"
NAME_KINDS = ("users", "queues", "wrapupcodes")

#: Id column -> (dimension table, name column) that ``add_names`` fills.
NAME_COLUMNS = {"user_id": ("users", "user_name"), "queue_id": ("queues", "queue_name"),
                "wrapup_code": ("wrapupcodes", "wrapup_name")}


def has_names(dataset: str | Path) -> bool:
    """True when ``DATASET/dims/`` exists, on disk or in a published dataset's bucket."""
    fs, where = _located(dataset, DIMS_DIR)
    return bool(fs.isdir(where)) if fs is not None else Path(where).is_dir()


def load_names(dataset: str | Path, kind: str) -> dict[str, str]:
    """``{id: name}`` from ``DATASET/dims/<kind>.parquet`` (empty when never resolved).

    ``dataset`` is a directory or a dataset URL (``s3://...``) that ``diarkit publish``
    wrote, ``dims/`` included.
    """
    if kind not in NAME_KINDS:
        raise ValueError(f"kind must be one of {NAME_KINDS}, got {kind!r}")
    fs, where = _located(dataset, DIMS_DIR, f"{kind}.parquet")
    if not (fs.exists(where) if fs is not None else Path(where).exists()):
        return {}
    t = pq.read_table(where, columns=["id", "name"], filesystem=fs)
    return dict(zip(t.column("id").to_pylist(), t.column("name").to_pylist(), strict=True))


def add_names(df: Any, dataset: str | Path,
              columns: dict[str, tuple[str, str]] | None = None) -> Any:
    """``df`` with name columns next to its id columns, from ``DATASET/dims/`` tables.

    For each id column present (default ``NAME_COLUMNS``: ``user_id`` -> ``user_name``,
    ``queue_id`` -> ``queue_name``, ``wrapup_code`` -> ``wrapup_name``) the name from the
    dimension table ``diarkit names`` wrote; ids it does not know keep their id as the
    name, so grouping by the name column never loses a row. Returns a new frame.
    """
    out = df.copy()
    for id_col, (kind, name_col) in (columns or NAME_COLUMNS).items():
        if id_col not in out.columns:
            continue
        names = load_names(dataset, kind)
        ids = out[id_col].astype("string")
        # an id column with no known id maps to all-missing floats: back to the ids' type
        out[name_col] = ids.map(names).astype(ids.dtype).fillna(ids)
    return out


def _located(dataset: str | Path, *parts: str) -> tuple[Any, str]:
    """(fsspec filesystem or None for the local disk, path of ``parts`` in ``dataset``)."""
    from diarkit.scale.objectstore import filesystem, is_url

    if is_url(dataset):
        fs, base = filesystem(str(dataset).rstrip("/"))
        return fs, "/".join([base, *parts])
    return None, str(Path(dataset, *parts))
