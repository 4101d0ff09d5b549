"""Incremental JSON structure scanner: structural tokens and byte spans, chunk by chunk.

Streaming parsers (json, orjson, ijson, json-stream) hand out decoded values, not the
bytes they came from; diarkit's raw table keeps verbatim text, so the document readers
cut elements out of the file by byte position instead. This module finds those
positions without holding the whole file:

* ``tokenize`` scans one chunk, vectorised with numpy, carrying the string / escape /
  depth state across chunks in a ``ScanState``; it returns every structural byte
  (``{ } [ ] , :``) outside strings with its absolute position and nesting level;
* ``TokenStream`` reads a file in chunks through a ``read`` callable, tokenizes each
  chunk once, and keeps only the bytes from ``keep`` on (what the caller may still
  need), so memory is one chunk plus the longest pending span.

Levels: a token's ``lvl`` is the number of containers open around it, not counting the
container a bracket opens or closes. The opening and closing bracket of a container
share one level; its direct commas and colons are one level deeper.

Only structure is checked here; the text of every span is validated by a JSON parser
where it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_QUOTE = 0x22
_BACKSLASH = 0x5C
_NEWLINE = 0x0A
COMMA = 0x2C
COLON = 0x3A
OPEN_OBJECT = 0x7B
CLOSE_OBJECT = 0x7D
OPEN_ARRAY = 0x5B
CLOSE_ARRAY = 0x5D

_STRUCTURAL = np.zeros(256, dtype=bool)
_STRUCTURAL[np.frombuffer(b"{}[],:", np.uint8)] = True
_DELTA = np.zeros(256, dtype=np.int64)
_DELTA[[OPEN_OBJECT, OPEN_ARRAY]] = 1
_DELTA[[CLOSE_OBJECT, CLOSE_ARRAY]] = -1


@dataclass(slots=True)
class ScanState:
    """What the scan knows at a chunk boundary.

    Attributes:
        offset: absolute position (bytes) of the next chunk's first byte.
        depth: containers open at that point.
        in_string: the boundary lies inside a JSON string.
        escaped: the next chunk's first byte is escaped (follows a lone backslash).
    """

    offset: int = 0
    depth: int = 0
    in_string: bool = False
    escaped: bool = False


def _backslash_run(a: np.ndarray, end: int, escaped_start: bool) -> int:
    """Backslashes that count as escapes, immediately before index ``end`` of ``a``."""
    r = end - 1
    while r >= 0 and a[r] == _BACKSLASH:
        r -= 1
    run = end - 1 - r
    if r < 0 and escaped_start:  # the chunk's first backslash is itself escaped
        run -= 1
    return run


def _escaped(a: np.ndarray, at: np.ndarray, escaped_start: bool) -> np.ndarray:
    """Bool mask: which bytes at indices ``at`` follow an odd run of backslashes.

    Vectorised: backslash runs are found once per chunk. ``escaped_start`` says the
    chunk's first byte is escaped by a backslash that ended the previous chunk.
    """
    out = np.zeros(len(at), dtype=bool)
    if escaped_start and len(at) and at[0] == 0:
        out[0] = True
    prev = at - 1
    cand = np.flatnonzero(prev >= 0)
    cand = cand[a[prev[cand]] == _BACKSLASH]
    if not len(cand):
        return out
    bs = np.flatnonzero(a == _BACKSLASH)
    run_start = bs[np.r_[True, np.diff(bs) != 1]]
    k = np.searchsorted(run_start, prev[cand], side="right") - 1
    run = at[cand] - run_start[k]
    if escaped_start:
        run -= run_start[k] == 0  # that first backslash is itself escaped
    out[cand] |= (run & 1).astype(bool)
    return out


def tokenize(chunk: bytes, state: ScanState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structural tokens of ``chunk`` outside strings; advances ``state`` past it.

    Args:
        chunk: the next bytes of the stream.
        state: the scan state at the start of ``chunk`` (updated in place).

    Returns:
        ``(pos, ch, lvl)``: absolute positions (bytes, int64), the token bytes (uint8)
        and their nesting levels (int64, see the module docstring), in order.
    """
    a = np.frombuffer(chunk, dtype=np.uint8)
    n = len(a)
    quotes = np.flatnonzero(a == _QUOTE)
    if len(quotes):
        quotes = quotes[~_escaped(a, quotes, state.escaped)]
    start_in = int(state.in_string)
    cand = np.flatnonzero(_STRUCTURAL[a])
    if len(quotes) and len(cand):
        inside = (np.searchsorted(quotes, cand) + start_in) & 1
        cand = cand[inside == 0]
    elif start_in:
        cand = cand[:0]
    ch = a[cand]
    delta = _DELTA[ch]
    after = np.cumsum(delta) + state.depth
    lvl = after - np.maximum(delta, 0)
    end_in = bool((start_in + len(quotes)) & 1)
    run = _backslash_run(a, n, state.escaped) if n and a[n - 1] == _BACKSLASH else 0
    state.escaped = end_in and run % 2 == 1
    state.in_string = end_in
    if len(after):
        state.depth = int(after[-1])
    pos = cand.astype(np.int64) + state.offset
    state.offset += n
    return pos, ch, lvl


class StreamEnd(Exception):
    """The stream has no more bytes (``problem`` says why when it ended early)."""

    def __init__(self, problem: str | None = None) -> None:
        super().__init__(problem or "end of input")
        self.problem = problem


class TokenStream:
    """Tokens of a byte stream read chunk by chunk, and the bytes still needed.

    The caller walks the tokens of the current chunk (``pos``/``ch``/``lvl``, cursor
    ``i``), sets ``keep`` to the earliest absolute position it still needs, and calls
    ``fill`` for the next chunk. Bytes before ``keep`` are dropped at the next fill.

    Args:
        read: returns the next bytes, ``b""`` at the end; may raise ``StreamEnd`` with
            the reason the input ended early (a truncated gzip).
    """

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._read = read
        self._state = ScanState()
        self.buf = b""
        self.base = 0
        self.keep = 0
        self.pos = np.zeros(0, np.int64)
        self.ch = np.zeros(0, np.uint8)
        self.lvl = np.zeros(0, np.int64)
        self.i = 0
        self.n = 0
        self.consumed = 0  # bytes read so far
        self.problem: str | None = None
        self._lines: list[tuple[int, int, np.ndarray]] = []  # (start, first line, newlines)
        self._next_line = 1
        self._le: dict[int, np.ndarray] = {}
        self._commas: dict[int, np.ndarray] = {}
        self._ended = False

    @property
    def end(self) -> int:
        """Absolute position just after the last byte read."""
        return self._state.offset

    def fill(self) -> None:
        """Read and tokenize the next chunk.

        Raises:
            StreamEnd: there is none (``problem`` set when the input was damaged).
        """
        if self._ended:
            raise StreamEnd(self.problem)
        try:
            piece = self._read()
        except StreamEnd as exc:
            self.problem = exc.problem
            piece = b""
        if not piece:
            self._ended = True
            raise StreamEnd(self.problem)
        cut = max(0, min(self.keep, self.end) - self.base)
        self.buf = self.buf[cut:] + piece if cut < len(self.buf) else piece
        self.base = self.end - (len(self.buf) - len(piece))
        while len(self._lines) > 1 and self._lines[1][0] <= self.base:
            self._lines.pop(0)
        start = self.end
        newlines = np.flatnonzero(np.frombuffer(piece, np.uint8) == _NEWLINE) + start
        self._lines.append((start, self._next_line, newlines))
        self._next_line += len(newlines)
        self.pos, self.ch, self.lvl = tokenize(piece, self._state)
        self.consumed += len(piece)
        self.i = 0
        self.n = len(self.pos)
        self._le.clear()
        self._commas.clear()

    def text(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` (absolute positions; ``start`` >= ``base``)."""
        if start < self.base:
            raise AssertionError(f"bytes at {start} were dropped (kept from {self.base})")
        return self.buf[start - self.base : stop - self.base]

    def line_of(self, positions: np.ndarray) -> np.ndarray:
        """1-based line numbers of absolute positions (still held), vectorised."""
        out = np.empty(len(positions), dtype=np.int64)
        if not len(positions):
            return out
        starts = np.array([rec[0] for rec in self._lines], dtype=np.int64)
        which = np.searchsorted(starts, positions, side="right") - 1
        for k in np.unique(which):
            _, first, newlines = self._lines[max(int(k), 0)]
            sel = which == k
            out[sel] = first + np.searchsorted(newlines, positions[sel])
        return out

    def next_at_or_above(self, level: int, start: int) -> int:
        """Index of the first token at or after ``start`` with ``lvl <= level``; ``n`` if none."""
        idx = self._le.get(level)
        if idx is None:
            idx = self._le[level] = np.flatnonzero(self.lvl <= level)
        k = int(np.searchsorted(idx, start))
        return int(idx[k]) if k < len(idx) else self.n

    def commas(self, level: int, start: int, stop: int) -> np.ndarray:
        """Indices in ``[start, stop)`` of commas at ``level``."""
        idx = self._commas.get(level)
        if idx is None:
            idx = self._commas[level] = np.flatnonzero((self.lvl == level) & (self.ch == COMMA))
        a, b = np.searchsorted(idx, [start, stop])
        return idx[a:b]
