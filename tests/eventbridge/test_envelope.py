"""The pure EventBridge envelope parser: fields, verbatim detail, errors with JSON paths."""

from __future__ import annotations

import json

import pytest

from diarkit.genesys import ProtocolError, parse_frame
from diarkit.genesys.eventbridge import BadRecord, iter_envelopes, parse_envelope, wrap_frame
from tests.io.conftest import transcription_frame

from .conftest import ORG


def _event(eid: str = "e-1", **kw: object) -> str:
    frame = transcription_frame(cid="conv-9", utterances=2)
    return wrap_frame(frame, event_id=eid, organization_id=ORG, time="2026-12-05T09:00:00Z", **kw)


def test_envelope_fields_and_the_frame_inside():
    frame = transcription_frame(cid="conv-9", utterances=2)
    text = _event()
    ev = parse_envelope(text)
    assert ev.id == "e-1"
    assert ev.detail_type == "v2.conversations.{id}.transcription"
    assert ev.source == f"aws.partner/genesys.com/cloud/{ORG}/transcription"
    assert ev.organization_id == ORG
    assert (ev.time, ev.account, ev.region, ev.replay_name) == (
        "2026-12-05T09:00:00Z",
        "123456789012",
        "us-east-1",
        None,
    )
    assert ev.topic == "v2.conversations.conv-9.transcription"
    assert ev.timestamp == "2026-12-05T09:00:00Z"
    # detail is the exact text inside the event, and the frame parser reads it as the frame
    assert ev.detail in text.encode()
    assert parse_frame(ev.detail) == parse_frame(frame)
    assert json.loads(ev.detail) == {**json.loads(frame), "timestamp": "2026-12-05T09:00:00Z"}


def test_detail_is_verbatim_whatever_the_spacing():
    doc = json.loads(_event())
    pretty = json.dumps(doc, indent=3)
    ev = parse_envelope(pretty.encode())
    inner = json.dumps(doc["detail"], indent=3).replace("\n", "\n   ")
    assert ev.detail.decode() == inner
    assert parse_frame(ev.detail) == parse_frame(parse_envelope(_event()).detail)


def test_replay_name_and_unknown_members_are_read():
    doc = json.loads(_event())
    doc["replay-name"] = "backfill-2026-12-04"
    doc["extra"] = {"x": [1, 2]}
    ev = parse_envelope(json.dumps(doc))
    assert ev.replay_name == "backfill-2026-12-04"


def _broken(mutate) -> str:
    doc = json.loads(_event())
    mutate(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("not json", "$", "expected an object"),
        ("[1, 2]", "$", "expected an object"),
        ('{"id": "x", ', "$", "not valid JSON"),
        (_broken(lambda d: d.pop("id")), "$.id", "required field is missing"),
        (_broken(lambda d: d.update(id=7)), "$.id", "expected a string, got number"),
        (_broken(lambda d: d.update(id="")), "$.id", "must not be empty"),
        (_broken(lambda d: d.pop("detail-type")), "$.detail-type", "required field is missing"),
        (_broken(lambda d: d.update(source=None)), "$.source", "required field is missing"),
        (_broken(lambda d: d.pop("detail")), "$.detail", "required field is missing"),
        (_broken(lambda d: d.update(detail="x")), "$.detail", "expected an object, got string"),
        (_broken(lambda d: d["detail"].pop("topicName")), "$.detail.topicName", "missing"),
        (_broken(lambda d: d.update(time=5)), "$.time", "expected a string, got number"),
        (_event() + " {}", "$", "unexpected data after the event"),
    ],
)
def test_errors_name_the_json_path(text, path, reason):
    with pytest.raises(ProtocolError) as err:
        parse_envelope(text)
    assert err.value.path == path
    assert reason in err.value.reason


def test_invalid_utf8_is_an_error():
    with pytest.raises(ProtocolError, match="not valid UTF-8 at byte 1"):
        parse_envelope(b'{\xff"id"')


def test_a_bad_frame_inside_a_good_envelope_is_the_frame_parser_s_business():
    text = _broken(lambda d: d["detail"]["eventBody"].update(transcripts="x"))
    ev = parse_envelope(text)
    with pytest.raises(ProtocolError) as err:
        parse_frame(ev.detail)
    assert err.value.path == "$.eventBody.transcripts"


def test_firehose_objects_concatenated_lines_and_mixed():
    a, b, c = _event("a"), _event("b"), _event("c")
    for text in (a + b + c, f"{a}\n{b}\n{c}\n", f"{a}{b}\n\n{c}", f" \n{a}\r\n{b}  {c}"):
        items = list(iter_envelopes(text))
        assert [i.id for _, _, i in items] == ["a", "b", "c"]
        for offset, _line, item in items:
            assert text[offset:].startswith("{")
            assert parse_envelope(text[offset : offset + len(a)]).id == item.id
    lines = [line for _, line, _ in iter_envelopes(f"\n\n{a}\n{b}{c}\n\n{a}")]
    assert lines == [3, 4, 4, 6]


def test_damaged_records_are_reported_and_reading_resumes():
    a, b, c = _event("a"), _event("b"), _event("c")
    truncated = b[: len(b) // 2]
    text = f'{a}\n{truncated}\n{c}{{garbage{a}{{"x": 1}}{c}'
    items = [(line, item) for _, line, item in iter_envelopes(text)]
    kinds = [type(i).__name__ if isinstance(i, BadRecord) else i.id for _, i in items]
    assert kinds == ["a", "BadRecord", "c", "BadRecord", "a", "BadRecord", "c"]
    bad = [i for _, i in items if isinstance(i, BadRecord)]
    assert bad[0].line == 2 and "not valid JSON" in bad[0].reason
    assert bad[0].text == truncated
    assert bad[1].text == "{garbage"
    assert bad[2].reason == "$.id: required field is missing" and bad[2].text == '{"x": 1}'
