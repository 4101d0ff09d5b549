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
from .formats import INPUT_FORMATS, InputFormat, is_sta_transcript, is_tutorial_export

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
    #: Per-record receive time (UTC timestamps) a format carries (EventBridge ``time``);
    #: ``None``: the record's own ``eventTime`` is used.
    received_at: pa.Array | None = None


class GzipStream:
    """Decompress a (multi-member) gzip file incrementally; keeps every byte before damage.

    ``gzip.GzipFile.read`` drops what it decompressed in a call that hits a truncated
    end; this reader returns it and raises ``EOFError`` on the following call.
    """

    def __init__(self, path: Path, piece: int = 1 << 20) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 (closed in close())
        self._d: Any = zlib.decompressobj(31)  # or _Ended after a member's end
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
            if not raw:
                if not self._d.eof:
                    self._error = EOFError("compressed file ended before the end marker")
                self._done = True
                break
            data = self._feed(raw)
            out.append(data)
            have += len(data)
            if self._error is not None:
                break
        if not out and self._error is not None:
            err, self._error = self._error, None
            self._done = True
            raise EOFError(str(err)) if not isinstance(err, EOFError) else err
        return b"".join(out)

    def _feed(self, raw: bytes) -> bytes:
        """Decompress ``raw``; on damage keep every byte decompressed before it.

        ``zlib`` returns nothing from a call that fails, so a failing piece is fed again,
        from the state before it, in ever smaller slices (down to single bytes): the
        output up to the damaged byte survives. Bytes after the last complete member
        that are not another member are reported as trailing garbage.
        """
        out: list[bytes] = []
        pos = 0
        step = len(raw)
        while pos < len(raw):
            if self._d.eof:
                rest = self._d.unused_data + raw[pos:]
                if not rest.strip(b"\0"):  # zero padding after a member is harmless
                    return b"".join(out)
                if rest[:2] != GZIP_MAGIC:
                    self._error = zlib.error(
                        f"{len(rest)} byte(s) of trailing garbage after a gzip member"
                    )
                    return b"".join(out)
                self._d = zlib.decompressobj(31)
                raw, pos, step = rest, 0, len(rest)
                continue
            backup = self._d.copy()
            piece = raw[pos : pos + step]
            try:
                data = self._d.decompress(piece)
            except zlib.error as exc:
                self._d = backup
                if step == 1:
                    self._error = exc
                    return b"".join(out)
                step = max(1, step // 16)
                continue
            out.append(data)
            if self._d.eof:
                used = len(piece) - len(self._d.unused_data)
                pos += used
                self._d = _Ended(self._d)
                continue
            pos += len(piece)
        return b"".join(out)

    def close(self) -> None:
        """Close the underlying file."""
        self._f.close()

    def __enter__(self) -> GzipStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Ended:
    """A finished gzip member's decompressor: ``eof`` with nothing left over."""

    eof = True
    unused_data = b""

    def __init__(self, d: Any) -> None:
        del d


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


#: Lines of a file's start that format detection looks at (one bad line decides nothing).
SNIFF_LINES = 50
BOM = b"\xef\xbb\xbf"


def detect_format(path: str | Path) -> str:
    """Detect ``path``'s format by content: ``dataset``, ``jsonl``, ``json`` or ``json-array``.

    The first ``SNIFF_LINES`` lines (of the first 64 KiB) are looked at, so one damaged
    line (truncated, ``NaN``, garbage) at the start decides nothing: the file is ``jsonl``
    when any of them is a known record on one line (the bad ones are quarantined when it
    is read). A file whose first known record is a whole tutorial export or post-call
    transcript is ``json`` (streamed element by element), not ``jsonl``. A leading UTF-8
    byte-order mark is skipped.

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
    return format_of_head(path, _sniff(path))


#: Modules that register input formats (``formats.register_format``) when imported.
_PLUGINS: tuple[str, ...] = ()


def _plugins() -> list[InputFormat]:
    import importlib

    for name in _PLUGINS:
        importlib.import_module(name)
    return INPUT_FORMATS


def _mostly_records(lines: list[bytes]) -> bool:
    """True when at least two of ``lines`` (after the first) are one-line known records,
    and most are: a JSONL file whose first line happens to start with ``[``."""
    good = bad = 0
    for raw_line in lines[1:]:
        line = raw_line.strip()
        if not line:
            continue
        try:
            ok = is_known_record(orjson.loads(line))
        except orjson.JSONDecodeError:
            ok = False
        good += ok
        bad += not ok
    return good >= 2 and good > bad


def format_of_head(path: Path, head: bytes) -> str:
    """``detect_format`` of a file whose first bytes (up to 64 KiB) are ``head``.

    Registered formats (``formats.register_format``) are asked first.
    """
    for fmt in _plugins():
        if fmt.detect(head.removeprefix(BOM)):
            return fmt.name
    if head[:4] == b"PAR1":
        raise UnknownFormatError(f"{path}: a Parquet file, not a dataset directory")
    text = head.removeprefix(BOM).lstrip(b" \t\r\n")
    if not text:
        raise UnknownFormatError(f"{path}: empty file")
    lines = text.split(b"\n")
    if len(head) >= _SNIFF and len(lines) > 1:
        lines.pop()  # cut by the sniff: not a whole line
    if text[:1] == b"[" and not _mostly_records(lines[:SNIFF_LINES]):
        return "json-array"
    from .eventbridge import FORMAT, is_eventbridge_head  # it builds on this module

    if is_eventbridge_head(text):
        return FORMAT  # Firehose objects: envelopes one per line or concatenated
    unknown: Any = None
    for raw_line in lines[:SNIFF_LINES]:
        line = raw_line.strip()
        if line[:1] != b"{":  # a record is an object; a bare value is a document's line
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if is_tutorial_export(doc) or is_sta_transcript(doc):
            return "json"
        if is_known_record(doc):
            return "jsonl"
        if unknown is None:
            unknown = doc
    if unknown is not None:
        raise UnknownFormatError(
            f"{path}: first record is JSON but not a notification frame, tutorial event or "
            f"export, or post-call transcript ({_keys(unknown)})"
        )
    if text[:1] == b"{":
        return "json"  # not a one-line record: a pretty-printed document (checked when read)
    shown = text[:24].decode("utf-8", errors="replace")
    raise UnknownFormatError(f"{path}: not JSON or JSON lines (starts with {shown!r})")


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
    pos = 3 if f.read(3) == BOM else 0  # a byte-order mark is no part of the first record
    f.seek(pos)
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
    ahead = read().removeprefix(BOM)
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
    plugin = next((f for f in _plugins() if f.name == fmt), None)
    if plugin is not None:
        yield from plugin.read(path, chunk_bytes)
    elif fmt == "dataset":
        yield from iter_dataset(path)
    elif fmt == "jsonl":
        yield from iter_jsonl(path, chunk_bytes)
    elif fmt == "eventbridge":
        from .eventbridge import iter_eventbridge

        yield from iter_eventbridge(path, chunk_bytes)
    else:
        from .documents import iter_documents  # it builds on this module

        yield from iter_documents(path)
