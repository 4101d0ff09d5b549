"""Data from other tools: ``talk_stats`` on the four minimal columns (#16.6), pyannote
round trips and Excel export (diarkit.interop)."""

from __future__ import annotations

import pandas as pd
import pytest

from diarkit import finalize, load_segments, parse_rttm, talk_stats
from diarkit.datasets import sample
from diarkit.interop import from_pyannote, to_excel, to_pyannote

KEYS = ["conversation_id", "speaker"]


@pytest.fixture(scope="module")
def final():
    return finalize(load_segments(sample("frames.jsonl"))).segments


def _by_key(frame, cols):
    out = frame.assign(conversation_id=frame["conversation_id"].astype(str),
                       speaker=frame["speaker"].astype(str))
    return out.sort_values(KEYS).reset_index(drop=True)[KEYS + cols]


def test_talk_stats_takes_the_minimal_columns(final):
    cols = ["talk_time_s", "turn_count", "overtalk_s", "call_silence_s", "word_count"]
    minimal = final[["conversation_id", "speaker", "start_s", "end_s", "text"]].copy()
    minimal["conversation_id"] = minimal["conversation_id"].astype(str)  # plain strings
    minimal["speaker"] = minimal["speaker"].astype(str)
    minimal["text"] = minimal["text"].astype(object)
    ours = _by_key(talk_stats(minimal), cols)
    full = _by_key(talk_stats(final.assign(confidence=float("nan"))), cols)
    pd.testing.assert_frame_equal(ours, full, check_dtype=False)
    truth = parse_rttm(sample("truth.rttm").read_text())  # no text at all: all speech
    rttm = talk_stats(truth)
    assert len(rttm) == len(truth.groupby(["conversation_id", "speaker"], observed=True))
    assert (rttm["talk_time_s"] > 0).all() and (rttm["word_count"] == 0).all()


def test_missing_minimal_column_is_named(final):
    from diarkit.schema import SchemaError

    with pytest.raises(SchemaError, match="end_s"):
        talk_stats(final[["conversation_id", "speaker", "start_s"]])


def test_pyannote_round_trip(final):
    annotation = to_pyannote(final, "9b810e76")
    assert annotation.uri.startswith("9b810e76")
    chart = dict(annotation.chart())
    one = final[final["conversation_id"].astype(str) == annotation.uri]
    # every row is speech here (talk_stats of full SEGMENTS leaves blank-text finals out)
    stats = talk_stats(one[["conversation_id", "speaker", "start_s", "end_s"]]
                       .astype({"conversation_id": str, "speaker": str})).set_index("speaker")
    for speaker, seconds in chart.items():  # pyannote's union per label == talk_time_s
        assert seconds == pytest.approx(float(stats.loc[speaker, "talk_time_s"]), abs=1e-6)
    back = from_pyannote(annotation)
    assert list(back.columns) == ["conversation_id", "speaker", "start_s", "end_s"]
    assert len(back) == int((one["end_s"] > one["start_s"]).sum())
    again = talk_stats(back).set_index("speaker")["talk_time_s"]
    assert again.to_dict() == pytest.approx(stats["talk_time_s"].astype(float).to_dict())
    with pytest.raises(ValueError, match="3 conversations"):
        to_pyannote(final)


def test_excel_sheets_and_clear_errors(final, tmp_path):
    stats = talk_stats(final)
    path = to_excel({"talk_stats": stats, "segments": final.head(20)}, tmp_path / "s.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets) == ["talk_stats", "segments"] and len(sheets["talk_stats"]) == len(stats)
    with pytest.raises(ValueError, match="31 characters"):
        to_excel({"x" * 32: stats}, tmp_path / "bad.xlsx")


def test_excel_without_openpyxl_names_the_extra(final, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'diarkit\[excel\]'"):
        to_excel(talk_stats(final), tmp_path / "s.xlsx")
    assert not (tmp_path / "s.xlsx").exists()
