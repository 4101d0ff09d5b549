"""Spool files: frames in flight, appended verbatim and unbuffered, in batches.

A spool is ``DATASET/_spool/<session>-<start seq>.spool``: one header line, one record
per frame and, once the spool is rolled, an index trailer::

    DIARKIT-SPOOL/1 <session_id> <start_seq>\\n
    <seq> <received_us> <length> <crc32 hex> <source>\\n<frame bytes>\\n
    INDEX <frames> <length> <crc32 hex>\\n<index bytes>\\n

Records go to the OS unbuffered, a batch of frames in one ``writev``, so once
``append_batch`` returns its frames are in the page cache and survive ``kill -9`` of the
process. ``fsync`` is only called by ``sync`` (at roll time or once a second), never per
frame. A torn last record (an OS crash mid-write) is detected by its length and CRC and
reported, never mistaken for a frame. An open spool holds an exclusive ``flock``, so
recovery can tell a live spool of another running capture from one left by a dead
process.

The trailer (``SpoolWriter.seal``) holds where each frame lies, its receive time and its
source, so the converter needs no record-by-record walk (``SpoolIndex.load``) and the
writer keeps no index in memory for spools waiting to be converted. Recovery ignores it
and walks the records with their CRCs (``read_spool``).
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

MAGIC = b"DIARKIT-SPOOL/1"
SUFFIX = ".spool"
TRAILER = b"INDEX "


def spool_name(session_id: str, start_seq: int) -> str:
    """File name of the spool holding ``session_id``'s frames from ``start_seq`` on."""
    return f"{session_id}-{start_seq:012d}{SUFFIX}"


#: At most this many frames per ``writev`` call (three buffers each; Linux IOV_MAX 1024).
_FRAMES_PER_WRITEV = 340


class SpoolWriter:
    """Append-only writer of one spool file; not thread-safe (the recorder locks).

    Besides the file, it keeps an index of what it wrote (frame offsets, receive times,
    sources: 28 bytes a frame) until ``seal`` appends it to the file as the trailer, so
    converting the rolled spool needs no record-by-record walk (``SpoolIndex.load``).

    Raises:
        OSError: from the file system (disk full, permissions); the recorder turns it
            into a ``RecorderError``.
    """

    def __init__(self, path: Path, session_id: str, start_seq: int) -> None:
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
            self._write_all(fd, [header])
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self._close_lock = threading.Lock()
        self.bytes = len(header)
        self._starts = array("q")
        self._ends = array("q")
        self._received = array("q")
        self._source_codes = array("i")
        #: Set by ``seal``: the trailer's place, for the converter.
        self.sealed: SpoolIndex | None = None
        self._source_names: list[str] = []
        self._sources: dict[str, tuple[int, bytes]] = {}

    @staticmethod
    def _write_all(fd: int, buffers: list[bytes]) -> None:
        """``writev`` the buffers, completing a short write (rare: signals, quotas)."""
        written = os.writev(fd, buffers)
        total = sum(map(len, buffers))
        if written < total:
            rest = memoryview(b"".join(buffers))[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]

    def append(self, seq: int, received_us: int, source: str, frame: bytes) -> int:
        """Write one frame record (one syscall, no fsync); return the bytes written."""
        return self.append_batch(seq, received_us, source, [frame])

    def append_batch(
        self, first_seq: int, received_us: int, source: str, frames: Sequence[bytes]
    ) -> int:
        """Write one record per frame, seqs from ``first_seq`` on, in one ``writev``.

        Args:
            first_seq: sequence number of ``frames[0]``; the others follow by one.
            received_us: receive time of all of them, microseconds since the epoch (UTC).
            source: the channel id they came from.
            frames: the frames exactly as received.

        Returns:
            The bytes written. Once this returns, every frame is in the OS (page cache)
            and survives ``kill -9`` of the process.
        """
        fd = self._fd
        if fd is None or self.sealed is not None:
            raise ValueError(f"spool {self.path} is closed or sealed")
        got = self._sources.get(source)
        if got is None:
            got = self._sources[source] = (len(self._source_names), (source or "-").encode())
            self._source_names.append(source)
        code, src = got
        crc32 = zlib.crc32
        starts, ends = self._starts, self._ends
        pos = self.bytes
        seq = first_seq
        buffers: list[bytes] = []
        for frame in frames:
            n = len(frame)
            head = b"%d %d %d %08x %b\n" % (seq, received_us, n, crc32(frame), src)
            pos += len(head)
            starts.append(pos)
            ends.append(pos + n)
            pos += n + 1
            buffers += (head, frame, b"\n")
            seq += 1
        count = len(frames)
        step = 3 * _FRAMES_PER_WRITEV
        try:
            for i in range(0, len(buffers), step):
                self._write_all(fd, buffers[i : i + step])
        except OSError as exc:
            whole = self._partial(exc, fd, count, first_seq)
            self._received.extend([received_us] * whole)
            self._source_codes.extend([code] * whole)
            raise
        self._received.extend([received_us] * count)
        self._source_codes.extend([code] * count)
        written = pos - self.bytes
        self.frames += count
        self.bytes = pos
        self.last_seq = seq - 1
        return written

    def _partial(self, exc: OSError, fd: int, count: int, first_seq: int) -> int:
        """After a failed write: count the batch's records that reached the file whole.

        Sets ``exc.frames_written`` (so the caller reports exactly what is spooled) and
        keeps this writer's counters and index to those records; a torn record after
        them is the recovery's to skip. Returns that count.
        """
        try:
            size = os.fstat(fd).st_size
        except OSError:
            size = self.bytes
        batch_ends = self._ends[len(self._ends) - count :].tolist()
        whole = sum(1 for e in batch_ends if e + 1 <= size)
        exc.frames_written = whole  # type: ignore[attr-defined]
        for arr in (self._starts, self._ends):
            del arr[len(arr) - count + whole :]
        self.frames += whole
        self.last_seq = first_seq + whole - 1
        self.bytes = size
        return whole

    def seal(self) -> SpoolIndex:
        """Append the index trailer, free the in-memory index, and describe the spool.

        No frame may be appended afterwards.

        Raises:
            OSError: the trailer could not be written (the frames stay recoverable).
        """
        fd = self._fd
        if fd is None:
            raise ValueError(f"spool {self.path} is closed")
        blob = b"".join(
            [
                self._starts.tobytes(),
                self._ends.tobytes(),
                self._received.tobytes(),
                self._source_codes.tobytes(),
                orjson.dumps(self._source_names),
            ]
        )
        head = b"%s%d %d %08x\n" % (TRAILER, self.frames, len(blob), zlib.crc32(blob))
        self._write_all(fd, [head, blob, b"\n"])
        index = SpoolIndex(
            self.path, self.session_id, self.start_seq, self.bytes, self.bytes + len(head)
        )
        self.bytes += len(head) + len(blob) + 1
        self.sealed = index
        for arr in (self._starts, self._ends, self._received, self._source_codes):
            del arr[:]
        return index

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
    """The complete records of a spool: its bytes and where each frame lies in them.

    Frame ``i`` is ``data[starts[i]:ends[i]]`` and is followed by a newline in ``data``;
    ``problem`` describes damage (``skipped`` the byte ranges of the records lost to it).
    """

    path: Path
    session_id: str
    start_seq: int
    data: bytes
    starts: np.ndarray  # int64 byte offsets
    ends: np.ndarray
    seqs: np.ndarray  # int64
    received_us: np.ndarray  # int64, microseconds since the epoch (UTC)
    source_codes: np.ndarray  # int32 index into source_names
    source_names: list[str]
    problem: str | None = None
    #: Byte ranges ``(start, stop)`` of damaged records skipped by ``read_spool``.
    skipped: list[tuple[int, int]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every byte was an intact record (nothing damaged, nothing skipped)."""
        return self.problem is None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def frames(self) -> list[bytes]:
        """The frames as bytes objects (a copy; the converter slices ``data`` instead)."""
        data = self.data
        return [data[s:e] for s, e in zip(self.starts.tolist(), self.ends.tolist(), strict=True)]

    @property
    def sources(self) -> list[str]:
        """The channel id of each frame ("" when none)."""
        names = self.source_names
        return [names[c] for c in self.source_codes.tolist()]


@dataclass(frozen=True, slots=True)
class SpoolIndex:
    """A sealed spool: where its trailer starts (picklable: sent to the roller process)."""

    path: Path
    session_id: str
    start_seq: int
    trailer_at: int  # byte offset of the ``INDEX`` line
    blob_at: int  # byte offset of the index bytes

    def load(self) -> SpoolContents:
        """Read the spool back through its trailer (no walk, no CRC pass over the records).

        The trailer is checked (its CRC, its length, every frame ending at a record's
        newline, the header); if anything is off the file is read record by record with
        ``read_spool``, which is the authority.
        """
        with open(self.path, "rb") as f:
            data = f.read()
        got = self._decode(data)
        return got if got is not None else read_spool(self.path)

    def _decode(self, data: bytes) -> SpoolContents | None:
        header = b"%s %s %d\n" % (MAGIC, self.session_id.encode(), self.start_seq)
        line = data[self.trailer_at : self.blob_at].split(b" ")
        if not data.startswith(header) or len(line) != 4 or line[0] + b" " != TRAILER:
            return None
        try:
            n, size, crc = int(line[1]), int(line[2]), int(line[3], 16)
        except ValueError:
            return None
        blob = memoryview(data)[self.blob_at : self.blob_at + size]
        if len(blob) != size or 28 * n > size or zlib.crc32(blob) != crc:
            return None
        arrays = [
            np.frombuffer(blob, dtype=np.int64, count=n, offset=8 * n * k) for k in range(3)
        ]
        codes = np.frombuffer(blob, dtype=np.int32, count=n, offset=24 * n)
        try:
            names = orjson.loads(blob[28 * n :])
        except orjson.JSONDecodeError:
            return None
        starts, ends, received = arrays
        if n and (
            int(ends[-1]) >= self.trailer_at
            or not (np.frombuffer(data, np.uint8)[ends] == 10).all()
            or int(codes.max()) >= len(names)
        ):
            return None
        return SpoolContents(
            self.path,
            self.session_id,
            self.start_seq,
            data,
            starts,
            ends,
            np.arange(self.start_seq, self.start_seq + n, dtype=np.int64),
            received,
            codes,
            names,
        )


class SpoolFormatError(ValueError):
    """The file is not a diarkit spool (bad header); the message names the file."""


def _record_at(data: bytes, pos: int) -> tuple[int, int, int, int, bytes, int] | None:
    """The record whose header starts at ``pos``, if it is whole and its CRC matches.

    Returns ``(seq, received_us, start, stop, source, next_pos)``: the frame is
    ``data[start:stop]`` and the next record starts at ``next_pos``.
    """
    nl = data.find(b"\n", pos, pos + 512)  # a header is short: seq, time, length, crc, id
    if nl < 0:
        return None
    fields = data[pos:nl].split(b" ", 4)
    if len(fields) != 5:
        return None
    try:
        seq, rec_us, length = int(fields[0]), int(fields[1]), int(fields[2])
        crc = int(fields[3], 16)
    except ValueError:
        return None
    if length < 0 or not fields[0].isdigit() or len(fields[3]) != 8:
        return None
    start = nl + 1
    stop = start + length
    if stop >= len(data) or data[stop] != 10:  # the record's closing newline
        return None
    if zlib.crc32(memoryview(data)[start:stop]) != crc:
        return None
    return seq, rec_us, start, stop, fields[4], stop + 1


def _why(data: bytes, pos: int, record: int) -> str:
    """Why the record at ``pos`` is not whole (for the problem message)."""
    nl = data.find(b"\n", pos)
    fields = data[pos:nl].split(b" ", 4) if nl >= 0 else []
    try:
        seq, length = int(fields[0]), int(fields[2])
        int(fields[3], 16)
    except (IndexError, ValueError):
        return f"record {record} at byte {pos}: torn or corrupt header"
    stop = nl + 1 + length
    if stop >= len(data) or data[stop] != 10:
        return f"record {record} (seq {seq}) at byte {pos}: torn frame"
    return f"record {record} (seq {seq}) at byte {pos}: CRC mismatch"


def read_spool(path: Path) -> SpoolContents:
    """Read every intact record of a spool, checking each CRC.

    A damaged record (torn, zeroed, a flipped byte: what an OS crash with out-of-order
    writeback leaves) does not end the read: the reader resynchronises on the next
    record whose header, length, closing newline and CRC all check out, so every intact
    record after the damage is kept too. ``problem`` names the first damage and
    ``skipped`` lists every damaged byte range; a spool with a problem was not fully
    recovered.

    Raises:
        SpoolFormatError: the header is missing or malformed.
    """
    data = path.read_bytes()
    nl = data.find(b"\n")
    header = data[:nl].split(b" ") if nl >= 0 else []
    if len(header) != 3 or header[0] != MAGIC or not header[2].isdigit():
        raise SpoolFormatError(f"{path}: not a diarkit spool (bad header {data[:60]!r})")
    starts, ends, seqs, received, codes = (array("q") for _ in range(5))
    names: dict[bytes, int] = {}
    source_names: list[str] = []
    problems: list[str] = []
    skipped: list[tuple[int, int]] = []
    pos = nl + 1
    end = len(data)
    record = 0
    while pos < end:
        if data.startswith(TRAILER, pos):
            break  # the index trailer of a rolled spool: every record is read
        record += 1
        got = _record_at(data, pos)
        code: int | None = None
        if got is not None:
            try:
                src = got[4]
                code = names.get(src)
                if code is None:
                    source_names.append("" if src == b"-" else src.decode())
                    code = names[src] = len(source_names) - 1
            except UnicodeDecodeError:
                got = None
        if got is None or code is None:
            problems.append(_why(data, pos, record))
            resume = _resync(data, pos + 1)
            skipped.append((pos, resume))
            pos = resume
            continue
        seq, rec_us, start, stop, _src, pos = got
        starts.append(start)
        ends.append(stop)
        seqs.append(seq)
        received.append(rec_us)
        codes.append(code)

    problem = None
    if problems:
        lost = sum(b - a for a, b in skipped)
        problem = (
            f"{path}: {problems[0]}; {len(skipped)} damaged range(s), {lost} byte(s) "
            f"skipped, {len(starts)} intact record(s) kept"
        )
    return SpoolContents(
        path,
        header[1].decode(),
        int(header[2]),
        data,
        np.array(starts, dtype=np.int64),
        np.array(ends, dtype=np.int64),
        np.array(seqs, dtype=np.int64),
        np.array(received, dtype=np.int64),
        np.array(codes, dtype=np.int32),
        source_names,
        problem,
        skipped,
    )


def _resync(data: bytes, pos: int) -> int:
    """Where the next intact record (or the trailer) after damage at ``pos`` starts.

    Candidates are the bytes after each newline; the CRC decides. Returns ``len(data)``
    when none is left.
    """
    end = len(data)
    while pos < end:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return end
        pos = nl + 1
        if data.startswith(TRAILER, pos) or _record_at(data, pos) is not None:
            return pos
    return end


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
