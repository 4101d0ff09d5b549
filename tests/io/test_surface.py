"""The public surface of diarkit.io and the top-level loaders is pinned."""

from __future__ import annotations

import diarkit
import diarkit.io


def test_io_exports():
    assert sorted(diarkit.io.__all__) == sorted(
        [
            "ConvertError",
            "ConvertSummary",
            "UnknownFormatError",
            "build_raw_table",
            "compact",
            "convert",
            "detect_format",
            "frame_hash",
            "load_gaps",
            "load_quarantine",
            "load_raw",
            "load_segments",
            "raw_to_segments",
            "rebuild",
            "repair",
            "write_gaps",
            "write_quarantine",
            "write_raw_part",
        ]
    )
    for name in diarkit.io.__all__:
        assert getattr(diarkit.io, name).__doc__, name


def test_top_level_loaders_are_the_io_ones():
    assert diarkit.load_raw is diarkit.io.load_raw
    assert diarkit.load_segments is diarkit.io.load_segments
    assert diarkit.load_gaps is diarkit.io.load_gaps
