"""Result objects print compactly and render as small HTML (and a PNG timeline) (#16.6)."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

from diarkit import diarization_error, filter_confidence, finalize, load_segments, parse_rttm
from diarkit.datasets import sample


def test_finalized_filtered_and_der_reprs_are_compact():
    segments = load_segments(sample("frames.jsonl"))
    final = finalize(segments)
    text = repr(final)
    assert text.startswith("Finalized(segments: ") and "3 conversations" in text
    assert len(text) < 200 and "\n" not in text
    shown = final._repr_html_()
    assert "Finalized" in shown and "+" in shown and len(shown) < 20_000
    assert final._repr_png_().startswith(b"\x89PNG")
    filtered = filter_confidence(final.segments, min_confidence=0.9)
    text = repr(filtered)
    assert text.startswith("Filtered(kept: ") and "low_confidence" in text and len(text) < 300
    assert "reasons" in filtered._repr_html_()
    kept, audit = filtered  # still a tuple
    assert len(kept) + len(audit) == len(final.segments)
    truth = parse_rttm(sample("truth.rttm").read_text())
    result = diarization_error(final.segments, truth)
    text = repr(result)
    assert text.startswith("DiarizationError(der=") and "conversations=3" in text
    assert "by_conversation" not in text and len(text) < 250
    assert "worst conversations" in result._repr_html_()


def test_reprs_import_no_matplotlib():
    code = (
        "import sys; from diarkit import finalize, load_segments; "
        "from diarkit.datasets import sample; "
        "f = finalize(load_segments(sample('frames.jsonl'))); repr(f); f._repr_html_(); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
