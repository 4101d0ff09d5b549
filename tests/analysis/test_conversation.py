"""The conversation model on real Parquet datasets: sources, phases, attribution, call time."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from diarkit.analysis import fleet_stats, talk_stats
from diarkit.analysis.conversation import attribute, by_party, reconcile
from diarkit.io.convert import convert
from diarkit.io.load import (
    conversation_stats,
    load_conversation_model,
    load_conversations,
    load_phases,
    load_segments,
)
from diarkit.schema import CONVERSATIONS, PARTICIPANTS, PHASES, validate

from ._frames import segments

SAMPLE = "data/sample"
CALL = "9b810e76-6ec9-4286-a3ca-828dd5f4b3b2"  # the call with a post-call transcript too


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """data/sample converted: live frames + the post-call transcript of one call."""
    out = tmp_path_factory.mktemp("both") / "ds"
    convert([SAMPLE], out)
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Only the live frames of data/sample."""
    src = tmp_path_factory.mktemp("live-src")
    shutil.copy(f"{SAMPLE}/frames.jsonl", src / "frames.jsonl")
    out = tmp_path_factory.mktemp("live") / "ds"
    convert([src], out)
    return out


def test_sources_are_merged_never_added(both, live):
    seg = load_segments(both, source=True)
    assert set(seg["source"].astype(str)) == {"live", "import"}
    a = conversation_stats(both)
    b = conversation_stats(live)
    pd.testing.assert_frame_equal(a, b)  # the post-call transcript adds nothing
    plain = talk_stats(load_segments(both, source=True))
    only_live = talk_stats(load_segments(live))
    pd.testing.assert_series_equal(plain["talk_time_s"], only_live["talk_time_s"])
    pd.testing.assert_series_equal(plain["word_count"], only_live["word_count"])
    agent = plain[(plain.conversation_id == CALL) & (plain.speaker == "agent")].iloc[0]
    assert agent.talk_time_s == pytest.approx(30.706)  # INTERNAL (IVR + agent), not twice


def test_a_backfilled_phrase_fills_a_gap_but_never_doubles_live_speech():
    rows = [
        {"start_s": 0.0, "end_s": 2.0, "source": "live", "communication_id": "m1"},
        {"start_s": 5.0, "end_s": 6.0, "source": "live", "communication_id": "m1"},
        {"start_s": 0.1, "end_s": 1.9, "source": "backfill", "communication_id": "m1"},
        {"start_s": 2.5, "end_s": 4.5, "source": "backfill", "communication_id": "m1"},  # gap
        {"start_s": 5.5, "end_s": 7.0, "source": "import", "communication_id": "m1"},
        {"start_s": 8.0, "end_s": 9.0, "source": "live", "communication_id": "m2"},  # dup comm
        {"start_s": 8.0, "end_s": 9.0, "source": "live", "communication_id": "m1"},
    ]
    df = segments(rows)
    df["source"] = pd.Categorical([r["source"] for r in rows])
    kept, dropped = reconcile(df)
    assert sorted(kept["start_s"]) == [0.0, 2.5, 5.0, 8.0]
    assert sorted(dropped["start_s"]) == [0.1, 5.5, 8.0]
    # m1 has more speech than m2, so m1's copy of 8-9 s is kept
    assert kept[kept.start_s == 8.0]["communication_id"].astype(str).tolist() == ["m1"]
    with pytest.raises(ValueError, match="unknown source 'tape'"):
        reconcile(df.assign(source=pd.Categorical(["tape"] * len(df))))


def test_reconcile_aligns_backfill_by_absolute_time_and_sides():
    """The one merging rule: a post-call transcript on a clock 0.6 s off the live one is
    re-timed by ``start_at``; BOTH/UNKNOWN rows collide with either side; the other side's
    back-channel inside a live turn is kept."""
    t0 = pd.Timestamp("2026-11-24T09:00:00Z")
    at = lambda s: t0 + pd.Timedelta(seconds=s)  # noqa: E731
    rows = [
        {"start_s": 1.0, "end_s": 3.0, "start_at": at(1.0), "speaker": "agent"},
        {"start_s": 30.0, "end_s": 31.0, "start_at": at(30.0), "speaker": None,
         "channel": "BOTH"},
        # post-call phrases: their own clock starts 0.6 s earlier than the live one
        {"start_s": 1.6, "end_s": 3.6, "start_at": at(1.0), "speaker": "agent"},
        {"start_s": 10.6, "end_s": 12.6, "start_at": at(10.0), "speaker": "customer"},
        {"start_s": 2.0, "end_s": 2.4, "start_at": at(1.4), "speaker": "customer"},
        {"start_s": 30.6, "end_s": 31.6, "start_at": at(30.0), "speaker": "customer"},
    ]
    df = segments(rows)
    df["source"] = pd.Categorical(["live"] * 2 + ["backfill"] * 4,
                                  categories=["live", "backfill", "import"])
    kept, dropped = reconcile(df)
    assert sorted(dropped["start_s"].round(3)) == [1.0, 30.0]  # re-timed duplicates
    got = sorted(zip(kept["start_s"].round(3), kept["source"].astype(str), strict=True))
    assert got == [(1.0, "live"), (1.4, "backfill"), (10.0, "backfill"), (30.0, "live")]
    assert kept[kept.start_s.round(3) == 10.0]["end_s"].round(3).tolist() == [12.0]
    # without start_at nothing is re-timed: the 0.6 s shift stays
    plain = reconcile(df.assign(start_at=pd.NaT)).segments
    assert 10.6 in plain["start_s"].round(3).tolist()


def test_the_model_of_the_sample_call(both):
    model = load_conversation_model(both)
    validate(model.conversations, CONVERSATIONS)
    validate(model.participants, PARTICIPANTS)
    validate(model.phases, PHASES)
    conv = model.conversations.set_index("conversation_id").loc[CALL]
    assert conv.call_duration_s == pytest.approx(57.034)
    assert conv.start_at == pd.Timestamp("2026-11-24T09:00:00Z")
    assert conv.queue_id == "1e2feb89-414c-443c-9027-c4d1c386bbc4"
    assert list(conv.user_ids) == ["35bf992d-c9e9-4616-a12e-7696a6cecc1b"]
    assert conv.ended and not conv.abandoned and not conv.transferred
    ph = model.phases[model.phases.conversation_id == CALL]
    got = [(r.phase, round(r.start_s, 3), round(r.end_s, 3)) for r in ph.itertuples()]
    # IVR, queue, agent; the customer held 31.139 s until the event showing held: false
    # (a converted file: between the frames around it, 37.294 and 39.344 -> 38.319)
    assert got == [
        ("ivr", 0.0, 11.686),
        ("queue", 11.686, 14.617),
        ("talk", 14.617, 31.139),
        ("hold", 31.139, 38.319),
        ("talk", 38.319, 57.034),
        ("acw", 57.034, 64.405),
    ]
    # a converted file's receive time is its mtime: the model says the times are estimated
    assert set(ph[ph.phase != "acw"]["end_source"]) == {"estimated"}


def test_ivr_speech_is_not_the_agent(both):
    seg = load_segments(both, conversations=[CALL], source=True)
    model = load_conversation_model(both, [CALL])
    spoken = attribute(reconcile(seg[seg.is_final]).segments, model.phases)
    greeting = spoken[(spoken.start_s < 11.6) & (spoken.channel == "INTERNAL")]
    assert set(greeting["party"].astype(str)) == {"ivr"}
    assert set(spoken["attribution"].astype(str)) <= {"participant", "none"}
    agent = spoken[spoken.party == "agent"]
    assert set(agent["user_id"]) == {"35bf992d-c9e9-4616-a12e-7696a6cecc1b"}
    stats = talk_stats(by_party(spoken), phases=model.phases)
    parties = dict(zip(stats["speaker"].astype(str), stats["talk_time_s"], strict=True))
    assert parties["ivr"] == pytest.approx(10.347)
    assert parties["agent"] == pytest.approx(20.359)
    # a segment of a conversation without events is attributed to its channel
    unknown = attribute(seg.assign(conversation_id=seg["conversation_id"].astype(str) + "x"),
                        model.phases)
    assert set(unknown["attribution"].astype(str)) == {"channel"}


def test_silence_never_covers_hold_queue_ivr_or_unknown_time():
    df = segments(
        [
            {"speaker": "agent", "channel": "INTERNAL", "start_s": 0.0, "end_s": 1.0},
            {"speaker": "agent", "channel": "INTERNAL", "start_s": 20.0, "end_s": 21.0},
            {"speaker": "customer", "channel": "EXTERNAL", "start_s": 30.0, "end_s": 31.0},
        ]
    )
    phases = pd.DataFrame(
        {
            "conversation_id": ["c1"] * 5,
            "phase": ["ivr", "talk", "hold", "talk", "unknown"],
            "start_s": [0.0, 2.0, 6.0, 19.0, 25.0],
            "end_s": [2.0, 6.0, 19.0, 25.0, 32.0],
            "holder_purpose": ["ivr", "agent", "agent", "agent", None],
            "holder_count": [1, 1, 1, 1, 0],
        }
    )
    for col in ("start_at", "end_at"):
        phases[col] = pd.NaT
    phases["duration_s"] = phases["end_s"] - phases["start_s"]
    for col in ("participant_id", "user_id", "end_source"):
        phases[col] = None
    s = talk_stats(df, phases=phases).iloc[0]
    # speech gaps: 1-20 and 21-30; talk phases 2-6 and 19-25 -> silence 2-6 (4 s) and
    # 21-25 (4 s); the IVR (1-2), the hold (6-19) and the unknown 25-30 are not silence
    assert s.call_silence_count == 2 and s.call_silence_s == pytest.approx(8.0)
    assert s.call_duration_s == pytest.approx(32.0) and s.call_unknown_s == pytest.approx(7.0)
    assert talk_stats(df).iloc[0].call_silence_s == pytest.approx(28.0)  # without phases


def test_conference_speech_is_the_conference_participants_never_one_agents():
    # hand-built phases: agent u1 alone 0-10 s, u1 and u2 together 10-20 s, u2 alone 20-30 s
    df = segments(
        [
            {"speaker": "agent", "channel": "INTERNAL", "start_s": 1.0, "end_s": 4.0},
            {"speaker": "agent", "channel": "INTERNAL", "start_s": 11.0, "end_s": 13.0},
            {"speaker": "customer", "channel": "EXTERNAL", "start_s": 14.0, "end_s": 15.0},
            {"speaker": "agent", "channel": "INTERNAL", "start_s": 16.0, "end_s": 17.5},
            {"speaker": "agent", "channel": "INTERNAL", "start_s": 21.0, "end_s": 25.0},
        ]
    )
    phases = pd.DataFrame(
        {
            "conversation_id": ["c1"] * 3,
            "phase": ["talk"] * 3,
            "start_s": [0.0, 10.0, 20.0],
            "end_s": [10.0, 20.0, 30.0],
            "participant_id": ["p1", None, "p2"],
            "user_id": ["u1", None, "u2"],
            "holder_purpose": ["agent"] * 3,
            "holder_count": [1, 2, 1],
            "holder_user_ids": ["u1", "u1,u2", "u2"],
        }
    )
    for col in ("start_at", "end_at"):
        phases[col] = pd.NaT
    phases["duration_s"] = phases["end_s"] - phases["start_s"]
    phases["end_source"] = None
    spoken = attribute(df, phases)
    assert spoken["attribution"].astype(str).tolist() == [
        "participant", "conference", "participant", "conference", "participant"]
    assert spoken["party"].astype(str).tolist() == ["agent", "agent", "customer", "agent",
                                                     "agent"]
    assert spoken["participant_id"].astype("string").fillna("").tolist() == [
        "p1", "conference", "", "conference", "p2"]
    assert spoken["user_id"].astype("string").fillna("").tolist() == ["u1", "", "", "", "u2"]
    assert spoken["conference_user_ids"].fillna("").tolist() == ["", "u1,u2", "", "u1,u2", ""]
    s = talk_stats(by_party(spoken), phases=phases)
    got = {(str(r.speaker), "" if pd.isna(r.user_id) else r.user_id): r.talk_time_s
           for r in s.itertuples()}
    # hand-computed: u1 3 s, u2 4 s, the conference 2 + 1.5 s, the customer 1 s
    assert got == {("agent", "u1"): 3.0, ("agent", "u2"): 4.0, ("conference", ""): 3.5,
                   ("customer", ""): 1.0}
    fleet = fleet_stats(s, by=["user_id"])
    talk = fleet[fleet.metric == "talk_time_s"].set_index("speaker")
    assert talk.loc["conference", "mean"] == 3.5 and pd.isna(talk.loc["conference", "user_id"])


def test_call_time_filters_select_whole_calls_by_call_start(both):
    assert len(load_conversations(both, start="2026-11-24", end="2026-11-25")) == 3
    assert len(load_conversations(both, start="2026-11-25")) == 0
    # 09:00:05 UTC, given in a zone: only the calls started later (09:00:08.181, 08.642)
    late = load_segments(both, start="2026-11-24T10:00:05+01:00")
    assert set(late["conversation_id"].astype(str)) == {
        "055198c0-a132-4797-8a77-814ea6142e5b",
        "8356d01d-e431-4e89-9d0e-6fdeac4c09d3",
    }
    whole = load_segments(both, conversations=list(late["conversation_id"].astype(str).unique()))
    assert len(late) == len(whole)  # never a call cut at the window edge
    phases = load_phases(both, start="2026-11-24T09:00:08.5Z")
    assert set(phases["conversation_id"]) == {"8356d01d-e431-4e89-9d0e-6fdeac4c09d3"}


def test_a_capture_gap_inside_a_call_is_an_unknown_phase(tmp_path):
    from diarkit.io import write_gaps

    root = tmp_path / "ds"
    convert([SAMPLE], root, progress=False)
    t0 = pd.Timestamp("2026-11-24T09:00:40Z")  # inside the second talk phase (38.4-57.0 s)
    write_gaps(
        root,
        "gap-run",
        pd.DataFrame(
            {
                "session_id": ["gap-run"],
                "start_at": [t0],
                "end_at": [t0 + pd.Timedelta(seconds=5)],
                "duration_s": [5.0],
                "cause": ["socket closed"],
                "channel_id": ["ch"],
                "conversations": [[CALL]],
            }
        ),
    )
    ph = load_phases(root, conversations=[CALL])
    got = [(r.phase, round(r.start_s, 3), round(r.end_s, 3)) for r in ph.itertuples()]
    assert ("unknown", 40.0, 45.0) in got
    assert ("talk", 38.319, 40.0) in got and ("talk", 45.0, 57.034) in got
    stats = conversation_stats(root, conversations=[CALL])
    assert (stats["call_unknown_s"] == 5.0).all()


def test_exports_print_each_sentence_once(both, live):
    from diarkit.analysis import export_segments

    for fmt in ("srt", "json", "rttm"):
        a = export_segments(load_segments(both), fmt, conversation=CALL)
        b = export_segments(load_segments(live), fmt, conversation=CALL)
        assert a == b, fmt


def test_a_post_call_transcript_alone_gives_its_participants(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(f"{SAMPLE}/post_call_transcript.json", src / "pc.json")
    convert([src], tmp_path / "ds", progress=False)
    model = load_conversation_model(tmp_path / "ds")
    conv = model.conversations.iloc[0]
    assert conv.source == "transcript" and conv.call_duration_s == pytest.approx(57.034)
    assert set(model.participants["purpose"]) == {"customer", "ivr", "agent"}
    got = [(r.phase, round(r.start_s, 3)) for r in model.phases.itertuples()]
    assert got == [("ivr", 0.0), ("unknown", 11.686), ("talk", 14.617)]  # no acd listed
    stats = conversation_stats(tmp_path / "ds")
    parties = dict(zip(stats["speaker"].astype(str), stats["talk_time_s"], strict=True))
    assert parties["ivr"] == pytest.approx(10.347) and parties["agent"] == pytest.approx(20.359)


def test_eventbridge_timestamps_place_events_even_without_receive_times():
    """A stored EventBridge ``detail`` carries ``timestamp``: hold ends are exact then."""
    import orjson

    from diarkit.analysis.conversation import build_model

    def body(held: bool, end: str | None = None) -> dict:
        cust = {"id": "p-c", "purpose": "customer", "state": "connected",
                "connectedTime": "2026-11-24T09:00:00.000Z", "held": held}
        agent = {"id": "p-a", "purpose": "agent", "state": "connected",
                 "connectedTime": "2026-11-24T09:00:01.000Z", "user": {"id": "u1"}}
        if held:
            cust["startHoldTime"] = "2026-11-24T09:00:10.000Z"
        if end:
            for p in (cust, agent):
                p["state"], p["endTime"] = "disconnected", end
        return {"id": "c1", "participants": [cust, agent]}

    def detail(b: dict, stamp: str) -> str:
        return orjson.dumps({"topicName": "v2.users.u1.conversations.calls", "eventBody": b,
                             "timestamp": stamp}).decode()

    frames = [
        detail(body(False), "2026-11-24T09:00:01.000Z"),
        detail(body(True), "2026-11-24T09:00:10.000Z"),
        detail(body(False), "2026-11-24T09:00:17.250Z"),  # hold off: only the timestamp
        detail(body(False, "2026-11-24T09:00:30.000Z"), "2026-11-24T09:00:30.000Z"),
    ]
    # received long after (a replayed archive): the EventBridge timestamps still rule
    late = pd.Timestamp("2026-12-01T00:00:00Z")
    events = pd.DataFrame({"conversation_id": "c1", "frame": frames, "received_at": late,
                           "seq": range(4)})
    model = build_model(events, pd.Series({"c1": pd.Timestamp("2026-11-24T09:00:00Z")}))
    ph = model.phases
    hold = ph[ph.phase == "hold"].iloc[0]
    assert (hold.start_s, hold.end_s) == (10.0, 17.25)
    assert set(ph.end_source) == {"event"}
    assert model.conversations.iloc[0].call_duration_s == 30.0


def test_duckdb_reads_the_reconciled_timeline(both, live):
    import duckdb

    from diarkit.io.timeline import write_timeline

    sums = {}
    for name, root in (("both", both), ("live", live)):
        path = write_timeline(root)
        sums[name] = duckdb.sql(
            "SELECT conversation_id, party, round(sum(end_s - start_s), 3) AS talk_s "
            f"FROM read_parquet('{path}') GROUP BY ALL ORDER BY ALL"
        ).df()
    pd.testing.assert_frame_equal(sums["both"], sums["live"])  # the transcript adds nothing
    agent = sums["both"][(sums["both"].conversation_id == CALL) & (sums["both"].party == "agent")]
    stats = conversation_stats(both, conversations=[CALL])
    # no agent segments overlap each other here: the SQL sum is talk_stats' union
    assert agent["talk_s"].iloc[0] == pytest.approx(
        stats[stats.speaker == "agent"]["talk_time_s"].iloc[0], abs=1e-3
    )
