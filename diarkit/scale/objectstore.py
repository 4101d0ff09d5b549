"""Datasets on object storage (``s3://bucket/prefix``, any fsspec URL; extra ``diarkit[aws]``).

The layout is the dataset layout of :mod:`diarkit.io.dataset`, one object per file::

    s3://bucket/prefix/raw/date=YYYY-MM-DD/<session>-<seq>.parquet
    s3://bucket/prefix/segments/date=YYYY-MM-DD/<session>-<seq>.parquet
    s3://bucket/prefix/gaps/<session>.parquet
    s3://bucket/prefix/quarantine/<run>.parquet

What S3 gives and what it does not, and how the local guarantees carry over:

* **No rename.** A local writer publishes by writing a temporary name and renaming it;
  S3 has no atomic rename (a "move" is a copy plus a delete). So each object is written
  *once, under its final key*: a single ``PutObject`` or one multipart upload. S3 makes
  an object visible only when that request completes (a multipart upload only at
  ``CompleteMultipartUpload``): readers see the whole object or nothing, never a part.
* **Strong read-after-write consistency** (since December 2020): a listing after a
  completed write includes the object, and a read returns its latest bytes.
* **Temporary prefixes.** Keys whose last component starts with ``.`` or ``_`` (the
  local writers' ``.tmp-*`` names, ``_spool/``, journals) are never uploaded and are
  ignored by readers, as on disk (:func:`diarkit.io.dataset.is_visible`).
* **No multi-object transaction.** A raw part and its segments twin are two objects:
  :func:`publish_dataset` uploads raw before segments (as the local writer renames raw
  first), so a reader never sees segments whose raw part is missing. Compaction is done
  on disk before publishing; it is not run on a bucket.
* **Idempotent.** Publishing again uploads only files whose object is missing or has a
  different size; an interrupted publish is completed by running it again.
* **Derived context.** The conversation model's context that statistics need besides
  segments (phases from the call events in raw frames, the source of each session) is
  derived from the local dataset and published as ``model/phases.parquet``,
  ``model/session_sources.parquet`` (rewritten on every publish) and, when a session
  mixes sources, ``model/source_rows.parquet`` (its rows of other sources), so Dask
  workers never read raw frames from the bucket.

Endpoint and credentials come from the usual AWS chain (``AWS_ENDPOINT_URL`` for a local
endpoint such as moto or MinIO), so Dask worker processes started with the same
environment read the same bucket. ``storage_options`` passes anything else to fsspec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diarkit.io.dataset import GAPS_DIR, QUARANTINE_DIR, RAW_DIR, SEGMENTS_DIR, is_visible

#: The areas of a dataset that are published, in upload order (raw before segments).
AREAS = (RAW_DIR, SEGMENTS_DIR, GAPS_DIR, QUARANTINE_DIR)
#: Small tables a dataset rewrites whole (names from ``diarkit names``, the timeline).
REWRITTEN_AREAS = ("dims", "timeline")


def is_url(path: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` other than ``file://`` (a dataset on object storage)."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it (bucket/prefix, no slash)."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url, **dict(storage_options or {}))
    return fs, str(root).rstrip("/")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p)


@dataclass(slots=True)
class PublishReport:
    """What :func:`publish_dataset` did: objects uploaded and skipped, bytes uploaded."""

    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0


def publish_dataset(
    dataset: str | os.PathLike[str],
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> PublishReport:
    """Upload a local dataset's complete files to ``url`` under the same relative keys.

    Raw parts go first, then segments, gaps and quarantine: each file becomes one object
    written once under its final key; temporary and hidden files are left out; objects
    already there with the same size are skipped (see the module docstring). The small
    tables a dataset rewrites whole (``dims/`` names, ``timeline/``) are uploaded every
    time.

    Raises:
        FileNotFoundError: ``dataset`` is not a directory.
    """
    root = Path(dataset)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset directory")
    fs, base = filesystem(url, storage_options)
    report = PublishReport()
    for area in AREAS:
        top = root / area
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*.parquet")):
            rel = path.relative_to(root)
            if not is_visible(path.name) or any(p.startswith((".", "_")) for p in rel.parts):
                continue
            key = _join(base, rel.as_posix())
            size = path.stat().st_size
            try:
                if fs.size(key) == size:
                    report.skipped.append(key)
                    continue
            except FileNotFoundError:
                pass
            fs.put_file(str(path), key)  # one PUT (or one multipart upload) to the final key
            report.uploaded.append(key)
            report.bytes += size
    for area in REWRITTEN_AREAS:  # rewritten in place locally: always one PUT each
        for path in sorted((root / area).glob("*.parquet")) if (root / area).is_dir() else []:
            if is_visible(path.name):
                key = _join(base, area, path.name)
                fs.put_file(str(path), key)
                report.uploaded.append(key)
                report.bytes += path.stat().st_size
    if (root / SEGMENTS_DIR).is_dir():
        _publish_model_context(root, fs, base, report)  # after the parts it is derived from
    return report


@dataclass(slots=True)
class MirrorReport:
    """What :func:`mirror_dataset` did: objects downloaded and already local, bytes read."""

    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0


def mirror_dataset(
    url: str,
    dataset: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> MirrorReport:
    """Download a published dataset's part files into a local dataset directory.

    The reverse of :func:`publish_dataset`, for writers that need the dataset's current
    content (``convert_to_url`` dedupes against it). Only objects missing locally or of
    another size are read; each lands under a temporary name and is renamed into place
    (a local reader never sees half a file). Nothing at ``url`` yet is an empty mirror.

    Raises:
        OSError: the bucket cannot be read or the local disk written (names the path).
    """
    root = Path(dataset)
    fs, base = filesystem(url, storage_options)
    report = MirrorReport()
    for area in AREAS:
        top = _join(base, area)
        try:
            keys = sorted(fs.find(top))
        except FileNotFoundError:
            continue
        for key in keys:
            rel = key[len(base):].strip("/")
            parts = rel.split("/")
            if not key.endswith(".parquet") or any(p.startswith((".", "_")) for p in parts):
                continue
            target = root.joinpath(*parts)
            size = fs.size(key)
            if target.is_file() and target.stat().st_size == size:
                report.skipped.append(key)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
            fs.get_file(key, str(tmp))
            tmp.replace(target)
            report.downloaded.append(key)
            report.bytes += size
    return report


@dataclass(slots=True)
class UrlConvertReport:
    """What :func:`convert_to_url` did: the conversion, the mirror and the publish."""

    summary: Any  # diarkit.io.convert.ConvertSummary
    mirror: MirrorReport
    publish: PublishReport


def convert_to_url(
    inputs: Any,
    url: str,
    *,
    staging: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **convert_options: Any,
) -> UrlConvertReport:
    """Convert capture files into the dataset at ``url`` (``s3://bucket/prefix``).

    S3 has no rename and no append, so the conversion runs on a local copy and is then
    published: (1) :func:`mirror_dataset` brings the dataset's current parts into the
    local ``staging`` directory (only what it lacks), (2) :func:`diarkit.io.convert.convert`
    converts into it, deduplicating against everything already in the dataset (so a
    rerun adds nothing twice, as on disk), (3) :func:`publish_dataset` uploads the new
    files (each once under its final key, raw before segments) and rewrites the model
    context. An interrupted run is completed by running it again: objects already up are
    skipped, a raw part whose segments twin was not uploaded yet is repaired locally by
    the next conversion (``repair``) and published then.

    Args:
        inputs: as for ``convert`` (files, folders, globs).
        url: the dataset URL.
        staging: the local copy; kept between runs when given (only new objects are
            downloaded next time), else a temporary directory removed at the end.
        storage_options: passed to fsspec.
        **convert_options: ``strict``, ``workers``, ``progress``, ``timeline`` etc. of
            ``convert`` (a timeline stays in the local copy: it is not published).

    Raises:
        ConvertError: with ``strict=True`` when input was skipped or quarantined (the
            rest is converted and published first).
        NoInputError, NotADatasetError, DatasetBusyError, OSError: as ``convert``.
    """
    import tempfile

    from diarkit.io.convert import ConvertError, convert

    if not is_url(url):
        raise ValueError(f"{url!r} is not an object-store URL (s3://bucket/prefix)")
    strict = bool(convert_options.pop("strict", False))
    with tempfile.TemporaryDirectory(prefix="diarkit-convert-") as tmp:
        local = Path(staging) if staging is not None else Path(tmp) / "dataset"
        mirror = mirror_dataset(url, local, storage_options=storage_options)
        error: ConvertError | None = None
        try:
            summary = convert(inputs, local, strict=strict, **convert_options)
        except ConvertError as exc:
            error, summary = exc, exc.summary
        report = UrlConvertReport(summary, mirror,
                                  publish_dataset(local, url, storage_options=storage_options))
    if error is not None:
        raise error
    return report


#: Area of a published dataset holding its derived conversation-model context (visible).
MODEL_DIR = "model"
_PHASES = "phases.parquet"
_SESSIONS = "session_sources.parquet"
_ROWS = "source_rows.parquet"


def _publish_model_context(root: Path, fs: Any, base: str, report: PublishReport) -> None:
    """Write ``model/{phases,session_sources,source_rows}.parquet`` (one PUT each)."""
    import io

    import pandas as pd

    from diarkit.scale.fleet import model_context

    context = model_context(root)
    sources = pd.DataFrame(
        {
            "session_id": list(context["session_sources"]),
            "source": list(context["session_sources"].values()),
        },
        dtype="string",
    )
    frames = [(_PHASES, context["phases"]), (_SESSIONS, sources)]
    rows_key = _join(base, MODEL_DIR, _ROWS)
    if len(context["source_rows"]):  # only when a session mixes sources
        frames.append((_ROWS, context["source_rows"]))
    elif fs.exists(rows_key):
        fs.rm_file(rows_key)  # stale from an earlier publish of other data
    for name, frame in frames:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        key = _join(base, MODEL_DIR, name)
        fs.pipe_file(key, buf.getvalue())  # one PUT to the final key
        report.uploaded.append(key)
        report.bytes += buf.tell()


def model_context_url(url: str, **storage_options: Any) -> dict[str, Any]:
    """The conversation-model context (phases, session sources) of a published dataset.

    :func:`publish_dataset` derives it from the local dataset (``model/``), so Dask
    statistics from the bucket match the local ones without reading raw frames.

    Raises:
        FileNotFoundError: the dataset was not published with its model context.
    """
    import pandas as pd

    fs, base = filesystem(url, storage_options)
    try:
        with fs.open(_join(base, MODEL_DIR, _PHASES), "rb") as f:
            phases = pd.read_parquet(f)
        with fs.open(_join(base, MODEL_DIR, _SESSIONS), "rb") as f:
            sessions = pd.read_parquet(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{url}: no {MODEL_DIR}/{_PHASES}: publish the dataset with "
            "diarkit.scale.objectstore.publish_dataset (it writes the model context)"
        ) from None
    rows_key = _join(base, MODEL_DIR, _ROWS)
    if fs.exists(rows_key):  # absent when no session mixes sources
        with fs.open(rows_key, "rb") as f:
            rows = pd.read_parquet(f)
    else:
        from diarkit.io.load import empty_source_rows

        rows = empty_source_rows()
    return {
        "phases": phases,
        "session_sources": {
            str(k): str(v) for k, v in zip(sessions["session_id"], sessions["source"], strict=True)
        },
        "source_rows": rows,
    }


def list_remote_parts(url: str, kind: str = SEGMENTS_DIR, **storage_options: Any) -> list[str]:
    """URLs of the complete part files of ``kind`` at ``url``, sorted by date and name.

    Hidden and temporary keys (a component starting with ``.`` or ``_``) are ignored.
    """
    fs, base = filesystem(url, storage_options)
    top = _join(base, kind)
    protocol = url.split("://", 1)[0]
    out = []
    try:
        dirs = sorted(fs.ls(top, detail=False))
    except FileNotFoundError:
        return []
    for d in dirs:
        name = d.rstrip("/").rsplit("/", 1)[-1]
        if not name.startswith("date="):
            continue
        for key in sorted(fs.ls(d, detail=False)):
            if is_visible(key.rsplit("/", 1)[-1]):
                out.append(f"{protocol}://{key}")
    return out


def open_input(url: str, **storage_options: Any) -> Any:
    """A binary file object of ``url`` (close it after use)."""
    fs, path = filesystem(url, storage_options)
    return fs.open(path, "rb")
