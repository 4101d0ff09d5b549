"""Read Amazon EventBridge events from Kinesis Data Firehose objects and archive exports.

Firehose writes the events an EventBridge rule sends it into S3 objects under
``YYYY/MM/DD/HH/`` prefixes: each object holds EventBridge envelopes concatenated with
no delimiter (Firehose's default), or one per line (with a newline-appending processor),
gzip-compressed or plain. Events re-sent by an archive replay are the same envelopes
with a ``replay-name`` member. This reader handles all of these, on disk or (through
fsspec) anywhere a path can point.

Each event becomes one notification frame: the ``detail`` value's text verbatim
(:func:`diarkit.genesys.eventbridge.parse_envelope`), so converting it gives the same raw
rows and segments as the same frames captured over the WebSocket. A damaged record is
quarantined with its line and reason; reading resumes at the next envelope. Duplicates:
an event whose ``id`` was already read in the same object with the same ``detail`` is
passed on (``convert``'s frame-hash dedupe counts and drops it, also across objects);
the same ``id`` with a different ``detail`` (a re-serialised copy) is dropped here.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from diarkit.genesys.eventbridge import BadRecord, iter_envelopes

from .readers import CHUNK_BYTES, Batch, GzipStream, Rejected, _open

#: Format name returned by format detection for EventBridge event files.
FORMAT = "eventbridge"
#: An envelope as EventBridge serialises it: ``{"version":"0","id":...,"detail-type"``.
_HEAD = re.compile(rb'\s*\{\s*"version"\s*:\s*"0"\s*,\s*"id"\s*:\s*"[^"]*"\s*,\s*"detail-type"\s*:')
_ANY_ORDER = (b'"detail-type"', b'"detail"', b'"source"')
_CUT = re.compile(rb'\{\s*"version"\s*:\s*"0"')
#: ``YYYY/MM/DD/HH/`` of a Firehose object key (the hour the records arrived, UTC).
FIREHOSE_PREFIX = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


def is_eventbridge_head(head: bytes) -> bool:
    """True when a file's first bytes (BOM and whitespace stripped) start an EventBridge event.

    EventBridge writes ``version``, ``id`` and ``detail-type`` first; an envelope
    with its members in another order is recognised when its first 4 KiB hold
    ``"detail-type"``, ``"detail"`` and ``"source"`` members.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text.startswith(b"{"):
        return False
    if _HEAD.match(text):
        return True
    first = text[:4096]
    return all(key in first for key in _ANY_ORDER) and b'"topicName"' in text[:65536]


def firehose_hour(path: str | Path) -> str | None:
    """``YYYY-MM-DDTHH`` from a Firehose ``YYYY/MM/DD/HH/`` key prefix, else None."""
    m = FIREHOSE_PREFIX.search(str(path).replace("\\", "/"))
    if m is None:
        return None
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}"


def _read(f: IO[bytes] | GzipStream, size: int) -> tuple[bytes, str | None]:
    try:
        return f.read(size), None
    except (EOFError, OSError) as exc:
        return b"", str(exc)


def iter_eventbridge(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Batch]:
    """Batches of notification frames (``detail`` texts) of one Firehose object.

    Memory stays around ``chunk_bytes``: the object is read in blocks cut where an
    envelope starts (``{"version":"0"``). Records that are not EventBridge events, and a
    truncated gzip, are reported in the batch's ``rejected`` (line and reason).

    Args:
        path: the object (plain or gzip).
        chunk_bytes: block size, bytes (decompressed).
    """
    source = str(path)
    seen: dict[str, bytes] = {}
    line = 1
    rest = b""
    with _open(Path(path)) as f:
        while True:
            data, problem = _read(f, chunk_bytes)
            block = rest + data
            if data:
                cut = _last_cut(block)
                if cut <= 0:  # one record longer than a block: read on
                    rest = block
                    continue
                block, rest = block[:cut], block[cut:]
            else:
                rest = b""
            batch = _batch(block, line, source, seen)
            line += block.count(b"\n")
            if problem is not None:
                reason = f"truncated or corrupt gzip after line {line - 1} ({problem})"
                batch.rejected.append(Rejected(source, None, reason, ""))
            if batch.blobs or batch.rejected:
                yield batch
            if not data:
                return


def _last_cut(block: bytes) -> int:
    """Offset of the last envelope start in ``block`` (0 or -1: none after the first)."""
    start = max(0, len(block) - (1 << 20))
    last = -1
    for m in _CUT.finditer(block, start):
        last = m.start()
    if last <= 0 and start > 0:
        for m in _CUT.finditer(block):
            last = m.start()
    return last


def _batch(block: bytes, first_line: int, source: str, seen: dict[str, bytes]) -> Batch:
    blobs: list[bytes] = []
    lines: list[int] = []
    rejected: list[Rejected] = []
    if not block.strip():
        return Batch(blobs, np.zeros(0, np.int64), None)
    try:
        records = list(iter_envelopes(block))
    except ValueError as exc:  # not UTF-8
        return Batch(
            [], np.zeros(0, np.int64), None, rejected=[Rejected(source, first_line, str(exc), "")]
        )
    for _offset, rel_line, item in records:
        line = first_line + rel_line - 1
        if isinstance(item, BadRecord):
            rejected.append(Rejected(source, line, item.reason, item.text))
            continue
        digest = hashlib.blake2b(item.detail, digest_size=16).digest()
        known = seen.get(item.id)
        if known is not None and known != digest:
            continue  # the same event re-serialised: the first copy is kept
        seen[item.id] = digest
        blobs.append(item.detail)
        lines.append(line)
    buffer = None if any(b"\n" in b or b"\r" in b for b in blobs) else b"\n".join(blobs)
    return Batch(
        blobs,
        np.asarray(lines, dtype=np.int64),
        buffer if blobs else None,
        nbytes=len(block),
        nlines=block.count(b"\n"),
        rejected=rejected,
    )


def is_remote(path: str) -> bool:
    """True for an object-store URL (``s3://bucket/prefix``; any fsspec URL but ``file://``)."""
    return "://" in path and not path.startswith("file://")


def download_prefix(url: str, dest: str | Path) -> list[Path]:
    """Copy every object under ``url`` (a Firehose prefix, or one object) below ``dest``.

    Keys keep their path (``<bucket>/<prefix>/YYYY/MM/DD/HH/<object>``), so a
    quarantined record names its object. Objects already there with the same size are
    not fetched again; keys whose name starts with ``.`` or ``_`` are skipped.

    Returns:
        The local files, sorted.

    Raises:
        FileNotFoundError: nothing exists at ``url``.
    """
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url)
    root = str(root).rstrip("/")
    if fs.isfile(root):
        keys = [root]
    else:
        keys = sorted(k for k in fs.find(root) if not k.rsplit("/", 1)[-1].startswith((".", "_")))
    if not keys:
        raise FileNotFoundError(f"{url}: no objects")
    scheme = url.split("://", 1)[0]
    out = []
    for key in keys:
        local = Path(dest) / scheme / key
        size = fs.size(key)
        if not (local.exists() and local.stat().st_size == size):
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(key, str(local))
        out.append(local)
    return out


@contextlib.contextmanager
def local_inputs(inputs: Iterable[str | Path]) -> Iterator[list[str]]:
    """``convert`` inputs with each object-store URL downloaded to a temporary folder.

    Local paths and patterns pass through unchanged; ``s3://bucket/prefix/`` becomes the
    folder its objects were copied to (deleted on exit). Credentials and endpoint come
    from the AWS chain (``AWS_ENDPOINT_URL`` for a local endpoint).
    """
    items = [str(i) for i in inputs]
    if not any(is_remote(i) for i in items):
        yield items
        return
    with tempfile.TemporaryDirectory(prefix="diarkit-objects-") as tmp:
        out = []
        for i, item in enumerate(items):
            if is_remote(item):
                dest = Path(tmp) / str(i)
                download_prefix(item, dest)
                out.append(str(dest))
            else:
                out.append(item)
        yield out
