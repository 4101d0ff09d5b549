"""finalize and filter_confidence: versions, keys, reasons, presets, nothing lost."""

from __future__ import annotations

import numpy as np
import pytest

from diarkit.analysis import PRESETS, filter_confidence, finalize
from diarkit.schema import SEGMENTS, SchemaError, validate

from ._frames import segments


def versions():
    return segments(
        [
            {"utterance_id": "u1", "is_final": False, "text": "hel", "end_s": 1.0, "order": 0},
            {"utterance_id": "u2", "is_final": False, "text": "how", "start_s": 2.0, "order": 1},
            {"utterance_id": "u1", "is_final": False, "text": "hello", "end_s": 1.2, "order": 2},
            {"utterance_id": "u1", "is_final": True, "text": "hello there", "order": 3},
            {"utterance_id": "u1", "is_final": False, "text": "stale", "order": 4},
            {"utterance_id": "u3", "is_final": True, "text": "bye", "start_s": 5.0, "order": 5},
            {
                "utterance_id": "u2",
                "is_final": False,
                "text": "how are",
                "start_s": 2.0,
                "order": 6,
            },
        ]
    ).assign(start_s=lambda d: d.start_s.fillna(0.0), end_s=lambda d: d.end_s.fillna(1.5))


def test_finalize_keeps_the_latest_final_version_per_utterance():
    out = finalize(versions())
    validate(out.segments, SEGMENTS)
    assert list(out.segments.utterance_id) == ["u1", "u3"]
    assert list(out.segments.text) == ["hello there", "bye"]  # not the later partial 'stale'
    assert list(out.unfinished.utterance_id) == ["u2"]
    assert list(out.unfinished.text) == ["how are"]  # latest version by order received


def test_finalize_keep_partial_adds_unfinished_utterances():
    out = finalize(versions(), keep_partial=True)
    assert list(out.segments.utterance_id) == ["u1", "u2", "u3"]  # sorted by start
    assert len(out.unfinished) == 1


def test_order_received_wins_over_row_position():
    df = versions().iloc[::-1]
    assert list(finalize(df).segments.text) == ["hello there", "bye"]


def test_utterances_are_keyed_by_conversation_and_communication():
    df = segments(
        [
            {"conversation_id": "a", "communication_id": "m1", "utterance_id": "u1"},
            {"conversation_id": "b", "communication_id": "m1", "utterance_id": "u1"},
            {"conversation_id": "a", "communication_id": "m2", "utterance_id": "u1"},
        ]
    ).assign(start_s=0.0, end_s=1.0)
    assert len(finalize(df).segments) == 3


def test_tutorial_rows_without_utterance_id_use_speaker_and_start():
    df = segments(
        [
            {"utterance_id": None, "speaker": "agent", "start_s": 1.0, "is_final": False},
            {"utterance_id": None, "speaker": "agent", "start_s": 1.0, "text": "final"},
            {"utterance_id": None, "speaker": "customer", "start_s": 1.0, "text": "other"},
            {"utterance_id": None, "speaker": "agent", "start_s": 3.0, "is_final": False},
        ]
    ).assign(end_s=lambda d: d.start_s + 1)
    out = finalize(df)
    assert sorted(out.segments.text) == ["final", "other"]
    assert list(out.unfinished.start_s) == [3.0]


def test_finalize_rejects_a_table_without_the_contract():
    with pytest.raises(SchemaError, match="missing column 'order'"):
        finalize(versions().drop(columns=["order"]))


def audit_input():
    return segments(
        [
            {"confidence": 0.95, "text": "good"},
            {"confidence": 0.85, "text": "boundary"},
            {"confidence": 0.84, "text": "low"},
            {"confidence": 0.3, "speaker": None, "text": "nobody"},
            {"confidence": 0.9, "text": "   "},
            {"confidence": 0.99, "is_final": False, "text": "partial"},
            {"confidence": float("nan"), "text": "unknown confidence"},
        ]
    ).assign(start_s=0.0, end_s=1.0)


def test_filter_confidence_drops_with_reasons_and_loses_nothing():
    df = audit_input()
    kept, audit = filter_confidence(df, min_confidence=0.85)
    assert list(kept.text) == ["good", "boundary", "unknown confidence"]
    assert list(audit.text) == ["low", "nobody", "   ", "partial"]
    assert list(audit.reason) == ["low_confidence", "empty_speaker", "empty_text", "partial"]
    assert audit.reasons.iloc[1] == "empty_speaker,low_confidence"
    assert len(kept) + len(audit) == len(df)
    assert set(audit.index) | set(kept.index) == set(df.index)


def test_the_default_threshold_is_the_default_profiles():
    from diarkit.analysis.profiles import get_profile

    assert PRESETS["default"].min_confidence == get_profile().min_confidence == 0.5
    kept, _ = filter_confidence(audit_input())
    assert {"good", "boundary", "low", "unknown confidence"} == set(kept.text)


def test_missing_confidence_can_be_dropped_explicitly():
    kept, audit = filter_confidence(audit_input(), drop_missing_confidence=True)
    assert "unknown confidence" not in set(kept.text)
    assert audit.set_index("text").loc["unknown confidence", "reason"] == "missing_confidence"


def test_tutorial_preset_drops_below_half_or_empty_speaker_only():
    assert PRESETS["tutorial"].min_confidence == 0.5
    kept, audit = filter_confidence(audit_input(), preset="tutorial")
    assert list(audit.reason) == ["empty_speaker"]
    assert {"low", "   ", "partial"} <= set(kept.text)
    kept, audit = filter_confidence(audit_input(), min_confidence=0.9, preset="tutorial")
    assert set(audit.reason) == {"low_confidence", "empty_speaker"}


def test_filter_confidence_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown preset"):
        filter_confidence(audit_input(), preset="strict")
    with pytest.raises(ValueError, match="within 0-1"):
        filter_confidence(audit_input(), min_confidence=85)
    with pytest.raises(ValueError, match="drop_everything"):
        filter_confidence(audit_input(), drop_everything=True)


def test_filter_confidence_on_an_empty_table():
    kept, audit = filter_confidence(SEGMENTS.empty())
    assert len(kept) == 0 and len(audit) == 0 and "reason" in audit.columns
    assert np.all(audit.columns[-2:] == ["reason", "reasons"])
