"""A websocket-client socket that reads ahead and hands out whole frames in batches.

websocket-client asks its socket for each frame header and payload separately (two to
four ``recv`` calls per frame, each preceded by a ``poll`` when a timeout is set) and
frames them in Python at ~8 us a frame. ``ReadAheadWebSocket`` reads up to 256 KB per
``recv`` syscall and ``recv_batch`` slices every whole, unfragmented data frame out of
that buffer at once, so the capture can spool them all in one ``writev`` before it looks
at any of them. Control frames, fragments and frames split across reads go through
websocket-client's own ``recv_data``; timeouts and errors are websocket-client's.

Frames are capped at ``max_frame_bytes``: a larger payload is never held whole. Its first
``max_frame_bytes`` are kept and the rest is read and thrown away in 64 KB pieces (a
fragmented message is capped the same way); ``pop_truncated`` then tells the caller the
size the frame really had.
"""

from __future__ import annotations

from typing import Any

import websocket
from websocket._abnf import continuous_frame, frame_buffer

_FAST_FIRST = frozenset({0x80 | websocket.ABNF.OPCODE_TEXT, 0x80 | websocket.ABNF.OPCODE_BINARY})


class _CappedFrameBuffer(frame_buffer):
    """websocket-client's frame reader, keeping at most ``limit`` bytes of a payload.

    The discard of an oversized payload survives socket timeouts (its progress is kept
    between calls), as websocket-client's own partial reads do.
    """

    def __init__(self, recv_fn: Any, skip_utf8_validation: bool, limit: int,
                 truncated: list[int]) -> None:
        super().__init__(recv_fn, skip_utf8_validation)
        self.limit = limit
        self.truncated = truncated
        self._kept: bytes | None = None
        self._discard = 0

    def recv_strict(self, bufsize: int) -> bytes:
        if bufsize <= self.limit or self.length is None or bufsize != self.length:
            return super().recv_strict(bufsize)  # headers, lengths, masks, small payloads
        if self._kept is None:
            self._kept = super().recv_strict(self.limit)
            self._discard = bufsize - self.limit
        while self._discard > 0:
            if self.recv_buffer:
                buf = b"".join(self.recv_buffer)
                take = min(len(buf), self._discard)
                self.recv_buffer = [buf[take:]] if take < len(buf) else []
                self._discard -= take
                continue
            chunk = self.recv(min(1 << 16, self._discard))
            if not chunk:
                raise websocket.WebSocketConnectionClosedException("closed in a frame")
            self._discard -= len(chunk)
        kept, self._kept = self._kept, None
        self.truncated.append(bufsize)
        return kept


class _CappedContinuousFrame(continuous_frame):
    """Reassembles fragmented messages, keeping at most ``limit`` bytes of each."""

    def __init__(self, fire: bool, skip_utf8_validation: bool, limit: int,
                 truncated: list[int]) -> None:
        super().__init__(fire, skip_utf8_validation)
        self.limit = limit
        self.truncated = truncated
        self._total = 0

    def add(self, frame: Any) -> None:
        self._total += len(frame.data)
        super().add(frame)
        data = self.cont_data
        if data is not None and len(data[1]) > self.limit:
            data[1] = data[1][: self.limit]
        if frame.fin:
            if self._total > self.limit:
                self.truncated.append(self._total)
            self._total = 0


class ReadAheadWebSocket(websocket.WebSocket):
    """``websocket.WebSocket`` with a 256 KB read-ahead buffer, ``recv_batch``, a frame cap.

    Args:
        max_frame_bytes: payload bytes kept of one message (None: no cap).
    """

    READ_AHEAD = 1 << 18

    def __init__(self, *args: Any, max_frame_bytes: int | None = None, **kwargs: Any) -> None:
        self._ahead = b""
        self._ahead_pos = 0
        super().__init__(*args, **kwargs)
        self.max_frame_bytes = max_frame_bytes
        self._truncated: list[int] = []
        if max_frame_bytes is not None:
            skip = kwargs.get("skip_utf8_validation", False)
            self.frame_buffer = _CappedFrameBuffer(self._recv, skip, max_frame_bytes,
                                                   self._truncated)
            self.cont_frame = _CappedContinuousFrame(kwargs.get("fire_cont_frame", False),
                                                     skip, max_frame_bytes, self._truncated)

    def pop_truncated(self) -> list[int]:
        """Real sizes (bytes) of the frames truncated since the last call."""
        if not self._truncated:
            return []
        out = list(self._truncated)
        self._truncated.clear()
        return out

    def _fast_path_open(self) -> bool:
        """True when websocket-client holds no partial frame (its state is ours to skip)."""
        return (
            self.frame_buffer.header is None
            and not self.frame_buffer.recv_buffer
            and not self.cont_frame.recving_frames
        )

    def recv_batch(self) -> list[tuple[int, bytes]]:
        """Every whole data frame now buffered, as (opcode, payload); at least one frame.

        Reads from the socket only when the buffer is empty. When the next frame is not a
        whole unfragmented text or binary frame, returns ``[recv_data()]``.

        Raises:
            websocket.WebSocketTimeoutException: no data within the socket's timeout.
            websocket.WebSocketConnectionClosedException: as ``recv_data``.
        """
        buf = self._ahead
        pos = self._ahead_pos
        if pos >= len(buf):
            buf = super()._recv(self.READ_AHEAD)
            pos = 0
            self._ahead = buf
            self._ahead_pos = 0
        out: list[tuple[int, bytes]] = []
        limit = self.max_frame_bytes if self.max_frame_bytes is not None else 1 << 62
        if self._fast_path_open():
            size = len(buf)
            while size - pos >= 2:
                first = buf[pos]
                length = buf[pos + 1]
                if first not in _FAST_FIRST or length >= 0x80:  # other kind, or masked
                    break
                head = 2
                if length == 126:
                    head = 4
                    if size - pos < 4:
                        break
                    length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                elif length == 127:
                    head = 10
                    if size - pos < 10:
                        break
                    length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                end = pos + head + length
                if end > size or length > limit:
                    break  # split across reads: websocket-client reassembles it
                out.append((first & 0x0F, buf[pos + head : end]))
                pos = end
            self._ahead_pos = pos
        return out or [self.recv_data()]

    def _recv(self, bufsize: int) -> bytes:
        buf = self._ahead
        pos = self._ahead_pos
        if pos >= len(buf):
            buf = super()._recv(max(bufsize, self.READ_AHEAD))
            if len(buf) <= bufsize:
                self._ahead = b""
                self._ahead_pos = 0
                return buf
            pos = 0
        end = pos + bufsize
        out = buf[pos:end]
        self._ahead = buf
        self._ahead_pos = end
        return out

