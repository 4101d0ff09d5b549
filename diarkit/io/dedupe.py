"""Dedupe sets of a conversion: which ``frame_hash`` values a dataset (or run) holds.

Keys are the 16-byte blake2b digests of the frames (``raw.frame_digests``) held as
(N, 2) uint64 arrays, sorted, so a dataset of millions of frames costs 16 bytes a frame
and no Python object per frame.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .dataset import list_parts

_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_NIBBLE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_NIBBLE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def hash_keys(hashes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``frame_hash`` hex strings as an (N, 2) uint64 array (vectorised; 16 bytes each).

    Rows whose hash is null or malformed get a key derived from nothing (all ones), which
    matches no real digest.
    """
    if isinstance(hashes, pa.ChunkedArray):
        hashes = hashes.combine_chunks() if hashes.num_chunks else pa.array([], pa.string())
    n = len(hashes)
    if n == 0:
        return np.zeros((0, 2), dtype=np.uint64)
    lengths = pc.fill_null(pc.binary_length(hashes), 0).to_numpy(zero_copy_only=False)
    if hashes.null_count or not (lengths == 32).all():
        fixed = [h if h and len(h) == 32 else "f" * 32 for h in hashes.to_pylist()]
        hashes = pa.array(fixed, pa.string())
    offsets = np.frombuffer(hashes.buffers()[1], dtype=np.int32)[hashes.offset :]
    start = int(offsets[0])
    text = np.frombuffer(hashes.buffers()[2], dtype=np.uint8)[start : start + 32 * n]
    nib = _NIBBLE[text].reshape(n, 16, 2)
    if (nib == 255).any():
        nib = np.where(nib == 255, 15, nib)
    digest = (nib[:, :, 0] << 4 | nib[:, :, 1]).astype(np.uint8)
    return np.ascontiguousarray(digest).view(np.uint64).reshape(n, 2)


def digest_keys(digests: Sequence[bytes]) -> np.ndarray:
    """16-byte digests as an (N, 2) uint64 array, comparable with ``hash_keys``."""
    if not digests:
        return np.zeros((0, 2), dtype=np.uint64)
    return np.frombuffer(b"".join(digests), dtype=np.uint64).reshape(-1, 2)


class KnownHashes:
    """Frame hashes already in a dataset: sorted 16-byte keys (16 bytes per frame)."""

    def __init__(self, keys: np.ndarray) -> None:
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        self.hi = np.ascontiguousarray(keys[order, 0])
        self.lo = np.ascontiguousarray(keys[order, 1])

    @classmethod
    def of_dataset(cls, dataset: Path) -> KnownHashes:
        """Read the ``frame_hash`` column of every raw part of ``dataset``."""
        cols = [pq.read_table(p, columns=["frame_hash"]).column(0) for p in list_parts(dataset)]
        keys = [hash_keys(c) for c in cols]
        return cls(np.concatenate(keys) if keys else np.zeros((0, 2), dtype=np.uint64))

    def __len__(self) -> int:
        return len(self.hi)

    def merged(self, other: KnownHashes) -> KnownHashes:
        """Both sets of keys as one (sorted by ``hi``; one copy of each, no re-sort)."""
        at = np.searchsorted(self.hi, other.hi)
        out = KnownHashes.__new__(KnownHashes)
        out.hi = np.insert(self.hi, at, other.hi)
        out.lo = np.insert(self.lo, at, other.lo)
        return out

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Bool mask: which of ``keys`` (N, 2) are known."""
        out = np.zeros(len(keys), dtype=bool)
        if len(self.hi) == 0 or len(keys) == 0:
            return out
        pos = np.searchsorted(self.hi, keys[:, 0])
        clipped = np.minimum(pos, len(self.hi) - 1)
        for i in np.flatnonzero(self.hi[clipped] == keys[:, 0]):  # rare but for true repeats
            j = int(pos[i])
            while j < len(self.hi) and self.hi[j] == keys[i, 0]:
                if self.lo[j] == keys[i, 1]:
                    out[i] = True
                    break
                j += 1
        return out


class SeenHashes:
    """What a run must not store again: the dataset's hashes plus those this run claimed.

    Claimed hashes are kept as sorted 16-byte keys in a few levels merged as they grow
    (16 bytes per record, no Python object per record). ``claim`` is atomic, so threads
    converting different files never both store one frame.
    """

    def __init__(self, known: KnownHashes | None = None) -> None:
        self.known = known
        self._levels: list[KnownHashes] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(map(len, self._levels))

    def claim(self, keys: np.ndarray) -> np.ndarray:
        """Bool mask of ``keys`` (N, 2) not seen before, first occurrences only; records them."""
        keep = np.ones(len(keys), dtype=bool)
        if not len(keys):
            return keep
        if self.known is not None and len(self.known):
            keep &= ~self.known.contains(keys)
        _, first = np.unique(
            np.ascontiguousarray(keys).view(np.dtype((np.void, 16))).ravel(), return_index=True
        )
        once = np.zeros(len(keys), dtype=bool)
        once[first] = True
        keep &= once
        with self._lock:
            for level in self._levels:
                idx = np.flatnonzero(keep)
                if not len(idx):
                    break
                keep[idx[level.contains(keys[idx])]] = False
            if keep.any():
                self._levels.append(KnownHashes(keys[keep]))
                while len(self._levels) > 1 and len(self._levels[-2]) <= 2 * len(self._levels[-1]):
                    top = self._levels.pop()
                    self._levels[-1] = self._levels[-1].merged(top)
        return keep
