"""``order`` is unique across a dataset, so the latest version wins across part files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from diarkit import finalize, load_segments
from diarkit.io.dataset import write_raw_part
from diarkit.io.raw import build_raw_table

FRAMES = Path(__file__).parent.parent / "data" / "frames"


def _partial(text: str) -> bytes:
    doc = orjson.loads((FRAMES / "transcription.json").read_bytes())
    utterance = doc["eventBody"]["transcripts"][0]  # a partial on EXTERNAL
    utterance["alternatives"][0]["transcript"] = text
    doc["eventBody"]["transcripts"] = [utterance]
    return orjson.dumps(doc)


def test_versions_in_later_parts_supersede_earlier_ones(tmp_path):
    t0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    texts = ["i would", "i would like", "i would like to pay"]
    for seq, text in enumerate(texts):
        raw = build_raw_table(
            [_partial(text)], session_id="s1", start_seq=seq,
            received_at=t0 + timedelta(seconds=seq), source="test",
        )
        write_raw_part(tmp_path, raw, session_id="s1", seq=seq)
    segments = load_segments(tmp_path)
    assert list(segments["text"]) == texts
    assert list(segments["order"]) == [0, 1, 2]
    for seed in range(3):  # row order must not matter: ``order`` decides
        shuffled = segments.sample(frac=1, random_state=seed)
        result = finalize(shuffled, keep_partial=True)
        assert list(result.segments["text"]) == ["i would like to pay"]
