"""Spool files: frames in flight, appended verbatim and flushed one ``write`` each.

A spool is ``DATASET/_spool/<session>-<start seq>.spool``: one header line, then one
record per frame::

    DIARKIT-SPOOL/1 <session_id> <start_seq>\\n
    <seq> <received_us> <length> <crc32 hex> <source>\\n<frame bytes>\\n

Each record goes to the OS in a single unbuffered ``write``, so once ``append`` returns
the frame is in the page cache and survives ``kill -9`` of the process. ``fsync`` is
only called by ``sync`` (at roll time or once a second), never per frame. A torn last
record (an OS crash mid-write) is detected by its length and CRC and reported, never
mistaken for a frame. An open spool holds an exclusive ``flock``, so recovery can tell
a live spool of another running capture from one left by a dead process.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"DIARKIT-SPOOL/1"
SUFFIX = ".spool"


def spool_name(session_id: str, start_seq: int) -> str:
    """File name of the spool holding ``session_id``'s frames from ``start_seq`` on."""
    return f"{session_id}-{start_seq:012d}{SUFFIX}"


class SpoolWriter:
    """Append-only writer of one spool file; not thread-safe (the recorder locks).

    Raises:
        OSError: from the file system (disk full, permissions); the recorder turns it
            into a ``RecorderError``.
    """

    def __init__(
        self, path: Path, session_id: str, start_seq: int, *, keep_memory: bool = True
    ) -> None:
        self.path = path
        self.session_id = session_id
        self.start_seq = start_seq
        self.frames = 0
        self.bytes = 0
        self.last_seq = start_seq - 1
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = b"%s %s %d\n" % (MAGIC, session_id.encode(), start_seq)
            self._write_all(fd, header)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self._close_lock = threading.Lock()
        self.bytes = len(header)
        #: What was written, kept in memory so the converter need not read it back
        #: (``None`` once dropped by ``forget``; the file stays the source of truth).
        self.memory: SpoolContents | None = (
            SpoolContents(path, session_id, start_seq) if keep_memory else None
        )
        self._sources: dict[str, bytes] = {}

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]

    def append(self, seq: int, received_us: int, source: str, frame: bytes) -> int:
        """Write one frame record (one syscall, no fsync); return the bytes written."""
        fd = self._fd
        if fd is None:
            raise ValueError(f"spool {self.path} is closed")
        src = self._sources.get(source)
        if src is None:
            src = self._sources[source] = (source or "-").encode()
        record = b"%d %d %d %08x %b\n%b\n" % (
            seq,
            received_us,
            len(frame),
            zlib.crc32(frame),
            src,
            frame,
        )
        written = os.write(fd, record)  # one syscall: in the OS before the next recv
        if written != len(record):  # short write: rare (signals, quotas)
            self._write_all(fd, record[written:])
        mem = self.memory
        if mem is not None:
            mem.seqs.append(seq)
            mem.received_us.append(received_us)
            mem.sources.append(source)
            mem.frames.append(frame)
        self.frames += 1
        self.bytes += len(record)
        self.last_seq = seq
        return len(record)

    def forget(self) -> None:
        """Drop the in-memory copy (bounded memory when conversion falls behind)."""
        self.memory = None

    def sync(self) -> None:
        """fsync the spool: survive an OS crash or power loss, not just a process kill.

        Safe to call from another thread than ``append`` (never races with ``close``).
        """
        with self._close_lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        """fsync and close (releases the lock); a second call does nothing."""
        with self._close_lock:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                finally:
                    os.close(self._fd)
                    self._fd = None


@dataclass(slots=True)
class SpoolContents:
    """Frames read back from a spool, in file order; ``problem`` describes a torn tail."""

    path: Path
    session_id: str
    start_seq: int
    seqs: list[int] = field(default_factory=list)
    received_us: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    problem: str | None = None


class SpoolFormatError(ValueError):
    """The file is not a diarkit spool (bad header); the message names the file."""


def read_spool(path: Path) -> SpoolContents:
    """Read every complete record of a spool; a torn or corrupt tail stops the read.

    Raises:
        SpoolFormatError: the header is missing or malformed.
    """
    data = path.read_bytes()
    nl = data.find(b"\n")
    header = data[:nl].split(b" ") if nl >= 0 else []
    if len(header) != 3 or header[0] != MAGIC or not header[2].isdigit():
        raise SpoolFormatError(f"{path}: not a diarkit spool (bad header {data[:60]!r})")
    out = SpoolContents(path, header[1].decode(), int(header[2]))
    seqs, received, sources, frames = out.seqs, out.received_us, out.sources, out.frames
    find = data.find
    crc32 = zlib.crc32
    names: dict[bytes, str] = {b"-": ""}
    pos = nl + 1
    end = len(data)
    record = 0
    while pos < end:
        record += 1
        nl = find(b"\n", pos)
        try:
            if nl < 0:
                raise ValueError
            f_seq, f_us, f_len, f_crc, f_src = data[pos:nl].split(b" ", 4)
            seq, rec_us, length, crc = int(f_seq), int(f_us), int(f_len), int(f_crc, 16)
            source = names.get(f_src)
            if source is None:
                source = names[f_src] = f_src.decode()
        except (ValueError, UnicodeDecodeError):
            out.problem = f"{path}: record {record} at byte {pos}: torn or corrupt header"
            break
        start = nl + 1
        stop = start + length
        if stop >= end or data[stop] != 10:  # the record's closing newline
            out.problem = f"{path}: record {record} (seq {seq}) at byte {pos}: torn frame"
            break
        frame = data[start:stop]
        if crc32(frame) != crc:
            out.problem = f"{path}: record {record} (seq {seq}) at byte {pos}: CRC mismatch"
            break
        seqs.append(seq)
        received.append(rec_us)
        sources.append(source)
        frames.append(frame)
        pos = stop + 1
    return out


def is_locked(path: Path) -> bool:
    """True when a live process holds the spool open for writing (its ``flock``)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
