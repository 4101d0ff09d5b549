"""Simulated call kinds: participants, call events on the real topics, transcripts, truth.

Each call kind is planned on purpose (``kinds=[...]``) and checked against what Genesys
Cloud does: who is connected when, which topic carries the call from when, what is said
during holds and secure pauses, and that the ground-truth tables agree with the frames.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, defaultdict

import orjson
import pytest

from diarkit.genesys import ConversationEvent, TranscriptionEvent, parse_frame
from diarkit.sim import (
    build_scenario,
    participant_intervals,
    phases,
    rttm_lines,
    schedule,
    speech_by_participant,
    talk_time_by_participant,
)
from diarkit.sim.calls import CALL_KINDS, plan_call
from diarkit.sim.frames import conversation_events
from diarkit.sim.ground_truth import CALL_PHASES, phase_rows

KINDS = ["basic+hold", "blind_transfer", "consult_transfer", "conference+hold", "abandoned",
         "callback", "basic+secure_pause", "blind_transfer+hold+early"]


@pytest.fixture(scope="module")
def scenario():
    return build_scenario(seed=31, conversations=len(KINDS) * 2, queues=3, agents=4,
                          call_duration_s=(150.0, 300.0), stagger_s=4.0, kinds=KINDS)


@pytest.fixture(scope="module")
def frames(scenario):
    return schedule(scenario)


def _plans(scenario, kind):
    return [p for p in scenario.plans if p.kind == kind]


def _connected(p, t):
    return p.connected_ms is not None and p.connected_ms <= t < p.end_ms


def test_every_kind_is_planned_with_its_features(scenario) -> None:
    got = Counter(p.kind + "".join(f"+{f}" for f in p.features) for p in scenario.plans)
    assert got == Counter({k: 2 for k in KINDS})
    with pytest.raises(ValueError, match="unknown call kind 'transfer'"):
        build_scenario(kinds=["transfer"])
    with pytest.raises(ValueError, match="features"):
        build_scenario(kinds=["basic+music"])


def test_the_seeded_mix_has_every_kind_in_proportion() -> None:
    sc = build_scenario(seed=2, conversations=400, call_duration_s=(60.0, 90.0))
    kinds = Counter(p.kind for p in sc.plans)
    assert set(kinds) == set(CALL_KINDS)
    for kind, share in CALL_KINDS.items():
        assert abs(kinds[kind] / 400 - share) < 0.05, kind
    features = Counter(f for p in sc.plans for f in p.features)
    assert features["hold"] > 60 and features["secure_pause"] > 10
    assert features["early"] == 0  # opt-in: "+early"
    assert sc.user_names[0] == "Sam Carter" and sc.queue_names[0] == "Billing"


def test_ivr_queue_agent_timeline(scenario) -> None:
    for plan in scenario.plans:
        by = defaultdict(list)
        for p in plan.participants:
            by[p.purpose].append(p)
        customer = plan.participants[0]
        assert customer.purpose == "customer" and customer.end_ms > 0
        assert customer.start_ms <= 0 or plan.kind == "callback"
        assert plan.duration_ms == customer.end_ms
        if plan.kind == "callback":
            assert "ivr" not in by and customer.direction == "outbound"
            assert by["agent"][0].direction == "outbound"
            assert customer.connected_ms > by["agent"][0].connected_ms  # the agent dials
            continue
        (ivr,) = by["ivr"]
        acd = by["acd"][0]
        assert ivr.connected_ms == customer.start_ms and ivr.end_ms == acd.start_ms
        assert acd.queue_id == plan.queue_id and acd.queue_name
        if plan.kind == "abandoned":
            assert "agent" not in by and acd.end_ms == customer.end_ms
            assert customer.disconnect_type == "endpoint"
            continue
        agent = by["agent"][0]
        assert acd.start_ms < agent.start_ms < agent.connected_ms == acd.end_ms
        assert agent.user_id == plan.user_id and agent.queue_id == plan.queue_id
        assert agent.user_name and agent.acw_end_ms > agent.end_ms and agent.wrapup_code


def test_transfers_and_conferences_bring_in_a_second_agent(scenario) -> None:
    for plan in _plans(scenario, "blind_transfer"):
        a, b = [p for p in plan.participants if p.purpose == "agent"]
        acd2 = [p for p in plan.participants if p.purpose == "acd"][1]
        assert a.disconnect_type == "transfer" and a.end_ms == acd2.start_ms
        assert acd2.end_ms == b.connected_ms and b.queue_id == acd2.queue_id
        assert a.user_id != b.user_id and a.wrapup_code == "transferred"
    for plan in _plans(scenario, "consult_transfer"):
        a, b = [p for p in plan.participants if p.purpose == "agent"]
        customer = plan.participants[0]
        assert a.consult_participant_id == b.participant_id
        assert a.disconnect_type == "transfer.consult" and b.queue_id is None
        # the customer is held from before B is dialled until A drops
        (hold,) = [h for h in customer.holds_ms if h[0] < b.start_ms < h[1]]
        assert hold[1] == a.end_ms
    for plan in _plans(scenario, "conference"):
        a, b = [p for p in plan.participants if p.purpose == "agent"]
        both = [u for u in plan.utterances if u.party == "agent" and u.kind == "speech"
                and b.connected_ms <= u.start_ms < a.end_ms]
        speakers = {u.participant_id for u in both}
        assert speakers == {a.participant_id, b.participant_id}  # both agents speak


def test_every_utterance_is_said_by_someone_on_the_line(scenario) -> None:
    for plan in scenario.plans:
        parts = {p.participant_id: p for p in plan.participants}
        for u in plan.utterances:
            who = parts[u.participant_id]
            assert who.purpose == u.party
            assert _connected(who, u.start_ms), (plan.kind, u.party, u.text)
            assert u.end_ms <= who.end_ms + 2000 or u.kind == "empty"


def test_nobody_speaks_during_a_hold_and_pauses_are_not_transcribed(scenario, frames) -> None:
    sent = defaultdict(set)
    for f in frames:
        msg = parse_frame(f.text)
        if isinstance(msg, TranscriptionEvent):
            sent[msg.conversation_id].update(u.utterance_id for u in msg.utterances)
    paused = 0
    for plan in scenario.plans:
        for s, e in plan.holds_ms:
            assert not [u for u in plan.utterances if u.kind != "empty"
                        and u.start_ms < e and u.end_ms > s], plan.kind
        for u in plan.utterances:
            in_pause = any(s <= u.start_ms < e for s, e in plan.secure_pauses_ms)
            assert (u.kind == "paused") == in_pause
            assert (u.utterance_id in sent[plan.conversation_id]) == (u.kind != "paused")
            paused += u.kind == "paused"
    assert paused >= 4


def test_call_events_have_the_sdk_shape_on_the_real_topics(scenario, frames) -> None:
    plan_of = {p.conversation_id: p for p in scenario.plans}
    first_on = {}
    last_on = {}
    for f in frames:
        if f.kind != "conversation":
            continue
        doc = orjson.loads(f.text)
        for part in doc["eventBody"]["participants"]:
            assert not {"userId", "queueId", "calls"} & set(part)
            assert "user" not in part or set(part["user"]) == {"id", "name"}
            assert "queue" not in part or set(part["queue"]) == {"id", "name"}
        key = (f.conversation_id, f.topic)
        first_on.setdefault(key, f.at_ms - plan_of[f.conversation_id].start_ms)
        last_on[key] = f.at_ms - plan_of[f.conversation_id].start_ms
    for plan in scenario.plans:
        for p in plan.participants:
            if p.purpose == "acd":
                key = (plan.conversation_id, f"v2.routing.queues.{p.queue_id}.conversations.calls")
                assert first_on[key] <= p.start_ms  # from queue entry (or an earlier acd)
                assert last_on[key] == plan.wrapup_end_ms
            if p.purpose == "agent":
                key = (plan.conversation_id, f"v2.users.{p.user_id}.conversations.calls")
                assert first_on[key] == p.start_ms and last_on[key] == p.acw_end_ms
        queue_topics = {t for c, t in first_on if c == plan.conversation_id and "queues" in t}
        assert min(first_on[(plan.conversation_id, t)] for t in queue_topics) == min(
            p.start_ms for p in plan.participants if p.purpose == "acd")


def test_one_event_per_change_with_the_whole_participant_list() -> None:
    plan = build_scenario(seed=5, conversations=1, kinds=["consult_transfer+hold"],
                          call_duration_s=(200.0, 220.0)).plans[0]
    events = conversation_events(plan)
    times = [t for t, _, _ in events]
    assert times == sorted(set(times))
    for (t0, b0, _), (t1, b1, _) in itertools.pairwise(events):
        assert b0 != b1, (t0, t1)  # every event shows a change
        assert len(b1["participants"]) >= len(b0["participants"])  # nobody is dropped
    a = next(p for p in plan.participants if p.purpose == "agent")
    held = [(t, x["startHoldTime"]) for t, b, _ in events for x in b["participants"]
            if x.get("held")]
    assert held and all(x for _, x in held)
    last = events[-1][1]
    assert all(x["state"] == "disconnected" and "endTime" in x for x in last["participants"])
    wrap = next(x for x in last["participants"] if x["id"] == a.participant_id)
    assert set(wrap["wrapup"]) == {"code", "notes", "durationSeconds", "endTime"}
    assert wrap["wrapup"]["durationSeconds"] == (a.acw_end_ms - a.end_ms) // 1000
    assert wrap["consultParticipantId"] == a.consult_participant_id


def test_secure_pause_shows_on_the_conversation() -> None:
    plan = build_scenario(seed=8, conversations=1, kinds=["basic+secure_pause"],
                          call_duration_s=(200.0, 220.0)).plans[0]
    ((s, e),) = plan.secure_pauses_ms
    for t, body, _ in conversation_events(plan):
        assert body["securePause"] is (s <= t < e)
        assert body["recordingState"] == ("paused" if s <= t < e else "active")


def test_the_parser_reads_the_new_events(scenario, frames) -> None:
    events = [parse_frame(f.text) for f in frames if f.kind == "conversation"]
    assert all(isinstance(e, ConversationEvent) for e in events)
    assert {e.topic_kind.name for e in events} == {"QUEUE_CALLS", "USER_CALLS"}


@pytest.mark.parametrize(("grouping", "lo", "hi"), [("grouped", 0, 35_500),
                                                    ("low_latency", 2_400, 5_300),
                                                    ("per_frame", 150, 720)])
def test_transcript_delay_follows_the_grouping(scenario, grouping, lo, hi) -> None:
    """Send time minus the end of the newest word a version holds (ms)."""
    sc = dataclasses.replace(scenario, grouping=grouping)
    plan_of = {p.conversation_id: p for p in sc.plans}
    words = {u.utterance_id: u for p in sc.plans for u in p.utterances}
    delays, per_frame = [], []
    for f in schedule(sc):
        if f.kind != "transcription":
            continue
        doc = orjson.loads(f.text)["eventBody"]
        per_frame.append(len(doc["transcripts"]))
        sent = f.at_ms - plan_of[f.conversation_id].start_ms
        for t in doc["transcripts"]:
            u = words[t["utteranceId"]]
            n = len(t["alternatives"][0]["words"])
            end = u.end_ms if not n or t["isFinal"] else (u.word_starts_ms[n - 1]
                                                         + u.word_durations_ms[n - 1])
            delays.append(sent - end)
    assert lo <= min(delays) and max(delays) <= hi
    if grouping == "grouped":
        assert max(per_frame) >= 20 and sum(per_frame) / len(per_frame) > 5
    if grouping == "per_frame":
        assert set(per_frame) == {1}


def test_ground_truth_tables(scenario) -> None:
    parts = participant_intervals(scenario.plans)
    assert len(parts) == sum(len(p.participants) for p in scenario.plans)
    agents = parts[parts["purpose"] == "agent"]
    assert agents["user_id"].notna().all() and agents["acw_end_ms"].notna().all()
    assert (agents["user_name"].isin(scenario.user_names)).all()
    ph = phases(scenario.plans)
    for plan in scenario.plans:
        rows = [r for r in phase_rows(plan) if r["phase"] in CALL_PHASES]
        first = min(p.start_ms for p in plan.participants if p.purpose != "agent")
        assert rows[0]["start_ms"] == first and rows[-1]["end_ms"] == plan.duration_ms
        for r0, r1 in itertools.pairwise(rows):
            assert r0["end_ms"] == r1["start_ms"] and r0["phase"] != r1["phase"]
        assert [(r["start_ms"], r["end_ms"]) for r in rows if r["phase"] == "hold"] == list(
            plan.holds_ms)
        # speech happens in the phase of who says it
        for u in plan.utterances:
            if u.kind in ("empty", "paused"):
                continue
            at = next(r["phase"] for r in rows if r["start_ms"] <= u.start_ms < r["end_ms"])
            want = {"ivr": {"ivr"}, "acd": {"queue"}, "agent": {"talk"},
                    "customer": {"ivr", "talk", "queue"}}[u.party]
            assert at in want, (plan.kind, u.party, at)
        if plan.kind == "callback":
            assert [r["phase"] for r in rows][:3] == ["queue", "dialing", "talk"]
        elif plan.kind == "abandoned":
            assert [r["phase"] for r in rows] == ["ivr", "queue"]
        else:
            assert [r["phase"] for r in rows][:3] == ["ivr", "queue", "talk"]
    acw = ph[ph["phase"] == "acw"]
    assert len(acw) == len(agents) and (acw["end_ms"] > acw["start_ms"]).all()
    assert len(ph[ph["phase"] == "secure_pause"]) == 2


def test_speech_and_talk_time_by_participant(scenario) -> None:
    speech = speech_by_participant(scenario.plans)
    assert not (speech["kind"].isin(["empty", "paused"])).any()
    agent_rows = speech[speech["party"] == "agent"]
    # conference speech (two agents connected) is the "conference" participant's, as a
    # Genesys voice transcript labels it (issue #12); every other agent row names its user
    conference = agent_rows["participant_id"] == "conference"
    assert agent_rows[~conference]["user_id"].notna().all()
    assert agent_rows[conference]["user_id"].isna().all()
    conf = next(p for p in scenario.plans if p.kind == "conference")
    in_conf = agent_rows[agent_rows["conversation_id"] == conf.conversation_id]
    assert in_conf["voice_participant_id"].nunique() == 2
    together = in_conf[in_conf["participant_id"] == "conference"]
    assert len(together) and (together["conference_user_ids"].str.count(",") == 1).all()
    assert set(agent_rows[conference]["conversation_id"]) <= {
        p.conversation_id for p in scenario.plans if p.kind.startswith("conference")}
    talk = talk_time_by_participant(scenario.plans)
    for plan in scenario.plans:
        for pid, rows in speech[speech["conversation_id"] == plan.conversation_id].groupby(
                "participant_id"):
            covered = set()
            for s, e in zip(rows["start_ms"], rows["end_ms"], strict=True):
                covered.update(range(s, e))
            got = talk[(talk["participant_id"] == pid)
                       & (talk["conversation_id"] == plan.conversation_id)]["talk_s"].item()
            assert got == len(covered) / 1000
    # channels=: only the utterances sent on those channels count
    sides = talk_time_by_participant(scenario.plans, channels=("INTERNAL", "EXTERNAL"))
    kept = speech[speech["channel"].isin(["INTERNAL", "EXTERNAL"])]
    for (cid, pid), rows in kept.groupby(["conversation_id", "participant_id"]):
        covered = set()
        for s, e in zip(rows["start_ms"], rows["end_ms"], strict=True):
            covered.update(range(s, e))
        mine = sides[(sides["participant_id"] == pid) & (sides["conversation_id"] == cid)]
        assert mine["talk_s"].item() == len(covered) / 1000
    assert set(sides["participant_id"]) == set(kept["participant_id"])


def test_rttm_by_party_labels_agents_by_user_id(scenario) -> None:
    plan = _plans(scenario, "blind_transfer")[0]
    users = {p.user_id for p in plan.participants if p.purpose == "agent"}
    labels = Counter(line.split()[7] for line in rttm_lines([plan], by="party"))
    assert set(labels) == users | {"ivr", "customer"} or set(labels) == users | {
        "ivr", "customer", "acd"}
    channel = Counter(line.split()[7] for line in rttm_lines([plan]))
    assert set(channel) == {"agent", "customer"}
    assert sum(channel.values()) == sum(labels.values())


def test_plan_call_keeps_its_old_signature() -> None:
    import random

    plan = plan_call(random.Random(1), organization_id="o", queue_id="q", user_id="u",
                     kind="basic")
    assert plan.user_id == "u" and plan.queue_id == "q" and plan.kind == "basic"
    # a transfer without a second agent becomes a basic call
    assert plan_call(random.Random(1), organization_id="o", queue_id="q", user_id="u",
                     kind="conference").kind == "basic"


def test_over_a_real_socket_topics_carry_calls_from_queue_entry_and_alerting() -> None:
    """A client subscribed to a queue, its agents and the transcripts, on 127.0.0.1."""
    import httpx

    from diarkit.genesys import queue_calls_topic, transcription_topic, user_calls_topic
    from diarkit.sim import Simulator

    from .conftest import close, connect, new_channel, recv_close, subscribe, token

    kinds = ["basic+hold", "consult_transfer", "abandoned"]
    with Simulator(seed=9, conversations=3, queues=1, agents=2, kinds=kinds, speed=400.0,
                   heartbeat_s=0.3, call_duration_s=(60.0, 80.0), stagger_s=0.0,
                   autostart=False) as sim:
        topics = [queue_calls_topic(q) for q in sim.scenario.queue_ids]
        topics += [user_calls_topic(u) for u in sim.scenario.user_ids]
        topics += [transcription_topic(c) for c in sim.conversation_ids]
        headers = {"Authorization": f"Bearer {token(sim)}"}
        with httpx.Client(base_url=sim.api_base, headers=headers, timeout=10) as api:
            ch = new_channel(api)
            assert subscribe(api, ch["id"], topics).status_code == 200
        ws = connect(sim, ch)
        try:
            sim.start_conversations()
            assert sim.wait_for_conversations_done(60)
            sim.faults.socket_closing(ch["id"], close_after_s=0.05)
            texts, code = recv_close(ws, limit=50_000)
        finally:
            close(ws)
        assert code == 1000 and texts[:len(sim.ledger.texts(ch["id"]))] == sim.ledger.texts(
            ch["id"])
        plans = {p.conversation_id: p for p in sim.scenario.plans}
    first: dict[tuple[str, str], dict] = {}
    grouped = 0
    for text in texts:
        doc = orjson.loads(text)
        body = doc.get("eventBody") or {}
        if doc["topicName"].endswith(".calls"):
            first.setdefault((body["id"], doc["topicName"]), body)
            assert not any({"userId", "queueId", "calls"} & set(p) for p in body["participants"])
        elif doc["topicName"].endswith(".transcription"):
            grouped += len(body.get("transcripts", ())) > 1
    assert grouped  # the default grouping reached the client
    for cid, plan in plans.items():
        queue_first = first[(cid, queue_calls_topic(plan.queue_id))]
        # the queue topic learns of the call at queue entry: IVR done, acd just created
        assert [p["purpose"] for p in queue_first["participants"]] == ["customer", "ivr", "acd"]
        assert queue_first["participants"][1]["state"] == "disconnected"
        users = [p for p in plan.participants if p.purpose == "agent"]
        seen_users = {t for c, t in first if c == cid and ".users." in t}
        assert seen_users == {user_calls_topic(p.user_id) for p in users}
        for p in users:  # a user topic learns of the call when its agent is alerted
            body = first[(cid, user_calls_topic(p.user_id))]
            mine = next(x for x in body["participants"] if x["id"] == p.participant_id)
            assert mine["state"] == "alerting" and mine["user"]["id"] == p.user_id


def test_simulate_command_takes_the_grouping() -> None:
    from click.testing import CliRunner

    from diarkit.cli import cli

    bad = CliRunner().invoke(cli, ["simulate", "--duration", "0.1", "--grouping", "batched"])
    assert bad.exit_code == 2 and "'batched' is not one of" in bad.output
    ok = CliRunner().invoke(cli, ["simulate", "--duration", "0.2", "--conversations", "1",
                                  "--grouping", "per_frame", "--start-now"])
    assert ok.exit_code == 0, ok.output


def test_simulator_passes_grouping_and_kinds_to_its_scenario() -> None:
    from diarkit.sim import Simulator

    sim = Simulator(seed=1, conversations=2, grouping="low_latency",
                    kinds=["callback", "abandoned"], autostart=False)
    assert sim.scenario.grouping == "low_latency"
    assert [p.kind for p in sim.scenario.plans] == ["callback", "abandoned"]
    with pytest.raises(ValueError, match="grouping must be one of"):
        Simulator(grouping="batched")
