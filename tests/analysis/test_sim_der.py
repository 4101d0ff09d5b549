"""DER of the simulator's transcripts against its ground-truth RTTM."""

from __future__ import annotations

import pytest

from diarkit.analysis import diarization_error, filter_confidence, finalize, parse_rttm, turns
from diarkit.io.raw import build_raw_table
from diarkit.io.segments import raw_to_segments
from diarkit.sim.generator import build_scenario, iter_frames
from diarkit.sim.ground_truth import rttm_lines

CALLS = 8


@pytest.fixture(scope="module")
def sim():
    scenario = build_scenario(seed=11, conversations=CALLS)
    frames = list(iter_frames(CALLS, 11))
    raw = build_raw_table(frames, session_id="sim", start_seq=0, received_at=None, source="sim")
    final = finalize(raw_to_segments(raw).to_pandas())
    reference = parse_rttm("\n".join(rttm_lines(scenario.plans)))
    return final, reference


def test_final_spoken_segments_match_the_ground_truth(sim):
    final, reference = sim
    assert reference.conversation_id.nunique() == CALLS
    spoken = filter_confidence(final.segments, min_confidence=0.0).kept  # drops empty texts
    # the simulator puts a few utterances on the BOTH/UNKNOWN channels (speaker "both" /
    # "unknown"): exactly that time is confusion, everything else matches
    odd = spoken["channel"].isin(["BOTH", "UNKNOWN"])
    odd_s = float((spoken["end_s"] - spoken["start_s"])[odd].sum())
    out = diarization_error(spoken, reference)
    assert out.reference_s > 60 * CALLS
    assert out.confusion_s == pytest.approx(odd_s, abs=1e-6)
    assert out.missed_s == pytest.approx(0.0, abs=1e-9)
    assert out.false_alarm_s == pytest.approx(0.0, abs=1e-9)
    clean = diarization_error(spoken[~odd], reference)
    assert clean.confusion_s == pytest.approx(0.0, abs=1e-9)
    assert clean.missed_s == pytest.approx(odd_s, abs=1e-6)


def test_empty_results_are_false_alarm_and_confidence_filtering_is_missed_speech(sim):
    final, reference = sim
    everything = diarization_error(final.segments, reference)
    odd = final.segments["channel"].isin(["BOTH", "UNKNOWN"])
    odd_s = float((final.segments["end_s"] - final.segments["start_s"])[odd].sum())
    assert everything.missed_s == pytest.approx(0.0, abs=1e-9)
    assert everything.confusion_s == pytest.approx(odd_s, abs=1e-6)
    assert 0 < everything.false_alarm_s < 0.05 * everything.reference_s
    strict = diarization_error(filter_confidence(final.segments).kept, reference, collar=0.25)
    assert strict.missed_s > 0 and strict.false_alarm_s == pytest.approx(0.0, abs=1e-9)
    # turns bridge pauses up to max_gap: more false alarm than segments, never less
    bridged = diarization_error(turns(final.segments), reference)
    assert bridged.false_alarm_s >= everything.false_alarm_s
