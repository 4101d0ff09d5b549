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


def load_names(dataset: str | Path, kind: str) -> dict[str, str]:
    """``{id: name}`` from ``DATASET/dims/<kind>.parquet`` (empty when never resolved)."""
    if kind not in NAME_KINDS:
        raise ValueError(f"kind must be one of {NAME_KINDS}, got {kind!r}")
    p = Path(dataset) / DIMS_DIR / f"{kind}.parquet"
    if not p.exists():
        return {}
    t = pq.read_table(p, columns=["id", "name"])
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
        out[name_col] = ids.map(names).fillna(ids)
    return out
