"""Threshold, tie and invariance cases of talk_stats, each with a hand-computed answer.

Times are chosen so the float subtraction is *not* exact (5.3 - 2.3 = 2.9999999999999996,
1.1 - 0.1 = 1.0000000000000002): talk_stats compares on integer milliseconds, as the wire
sends them, so these still behave as the exact values they stand for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diarkit.analysis import finalize, talk_stats, turns
from diarkit.analysis.profiles import PROFILES, Profile, get_profile

from ._frames import intervals, segments


def row(stats, speaker, conv="c1"):
    sel = (stats.conversation_id.astype(str) == conv) & (stats.speaker.astype(str) == speaker)
    return stats[sel].iloc[0]


def test_gap_of_exactly_three_seconds_is_not_silence_by_default():
    assert 5.4 - 2.4 > 3.0  # the float difference is one ulp above 3
    df = intervals({"agent": [(0.0, 2.4)], "customer": [(5.4, 6.0)]})
    s = row(talk_stats(df), "agent")
    assert s.call_silence_count == 0 and s.call_silence_s == 0.0
    # NICE: "three or more seconds" is notable silence
    n = row(talk_stats(df, "nice"), "agent")
    assert n.call_silence_count == 1 and n.call_silence_s == pytest.approx(3.0)
    # one millisecond more is silence under every 3 s profile
    longer = intervals({"agent": [(0.0, 2.4)], "customer": [(5.401, 6.0)]})
    assert row(talk_stats(longer), "agent").call_silence_count == 1


def test_ccai_counts_silence_only_beyond_five_seconds_and_contact_lens_every_gap():
    df = intervals({"agent": [(0.0, 1.0), (6.0, 7.0)], "customer": [(7.5, 8.0)]})
    assert row(talk_stats(df, "ccai"), "agent").call_silence_count == 0  # exactly 5.000 s
    cl = row(talk_stats(df, "contact_lens"), "agent")
    assert cl.call_silence_count == 2 and cl.call_silence_s == pytest.approx(5.5)


def test_overlap_of_exactly_half_a_second_is_an_overtalk_episode():
    assert 4.1 - 3.6 < 0.5  # one ulp below 0.5
    df = intervals({"agent": [(0.0, 4.1)], "customer": [(3.6, 5.0)]})
    s = row(talk_stats(df), "agent")
    assert s.call_overtalk_count == 1 and s.call_overtalk_s == pytest.approx(0.5)
    shorter = intervals({"agent": [(0.0, 4.099)], "customer": [(3.6, 5.0)]})
    assert row(talk_stats(shorter), "agent").call_overtalk_count == 0


def test_pause_of_exactly_one_second_stays_inside_the_turn():
    assert 2.2 - 1.2 > 1.0  # one ulp above 1
    df = intervals({"agent": [(0.0, 1.2), (2.2, 3.0)]})
    assert row(talk_stats(df), "agent").turn_count == 1
    assert len(turns(df)) == 1
    split = intervals({"agent": [(0.0, 1.2), (2.201, 3.0)]})
    assert row(talk_stats(split), "agent").turn_count == 2
    assert len(turns(split)) == 2


def test_turns_that_start_at_the_same_instant_are_ordered_the_same_whatever_the_input_order():
    spec = {"agent": [(0.0, 2.0), (4.0, 5.0)], "customer": [(0.0, 3.0), (4.0, 6.0)]}
    df = intervals(spec)
    base = talk_stats(df)
    # hand-computed: sorted by (start, end, speaker): agent 0-2, customer 0-3, agent 4-5,
    # customer 4-6; responses: customer at 0 (0 - 2 = -2), agent at 4 (4 - 3 = 1),
    # customer at 4 (4 - 5 = -1)
    assert row(base, "agent").response_count == 1
    assert row(base, "agent").response_latency_mean_s == pytest.approx(1.0)
    assert row(base, "customer").response_count == 2
    assert row(base, "customer").response_latency_mean_s == pytest.approx(-1.5)
    rng = np.random.default_rng(3)
    for _ in range(5):
        shuffled = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
        pd.testing.assert_frame_equal(talk_stats(shuffled), base)


def test_renaming_a_speaker_never_changes_a_count():
    df = intervals({"agent": [(0, 2), (2.5, 4), (9, 10)], "customer": [(1.5, 3), (4.2, 8.5)]})
    a = talk_stats(df)
    renamed = df.assign(speaker=df["speaker"].cat.rename_categories({"agent": "zz-agent"}))
    b = talk_stats(renamed)
    cols = [c for c in a.columns if c not in ("speaker",)]
    pd.testing.assert_frame_equal(
        a.sort_values("talk_time_s")[cols].reset_index(drop=True),
        b.sort_values("talk_time_s")[cols].reset_index(drop=True),
        check_categorical=False,
    )


def test_confidence_changes_what_is_said_never_whether_someone_spoke():
    df = segments(
        [
            {"speaker": "agent", "start_s": 0.0, "end_s": 3.0, "word_count": 6, "confidence": 0.9},
            {"speaker": "customer", "start_s": 3.5, "end_s": 5.0, "word_count": 3,
             "confidence": 0.3},
            {"speaker": "agent", "start_s": 9.0, "end_s": 12.0, "word_count": 6, "confidence": 0.4},
        ]
    )
    stats = {c: talk_stats(df, min_confidence=c) for c in (0.0, 0.5, 0.95)}
    for col in ("talk_time_s", "turn_count", "call_silence_s", "call_silence_count"):
        values = {float(row(s, "agent")[col]) for s in stats.values()}
        assert len(values) == 1, col
    assert row(stats[0.0], "agent").word_count == 12
    assert row(stats[0.5], "agent").word_count == 6
    assert row(stats[0.5], "customer").word_count == 0
    # words per minute over the speech whose words are kept: 6 words in 3 s
    assert row(stats[0.5], "agent").words_per_minute == pytest.approx(120.0)
    assert row(stats[0.0], "agent").call_silence_s == pytest.approx(4.0)  # 5.0 -> 9.0


def test_unfinalized_input_is_finalized_or_refused():
    rows = [
        {"utterance_id": "u1", "is_final": False, "start_s": 0.0, "end_s": 1.0, "word_count": 2},
        {"utterance_id": "u1", "is_final": False, "start_s": 0.0, "end_s": 2.0, "word_count": 4},
        {"utterance_id": "u1", "is_final": True, "start_s": 0.0, "end_s": 3.0, "word_count": 6},
    ]
    df = segments([{**r, "order": i, "seq": i} for i, r in enumerate(rows)])
    got = row(talk_stats(df), "agent")
    want = row(talk_stats(finalize(df).segments), "agent")
    assert got.word_count == want.word_count == 6
    assert got.words_per_minute == pytest.approx(120.0)
    with pytest.raises(ValueError, match="unfinalized row"):
        talk_stats(df, get_profile().replace(unfinalized="error"))
    # the same final version received twice is counted once
    twice = segments([{**rows[2], "order": 0, "seq": 0}, {**rows[2], "order": 1, "seq": 1}])
    assert row(talk_stats(twice), "agent").word_count == 6


def test_backchannels_neither_end_the_other_turn_nor_count_as_responses():
    # agent speaks 0-3, customer says "mm-hm" 3.2-3.6, agent goes on 3.9-6 (pause 0.9 s);
    # then the customer answers at 6.5
    df = intervals(
        {"agent": [(0.0, 3.0), (3.9, 6.0)], "customer": [(3.2, 3.6), (6.5, 9.0)]}
    )
    s = talk_stats(df)
    assert row(s, "agent").turn_count == 1
    assert row(s, "agent").turn_max_s == pytest.approx(6.0)
    # the backchannel is a turn of the customer but not a response; the answer is
    assert row(s, "customer").turn_count == 2
    assert row(s, "customer").response_count == 1
    assert row(s, "customer").response_latency_mean_s == pytest.approx(0.5)
    asked = talk_stats(df, get_profile().replace(backchannel_ends_turn=True,
                                                 backchannel_is_response=True))
    assert row(asked, "agent").turn_count == 2
    assert row(asked, "customer").response_count == 2
    # a short answer after a long pause is a response, not a backchannel
    answer = intervals({"agent": [(0.0, 3.0), (6.0, 8.0)], "customer": [(3.2, 3.6)]})
    a = talk_stats(answer)
    assert row(a, "customer").response_count == 1 and row(a, "agent").turn_count == 2


def test_profiles_are_frozen_named_and_validated():
    assert set(PROFILES) == {"default", "genesys", "contact_lens", "ccai", "nice"}
    assert get_profile("nice").silence_inclusive and get_profile("ccai").min_silence_s == 5.0
    assert get_profile(None) is PROFILES["default"]
    p = Profile()
    with pytest.raises(AttributeError):
        p.min_silence_s = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown profile 'bogus'"):
        get_profile("bogus")
    with pytest.raises(ValueError, match="min_confidence must be within 0-1"):
        p.replace(min_confidence=2.0)
    for prof in PROFILES.values():
        assert prof.name in PROFILES and (prof.name == "default" or prof.source.startswith("https://"))


def test_turns_table_follows_the_same_rules_as_talk_stats():
    df = intervals({"agent": [(0.0, 3.0), (3.9, 6.0)], "customer": [(3.2, 3.6), (6.5, 9.0)]})
    t = turns(df)
    assert t["speaker"].astype(str).tolist() == ["agent", "customer", "customer"]
    assert t["backchannel"].tolist() == [False, True, False]
    assert t.iloc[0].end_s == 6.0 and t.iloc[0].segment_count == 2
    assert t.iloc[0].text == "w0 w1"  # the agent's two segments, in time order
    stats = talk_stats(t)
    assert row(stats, "agent").turn_count == 1


def test_turns_of_unfinalized_input_never_repeat_a_partial_version():
    rows = [
        {"utterance_id": "u1", "is_final": False, "start_s": 0.0, "end_s": 1.0, "text": "hel"},
        {"utterance_id": "u1", "is_final": False, "start_s": 0.0, "end_s": 2.0,
         "text": "hello the"},
        {"utterance_id": "u1", "is_final": True, "start_s": 0.0, "end_s": 3.0,
         "text": "hello there"},
    ]
    df = segments([{**r, "order": i, "seq": i} for i, r in enumerate(rows)])
    assert turns(df)["text"].tolist() == ["hello there"]
    with pytest.raises(ValueError, match="turns\\(\\): 2 unfinalized row"):
        turns(df, profile=get_profile().replace(unfinalized="error"))
