"""turns: merging rules, joined text, weighted confidence, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from diarkit.analysis import turns
from diarkit.analysis.profiles import get_profile
from diarkit.schema import TURNS, validate

from ._frames import segments


def test_consecutive_segments_merge_within_max_gap():
    df = segments(
        [
            {"speaker": "agent", "start_s": 0.0, "end_s": 2.0, "text": "hello", "word_count": 1},
            {"speaker": "agent", "start_s": 2.5, "end_s": 4.0, "text": "there", "word_count": 1},
            {"speaker": "agent", "start_s": 6.0, "end_s": 7.0, "text": "again", "word_count": 1},
            {"speaker": "customer", "start_s": 7.2, "end_s": 8.0, "text": "hi", "word_count": 1},
        ]
    )
    t = turns(df, max_gap=1.0)
    validate(t, TURNS)
    assert list(t.speaker.astype(str)) == ["agent", "agent", "customer"]
    assert list(t.text) == ["hello there", "again", "hi"]
    assert list(t.turn_index) == [0, 1, 2]
    assert list(t.segment_count) == [2, 1, 1]
    assert t.start_s.tolist() == [0.0, 6.0, 7.2]
    assert t.end_s.tolist() == [4.0, 7.0, 8.0]
    assert t.duration_s.tolist() == pytest.approx([4.0, 1.0, 0.8])
    assert len(turns(df, max_gap=2.0)) == 2  # the 2 s pause is bridged


def test_another_speaker_in_between_ends_the_turn():
    df = segments(
        [
            {"speaker": "agent", "start_s": 0.0, "end_s": 5.0},
            {"speaker": "customer", "start_s": 2.0, "end_s": 2.5},
            {"speaker": "agent", "start_s": 5.1, "end_s": 6.0},
        ]
    )
    assert list(turns(df).speaker.astype(str)) == ["agent", "customer", "agent"]


def test_overlapping_segments_of_one_speaker_merge_and_gap_uses_latest_end():
    df = segments(
        [
            {"speaker": "agent", "start_s": 0.0, "end_s": 10.0},
            {"speaker": "agent", "start_s": 1.0, "end_s": 2.0},
            {"speaker": "agent", "start_s": 10.5, "end_s": 11.0},
        ]
    )
    t = turns(df, max_gap=1.0)
    assert len(t) == 1 and t.end_s.iloc[0] == 11.0 and t.segment_count.iloc[0] == 3


def test_confidence_is_duration_weighted_and_ignores_nan():
    df = segments(
        [
            {"start_s": 0.0, "end_s": 3.0, "confidence": 0.9, "word_count": 4},
            {"start_s": 3.0, "end_s": 4.0, "confidence": 0.5, "word_count": 2},
            {"start_s": 4.0, "end_s": 9.0, "confidence": float("nan"), "word_count": 3},
        ]
    )
    t = turns(df)
    assert t.confidence.iloc[0] == pytest.approx((3 * 0.9 + 1 * 0.5) / 4)
    assert t.word_count.iloc[0] == 9


def test_zero_length_segments_are_not_turns_and_all_nan_confidence():
    # Definition changed on issue #12: a zero-length segment is not speech, so it neither
    # opens, extends nor ends a turn (docs/metrics.md). The two zero-length agent rows
    # used to make a 0 s agent turn; now only the customer's 3-4 s turn remains.
    df = segments(
        [
            {"start_s": 1.0, "end_s": 1.0, "confidence": 0.6},
            {"start_s": 1.0, "end_s": 1.0, "confidence": 0.8},
            {"speaker": "customer", "start_s": 3, "end_s": 4, "confidence": float("nan")},
        ]
    )
    t = turns(df)
    assert t.speaker.astype(str).tolist() == ["customer"]
    assert t.duration_s.tolist() == [1.0]
    assert np.isnan(t.confidence.iloc[0])
    only_zero = segments([{"start_s": 2.0, "end_s": 2.0}])
    assert len(turns(only_zero)) == 0


def test_zero_length_segment_of_another_speaker_does_not_end_a_turn():
    # hand-computed: agent 0-2 and 3-4 s are one turn (pause 1.000 s <= max_gap); the
    # customer's zero-length row at 2.5 s is not speech, so even with backchannels
    # ending turns it does not split the agent's turn (it used to be a 0 s turn).
    df = segments(
        [
            {"start_s": 0.0, "end_s": 2.0, "text": "a"},
            {"speaker": "customer", "start_s": 2.5, "end_s": 2.5, "text": "x"},
            {"start_s": 3.0, "end_s": 4.0, "text": "b"},
        ]
    )
    plain = get_profile("default").replace(backchannel_ends_turn=True)
    t = turns(df, profile=plain)
    assert t.speaker.astype(str).tolist() == ["agent"]
    assert (t.start_s.iloc[0], t.end_s.iloc[0]) == (0.0, 4.0)
    assert t.text.tolist() == ["a b"] and t.segment_count.tolist() == [2]


def test_empty_and_missing_texts_are_skipped_when_joining():
    df = segments(
        [
            {"start_s": 0.0, "end_s": 1.0, "text": "  one "},
            {"start_s": 1.0, "end_s": 2.0, "text": None},
            {"start_s": 2.0, "end_s": 3.0, "text": ""},
            {"start_s": 3.0, "end_s": 4.0, "text": "two"},
        ]
    )
    # blank-text finals are not speech (the recogniser heard nothing): the 2 s between
    # "one" and "two" is a pause longer than max_gap, so two turns
    assert turns(df).text.tolist() == ["one", "two"]
    assert turns(df, max_gap=2.0).text.tolist() == ["one two"]


def test_unsorted_input_and_several_conversations():
    df = segments(
        [
            {"conversation_id": "b", "start_s": 5.0, "end_s": 6.0, "text": "b2"},
            {"conversation_id": "a", "start_s": 1.0, "end_s": 2.0, "text": "a1"},
            {"conversation_id": "b", "start_s": 0.0, "end_s": 1.0, "text": "b1"},
            {"conversation_id": "a", "speaker": "customer", "start_s": 3.0, "end_s": 4.0},
        ]
    )
    t = turns(df)
    assert t.conversation_id.astype(str).tolist() == ["a", "a", "b", "b"]
    assert t.turn_index.tolist() == [0, 1, 0, 1]
    assert t.text.tolist()[0] == "a1" and t.text.tolist()[2:] == ["b1", "b2"]


def test_bad_rows_and_arguments_are_named():
    df = segments([{"start_s": float("nan"), "end_s": 1.0}])
    with pytest.raises(ValueError, match="start_s is missing, first at index 0"):
        turns(df)
    with pytest.raises(ValueError, match="max_gap"):
        turns(segments([{"start_s": 0.0, "end_s": 1.0}]), max_gap=-1)


def test_empty_input():
    t = turns(segments([]))
    assert len(t) == 0 and list(t.columns) == [*TURNS.names, "backchannel"]
