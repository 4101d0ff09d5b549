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
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from diarkit.schema import GAPS, QUARANTINE, RAW, SEGMENTS, validate

from .dataset import (
    GAPS_DIR,
    QUARANTINE_DIR,
    RAW_DIR,
    SEGMENTS_DIR,
    is_dataset,
    list_files,
    list_parts,
    superseded_parts,
)

TimeLike: TypeAlias = datetime | pd.Timestamp | str | None

_PARTITIONING = ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive")
_RAW_CATEGORIES = ("session_id", "topic", "kind", "conversation_id", "source")


def _ts(value: TimeLike, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"{name}={value!r} has no time zone; pass a UTC (or zoned) time")
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


def _dataset(root: Path, kind: str, schema: pa.Schema) -> ds.Dataset:
    files = list_parts(root, kind)
    skip = superseded_parts(root)
    paths = [str(p) for p in files if p not in skip]
    full = schema.append(pa.field("date", pa.string()))
    return ds.dataset(
        paths,
        schema=full,
        format="parquet",
        partitioning=_PARTITIONING,
        partition_base_dir=str(root / kind),
    )


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


def _check_root(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset or file")
    return path


def load_raw(
    path: str | Path,
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

        table, _ = read_to_tables([root])
        expr = _filter(conversations, start, end)
        if expr is not None:
            table = _filter_in_memory(table, expr)
        table = table.select(cols)
    df = _to_pandas(_as_categories(table, _RAW_CATEGORIES))
    if columns is None:
        validate(df, RAW, where=f"load_raw({root})")
    return df


def load_segments(
    path: str | Path,
    conversations: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    words: bool = False,
) -> pd.DataFrame:
    """Load segments (``diarkit.schema.SEGMENTS``): one row per utterance version.

    Args:
        path: a dataset directory, or any file/folder ``diarkit convert`` reads (converted
            in memory, nothing written).
        conversations: keep only these conversation ids.
        start: keep segments whose frame was received at or after this time (UTC).
        end: keep segments whose frame was received before this time (UTC, exclusive).
        words: also load the ``words`` list column (word times in seconds; slower).

    Returns:
        Columns of ``SEGMENTS`` (``start_s``/``end_s`` in seconds from the session start,
        ``start_at``/``received_at`` UTC); ids, channel, speaker and session categorical.
    """
    root = _check_root(path)
    schema = SEGMENTS.arrow_schema()
    cols = SEGMENTS.names if words else [c.name for c in SEGMENTS.columns if c.required]
    expr = _filter(conversations, start, end)
    if is_dataset(root):
        table = _dataset(root, SEGMENTS_DIR, schema).to_table(columns=cols, filter=expr)
    else:
        from .convert import read_to_tables

        _, seg = read_to_tables([root])
        if expr is not None:
            seg = _filter_in_memory(seg, expr)
        table = seg.select(cols)
    # Parts number ``order`` from 0 each; renumber so it is unique across the dataset
    # (storage order: date, part, row, i.e. order received within each session).
    i = table.schema.get_field_index("order")
    table = table.set_column(i, "order", pa.array(range(table.num_rows), pa.int64()))
    df = _to_pandas(table)
    return validate(df, SEGMENTS, where=f"load_segments({root})")


def load_gaps(path: str | Path) -> pd.DataFrame:
    """Load the capture disconnection gaps (``diarkit.schema.GAPS``) of a dataset.

    ``start_at``/``end_at`` are UTC, ``duration_s`` seconds; empty when there were none.
    """
    root = _check_root(path)
    files = list_files(root, GAPS_DIR)
    if not files:
        return GAPS.empty()
    table = ds.dataset([str(f) for f in files], schema=GAPS.arrow_schema()).to_table()
    return validate(_to_pandas(table), GAPS, where=f"load_gaps({root})")


def load_quarantine(path: str | Path) -> pd.DataFrame:
    """Load rejected input (``diarkit.schema.QUARANTINE``): source, line, reason, raw text."""
    root = _check_root(path)
    files = list_files(root, QUARANTINE_DIR)
    if not files:
        return QUARANTINE.empty()
    table = ds.dataset([str(f) for f in files], schema=QUARANTINE.arrow_schema()).to_table()
    return validate(_to_pandas(table), QUARANTINE, where=f"load_quarantine({root})")
