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


def _early(tmp_path):
    frames = tmp_path / "early.jsonl"
    write_jsonl(frames, conversations=1, seed=7, kinds=["basic+early"])
    plan = build_scenario(seed=7, conversations=1, kinds=["basic+early"]).plans[0]
    return frames, plan


def test_early_transcription_exports_instead_of_being_refused(tmp_path):
    """``basic+early``: speech before the session start (negative start_s). RTTM keeps the
    session clock (negative onsets; DER against the truth stays 0); WebVTT/SRT shift every
    cue by one offset so the first starts at 0 and say so (WebVTT NOTE)."""
    from diarkit.io.load import load_segments

    frames, plan = _early(tmp_path)
    first = min(u.start_ms for u in plan.utterances if u.kind not in ("empty", "paused"))
    assert first < 0
    rttm = tmp_path / "hyp.rttm"
    result = CliRunner().invoke(cli, ["export", str(frames), "--format", "rttm",
                                      "--min-confidence", "0", "--out", str(rttm)])
    assert result.exit_code == 0, result.output
    hyp = parse_rttm(rttm.read_text())
    assert hyp["start_s"].min() == pytest.approx(first / 1000)
    truth = parse_rttm("\n".join(rttm_lines([plan])))
    assert diarization_error(hyp, truth).der == pytest.approx(0, abs=1e-9)
    vtt = export_segments(load_segments(frames), "vtt", min_confidence=0)
    assert f"plus {-first / 1000:.3f} s" in vtt
    cues = webvtt.from_string(vtt)
    assert cues[0].start == "00:00:00.000"
    srt = export_segments(load_segments(frames), "srt", min_confidence=0)
    assert srt.splitlines()[1].startswith("00:00:00,000 --> ")
