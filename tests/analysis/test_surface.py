"""The analysis package's public surface, and that it does no file I/O."""

from __future__ import annotations

import re
from pathlib import Path

import diarkit
import diarkit.analysis as analysis

PUBLIC = [
    "finalize",
    "filter_confidence",
    "turns",
    "talk_stats",
    "fleet_stats",
    "to_rttm",
    "to_webvtt",
    "to_srt",
    "to_textgrid",
    "to_ctm",
    "to_json",
    "parse_rttm",
    "diarization_error",
    "export_segments",
]


def test_public_functions_are_exported_from_both_packages():
    for name in PUBLIC:
        assert name in analysis.__all__
        assert getattr(diarkit, name) is getattr(analysis, name)


def test_public_functions_document_units():
    for name in PUBLIC:
        doc = getattr(analysis, name).__doc__ or ""
        first = doc.strip().splitlines()[0]
        assert re.search(r"second|\(s\)|0-1|fraction|text|units", first), f"{name}: {first}"


def test_no_file_io_in_analysis_sources():
    source_dir = Path(analysis.__file__).parent
    pattern = re.compile(
        r"\bopen\(|read_csv|read_parquet|to_csv\(|to_parquet|write_text|read_text|"
        r"pyarrow\.parquet|pyarrow\.dataset|import matplotlib|import httpx"
    )
    for path in sorted(source_dir.glob("*.py")):
        hits = [ln for ln in path.read_text().splitlines() if pattern.search(ln)]
        assert not hits, f"{path.name} does I/O: {hits}"
