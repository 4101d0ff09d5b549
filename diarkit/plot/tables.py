"""Checks and labels for the tables the figures draw: which call, which columns, whose name.

Pure pandas (no matplotlib): a table argument must be a DataFrame with the columns a
figure needs (a path gets an error saying how to load it), a short conversation id
resolves to the one full id it starts, ids are shortened to distinct labels, and user
and queue ids get their names from a mapping or a dataset's ``dims/``. Kept apart from
the drawing so the rules behind every label and error are in one place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import pandas as pd

#: Names for ids: an ``{id: name}`` mapping (user and queue ids), or a dataset folder
#: whose ``dims/`` tables ``diarkit names`` wrote.
Names: TypeAlias = "Mapping[str, str] | str | os.PathLike[str] | None"


def names_of(names: Names) -> dict[str, str]:
    """``{id: name}`` from a mapping, or from a dataset's ``dims/`` (users and queues).

    Returns an empty dict for None or a dataset without resolved names.
    """
    if names is None:
        return {}
    if isinstance(names, Mapping):
        return {str(k): str(v) for k, v in names.items() if v is not None}
    from diarkit.io.dims import load_names

    out: dict[str, str] = {}
    for kind in ("users", "queues"):
        out.update(load_names(os.fspath(names), kind))
    return out


def _labels(frame: pd.DataFrame, id_col: str, name_col: str,
            names: Mapping[str, str]) -> pd.Series | None:
    """Per-row display label of an id column: the name column's value, else the id's
    name in ``names``, else the (short) id; None when no names are available at all
    (no name column and no ``names``), so plots stay as they were without names."""
    has_id, has_name = id_col in frame.columns, name_col in frame.columns
    if not has_name and not (has_id and names):
        return None
    empty = pd.Series(pd.NA, index=frame.index, dtype="string")
    ids = frame[id_col].astype("string") if has_id else empty
    label = frame[name_col].astype("string") if has_name else empty
    same = (label == ids).fillna(False).to_numpy(dtype=bool)
    label = label.mask(same)  # add_names keeps the id as the name of an unknown id
    label = label.fillna(ids.map(names).astype("string"))
    return label.fillna(ids.map(lambda v: _short_id(v) if isinstance(v, str) else v)
                        .astype("string"))


def _require_table(obj: object, where: str, loader: str) -> pd.DataFrame:
    """``obj`` itself when it is a DataFrame; a clear error when it is a path or anything else."""
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, str | os.PathLike):
        raise TypeError(
            f"{where} takes a table (pandas DataFrame), not a path ({os.fspath(obj)!r}); "
            f"load it first, e.g. {loader}"
        )
    raise TypeError(f"{where} takes a pandas DataFrame, not {type(obj).__name__}")


def _require(frame: pd.DataFrame, cols: Sequence[str], where: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: table has no column(s) {missing} (got {list(frame.columns)})")


def resolve_conversation(ids: Iterable[object], conversation_id: str, where: str) -> str:
    """The full conversation id for ``conversation_id``: itself, or the one id it starts.

    Plots and reports show ids shortened to their first 8+ characters; any unambiguous
    prefix of an id is accepted. An ambiguous or unknown prefix raises ``ValueError``.
    """
    known = [str(i) for i in ids]
    wanted = str(conversation_id)
    if wanted in known:
        return wanted
    matches = sorted({i for i in known if i.startswith(wanted)}) if wanted else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"{where}: {wanted!r} is the start of {len(matches)} conversation ids "
                         f"({', '.join(matches[:5])}); give more characters")
    raise ValueError(f"{where}: conversation {wanted!r} is not in the table")


def _short_id(value: object, n: int = 8) -> str:
    """Ids up to 14 characters unchanged; longer ones (UUIDs) cut to their first ``n``."""
    text = str(value)
    return text if len(text) <= 14 else text[:n]


def _short_ids(values: Iterable[object]) -> list[str]:
    """Short labels for ids, lengthened until distinct ids get distinct labels."""
    texts = [str(v) for v in values]
    for n in (8, 12, 16, 24):
        short = [_short_id(t, n) for t in texts]
        if len(set(short)) == len(set(texts)):
            return short
    return texts


#: Columns that may hold a conversation's length in seconds, first match wins.
DURATION_COLUMNS = ("call_duration_s", "duration_s", "conversation_duration_s", "span_s")


def _duration_column(frame: pd.DataFrame) -> str | None:
    """The first of ``DURATION_COLUMNS`` present in ``frame`` with any non-null value."""
    return next(
        (c for c in DURATION_COLUMNS if c in frame.columns and frame[c].notna().any()), None
    )
