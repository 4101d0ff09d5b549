"""Streaming reader of JSON documents: arrays of records, tutorial exports, STA transcripts.

A file of one or more JSON documents (pretty-printed or not, plain or gzip) is read in
``SCAN_BYTES`` pieces with the incremental scanner of ``diarkit.io._jsonscan``; no
document is ever held whole. What each top-level value becomes:

* an array ``[frame, frame, ...]``: every element is one record, its text verbatim;
* a tutorial export ``{"totalSegments", "segments": [...]}``: every segment is one
  *element row*, and the document minus its segments one *document row*;
* a post-call transcript ``{..., "transcripts": [{..., "phrases": [...]}]}``: every
  phrase is one element row, and the document minus its phrases one document row;
* anything else (a frame, a tutorial event): one record, its text verbatim.

Element rows are wrappers built from verbatim pieces of the file::

    {"path":"$.transcripts[0].phrases[3]","context":[{DOC},{TRANSCRIPT}],"element":PHRASE}

``PHRASE`` is the element's text exactly as in the file (so the frame ends with it and a
closing brace); ``DOC`` and ``TRANSCRIPT`` are the scalar members (strings, numbers,
booleans, null) that precede the streamed array in the enclosing objects, each member's
text verbatim, joined by commas (an export has one context object). That is all an
element needs to become a segment (conversation and communication ids, the start time
phrases are measured from). The document row keeps everything else verbatim: the
document with the streamed elements taken out (``"segments":[]``, ``"phrases":[]``), so
the raw table still holds every byte of information in the file.

A document is classified as it streams: the first ``segments`` array of a top-level
object makes it an export, the first ``phrases`` array inside its ``transcripts`` an STA
transcript; a ``topicName``, ``eventType`` or ``result`` member before either makes it a
single record. Until that is decided the document's bytes are kept (at most
``MAX_SPAN_BYTES``).

Bad input: an element that is not valid JSON is rejected (file, line, reason with its
JSON path, verbatim text) and the rest goes on; damaged structure, a span over
``MAX_SPAN_BYTES`` or a truncated file ends the file with one rejection, after every
complete element before it was delivered.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import numpy as np
import orjson

from ._jsonscan import (
    CLOSE_ARRAY,
    CLOSE_OBJECT,
    COLON,
    COMMA,
    OPEN_ARRAY,
    OPEN_OBJECT,
    StreamEnd,
    TokenStream,
)
from .raw import STA_TRANSCRIPT_TOPIC, TUTORIAL_EXPORT_TOPIC
from .readers import Batch, Rejected, UnknownFormatError, _keys, _open, is_known_record

#: Bytes read (decompressed) and scanned at a time.
SCAN_BYTES = 1 << 20
#: Verbatim bytes of import rows gathered into one batch (one part file), about: each
#: is parsed into Python objects, which take several times the bytes.
BATCH_BYTES = 4 << 20
#: The same for records (array elements), which go to the vectorised frame parser.
RECORD_BATCH_BYTES = 4 << 20
#: Longest span kept in memory: one element, one record, or an undecided document.
MAX_SPAN_BYTES = 64 << 20
#: Largest document row (a document's members outside its streamed arrays).
MAX_DOCUMENT_ROW_BYTES = 16 << 20
#: Characters of damaged text shown in a rejection.
SHOWN_BYTES = 4096

#: Elements of an array that may fail to parse before the file counts as unknown.
_PROBE_ELEMENTS = 100

#: A walk over part of the stream: yields when it needs the next chunk, returns the
#: absolute position just after what it walked.
Walk = Generator[None, None, int]

_SINGLE_RECORD_KEYS = frozenset({"topicName", "eventType", "result"})


class _Damaged(Exception):
    """The document's structure is broken at ``at`` (absolute position)."""

    def __init__(self, reason: str, at: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.at = at


class _TooLong(_Damaged):
    """A span over ``MAX_SPAN_BYTES``; inside an array the element alone is lost."""


class _Out:
    """Rows found so far, grouped into batches of one kind (records or import rows)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.ready: list[Batch] = []
        self.rejected: list[Rejected] = []
        self._reset(None)

    def _reset(self, kind: str | None) -> None:
        self.kind = kind
        self.blobs: list[bytes] = []
        self.lines: list[int] = []
        self.topics: list[str] = []
        self.element_at: list[int] = []
        self.size = 0

    def _switch(self, kind: str) -> None:
        if self.kind != kind:
            self.seal()
            self.kind = kind

    def record(self, blob: bytes, line: int) -> None:
        """A record kept as it is (a frame or event; classified by the converter)."""
        self._switch("records")
        self.blobs.append(blob)
        self.lines.append(line)
        self.size += len(blob)

    def imported(self, topic: str, blob: bytes, line: int, at: int) -> None:
        """An element row (``at``: offset of the verbatim element) or document row (-1)."""
        self._switch("imports")
        self.blobs.append(blob)
        self.lines.append(line)
        self.topics.append(topic)
        self.element_at.append(at)
        self.size += len(blob)

    def reject(self, line: int | None, reason: str, raw: bytes) -> None:
        """A rejected element; ``raw`` is its text as read."""
        self.rejected.append(
            Rejected(self.source, line, reason, raw.decode("utf-8", errors="replace"))
        )

    def seal(self) -> None:
        """Close the batch being gathered (if it has rows)."""
        if not self.blobs:
            return
        lines = np.asarray(self.lines, dtype=np.int64)
        if self.kind == "imports":
            batch = Batch(self.blobs, lines, topics=self.topics, element_at=self.element_at)
        else:
            joined = b"\n".join(self.blobs)
            plain = b"\r" not in joined and joined.count(b"\n") == len(self.blobs) - 1
            batch = Batch(self.blobs, lines, joined if plain else None)
        self.ready.append(batch)
        self._reset(self.kind)

    def take(self, nbytes: int) -> list[Batch]:
        """Every sealed batch (rejections go with the last), ``nbytes`` read counted once."""
        self.seal()
        out, self.ready = self.ready, []
        if self.rejected:
            if not out:
                out.append(Batch([], np.zeros(0, np.int64), None))
            out[-1].rejected.extend(self.rejected)
            self.rejected = []
        if out:
            out[-1].nbytes = nbytes
        return out


def _blank(text: bytes) -> bool:
    return not text.strip()


class _Parser:
    """Walks the token stream: top-level values, documents, their streamed arrays.

    Methods are generators: they yield (nothing) whenever they need the next chunk, so
    the driver can hand out the rows found so far; ``StreamEnd`` propagates from
    ``TokenStream.fill`` when the input is exhausted.
    """

    def __init__(self, src: TokenStream, out: _Out, path: Path) -> None:
        self.src = src
        self.out = out
        self.path = path
        self.pin: int | None = None  # keep bytes from here on (an undecided document)
        self.first = True  # the file's first value decides whether the file is known
        self.deciding = True  # no batch may go out before that decision
        self.where = "$"

    # ----------------------------------------------------------------- plumbing

    def keep(self, position: int) -> None:
        """Bytes from ``position`` (or the pinned start, if earlier) are still needed."""
        self.src.keep = position if self.pin is None else min(position, self.pin)

    def need(self) -> Generator[None, None, None]:
        """Make sure the current chunk has a token left (reading more as needed)."""
        src = self.src
        while src.i >= src.n:
            yield
            src.fill()
            if src.end - src.keep > MAX_SPAN_BYTES:
                raise _TooLong(
                    f"{self.where}: a value over {MAX_SPAN_BYTES >> 20} MiB "
                    "(damaged document or unbalanced quotes?)",
                    src.keep,
                )

    def tok(self) -> tuple[int, int, int]:
        """``(position, byte, level)`` of the current token."""
        src = self.src
        i = src.i
        return int(src.pos[i]), int(src.ch[i]), int(src.lvl[i])

    def line(self, position: int) -> int:
        return int(self.src.line_of(np.array([position], np.int64))[0])

    def damaged(self, reason: str, at: int) -> _Damaged:
        return _Damaged(f"{self.where}: {reason}", at)

    # ----------------------------------------------------------------- top level

    def run(self) -> Generator[None, None, None]:
        """Every top-level value of the stream, then the end (reporting damage)."""
        src = self.src
        prev_end = 0
        try:
            while True:
                self.where = "$"
                self.keep(prev_end)
                try:
                    yield from self.need()
                except StreamEnd:
                    self._between(prev_end, src.end)
                    if src.problem:
                        self._report_end(prev_end, src.problem)
                    return
                p, c, lv = self.tok()
                self._between(prev_end, p)
                if lv != 0 or c not in (OPEN_OBJECT, OPEN_ARRAY):
                    raise self.damaged(f"unexpected {chr(c)!r}", p)
                src.i += 1
                if c == OPEN_ARRAY:
                    prev_end = yield from self._records(p)
                else:
                    prev_end = yield from self._document(p)
                self.first = False
                self.deciding = False
        except StreamEnd:
            self._report_end(src.keep, src.problem)
        except _Damaged as exc:
            at = max(exc.at, src.base)
            text = src.text(at, min(src.end, at + SHOWN_BYTES))
            if self.first and self.deciding:  # nothing recognised yet: not a known format
                raise UnknownFormatError(f"{self.path}: not valid JSON ({exc.reason})") from None
            self.out.reject(self.line(at), exc.reason, text)
        finally:
            self.deciding = False

    def _report_end(self, start: int, problem: str | None) -> None:
        src = self.src
        start = max(start, src.base)
        text = src.text(start, src.end).strip()
        why = f"truncated or corrupt gzip: {problem}" if problem else "truncated?"
        if text:
            reason = f"{self.where}: the input ends inside this value ({why})"
            if self.first and self.deciding:
                raise UnknownFormatError(f"{self.path}: not valid JSON ({reason})")
            self.out.reject(self.line(start), reason, text)
        elif problem:
            self.out.reject(None, f"truncated or corrupt gzip ({problem})", b"")

    def _between(self, start: int, stop: int) -> None:
        """Text between top-level values must be blank (a byte-order mark may lead)."""
        text = self.src.text(start, stop).strip()
        if start == 0 and text.startswith(b"\xef\xbb\xbf"):
            text = text[3:].strip()
        if text:
            at = start + self.src.text(start, stop).find(text[:1])
            if self.first:
                raise UnknownFormatError(
                    f"{self.path}: not JSON or JSON lines (starts with {text[:24]!r})"
                )
            self.out.reject(
                self.line(at), "$: not valid JSON (text between documents)", text[:SHOWN_BYTES]
            )

    # ----------------------------------------------------------------- arrays

    def _leaf(
        self,
        open_pos: int,
        c: int,
        path: Callable[[int], str],
        emit: Callable[[list[bytes], np.ndarray, int], None],
    ) -> Walk:
        """Cut the elements of the array opened at ``open_pos`` (content level ``c``).

        ``emit(texts, lines, first_index)`` gets each run of complete elements (verbatim,
        stripped) found in a chunk. Returns the position after the closing bracket.
        """
        src = self.src
        prev = open_pos
        idx = 0
        while True:
            self.where = path(idx)
            self.keep(prev + 1)
            try:
                yield from self.need()
            except _TooLong as exc:
                # quarantine this element only: skip to its end, keep the ones after it
                sep, closed_at = yield from self._skip_element(prev, c, exc)
                if closed_at is not None:
                    return closed_at
                prev = sep
                idx += 1
                continue
            i = src.i
            j = src.next_at_or_above(c - 1, i)
            bounds = src.pos[src.commas(c, i, j)]
            closed = j < src.n
            if closed:
                close = int(src.pos[j])
                if src.ch[j] != CLOSE_ARRAY or src.lvl[j] != c - 1:
                    raise self.damaged(f"unexpected {chr(src.ch[j])!r} in an array", close)
                ends = np.append(bounds, close)
                if idx == 0 and len(ends) == 1 and _blank(src.text(prev + 1, close)):
                    src.i = j + 1
                    return close + 1  # []
            else:
                ends = bounds
            if len(ends):
                starts = np.concatenate(([prev], ends[:-1])) + 1
                texts: list[bytes] = []
                heads = np.empty(len(ends), dtype=np.int64)
                for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                    raw = src.text(a, b)
                    left = raw.lstrip()
                    heads[k] = a + len(raw) - len(left)
                    texts.append(left.rstrip())
                emit(texts, src.line_of(heads), idx)
                idx += len(ends)
                prev = int(ends[-1])
            if closed:
                src.i = j + 1
                return close + 1
            src.i = src.n

    def _skip_element(
        self, prev: int, c: int, exc: _Damaged
    ) -> Generator[None, None, tuple[int, int | None]]:
        """Reject the over-long element after ``prev`` and walk past it.

        Its first ``SHOWN_BYTES`` are quarantined with the reason; the bytes after are
        dropped as they are read (memory stays bounded). Returns the position of the
        comma after it, or ``(close, position after the closing bracket)`` when the
        array ends with it.
        """
        src = self.src
        start = max(prev + 1, src.base)
        head = src.text(start, min(src.end, start + SHOWN_BYTES))
        start += len(head) - len(head.lstrip())  # the element's first byte, for its line
        line = self.line(start)
        shown = head.strip()
        self.out.reject(
            line,
            f"{exc.reason}; this element is quarantined (its first {SHOWN_BYTES} bytes) "
            "and the elements after it are kept",
            shown,
        )
        while True:
            j = src.next_at_or_above(c - 1, src.i)
            commas = src.commas(c, src.i, j)
            if len(commas):
                k = int(commas[0])
                src.i = k + 1
                return int(src.pos[k]), None
            if j < src.n:
                close = int(src.pos[j])
                if src.ch[j] != CLOSE_ARRAY or src.lvl[j] != c - 1:
                    raise self.damaged(f"unexpected {chr(src.ch[j])!r} in an array", close)
                src.i = j + 1
                return close, close + 1
            src.i = src.n
            src.keep = src.end  # nothing of this element is needed any more
            yield
            src.fill()

    def _records(self, open_pos: int) -> Walk:
        """A top-level array: every element is one record."""
        checking = [self.first]
        tried = [0]

        def emit(texts: list[bytes], lines: np.ndarray, first: int) -> None:
            out = self.out
            for k, (text, line) in enumerate(zip(texts, lines.tolist(), strict=True)):
                if not text:
                    out.reject(line, f"$[{first + k}]: empty array element (a stray comma?)", b"")
                    continue
                if checking[0]:
                    try:
                        doc = orjson.loads(text)
                    except orjson.JSONDecodeError:
                        doc = None
                        tried[0] += 1
                        if tried[0] >= _PROBE_ELEMENTS:
                            raise UnknownFormatError(
                                f"{self.path}: a JSON array whose first {tried[0]} elements "
                                "are not valid JSON"
                            ) from None
                    if doc is not None:
                        if not is_known_record(doc):
                            raise UnknownFormatError(
                                f"{self.path}: a JSON array whose first element is no known "
                                f"record ({_keys(doc)})"
                            )
                        checking[0] = False
                        self.deciding = False
                out.record(text, line)

        return (yield from self._leaf(open_pos, 1, lambda i: f"$[{i}]", emit))

    # ----------------------------------------------------------------- objects

    def _object(self, open_pos: int, c: int, members: _Members) -> Walk:
        """Walk the members of the object opened at ``open_pos`` (content level ``c``).

        Scalar members and containers ``members`` does not stream are handed to it with
        their verbatim text; a container it streams is walked by the generator it
        returns. Returns the position after the closing brace.
        """
        src = self.src
        sep = open_pos
        base = self.where
        while True:
            self.where = base
            self.keep(sep + 1)
            yield from self.need()
            p, ch, lv = self.tok()
            if ch == CLOSE_OBJECT and lv == c - 1 and sep == open_pos:
                if not _blank(src.text(sep + 1, p)):
                    raise self.damaged("expected ':' after a member name", p)
                src.i += 1
                return p + 1  # {}
            if ch != COLON or lv != c:
                raise self.damaged("expected a member name and ':'", p)
            raw_key = src.text(sep + 1, p)
            key_text = raw_key.strip()
            start = sep + 1 + len(raw_key) - len(raw_key.lstrip())
            try:
                key = orjson.loads(key_text) if key_text[:1] == b'"' else None
            except orjson.JSONDecodeError:
                key = None
            if not isinstance(key, str):
                raise self.damaged("expected a member name (a string)", start)
            self.where = f"{base}.{key}"
            colon = p
            src.i += 1
            yield from self.need()
            p, ch, lv = self.tok()
            if ch in (OPEN_OBJECT, OPEN_ARRAY) and lv == c:
                if not _blank(src.text(colon + 1, p)):
                    raise self.damaged("unexpected text before the value", p)
                src.i += 1
                stream = members.container(key, key_text, ch, p)
                if stream is not None:
                    end = yield from stream
                else:
                    end = yield from self._skip(c)
                    members.member(key, src.text(start, end), scalar=False)
                self.where = f"{base}.{key}"
                self.keep(end)
                yield from self.need()
                p, ch, lv = self.tok()
                if not _blank(src.text(end, p)):
                    raise self.damaged("expected ',' or '}' after the value", end)
            elif (ch == COMMA and lv == c) or (ch == CLOSE_OBJECT and lv == c - 1):
                value = src.text(colon + 1, p).strip()
                try:
                    orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise self.damaged(f"not valid JSON ({value[:40]!r})", colon + 1) from None
                members.member(key, src.text(start, p).rstrip(), scalar=True)
            else:
                raise self.damaged(f"unexpected {chr(ch)!r}", p)
            if ch == COMMA and lv == c:
                sep = p
                src.i += 1
            elif ch == CLOSE_OBJECT and lv == c - 1:
                src.i += 1
                return p + 1
            else:
                raise self.damaged("expected ',' or '}'", p)
            if members.single_record:
                return (yield from self._skip(c - 1))

    def _skip(self, level: int) -> Walk:
        """Skip to the bracket closing at ``level``; returns the position after it."""
        src = self.src
        while True:
            yield from self.need()
            j = src.next_at_or_above(level, src.i)
            if j < src.n:
                if src.ch[j] not in (CLOSE_OBJECT, CLOSE_ARRAY) or src.lvl[j] != level:
                    raise self.damaged(f"unexpected {chr(src.ch[j])!r}", int(src.pos[j]))
                src.i = j + 1
                return int(src.pos[j]) + 1
            src.i = src.n

    # ----------------------------------------------------------------- documents

    def _document(self, open_pos: int) -> Walk:
        """A top-level object: an export, an STA transcript, or one record."""
        line = self.line(open_pos)
        self.pin = open_pos
        doc = _DocMembers(self)
        try:
            end = yield from self._object(open_pos, 1, doc)
        finally:
            self.pin = None
        if doc.mode is None:
            text = self.src.text(open_pos, end)
            if self.first:
                try:
                    value = orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    raise UnknownFormatError(f"{self.path}: not valid JSON ({exc})") from None
                if not is_known_record(value):
                    raise UnknownFormatError(
                        f"{self.path}: JSON but not a notification frame, tutorial event or "
                        f"export, or post-call transcript ({_keys(value)})"
                    )
            self.out.record(text, line)
        else:
            self._document_row(doc, line)
        return end

    def _document_row(self, doc: _DocMembers, line: int) -> None:
        topic = TUTORIAL_EXPORT_TOPIC if doc.mode == "export" else STA_TRANSCRIPT_TOPIC
        if doc.size > MAX_DOCUMENT_ROW_BYTES:
            self.out.reject(
                line,
                f"$: the document outside its streamed elements is over "
                f"{MAX_DOCUMENT_ROW_BYTES >> 20} MiB; its elements were kept, not it",
                b"",
            )
            return
        self.out.imported(topic, b"{" + b",".join(doc.parts) + b"}", line, -1)
        self.deciding = False

    def _element_rows(
        self, topic: str, context: list[bytes], path: Callable[[int], str]
    ) -> Callable[[list[bytes], np.ndarray, int], None]:
        """An ``emit`` for ``_leaf`` that wraps each element with its context.

        Elements are not parsed here: the converter validates every row it stores.
        """
        ctx = b"[" + b",".join(context) + b"]"
        out = self.out
        self.deciding = False

        def emit(texts: list[bytes], lines: np.ndarray, first: int) -> None:
            imported = out.imported
            for k, (text, line) in enumerate(zip(texts, lines.tolist(), strict=True)):
                where = path(first + k)
                if not text:
                    out.reject(line, f"{where}: empty array element (a stray comma?)", b"")
                    continue
                head = b'{"path":"%s","context":%s,"element":' % (where.encode(), ctx)
                imported(topic, head + text + b"}", line, len(head))

        return emit


def _object_text(parts: list[bytes]) -> bytes:
    return b"{" + b",".join(parts) + b"}"


class _Members:
    """What to do with the members of an object being walked (see ``_Parser._object``)."""

    single_record = False

    def container(self, key: str, key_text: bytes, ch: int, pos: int) -> Walk | None:
        """A generator walking this container value (opened at ``pos``), or ``None``."""
        return None

    def member(self, key: str, text: bytes, *, scalar: bool) -> None:
        """A member not streamed: ``text`` is ``"key": value`` as in the file."""


class _DocMembers(_Members):
    """A top-level object: decides its kind, gathers context and the document row."""

    def __init__(self, parser: _Parser) -> None:
        self.p = parser
        self.mode: str | None = None  # None (undecided), "export", "sta"
        self.parts: list[bytes] = []  # the document row's members, in file order
        self.scalars: list[bytes] = []  # scalar members before the streamed array
        self.size = 0
        self.streamed = False

    def member(self, key: str, text: bytes, *, scalar: bool) -> None:
        if self.mode is None and key in _SINGLE_RECORD_KEYS:
            self.single_record = True  # a frame or tutorial event: one record
            return
        self.parts.append(text)
        self.size += len(text)
        if scalar and not self.streamed:
            self.scalars.append(text)

    def container(self, key: str, key_text: bytes, ch: int, pos: int) -> Walk | None:
        if ch != OPEN_ARRAY or self.streamed or self.single_record:
            return None
        if key == "segments" and self.mode is None:
            return self._segments(key_text, pos)
        if key == "transcripts" and self.mode in (None, "sta"):
            return self._transcripts(key_text, pos)
        return None

    def _segments(self, key_text: bytes, pos: int) -> Walk:
        p = self.p
        self.mode = "export"
        self.streamed = True
        p.pin = None
        emit = p._element_rows(
            TUTORIAL_EXPORT_TOPIC, [_object_text(self.scalars)], lambda i: f"$.segments[{i}]"
        )
        end = yield from p._leaf(pos, 2, lambda i: f"$.segments[{i}]", emit)
        self.parts.append(key_text + b":[]")
        return end

    def _transcripts(self, key_text: bytes, pos: int) -> Walk:
        """``transcripts``: each element an object whose ``phrases`` are streamed."""
        p = self.p
        src = p.src
        self.streamed = True
        entries: list[bytes] = []
        sep = pos
        ti = 0
        while True:
            p.where = f"$.transcripts[{ti}]"
            p.keep(sep + 1)
            yield from p.need()
            q, ch, lv = p.tok()
            if ch == CLOSE_ARRAY and lv == 1 and sep == pos and _blank(src.text(sep + 1, q)):
                src.i += 1
                end = q + 1
                break  # []
            if ch == OPEN_OBJECT and lv == 2:
                if not _blank(src.text(sep + 1, q)):
                    raise p.damaged("unexpected text before the value", q)
                src.i += 1
                tr = _TranscriptMembers(self, ti)
                value_end = yield from p._object(q, 3, tr)
                entries.append(_object_text(tr.parts))
                p.keep(value_end)
                yield from p.need()
                q, ch, lv = p.tok()
                if not _blank(src.text(value_end, q)):
                    raise p.damaged("expected ',' or ']' after the value", value_end)
            elif ch == OPEN_ARRAY and lv == 2:
                src.i += 1
                value_end = yield from p._skip(2)
                entries.append(src.text(sep + 1, value_end).strip())
                p.keep(value_end)
                yield from p.need()
                q, ch, lv = p.tok()
            elif (ch == COMMA and lv == 2) or (ch == CLOSE_ARRAY and lv == 1):
                text = src.text(sep + 1, q).strip()
                if not text:
                    raise p.damaged("empty array element (a stray comma?)", q)
                entries.append(text)  # not an object: rejected with the document row
            else:
                raise p.damaged(f"unexpected {chr(ch)!r}", q)
            self.size += len(entries[-1])
            if ch == COMMA and lv == 2:
                sep = q
                src.i += 1
                ti += 1
            elif ch == CLOSE_ARRAY and lv == 1:
                src.i += 1
                end = q + 1
                break
            else:
                raise p.damaged("expected ',' or ']'", q)
        self.parts.append(key_text + b":[" + b",".join(entries) + b"]")
        if self.mode is None:
            self.streamed = False  # no phrases anywhere: not an STA transcript
        return end


class _TranscriptMembers(_Members):
    """One element of an STA document's ``transcripts``: streams its ``phrases``."""

    def __init__(self, doc: _DocMembers, index: int) -> None:
        self.doc = doc
        self.index = index
        self.parts: list[bytes] = []
        self.scalars: list[bytes] = []
        self.streamed = False

    def member(self, key: str, text: bytes, *, scalar: bool) -> None:
        self.parts.append(text)
        if scalar and not self.streamed:
            self.scalars.append(text)

    def container(self, key: str, key_text: bytes, ch: int, pos: int) -> Walk | None:
        if key == "phrases" and ch == OPEN_ARRAY and not self.streamed:
            return self._phrases(key_text, pos)
        return None

    def _phrases(self, key_text: bytes, pos: int) -> Walk:
        doc = self.doc
        p = doc.p
        doc.mode = "sta"
        p.pin = None
        self.streamed = True
        ti = self.index

        def path(i: int) -> str:
            return f"$.transcripts[{ti}].phrases[{i}]"

        context = [_object_text(doc.scalars), _object_text(self.scalars)]
        emit = p._element_rows(STA_TRANSCRIPT_TOPIC, context, path)
        end = yield from p._leaf(pos, 4, path, emit)
        self.parts.append(key_text + b":[]")
        return end


def iter_documents(
    path: Path,
    *,
    scan_bytes: int = SCAN_BYTES,
    batch_bytes: int = BATCH_BYTES,
    record_batch_bytes: int = RECORD_BATCH_BYTES,
) -> Iterator[Batch]:
    """Batches of rows of a file of JSON documents (plain or gzip), in file order.

    Args:
        path: the file.
        scan_bytes: bytes read and scanned at a time (decompressed).
        batch_bytes: verbatim bytes of import rows per batch, about.
        record_batch_bytes: verbatim bytes of records per batch, about.

    Memory stays within about ``scan_bytes`` + one batch + the longest element, whatever
    the file size.

    Raises:
        UnknownFormatError: the file's first value is no format diarkit reads (raised
            before any batch is yielded).
    """
    f = _open(path)

    def read() -> bytes:
        try:
            return f.read(scan_bytes)
        except (EOFError, OSError, zlib.error) as exc:
            raise StreamEnd(str(exc)) from None

    src = TokenStream(read)
    out = _Out(str(path))
    parser = _Parser(src, out, path)
    reported = 0
    try:
        for _ in parser.run():
            limit = record_batch_bytes if out.kind == "records" else batch_bytes
            if not parser.deciding and out.size >= limit:
                batches = out.take(src.consumed - reported)
                reported = src.consumed
                yield from batches
        yield from out.take(src.consumed - reported)
    finally:
        f.close()
