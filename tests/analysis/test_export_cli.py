"""export_segments and `diarkit export`: finalize, filter and render in one call."""

from __future__ import annotations

import json

import pytest
import webvtt
from click.testing import CliRunner

from diarkit.analysis import FORMATS, diarization_error, export_segments, parse_rttm
from diarkit.cli import cli
from diarkit.sim.generator import build_scenario, write_jsonl
from diarkit.sim.ground_truth import rttm_lines

from ._frames import segments


def versions():
    return segments(
        [
            {"utterance_id": "u1", "is_final": False, "text": "hel", "start_s": 0.0, "end_s": 1},
            {"utterance_id": "u1", "text": "hello", "start_s": 0.0, "end_s": 1.5},
            {
                "utterance_id": "u2",
                "speaker": "customer",
                "text": "hi",
                "start_s": 2,
                "end_s": 3,
                "confidence": 0.4,
            },
            {"utterance_id": "u3", "conversation_id": "c2", "text": "x", "start_s": 0, "end_s": 1},
        ]
    )


def test_export_segments_finalizes_filters_and_selects():
    rttm = export_segments(versions(), "rttm")
    assert len(rttm.splitlines()) == 3  # the partial version of u1 is gone
    kept = export_segments(versions(), "rttm", min_confidence=0.5)
    assert "customer" not in kept
    vtt = export_segments(versions(), "vtt", conversation="c1")
    assert [c.text for c in webvtt.from_string(vtt)] == ["hello", "hi"]
    doc = json.loads(export_segments(versions(), "json", as_turns=True))
    assert doc["totalSegments"] == 3
    with pytest.raises(ValueError, match="unknown export format"):
        export_segments(versions(), "xlsx")
    with pytest.raises(ValueError, match="no segments for conversation"):
        export_segments(versions(), "srt", conversation="nope")
    with pytest.raises(ValueError, match="holds 2 conversations"):
        export_segments(versions(), "srt")
    assert set(FORMATS) == {"rttm", "vtt", "srt", "textgrid", "ctm", "json"}


def test_diarkit_export_on_simulator_frames_scores_against_ground_truth(tmp_path):
    frames = tmp_path / "frames.jsonl"
    # named kinds: the seeded mix sends a few BOTH/UNKNOWN channels, which no channel
    # export can label as the truth's agent/customer
    kinds = ["basic+hold", "blind_transfer", "conference"]
    write_jsonl(frames, conversations=3, seed=5, kinds=kinds)
    out = tmp_path / "hyp.rttm"
    result = CliRunner().invoke(
        cli, ["export", str(frames), "--format", "rttm", "--min-confidence", "0", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    plans = build_scenario(seed=5, conversations=3, kinds=kinds).plans
    truth = parse_rttm("\n".join(rttm_lines(plans)))
    assert diarization_error(parse_rttm(out.read_text()), truth).der == pytest.approx(0, abs=1e-9)
    result = CliRunner().invoke(cli, ["export", str(frames), "--format", "vtt"])
    assert result.exit_code != 0 and "holds 3 conversations" in result.output
