"""The pure call generator: wire shape, realism, determinism, offline streaming."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import statistics
from collections import defaultdict

import orjson
import pytest

from diarkit.genesys import ConversationEvent, TranscriptionEvent, parse_frame
from diarkit.sim import (
    build_scenario,
    iter_frames,
    post_call_transcript,
    rttm_lines,
    schedule,
    write_jsonl,
)


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=5, conversations=30, queues=3, agents=4,
                          call_duration_s=(60.0, 400.0), stagger_s=3.0)


@pytest.fixture(scope="module")
def frames(scenario):
    return schedule(scenario)


def test_every_frame_parses_and_is_real_wire_shape(frames) -> None:
    kinds = defaultdict(int)
    for f in frames:
        msg = parse_frame(f.text)
        kinds[msg.kind] += 1
        doc = orjson.loads(f.text)
        assert set(doc) == {"topicName", "version", "eventBody", "metadata"}
        assert doc["topicName"] == f.topic
        assert doc["metadata"]["CorrelationId"] == f.correlation_id
        assert orjson.dumps(doc).decode() == f.text  # plain compact JSON
    assert kinds["transcription"] > 150 and kinds["conversation"] >= 30 * 6
    assert set(kinds) == {"transcription", "conversation"}
    assert [f.at_ms for f in frames] == sorted(f.at_ms for f in frames)
    assert len({f.correlation_id for f in frames}) == len(frames)
    assert all(len(f.correlation_id) == 36 and f.correlation_id[14] == "4" for f in frames)


def test_same_seed_same_bytes_other_seed_differs(frames) -> None:
    again = schedule(build_scenario(seed=5, conversations=30, queues=3, agents=4,
                                    call_duration_s=(60.0, 400.0), stagger_s=3.0))
    assert [f.text for f in again] == [f.text for f in frames]
    other = schedule(build_scenario(seed=6, conversations=30, queues=3, agents=4,
                                    call_duration_s=(60.0, 400.0), stagger_s=3.0))
    assert [f.text for f in other][:50] != [f.text for f in frames][:50]


@pytest.mark.parametrize("grouping", ["per_frame", "grouped", "low_latency"])
def test_partials_grow_word_by_word_then_final_with_same_id(scenario, grouping) -> None:
    frames = schedule(dataclasses.replace(scenario, grouping=grouping))
    versions = defaultdict(list)
    for f in frames:
        msg = parse_frame(f.text)
        if isinstance(msg, TranscriptionEvent):
            for u in msg.utterances:
                versions[u.utterance_id].append(u)
    assert len(versions) > 500
    grew = cut = 0
    for uid, vs in versions.items():
        assert [v.is_final for v in vs] == [False] * (len(vs) - 1) + [True], uid
        counts = [len(v.best.words) for v in vs]
        final_words = [w.word for w in vs[-1].best.words]
        for v, n in zip(vs[:-1], counts, strict=False):
            words = [w.word for w in v.best.words]
            assert words[:-1] == final_words[: n - 1]  # a prefix of the final ...
            assert final_words[n - 1].startswith(words[-1])  # ... the newest word maybe cut
            assert v.best.transcript == " ".join(words)
            cut += words[-1] != final_words[n - 1]
        assert counts == sorted(set(counts))  # versions in order, each one longer
        if grouping != "grouped" and len(vs) > 1:  # grouped mode keeps every 2nd-4th partial
            assert counts == [*list(range(1, len(vs))), len(final_words)]
        grew += len(vs) > 1
        assert len({v.channel for v in vs}) == 1
    assert grew > 400 and cut > (100 if grouping != "grouped" else 30)


def test_calls_are_realistic(scenario) -> None:
    overlaps = backchannels = low = empty = holds = 0
    for plan in scenario.plans:
        us = plan.utterances
        first = min(us, key=lambda u: u.start_ms)
        assert first.party == ("agent" if plan.kind == "callback" else "ivr")
        assert {u.channel for u in us} <= {"INTERNAL", "EXTERNAL", "BOTH", "UNKNOWN"}
        spoken = [u for u in us if u.kind not in ("empty", "paused")]
        for a, b in itertools.pairwise(spoken):
            if b.start_ms < a.end_ms and a.party != b.party:
                overlaps += 1
        backchannels += sum(u.kind == "backchannel" for u in us)
        empty += sum(u.kind == "empty" and u.words == () for u in us)
        low += sum(u.kind == "speech" and u.confidence < 0.6 for u in us)
        holds += len(plan.holds_ms)
        for u in us:
            assert u.end_ms > u.start_ms
            assert all(0 <= c <= 1 for c in u.word_confidences)
            assert list(u.word_starts_ms) == sorted(u.word_starts_ms)
        gaps = [b.start_ms - a.end_ms for a, b in itertools.pairwise(spoken)]
        assert max(gaps) > 0
        if plan.kind == "abandoned":
            assert plan.agent_connect_ms is None and plan.user_id is None
        else:
            assert plan.queue_entry_ms < plan.agent_connect_ms < plan.duration_ms
    assert overlaps > 30 and backchannels > 20 and low > 10 and empty >= 1 and holds >= 3


@pytest.mark.parametrize("grouping", ["per_frame", "grouped", "low_latency"])
def test_status_messages_start_every_five_minutes_and_end(grouping) -> None:
    sc = build_scenario(seed=2, conversations=1, call_duration_s=(700.0, 720.0),
                        kinds=["basic"], grouping=grouping)
    plan = sc.plans[0]
    statuses = []
    last_transcript = 0
    for f in schedule(sc):
        msg = parse_frame(f.text)
        if isinstance(msg, TranscriptionEvent) and not msg.utterances:
            statuses.append((msg.status.status, msg.status.offset_ms))
            sent_at = f.at_ms - plan.start_ms
        elif isinstance(msg, TranscriptionEvent):
            last_transcript = msg.status.offset_ms
            assert not statuses or statuses[-1][0] == "SESSION_ONGOING"
    assert statuses[0] == ("SESSION_ONGOING", 250)
    assert statuses[1] == ("SESSION_ONGOING", 300_250)
    assert statuses[2] == ("SESSION_ONGOING", 600_250)
    # SESSION_ENDED is sent after the last transcript but says when the session ended
    assert statuses[-1] == ("SESSION_ENDED", plan.duration_ms)
    assert sent_at == max(plan.duration_ms, last_transcript) + 100
    assert len(statuses) == 4


def test_conversation_events_follow_the_call(scenario, frames) -> None:
    plan = next(p for p in scenario.plans if p.kind == "basic")
    events = [(f.at_ms - plan.start_ms, parse_frame(f.text)) for f in frames
              if f.conversation_id == plan.conversation_id and f.kind == "conversation"]
    assert all(isinstance(e, ConversationEvent) for _, e in events)
    queue_events = [(t, e) for t, e in events if e.topic_id == plan.queue_id]
    user_events = [(t, e) for t, e in events if e.topic_id == plan.user_id]
    # the queue topic carries the call from queue entry; the user topic from alerting
    assert queue_events[0][0] == plan.queue_entry_ms
    agent = next(p for p in plan.participants if p.purpose == "agent")
    assert user_events[0][0] == agent.start_ms and user_events[-1][0] == agent.acw_end_ms
    assert not queue_events[0][1].ended and queue_events[-1][1].ended
    assert [p.purpose for p in queue_events[0][1].participants] == ["customer", "ivr", "acd"]


@pytest.mark.parametrize("grouping", ["per_frame", "grouped"])
def test_iter_frames_streams_the_same_frames_as_the_scenario(grouping) -> None:
    # stagger 0.3 s: calls that start early (before their session) overtake earlier calls
    opts = {"queues": 2, "agents": 3, "call_duration_s": (30.0, 90.0), "stagger_s": 0.3,
            "grouping": grouping, "kinds": ["basic", "callback+early", "basic+early+hold"]}
    sc = build_scenario(seed=9, conversations=40, **opts)
    assert any("early" in p.features for p in sc.plans)
    expected = [f.text for f in schedule(sc)]
    assert list(iter_frames(40, 9, **opts)) == expected
    assert list(iter_frames(40, 9, n_frames=100, **opts)) == expected[:100]


def test_frame_sizes_are_typical(scenario, frames) -> None:
    one = schedule(dataclasses.replace(scenario, grouping="per_frame"))
    sizes = [len(f.text) for f in one if f.kind == "transcription"]
    assert 1000 <= statistics.median(sizes) <= 2500
    grouped = [f for f in frames if f.kind == "transcription"]
    per_frame = [len(orjson.loads(f.text)["eventBody"]["transcripts"]) for f in grouped]
    assert statistics.median(per_frame) >= 5  # several transcripts per frame
    assert statistics.median(len(f.text) for f in grouped) < 64_000


def test_write_jsonl_counts_and_gzip(tmp_path) -> None:
    n = write_jsonl(tmp_path / "f.jsonl", n_frames=500, seed=1)
    lines = (tmp_path / "f.jsonl").read_text().splitlines()
    assert n == len(lines) == 500
    assert all(parse_frame(line).kind in ("transcription", "conversation") for line in lines)
    assert all(orjson.loads(line)["topicName"].startswith("v2.") for line in lines)
    assert write_jsonl(tmp_path / "f.jsonl.gz", n_frames=500, seed=1) == 500
    assert gzip.decompress((tmp_path / "f.jsonl.gz").read_bytes()).decode().splitlines() == lines
    with pytest.raises(ValueError, match="n_frames or conversations"):
        write_jsonl(tmp_path / "x.jsonl")


def test_bad_scenario_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="call_duration_s"):
        build_scenario(call_duration_s=(50.0, 10.0))
    with pytest.raises(ValueError, match="queues"):
        build_scenario(queues=0)


def test_rttm_and_post_call_match_the_plan(scenario) -> None:
    plan = next(p for p in scenario.plans if p.kind == "basic")
    spoken = [u for u in plan.utterances if u.kind not in ("empty", "paused")]
    lines = [ln for ln in rttm_lines([plan])]
    assert len(lines) == len(spoken)
    fields = lines[0].split()
    assert fields[0] == "SPEAKER" and fields[1] == plan.conversation_id and fields[2] == "1"
    assert float(fields[3]) == spoken[0].start_ms / 1000
    assert fields[7] == "agent" and fields[5:7] == ["<NA>", "<NA>"] and fields[8:] == ["<NA>"] * 2
    assert {ln.split()[7] for ln in rttm_lines([plan], by="purpose")} <= {"ivr", "acd", "agent",
                                                                          "customer"}
    assert {ln.split()[7] for ln in rttm_lines([plan], by="party")} - {"ivr", "acd"} == {
        plan.user_id, "customer"}
    doc = post_call_transcript(plan)
    phrases = doc["transcripts"][0]["phrases"]
    assert [p["text"] for p in phrases] == [u.text for u in spoken]
    p0 = phrases[0]
    assert p0["startTimeMs"] == plan.session_start_epoch_ms + spoken[0].start_ms
    assert p0["duration"]["milliseconds"] == spoken[0].end_ms - spoken[0].start_ms
    assert p0["participantPurpose"] == "internal" and p0["phraseIndex"] == 0
    assert {"text", "decoratedText", "confidence", "stability", "words"} <= set(p0)
    assert p0["words"][0]["word"] == spoken[0].words[0]
    assert {p["participantPurpose"] for p in phrases} == {"internal", "external"}
    with pytest.raises(ValueError, match="by must be"):
        rttm_lines([plan], by="nope")


def test_vocabulary_needs_no_json_escaping() -> None:
    """The frame builder splices vocabulary text into JSON without escaping it."""
    from diarkit.sim import vocab

    texts = [t for name in dir(vocab) if name.isupper() and name not in vocab.NOT_SPOKEN
             for t in (getattr(vocab, name).values() if isinstance(getattr(vocab, name), dict)
                       else [getattr(vocab, name)])
             for t in t]
    assert len(texts) > 100
    for text in texts:
        assert orjson.dumps(text).decode() == f'"{text}"', text
        assert set(text) <= set("abcdefghijklmnopqrstuvwxyz -{}_"), text


def test_generator_is_pure() -> None:
    import subprocess
    import sys

    code = ("import sys; import diarkit.sim.generator, diarkit.sim.ground_truth; "
            "print([m for m in ('aiohttp', 'httpx', 'websocket', 'socket', 'asyncio') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
