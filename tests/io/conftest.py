"""Fixtures for the io tests: golden frames and small hand-made frames."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

FRAMES = Path(__file__).parent.parent / "data" / "frames"


def golden(name: str) -> bytes:
    """A golden frame as compact bytes (one line)."""
    return orjson.dumps(orjson.loads((FRAMES / f"{name}.json").read_bytes()))


def transcription_frame(
    cid: str = "conv-1",
    utterances: int = 2,
    offset_ms: int = 1000,
    final: bool = True,
    session_start_ms: int = 1795513500000,
    event_time: str = "2026-11-24T10:15:42.318Z",
) -> bytes:
    """A compact transcription frame with ``utterances`` utterances alternating channels."""
    transcripts = []
    for i in range(utterances):
        off = offset_ms + 2000 * i
        transcripts.append(
            {
                "utteranceId": f"{cid}-u{i}",
                "isFinal": final,
                "channel": "INTERNAL" if i % 2 == 0 else "EXTERNAL",
                "alternatives": [
                    {
                        "confidence": 0.9,
                        "offsetMs": off,
                        "durationMs": 1500,
                        "transcript": f"hello number {i}",
                        "words": [
                            {
                                "word": "hello",
                                "confidence": 0.9,
                                "offsetMs": off,
                                "durationMs": 500,
                            },
                            {
                                "word": "number",
                                "confidence": 0.8,
                                "offsetMs": off + 500,
                                "durationMs": 500,
                            },
                            {
                                "word": str(i),
                                "confidence": 0.7,
                                "offsetMs": off + 1000,
                                "durationMs": 500,
                            },
                        ],
                    }
                ],
            }
        )
    return orjson.dumps(
        {
            "topicName": f"v2.conversations.{cid}.transcription",
            "version": "2",
            "eventBody": {
                "eventTime": event_time,
                "conversationId": cid,
                "communicationId": f"{cid}-comm",
                "sessionStartTimeMs": session_start_ms,
                "status": {"offsetMs": offset_ms, "status": "SESSION_ONGOING"},
                "transcripts": transcripts,
            },
            "metadata": {"CorrelationId": "c"},
        }
    )


@pytest.fixture
def all_golden() -> list[bytes]:
    """Every golden frame, compact, sorted by name."""
    return [golden(p.stem) for p in sorted(FRAMES.glob("*.json"))]
