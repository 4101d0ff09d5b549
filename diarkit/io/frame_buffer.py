"""Raw and segment tables from frames held in one buffer, located by byte offsets.

A capture spool holds thousands of frames back to back, each followed by a newline.
Slicing them into Python ``bytes`` objects one by one costs more than parsing them, so
``tables_from_frame_buffer`` never does: Arrow ``take`` over the offsets gathers the
frames (for the ``frame`` column) and the frames with their newlines (for one
pyarrow.json parse, ``_frames.parse_block``; a block Arrow refuses is bisected as in
``raw.parse_frames``, so a bad frame costs only itself), and the blake2b frame hashes are
computed from memoryview slices on a second thread while the block is parsed. Frames the
fast path cannot vouch for are classified one by one by ``diarkit.genesys.parse_frame``, as
everywhere else (``raw.envelope_columns``). Pure: no files, no sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.schema import UTC_TS

from ._frames import parse_block
from .raw import (
    _clean_frame,
    assemble_raw,
    bisect_parse,
    envelope_columns,
    flag_bad_utf8,
    hash_frames,
    texts_checked,
)
from .segments import segments_from_parsed

_WHITESPACE = np.array([0x20, 0x09, 0x0A, 0x0D], dtype=np.uint8)
#: What ``bytes.strip`` strips (``raw._clean_frame``'s notion of a blank frame).
_ASCII_SPACE = np.array([0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D], dtype=np.uint8)


class FrameSlices(Sequence[bytes]):
    """The frames of a buffer as a read-only sequence of ``bytes``, sliced on demand."""

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        self._data = data
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._data[int(self._starts[i]) : int(self._ends[i])]


def _pieces(data: bytes, starts: np.ndarray, stops: np.ndarray) -> pa.Array:
    """``data`` cut at the offsets: element ``2i+1`` is ``data[starts[i]:stops[i]]``.

    The even elements are what lies between (record headers); no byte is copied.
    """
    n = len(starts)
    offsets = np.empty(2 * n + 2, dtype=np.int64)
    offsets[0] = 0
    offsets[1 : 2 * n : 2] = starts
    offsets[2 : 2 * n + 1 : 2] = stops
    offsets[-1] = len(data)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_binary(), 2 * n + 1, buffers)


def _gather(pieces: pa.Array, rows: np.ndarray) -> pa.Array:
    """The pieces of frames ``rows``, one contiguous copy (Arrow ``take``)."""
    return pieces.take(pa.array(2 * rows + 1, pa.int64()))


def _joined(lines: pa.Array) -> pa.Buffer:
    """The bytes of a contiguous binary array's values, back to back."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    first = int(offsets[lines.offset])
    last = int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2].slice(first, last - first)


def _no_blank_frames(data: bytes, starts: np.ndarray, ends: np.ndarray) -> bool:
    """False when some frame is empty or only whitespace.

    pyarrow.json skips blank lines and reads a frame holding two objects as two rows, so
    the two could cancel out. Without blank frames every frame yields at least one row,
    and ``parse_block``'s check of one row per frame proves the rows align with them.
    """
    if not len(starts):
        return True
    if (ends <= starts).any():
        return False
    first = np.frombuffer(data, dtype=np.uint8)[starts]
    suspects = np.flatnonzero(np.isin(first, _WHITESPACE))
    return not any(not data[starts[i] : ends[i]].strip() for i in suspects.tolist())


def _clean_frames(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Bool mask of the frames pyarrow.json reads as at most one row (``raw._clean_frame``).

    A frame is clean when it holds no ``\n`` or ``\r`` and is not blank; found with
    numpy over the buffer, slicing only frames that start with whitespace.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero((buf == 0x0A) | (buf == 0x0D))
    clean = (ends > starts) & (
        np.searchsorted(breaks, starts) == np.searchsorted(breaks, ends)
    )
    suspects = np.flatnonzero(clean & np.isin(buf[starts], _ASCII_SPACE))
    for i in suspects.tolist():
        clean[i] = _clean_frame(data[int(starts[i]) : int(ends[i])])
    return clean


def _parse(data: bytes, starts: np.ndarray, ends: np.ndarray) -> pa.Table | None:
    """``WIRE_SCHEMA`` rows of the frames, row-aligned with them (see ``raw.parse_frames``).

    The frames are parsed as one block; when Arrow refuses it (one bad frame fails the
    whole call) the block is bisected (``raw.bisect_parse``), so only the frames Arrow
    cannot read are null rows, left to ``parse_frame``. Pieces are gathered from ``data``
    by offsets, never sliced frame by frame.
    """
    n = len(starts)
    if not n:
        return None
    lines = _pieces(data, starts, ends + 1)  # each frame with its newline

    def parse_rows(rows: np.ndarray) -> pa.Table | None:
        return parse_block(_joined(_gather(lines, rows)), len(rows))

    whole = _no_blank_frames(data, starts, ends)
    if whole:
        parsed = parse_rows(np.arange(n, dtype=np.int64))
        if parsed is not None:
            return parsed
    return bisect_parse(_clean_frames(data, starts, ends), parse_rows, whole_failed=whole)


@dataclass(frozen=True, slots=True)
class FrameTables:
    """A raw table, the segments derived from it, and how many frames were dropped."""

    raw: pa.Table
    segments: pa.Table
    dropped: int


def tables_from_frame_buffer(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    session_id: str,
    seqs: np.ndarray,
    received_us: np.ndarray,
    source_codes: np.ndarray,
    source_names: Sequence[str],
    drop_kinds: frozenset[str] = frozenset(),
) -> FrameTables:
    """Build the ``RAW`` table and its ``SEGMENTS`` of frames ``data[starts[i]:ends[i]]``.

    Args:
        data: the buffer; every frame must be followed by a newline byte in it.
        starts: int64 offset of each frame in ``data``.
        ends: int64 offset just past each frame (the newline's position).
        session_id: stored in every row.
        seqs: int64 ``seq`` of each frame.
        received_us: int64 receive time of each frame, microseconds since the epoch (UTC).
        source_codes: int index into ``source_names`` of each frame's channel id.
        source_names: channel ids ("" stores a null ``source``).
        drop_kinds: kinds not to store (e.g. heartbeats); they are parsed, then left out.

    Returns:
        The tables; frames that fail to parse are rows with ``kind="invalid"``.
    """
    n = len(starts)
    with ThreadPoolExecutor(1, thread_name_prefix="diarkit-hash") as pool:
        view = memoryview(data)  # blake2b of memoryview slices releases the GIL, copies nothing
        slices = (view[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True))
        hashes_future = pool.submit(hash_frames, slices)
        parsed = _parse(data, starts, ends)
        envelope, ok = envelope_columns(FrameSlices(data, starts, ends), parsed)
        hashes = hashes_future.result()
    rows: np.ndarray | None = None
    if drop_kinds and n:
        drop = pc.fill_null(pc.is_in(envelope["kind"], pa.array(sorted(drop_kinds))), False)
        if pc.any(drop).as_py():
            rows = np.flatnonzero(~drop.to_numpy(zero_copy_only=False))
    kept = np.arange(n, dtype=np.int64) if rows is None else rows
    if rows is not None:
        take = pa.array(rows, pa.int64())
        envelope = {k: v.take(take) for k, v in envelope.items()}
        ok = ok.take(take)
        hashes = hashes.take(take)
    frames, bad_utf8 = texts_checked(_gather(_pieces(data, starts, ends), kept))
    envelope = flag_bad_utf8(envelope, bad_utf8)
    names = pa.array([name or None for name in source_names], pa.string())
    raw = assemble_raw(
        frames,
        hashes,
        envelope,
        session_id=session_id,
        start_seq=0,
        received_at=pa.array(received_us[kept], pa.int64()).cast(UTC_TS),
        source=None,
    )
    for name, column in (
        ("seq", pa.array(seqs[kept], pa.int64())),
        ("source", names.take(pa.array(source_codes[kept], pa.int32()))),
    ):
        i = raw.schema.get_field_index(name)
        raw = raw.set_column(i, raw.schema.field(name), column)
    segments = segments_from_parsed(
        raw, parsed, ok if parsed is not None else None, parsed_rows=rows
    )
    return FrameTables(raw, segments, n - len(kept))
