"""Write output files only where diarkit can prove it wrote what is already there.

A folder diarkit writes into gets a manifest, ``.diarkit-outputs.json``, listing each file
it wrote with the SHA-256 of its bytes. An existing file may be replaced only when the
manifest lists it **and** its bytes still hash to the recorded value (so a report the user
edited, or a ``talk_stats.csv`` of their own with the same name, is never overwritten).
Anything else raises ``FileExistsError`` naming the file, unless ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

#: The manifest file, one per output folder.
MANIFEST = ".diarkit-outputs.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # an unreadable manifest proves nothing: treat every file as foreign
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def owned(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a file diarkit wrote and nobody changed since."""
    p = Path(path)
    entry = _read_manifest(p.parent).get(p.name)
    return bool(p.is_file() and entry and entry.get("sha256") == _sha256(p))


def check_writable(paths: Iterable[str | os.PathLike[str]], *, overwrite: bool = False,
                   hint: str = "pass another output path, or overwrite=True") -> None:
    """Raise ``FileExistsError`` for the first existing path diarkit cannot prove it wrote.

    Args:
        paths: files about to be written.
        overwrite: replace foreign files anyway (the user asked for it).
        hint: what the error suggests doing instead (the CLI names its flags).
    """
    if overwrite:
        return
    for path in map(Path, paths):
        if path.exists() and not owned(path):
            what = "a folder" if path.is_dir() else "a file diarkit did not write"
            raise FileExistsError(f"{path} already exists and is {what} (or it was changed "
                                  f"since diarkit wrote it); not overwriting it: {hint}")


def write_owned(path: str | os.PathLike[str], data: bytes | str, *, writer: str,
                overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically and record it in the folder's manifest.

    Args:
        path: the file to write (its folder is created).
        data: bytes, or text written as UTF-8.
        writer: what wrote it (``"diarkit report"``), kept in the manifest.
        overwrite: replace a file diarkit cannot prove it wrote.

    Returns:
        The absolute path written.

    Raises:
        FileExistsError: ``path`` exists and is not diarkit's (see ``check_writable``).
    """
    p = Path(path).resolve()
    check_writable([p], overwrite=overwrite)
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, p)
    files = _read_manifest(p.parent)
    files[p.name] = {"sha256": hashlib.sha256(raw).hexdigest(), "writer": writer}
    manifest = p.parent / MANIFEST
    mtmp = manifest.with_name(f"{MANIFEST}.{os.getpid()}.tmp")
    mtmp.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n",
                    encoding="utf-8")
    os.replace(mtmp, manifest)
    return p


__all__ = ["MANIFEST", "check_writable", "owned", "write_owned"]
