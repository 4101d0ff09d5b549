"""Streaming readers of capture files, with the format detected by content.

Formats (plain or gzip, whatever the extension):

* ``jsonl`` - one record per line: notification frames or tutorial events
  (``{eventType, conversationId, transcripts}``);
* ``json`` - one or more JSON documents (pretty-printed or one per line): a frame, a
  tutorial event, a tutorial export ``{"totalSegments", "segments"}`` or a post-call
  transcript ``{transcripts: [{phrases}]}``;
* ``json-array`` - a JSON array of frames or events;
* ``dataset`` - a diarkit dataset directory (its raw parts are read back).

JSONL is read in blocks of whole lines (``CHUNK_BYTES``); ``json`` and ``json-array``
files are streamed element by element (``diarkit.io.documents``). Memory stays flat
whatever the file size, and a truncated gzip yields every complete record before the
damage and then reports it.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .dataset import is_dataset, list_parts
from .formats import is_sta_transcript, is_tutorial_export

CHUNK_BYTES = 16 << 20
_SNIFF = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"


class UnknownFormatError(ValueError):
    """A file that is no format diarkit reads; the message names the file and why."""


@dataclass(slots=True)
class Rejected:
    """One quarantined input record: where it was and why it was rejected."""

    source: str
    line: int | None
    reason: str
    raw: str


@dataclass(slots=True)
class Batch:
    """Records read from one input, in order.

    ``blobs`` are the records' bytes (verbatim lines, array elements, or import rows);
    ``buffer``, when set, is the same records joined by newlines (no blank lines), ready
    for the fast parser. ``raw`` is set instead for dataset inputs (complete raw rows).
    ``rejected`` holds problems found while reading (a truncated gzip, a bad element).

    Import rows (``diarkit.io.documents``): ``topics`` gives each blob's import topic and
    ``element_at`` the byte offset of the verbatim element in an element row (-1 for a
    document row); neither is parsed yet.
    """

    blobs: list[bytes]
    lines: np.ndarray | None
    buffer: bytes | pa.Buffer | None = None
    raw: pa.Table | None = None
    nbytes: int = 0
    nlines: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    frames: pa.Array | None = None
    start_seq: int = 0
    topics: list[str] | None = None
    element_at: list[int] | None = None


class GzipStream:
    """Decompress a (multi-member) gzip file incrementally; keeps every byte before damage.

    ``gzip.GzipFile.read`` drops what it decompressed in a call that hits a truncated
    end; this reader returns it and raises ``EOFError`` on the following call.
    """

    def __init__(self, path: Path, piece: int = 1 << 20) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 (closed in close())
        self._d = zlib.decompressobj(31)
        self._piece = piece
        self._pending: list[bytes] = []
        self._error: BaseException | None = None
        self._done = False

    def read(self, size: int) -> bytes:
        """Up to about ``size`` decompressed bytes; ``b""`` at the end."""
        out = self._pending
        self._pending = []
        have = sum(map(len, out))
        while have < size and not self._done:
            if self._error is not None:
                break
            raw = self._f.read(self._piece)
            try:
                if not raw:
                    if not self._d.eof:
                        self._error = EOFError("compressed file ended before the end marker")
                    self._done = True
                    break
                data = self._d.decompress(raw)
                while self._d.eof and self._d.unused_data:
                    rest = self._d.unused_data
                    self._d = zlib.decompressobj(31)
                    data += self._d.decompress(rest)
            except zlib.error as exc:
                self._error = exc
                break
            out.append(data)
            have += len(data)
        if not out and self._error is not None:
            err, self._error = self._error, None
            self._done = True
            raise EOFError(str(err)) if not isinstance(err, EOFError) else err
        return b"".join(out)

    def close(self) -> None:
        """Close the underlying file."""
        self._f.close()

    def __enter__(self) -> GzipStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> IO[bytes] | GzipStream:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        return GzipStream(path)
    return open(path, "rb")


def is_known_record(doc: Any) -> bool:
    """True if ``doc`` is a frame, a tutorial event or an import document."""
    if not isinstance(doc, dict):
        return False
    if "topicName" in doc or "result" in doc:
        return True
    if "eventType" in doc or ("conversationId" in doc and "transcripts" in doc):
        return True
    return is_tutorial_export(doc) or is_sta_transcript(doc)


def _sniff(path: Path) -> bytes:
    try:
        with _open(path) as f:
            return f.read(_SNIFF)
    except (EOFError, OSError) as exc:
        raise UnknownFormatError(f"{path}: unreadable or corrupt gzip ({exc})") from None


def _keys(doc: Any) -> str:
    if isinstance(doc, dict):
        return "keys " + ", ".join(sorted(map(str, doc))[:8])
    return type(doc).__name__


def detect_format(path: str | Path) -> str:
    """Detect ``path``'s format by content: ``dataset``, ``jsonl``, ``json`` or ``json-array``.

    A file whose first line is a whole tutorial export or post-call transcript is
    ``json`` (streamed element by element), not ``jsonl``.

    Raises:
        UnknownFormatError: the content is none of them (the message says what it saw).
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if path.is_dir():
        if is_dataset(path):
            return "dataset"
        raise UnknownFormatError(f"{path}: a directory that is not a diarkit dataset")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    head = _sniff(path)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise UnknownFormatError(f"{path}: empty file")
    if text[:1] == b"[":
        return "json-array"
    if text[:1] != b"{":
        shown = text[:24].decode("utf-8", errors="replace")
        if head[:4] == b"PAR1":
            raise UnknownFormatError(f"{path}: a Parquet file, not a dataset directory")
        raise UnknownFormatError(f"{path}: not JSON or JSON lines (starts with {shown!r})")
    first = text.split(b"\n", 1)[0].strip()
    try:
        doc = orjson.loads(first)
    except orjson.JSONDecodeError:
        doc = None
    if doc is not None:
        if is_tutorial_export(doc) or is_sta_transcript(doc):
            return "json"
        if is_known_record(doc):
            return "jsonl"
        raise UnknownFormatError(
            f"{path}: first record is JSON but not a notification frame, tutorial event or "
            f"export, or post-call transcript ({_keys(doc)})"
        )
    # not a one-line record: a pretty-printed document (checked when read)
    return "json"


def _frames_from_block(data: bytes, parts: list[bytes]) -> pa.Array | None:
    """The lines as an Arrow string array, built from ``data``'s buffer (one C copy).

    Every line in ``parts`` must end with a newline in ``data``; ``None`` when the text
    is not valid UTF-8 (the caller then decodes per line).
    """
    n = len(parts)
    lens = np.fromiter(map(len, parts), dtype=np.int64, count=n)
    if n and int(lens.sum()) + n > np.iinfo(np.int32).max:
        return None
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lens + 1, out=offsets[1:])
    with_nl = pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:
        return pc.binary_slice(with_nl, 0, -1).cast(pa.string())
    except pa.ArrowInvalid:
        return None


def _block(data: bytes, end: int, first_line: int) -> Batch:
    """Records of ``data[:end]`` (whole lines; ``data[end - 1]`` is the last byte kept).

    Blank lines are skipped (their numbers too); CRLF endings are stripped.
    """
    parts = data.split(b"\n")  # no copy of data[:end]: drop the tail instead
    complete = end > 0 and data[end - 1 : end] == b"\n"
    if end < len(data) or complete:
        parts.pop()  # the partial line after ``end`` (or the "" after the last newline)
    n = len(parts)
    if b"\r" not in data and b"" not in parts:
        lines = np.arange(first_line, first_line + n, dtype=np.int64)
        frames = _frames_from_block(data, parts) if complete else None
        buf = pa.py_buffer(data)
        buffer = buf.slice(0, end - 1) if complete else buf.slice(0, end)
        return Batch(parts, lines, buffer, nbytes=end, nlines=n, frames=frames)
    stripped = [p.rstrip(b"\r") for p in parts]
    idx = [i for i, p in enumerate(stripped) if p and not p.isspace()]
    blobs = [stripped[i] for i in idx]
    lines = np.asarray(idx, dtype=np.int64) + first_line
    return Batch(blobs, lines, b"\n".join(blobs), nbytes=end, nlines=n)


def iter_jsonl(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Batch]:
    """Blocks of whole lines of a JSONL file (plain or gzip), in order, flat memory.

    Plain files are read block by block, seeking back to the start of a line cut by the
    block end, so no bytes are copied around. Gzip streams are read one block ahead, so
    the end of the file lands in the last block. A truncated gzip yields every line
    before the damage and one ``Rejected`` naming it.
    """
    f = _open(path)
    try:
        if isinstance(f, GzipStream):
            yield from _iter_stream(f, str(path), chunk_bytes)
        else:
            yield from _iter_plain(f, chunk_bytes)
    finally:
        f.close()


def _iter_plain(f: IO[bytes], chunk_bytes: int) -> Iterator[Batch]:
    line = 1
    size = os.fstat(f.fileno()).st_size
    pos = 0
    while True:
        data = f.read(chunk_bytes)
        if not data:
            return
        pos += len(data)
        end = len(data)
        while pos < size:  # not at the end: cut at the last newline, re-read the rest
            cut = data.rfind(b"\n")
            if cut >= 0:
                back = len(data) - cut - 1
                if back:
                    f.seek(-back, os.SEEK_CUR)
                    pos -= back
                end = cut + 1
                break
            more = f.read(chunk_bytes)  # one line longer than a block
            if not more:
                break
            data += more
            pos += len(more)
            end = len(data)
        batch = _block(data, end, line)
        line += batch.nlines
        if batch.blobs:
            yield batch


def _iter_stream(f: GzipStream, source: str, chunk_bytes: int) -> Iterator[Batch]:
    line = 1
    problem: list[str] = []

    def read() -> bytes:
        if problem:
            return b""
        try:
            return f.read(chunk_bytes)
        except (EOFError, OSError, zlib.error) as exc:
            problem.append(str(exc))
            return b""

    rest = b""
    ahead = read()
    while True:
        data = rest + ahead
        ahead = read()
        if not ahead:  # end of input: everything left is the last block
            batch = _block(data, len(data), line) if data.strip() else _empty()
            if problem:
                last = line - 1 + batch.nlines
                reason = f"truncated or corrupt gzip after line {last} ({problem[0]})"
                batch.rejected = [Rejected(source, None, reason, "")]
            if batch.blobs or batch.rejected:
                yield batch
            return
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1 :]
        batch = _block(data, cut + 1, line)
        line += batch.nlines
        yield batch


def _empty() -> Batch:
    return Batch([], np.zeros(0, np.int64), None)


def iter_dataset(path: Path) -> Iterator[Batch]:
    """The raw parts of a diarkit dataset, one batch per part (rows as stored)."""
    for part in list_parts(path):
        table = pq.read_table(part)
        yield Batch(blobs=[], lines=None, raw=table, nbytes=part.stat().st_size)


def iter_batches(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Batch]:
    """Batches of records of any supported input, detected by content.

    Raises:
        UnknownFormatError: not a known format (raised before any batch is yielded).
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "dataset":
        yield from iter_dataset(path)
    elif fmt == "jsonl":
        yield from iter_jsonl(path, chunk_bytes)
    else:
        from .documents import iter_documents  # it builds on this module

        yield from iter_documents(path)
