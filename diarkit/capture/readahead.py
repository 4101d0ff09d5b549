"""A websocket-client socket that reads ahead and hands out whole frames in batches.

websocket-client asks its socket for each frame header and payload separately (two to
four ``recv`` calls per frame, each preceded by a ``poll`` when a timeout is set) and
frames them in Python at ~8 us a frame. ``ReadAheadWebSocket`` reads up to 256 KB per
``recv`` syscall and ``recv_batch`` slices every whole, unfragmented data frame out of
that buffer at once, so the capture can spool them all in one ``writev`` before it looks
at any of them. Control frames, fragments and frames split across reads go through
websocket-client's own ``recv_data``; timeouts and errors are websocket-client's.
"""

from __future__ import annotations

from typing import Any

import websocket

_FAST_FIRST = frozenset({0x80 | websocket.ABNF.OPCODE_TEXT, 0x80 | websocket.ABNF.OPCODE_BINARY})


class ReadAheadWebSocket(websocket.WebSocket):
    """``websocket.WebSocket`` with a 256 KB read-ahead buffer and ``recv_batch``."""

    READ_AHEAD = 1 << 18

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._ahead = b""
        self._ahead_pos = 0
        super().__init__(*args, **kwargs)

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
                if end > size:
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

