"""Exporters, each read back by an independent reader."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import textgrids
import webvtt
from pyannote.database.util import load_rttm

from diarkit.analysis import (
    parse_rttm,
    to_ctm,
    to_json,
    to_rttm,
    to_srt,
    to_textgrid,
    to_webvtt,
    turns,
)
from diarkit.analysis.exports import vtt_shift_s
from diarkit.schema import SchemaError

from ._frames import segments


def call(conversation: str = "c1") -> pd.DataFrame:
    words = [
        {"word": "hello", "start_s": 0.5, "end_s": 0.9, "confidence": 0.9},
        {"word": "there", "start_s": 1.0, "end_s": 1.6, "confidence": None},
    ]
    return segments(
        [
            {
                "speaker": "agent",
                "start_s": 0.5,
                "end_s": 1.6,
                "text": "hello there",
                "confidence": 0.8,
                "words": words,
            },
            {
                "speaker": "customer",
                "start_s": 1.4,
                "end_s": 3.25,
                "text": "a <b> & c",
                "confidence": 0.7,
                "words": [
                    {"word": "a", "start_s": 1.4, "end_s": 1.5, "confidence": 0.6},
                    {"word": "New York", "start_s": 1.6, "end_s": 3.25, "confidence": 0.95},
                ],
            },
            {
                "speaker": "agent",
                "start_s": 3661.0,
                "end_s": 3662.5,
                "text": "later",
                "confidence": float("nan"),
                "words": [],
            },
            {"speaker": "agent", "start_s": 4000.0, "end_s": 4000.0, "text": "", "words": None},
        ],
        words=True,
    ).assign(conversation_id=conversation)


def test_rttm_reads_back_with_pyannote(tmp_path):
    df = pd.concat([call("c1"), call("c2")], ignore_index=True)
    text = to_rttm(df)
    lines = text.splitlines()
    assert lines[0] == "SPEAKER c1 1 0.500 1.100 <NA> <NA> agent <NA> <NA>"
    assert len(lines) == 6  # the zero-length row is not a turn
    path = tmp_path / "calls.rttm"
    path.write_text(text)
    annotations = load_rttm(path)
    assert set(annotations) == {"c1", "c2"}
    chart = dict(annotations["c1"].chart())
    assert chart["agent"] == pytest.approx(1.1 + 1.5)
    assert chart["customer"] == pytest.approx(1.85)
    back = parse_rttm(text)
    assert back.end_s.tolist()[:3] == pytest.approx([1.6, 3.25, 3662.5])


def test_rttm_rejects_whitespace_in_labels_and_parse_names_bad_lines():
    df = call().assign(speaker="the agent")
    with pytest.raises(ValueError, match="speaker 'the agent' contains whitespace"):
        to_rttm(df)
    with pytest.raises(ValueError, match="line 2"):
        parse_rttm(";; comment\nSPEAKER c1 1 zero 1.0 <NA> <NA> a <NA> <NA>\n")


def test_webvtt_reads_back_with_voices():
    text = to_webvtt(call())
    vtt = webvtt.from_string(text)
    cues = list(vtt)
    assert len(cues) == 3  # the empty-text row has no cue
    assert [c.voice for c in cues] == ["agent", "customer", "agent"]
    assert cues[0].start == "00:00:00.500" and cues[0].end == "00:00:01.600"
    assert cues[2].start == "01:01:01.000"
    assert "&lt;b&gt; &amp;" in cues[1].raw_text
    assert cues[0].text == "hello there"


def test_srt_reads_back(tmp_path):
    path = tmp_path / "call.srt"
    path.write_text(to_srt(call()))
    cues = list(webvtt.from_srt(str(path)))
    # SRT has no escaping: text goes out verbatim (webvtt-py's .text strips tag-like <b>)
    texts = [c.raw_text for c in cues]
    assert texts == ["agent: hello there", "customer: a <b> & c", "agent: later"]
    assert cues[1].start == "00:00:01.400" and cues[1].end == "00:00:03.250"
    assert to_srt(call(), speaker_prefix=False).splitlines()[2] == "hello there"


def test_one_conversation_per_subtitle_or_textgrid():
    df = pd.concat([call("c1"), call("c2")], ignore_index=True)
    for export in (to_webvtt, to_srt, to_textgrid):
        with pytest.raises(ValueError, match="holds 2 conversations"):
            export(df)


def test_textgrid_has_one_tier_per_speaker():
    df = call()
    df.loc[len(df) - 1, ["start_s", "end_s", "text"]] = [3661.5, 3663.0, "say hi"]
    grid = textgrids.TextGrid()
    grid.parse(to_textgrid(df).encode())
    assert set(grid) == {"agent", "customer"}
    agent = [(i.xmin, i.xmax, i.text) for i in grid["agent"]]
    # overlapping agent rows merge into one interval; gaps are empty intervals
    assert agent[:3] == [(0.0, 0.5, ""), (0.5, 1.6, "hello there"), (1.6, 3661.0, "")]
    assert agent[3] == (3661.0, 3663.0, "later say hi")
    assert grid["agent"][-1].xmax == grid["customer"][-1].xmax == 3663.0
    customer = [i.text for i in grid["customer"]]
    assert customer == ["", "a <b> & c", ""]


def test_textgrid_doubles_quotes_as_praat_does():
    df = call().assign(text='say "hi"')
    assert 'text = "say ""hi""" ' in to_textgrid(df)


def test_textgrid_from_turns_and_bounds():
    t = turns(call())
    grid = textgrids.TextGrid()
    grid.parse(to_textgrid(t, xmax=4000.0).encode())
    assert grid["agent"][-1].xmax == 4000.0
    with pytest.raises(ValueError, match="outside"):
        to_textgrid(t, xmax=10.0)


def test_ctm_is_word_level_with_confidence():
    text = to_ctm(call())
    rows = pd.read_csv(
        pd.io.common.StringIO(text),
        sep=r"\s+",
        header=None,
        names=["file", "chnl", "start", "dur", "word", "conf"],
    )
    assert rows.word.tolist() == ["hello", "there", "a", "New_York"]
    assert rows.start.tolist() == [0.5, 1.0, 1.4, 1.6]
    assert rows.dur.tolist() == pytest.approx([0.4, 0.6, 0.1, 1.65])
    assert rows.conf.tolist() == [0.9, 0.8, 0.6, 0.95]  # 'there' takes its segment's 0.8
    with pytest.raises(ValueError, match="no 'words' column"):
        to_ctm(call().drop(columns=["words"]))


def test_json_has_the_tutorial_export_shape():
    df = call()
    df["received_at"] = pd.Timestamp("2024-05-01T10:00:00Z")
    doc = json.loads(to_json(df))
    assert doc["totalSegments"] == 4 == len(doc["segments"])
    first = doc["segments"][0]
    assert set(first) == {
        "conversation_id",
        "speaker",
        "text",
        "start_seconds",
        "end_seconds",
        "confidence",
        "is_final",
        "timestamp",
    }
    assert first["start_seconds"] == 0.5 and first["is_final"] is True
    assert first["timestamp"].startswith("2024-05-01T10:00:00")
    assert doc["segments"][2]["confidence"] is None
    turns_doc = json.loads(to_json(turns(call())))
    assert turns_doc["segments"][0]["timestamp"] is None


def test_minimal_tables_export_and_missing_columns_are_named():
    minimal = parse_rttm(to_rttm(call()))
    assert to_rttm(minimal) == to_rttm(call())
    with pytest.raises(SchemaError, match=r"lacks column\(s\) \['text'\]"):
        to_webvtt(minimal)


def test_json_escapes_every_string_exactly():
    nasty = 'quote " back \\ slash\nnew\ttab \x01 ctrl é ✓ 😀 </script>'
    df = call().assign(text=nasty, speaker="agent")
    df.loc[1, "text"] = None
    df["start_at"] = pd.Timestamp("2024-05-01T09:00:00.5Z")
    doc = json.loads(to_json(df))
    texts = [s["text"] for s in doc["segments"]]
    assert texts[0] == nasty and texts[1] is None
    assert doc["segments"][0]["timestamp"] == "2024-05-01T09:00:00.500000Z"
    assert json.loads(to_json(call().iloc[:0])) == {"totalSegments": 0, "segments": []}


HOSTILE = "one\u2028two\u2029three\x85four\x0bfive\x0csix\xa0seven\u202feight\r\nnine"


def test_every_unicode_line_break_and_space_is_normalised_one_cue_per_line(tmp_path):
    df = segments(
        [
            {"speaker": "agent", "start_s": 0.0, "end_s": 1.0, "text": HOSTILE},
            {"speaker": "customer", "start_s": 1.5, "end_s": 2.0, "text": "fine\u2028thanks"},
        ]
    )
    want = "one two three four five six seven eight nine"
    vtt = to_webvtt(df)
    cues = list(webvtt.from_string(vtt))
    assert [c.text for c in cues] == [want, "fine thanks"]
    # str.splitlines() breaks on U+2028/U+2029/NEL/VT/FF: none may be left in any export
    for text in (vtt, to_srt(df), to_textgrid(df), to_rttm(df)):
        assert not any(ch in text for ch in "\u2028\u2029\x85\x0b\x0c\xa0\u202f"), text
    assert len(to_srt(df).splitlines()) == 8  # 2 cues x (number, times, text, blank)
    path = tmp_path / "c.srt"
    path.write_text(to_srt(df), encoding="utf-8")
    assert [c.raw_text for c in webvtt.from_srt(str(path))] == [f"agent: {want}",
                                                                "customer: fine thanks"]
    # JSON keeps the text exactly (escaped), on one line per file
    assert json.loads(to_json(df))["segments"][0]["text"] == HOSTILE
    assert len(to_json(df).splitlines()) == len(to_json(df).split("\n"))
    # labels with a Unicode separator are refused where whitespace separates fields
    with pytest.raises(ValueError, match="contains whitespace"):
        to_rttm(df.assign(speaker="a\u2028b"))


def test_ctm_words_never_contain_a_unicode_space():
    words = [{"word": "New\u00a0York\u2028City", "start_s": 0.0, "end_s": 1.0, "confidence": 0.9}]
    df = segments([{"speaker": "agent", "start_s": 0.0, "end_s": 1.0, "text": "x",
                    "words": words}], words=True)
    line = to_ctm(df).splitlines()[0]
    assert line.split(" ")[4] == "New_York_City"


def test_negative_times_from_early_transcription_hand_computed():
    # speech 0.4 s before the session start, then 1.0-2.0 s (seconds on the session clock)
    df = segments(
        [
            {"start_s": -0.4, "end_s": 0.6, "text": "early hello"},
            {"speaker": "customer", "start_s": 1.0, "end_s": 2.0, "text": "hi"},
        ]
    )
    # WebVTT/SRT: every cue + 0.400 s, durations and spacing kept
    assert vtt_shift_s(df) == pytest.approx(0.4)
    vtt = to_webvtt(df)
    assert "NOTE times are seconds from the transcription session start plus 0.400 s" in vtt
    assert "00:00:00.000 --> 00:00:01.000\n<v agent>early hello" in vtt
    assert "00:00:01.400 --> 00:00:02.400\n<v customer>hi" in vtt
    srt = to_srt(df)
    assert srt.splitlines()[1] == "00:00:00,000 --> 00:00:01,000"
    assert srt.splitlines()[5] == "00:00:01,400 --> 00:00:02,400"
    # RTTM/CTM/JSON/TextGrid: the session clock, negative onsets written as such
    rttm = to_rttm(df)
    assert rttm.splitlines()[0] == "SPEAKER c1 1 -0.400 1.000 <NA> <NA> agent <NA> <NA>"
    assert parse_rttm(rttm)["start_s"].tolist() == [-0.4, 1.0]
    assert json.loads(to_json(df))["segments"][0]["start_seconds"] == -0.4
    grid = to_textgrid(df)
    assert "xmin = -0.4 " in grid.splitlines()[3]
    # nothing before 0: no shift, no note
    later = df.assign(start_s=df["start_s"] + 1.0, end_s=df["end_s"] + 1.0)
    assert vtt_shift_s(later) == 0.0 and "NOTE" not in to_webvtt(later)
    # a fraction of a millisecond is not shifted: -0.0001 s rounds to 0 ms
    assert vtt_shift_s(df.assign(start_s=[-0.0001, 1.0])) == 0.0
