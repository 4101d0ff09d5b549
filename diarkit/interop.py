"""Tables in and out of other tools: pyannote.core, Excel, RTTM files.

- ``to_pyannote(segments)`` / ``from_pyannote(annotation)``: one conversation as a
  ``pyannote.core.Annotation`` (times in seconds, one track per row, label = speaker) and
  back to ``conversation_id, speaker, start_s, end_s`` rows (pyannote.core is optional).
- ``to_excel(stats, path)``: statistics tables as an ``.xlsx`` workbook, one sheet per
  table (needs ``openpyxl``: ``pip install 'diarkit[excel]'``).
- ``read_rttm(path)``: an RTTM file checked to *be* RTTM (``diarkit der`` uses it), so a
  JSON file or an empty reference is a clear error naming the file and line, never a
  "DER 100 %".

DuckDB and Polars read ``load_segments`` results (and dataset folders) directly; see the
"Other tools" page of the docs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

#: RTTM record types (NIST RT-09); lines of other types are not RTTM.
RTTM_TYPES = frozenset({
    "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH", "FILLER",
    "EDIT", "IP", "END-OF-SENTENCE", "SU", "CB", "A/P", "SPEAKER", "SPKR-INFO", "STYPE",
})


class RttmFileError(ValueError):
    """A file given as RTTM is not RTTM, or holds no speech; the message names file and line."""


def read_rttm(path: str | os.PathLike[str], *, role: str = "RTTM file",
              require_speech: bool = False) -> pd.DataFrame:
    """Read an RTTM file into ``conversation_id, speaker, start_s, end_s`` rows (seconds).

    Args:
        path: the file.
        role: what the file is, for messages (``"reference"``, ``"hypothesis"``).
        require_speech: raise when the file holds no speech (a reference must).

    Returns:
        The ``SPEAKER`` records, as ``diarkit.analysis.parse_rttm`` returns them.

    Raises:
        RttmFileError: the file is not UTF-8 text, a line is not an RTTM record (naming
            the line and what it starts with), a SPEAKER record is malformed, or
            ``require_speech`` and there are no SPEAKER records of positive length.
        FileNotFoundError: no such file.
    """
    from diarkit.analysis import parse_rttm

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RttmFileError(f"{p}: the {role} is not an RTTM text file "
                            f"(not UTF-8: {exc.reason} at byte {exc.start})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";;"):
            continue
        first = stripped.split()[0]
        if first.upper() not in RTTM_TYPES:
            shown = stripped[:40] + ("..." if len(stripped) > 40 else "")
            raise RttmFileError(
                f"{p}:{lineno}: the {role} is not an RTTM file: the line starts with "
                f"{first[:20]!r}, not a record type such as SPEAKER ({shown!r})")
    try:
        rows = parse_rttm(text)
    except ValueError as exc:
        raise RttmFileError(f"{p}: {exc}".replace("parse_rttm(): ", "")) from None
    if require_speech and not bool(((rows["end_s"] - rows["start_s"]) > 0).any()):
        what = "no SPEAKER records" if rows.empty else "only zero-length SPEAKER records"
        raise RttmFileError(f"{p}: the {role} holds {what}: there is no reference speech to "
                            "score against (DER is undefined)")
    return rows


def to_pyannote(segments: pd.DataFrame, conversation_id: str | None = None) -> Any:
    """One conversation as a ``pyannote.core.Annotation`` (seconds; label = speaker).

    Args:
        segments: rows with ``conversation_id``, ``speaker``, ``start_s``, ``end_s``
            (SEGMENTS, TURNS, ``parse_rttm`` output or any table of those columns).
        conversation_id: which conversation (a full id or an unambiguous start of one);
            may be omitted when the table holds one conversation.

    Returns:
        An ``Annotation`` whose ``uri`` is the conversation id, one track per row (rows
        of zero length are left out, as pyannote drops empty segments).

    Raises:
        ImportError: pyannote.core is not installed (naming the package to install).
        ValueError: missing columns, or the conversation is ambiguous or absent.
    """
    try:
        from pyannote.core import Annotation, Segment
    except ImportError:
        raise ImportError("to_pyannote needs pyannote.core: pip install pyannote.core") from None
    from diarkit.plot import resolve_conversation

    missing = [c for c in ("conversation_id", "speaker", "start_s", "end_s")
               if c not in segments.columns]
    if missing:
        raise ValueError(f"to_pyannote: table has no column(s) {missing}")
    ids = pd.unique(segments["conversation_id"].astype("string").dropna())
    if conversation_id is None:
        if len(ids) != 1:
            raise ValueError(f"to_pyannote: table holds {len(ids)} conversations; pass "
                             "conversation_id=")
        cid = str(ids[0])
    else:
        cid = resolve_conversation(ids, conversation_id, "to_pyannote")
    one = segments[segments["conversation_id"].astype("string") == cid]
    annotation = Annotation(uri=cid)
    starts = one["start_s"].to_numpy(dtype=float)
    ends = one["end_s"].to_numpy(dtype=float)
    speakers = one["speaker"].astype("string").fillna("unknown").to_numpy(dtype=object)
    for track, (s, e, spk) in enumerate(zip(starts, ends, speakers, strict=True)):
        if e > s:
            annotation[Segment(float(s), float(e)), track] = str(spk)
    return annotation


def from_pyannote(annotation: Any, conversation_id: str | None = None) -> pd.DataFrame:
    """A ``pyannote.core.Annotation`` as ``conversation_id, speaker, start_s, end_s`` rows.

    Args:
        annotation: the annotation (its tracks in time order become rows).
        conversation_id: id for the rows; default the annotation's ``uri``.

    Returns:
        Rows in seconds, sorted by start; ``diarization_error``, ``talk_stats`` (minimal
        columns) and ``plot_timeline`` take them.

    Raises:
        ValueError: no id given and the annotation has no ``uri``.
    """
    cid = conversation_id if conversation_id is not None else annotation.uri
    if cid is None:
        raise ValueError("from_pyannote: the annotation has no uri; pass conversation_id=")
    rows = [(str(cid), str(label), float(seg.start), float(seg.end))
            for seg, _track, label in annotation.itertracks(yield_label=True)]
    frame = pd.DataFrame(rows, columns=["conversation_id", "speaker", "start_s", "end_s"])
    return frame.astype({"conversation_id": "string", "speaker": "string",
                         "start_s": "float64", "end_s": "float64"})


def to_excel(tables: pd.DataFrame | Mapping[str, pd.DataFrame],
             path: str | os.PathLike[str]) -> Path:
    """Write statistics tables to an Excel workbook (``.xlsx``), one sheet per table.

    Time-zone-aware timestamps are written as UTC without the zone (Excel has none);
    categorical columns as their values. Needs ``openpyxl`` (``pip install
    'diarkit[excel]'``).

    Args:
        tables: one table (sheet ``talk_stats``) or ``{sheet name: table}`` (names up to
            31 characters, Excel's limit).
        path: the ``.xlsx`` file to write.

    Returns:
        The path written.

    Raises:
        ImportError: openpyxl is not installed (naming the extra to install).
        ValueError: a sheet name longer than 31 characters.
    """
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise ImportError("to_excel needs openpyxl: pip install 'diarkit[excel]' "
                          "(or pip install openpyxl)") from None
    sheets = {"talk_stats": tables} if isinstance(tables, pd.DataFrame) else dict(tables)
    for name in sheets:
        if len(name) > 31:
            raise ValueError(f"to_excel: sheet name {name!r} is longer than Excel's 31 "
                             "characters")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        for name, table in sheets.items():
            frame = table.copy()
            for col in frame.columns:
                dtype = frame[col].dtype
                if isinstance(dtype, pd.DatetimeTZDtype):
                    frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
                elif isinstance(dtype, pd.CategoricalDtype):
                    frame[col] = frame[col].astype("string")
            frame.to_excel(writer, sheet_name=name, index=False)
    return out


__all__ = ["RttmFileError", "from_pyannote", "read_rttm", "to_excel", "to_pyannote"]
