"""Find the segments part files of a dataset and read them as a Dask DataFrame.

Layout (``docs``: README "Fleet scale with Dask")::

    DATASET/segments/date=YYYY-MM-DD/<session>-<seq>.parquet

Each part file becomes exactly one Dask partition, in path order (date, session, seq).
A dataset on object storage (``s3://bucket/prefix``, :mod:`diarkit.scale.objectstore`)
is listed and read the same way, straight from the bucket.
Files are listed as :mod:`diarkit.io.dataset` lists them (temporary names ignored, so a
dataset being written is always readable). Category columns of the contract
are read as plain strings so that partitions with different dictionaries concatenate and
shuffle cheaply; :func:`as_contract_dtypes` turns them back into categories before the
analysis functions see them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from diarkit.io.dataset import SEGMENTS_DIR, superseded_parts
from diarkit.io.dataset import list_parts as io_list_parts
from diarkit.scale.objectstore import is_url, list_remote_parts, open_input
from diarkit.schema import SEGMENTS

#: Contract columns whose pandas kind is ``category`` (read as strings, see module doc).
CATEGORY_COLUMNS = tuple(c.name for c in SEGMENTS.columns if c.kind == "category")


class DatasetError(ValueError):
    """A dataset path or part file cannot be read; the message names the path."""


@dataclass(frozen=True, slots=True)
class PartFile:
    """One segments part file: its path, its ``date`` partition and its row count."""

    path: Path | str  # a str URL for a dataset on object storage
    date: str
    rows: int


def segments_dir(dataset: str | os.PathLike[str]) -> Path:
    """The ``segments/`` directory of ``dataset`` (the dataset root or that directory)."""
    root = Path(dataset)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    if (root / SEGMENTS_DIR).is_dir():
        return root / SEGMENTS_DIR
    if root.name == SEGMENTS_DIR:
        return root
    raise DatasetError(
        f"{root}: not a diarkit dataset (expected {root / SEGMENTS_DIR}/date=YYYY-MM-DD/*.parquet)"
    )


def list_parts(dataset: str | os.PathLike[str]) -> list[PartFile]:
    """Every segments part file of ``dataset`` in path order, with its row count.

    Files are listed as :func:`diarkit.io.load_segments` reads them: date, then name;
    temporary names and parts superseded by a finished compaction are skipped.
    Row counts come from the Parquet footers (no data is read).

    Raises:
        DatasetError: when the dataset has no segments part file, or a footer is unreadable
            (the message names the file).
    """
    if is_url(dataset):
        return _list_remote_parts(os.fspath(dataset))
    seg = segments_dir(dataset)
    parts: list[PartFile] = []
    skip = superseded_parts(seg.parent)
    for path in io_list_parts(seg.parent, SEGMENTS_DIR):
        if path in skip:
            continue
        try:
            rows = pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"{path}: unreadable Parquet footer: {exc}") from exc
        parts.append(PartFile(path, path.parent.name.removeprefix("date="), rows))
    if not parts:
        raise DatasetError(f"{seg}: no segments part files (date=YYYY-MM-DD/*.parquet)")
    return parts


def _list_remote_parts(url: str) -> list[PartFile]:
    """``list_parts`` of a dataset on object storage (``s3://bucket/prefix``)."""
    urls = list_remote_parts(url, SEGMENTS_DIR)
    if not urls:
        raise DatasetError(f"{url}: no segments part files (segments/date=YYYY-MM-DD/*.parquet)")
    parts = []
    for part in urls:
        try:
            with open_input(part) as f:
                rows = pq.read_metadata(f).num_rows
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"{part}: unreadable Parquet footer: {exc}") from exc
        date = part.rsplit("/", 2)[-2].removeprefix("date=")
        parts.append(PartFile(part, date, rows))
    return parts


def _read_schema() -> pa.Schema:
    fields = []
    for c in SEGMENTS.columns:
        if not c.required:
            continue
        typ = pa.string() if c.name in CATEGORY_COLUMNS else c.type
        fields.append(pa.field(c.name, typ))
    return pa.schema(fields)


READ_SCHEMA = _read_schema()


def read_part(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the required segments columns of one part file (category columns as strings).

    Other columns (``words``, ``date``) are not read at all.

    Raises:
        DatasetError: naming the file and the column when it is unreadable, lacks a
            required column or holds a column that cannot be cast to the contract type.
    """
    try:
        if is_url(path):  # on object storage: one ranged read per column chunk
            with open_input(os.fspath(path)) as f:
                file = pq.ParquetFile(f)
                present = set(file.schema_arrow.names)
                table = file.read(columns=[n for n in READ_SCHEMA.names if n in present])
        else:
            file = pq.ParquetFile(path)
            present = set(file.schema_arrow.names)
            table = file.read(columns=[n for n in READ_SCHEMA.names if n in present])
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: unreadable Parquet part: {exc}") from exc
    columns = []
    for field in READ_SCHEMA:
        if field.name not in table.column_names:
            raise DatasetError(f"{path}: missing segments column {field.name!r}")
        try:
            columns.append(table.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DatasetError(
                f"{path}: column {field.name!r} of type {table.schema.field(field.name).type} "
                f"does not cast to {field.type}: {exc}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=READ_SCHEMA).to_pandas()


def empty_segments() -> pd.DataFrame:
    """An empty frame with the dtypes :func:`read_part` returns (the Dask ``meta``)."""
    return READ_SCHEMA.empty_table().to_pandas()


def as_contract_dtypes(
    frame: pd.DataFrame, columns: Sequence[str] = CATEGORY_COLUMNS
) -> pd.DataFrame:
    """Turn the string columns read by :func:`read_part` back into categories (a copy)."""
    out = frame.copy()
    for name in columns:
        if name in out.columns:
            out[name] = out[name].astype("category")
    return out
