"""Small datasets shipped inside the package, usable from any folder (no repository needed).

``sample()`` is a packaged copy of the repository's ``data/sample`` (three simulated calls
in the real Genesys Cloud notification-frame format, seed 1): ``frames.jsonl`` (every
frame in send order), ``truth.rttm`` (who spoke when, seconds from each session start),
``post_call_transcript.json`` (the first call's post-call transcript, epoch milliseconds)
and ``manifest.json`` (ids and the command that regenerates it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Files of the packaged sample.
SAMPLE_FILES = ("frames.jsonl", "truth.rttm", "post_call_transcript.json", "manifest.json")


def sample(name: str | None = None) -> Path:
    """Path of the packaged sample folder, or of one of its files.

    Args:
        name: one of ``SAMPLE_FILES`` (e.g. ``"frames.jsonl"``); None for the folder.

    Returns:
        An existing path inside the installed package (read it, never write to it):
        ``load_segments(sample("frames.jsonl"))`` loads the live frames;
        ``diarkit convert`` takes the folder (it skips ``manifest.json`` with a note).

    Raises:
        ValueError: ``name`` is not a file of the sample.
        FileNotFoundError: the package was installed without its data files.
    """
    root = Path(str(resources.files("diarkit") / "sample_data"))
    if name is not None and name not in SAMPLE_FILES:
        raise ValueError(f"sample has no file {name!r}; files: {', '.join(SAMPLE_FILES)}")
    path = root if name is None else root / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: diarkit was installed without its "
                                "package data (reinstall with pip)")
    return path


__all__ = ["SAMPLE_FILES", "sample"]
