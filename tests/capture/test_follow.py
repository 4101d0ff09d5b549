"""Follow-mode bookkeeping and topic spreading (pure), and follow mode's batched
subscriptions against the live simulator on 127.0.0.1 (which enforces 300 requests per
minute per client, 429 beyond)."""

from __future__ import annotations

import json
import time

import pytest

from diarkit.capture.follow import FollowTracker, TopicPlan, conversation_of
from diarkit.genesys import parse_frame


def call_event(cid: str, *, ended: bool) -> object:
    state = "disconnected" if ended else "connected"
    body = {"id": cid, "participants": [{"purpose": p, "state": state} for p in ("a", "b")]}
    topic = "v2.routing.queues.q1.conversations.calls"
    return parse_frame(json.dumps({"topicName": topic, "eventBody": body}))


def status_event(cid: str, status: str, comm: str = "m1") -> object:
    body = {"conversationId": cid, "communicationId": comm,
            "status": {"offsetMs": 1, "status": status}}
    topic = f"v2.conversations.{cid}.transcription"
    return parse_frame(json.dumps({"topicName": topic, "eventBody": body}))


def test_new_conversations_are_added_once_and_dropped_after_grace():
    t = FollowTracker(grace_s=5.0, end_wait_s=60.0)
    assert t.observe(call_event("c1", ended=False), 0.0) == ["c1"]
    assert t.observe(call_event("c1", ended=False), 1.0) == []
    assert t.observe(call_event("c2", ended=False), 1.0) == ["c2"]
    assert t.observe(status_event("c1", "SESSION_ONGOING"), 2.0) == []
    assert t.observe(call_event("c1", ended=True), 3.0) == []
    assert t.observe(status_event("c1", "SESSION_ENDED"), 4.0) == []
    assert t.observe(call_event("c2", ended=True), 4.0) == []
    assert t.due(8.9) == []
    assert t.due(9.0) == ["c1"]  # grace_s after both the call end and SESSION_ENDED
    # c2 ended without SESSION_ENDED: its last transcripts may still come (~35 s groups)
    assert t.due(63.9) == []
    assert t.due(64.0) == ["c2"]
    assert t.active == []
    # a late call event for a dropped conversation does not resubscribe it
    assert t.observe(call_event("c1", ended=False), 70.0) == []
    assert t.take_missed() == []


def test_the_transcripts_after_the_call_end_are_waited_for():
    """Grouped transcripts and SESSION_ENDED come after the call's end event: a call is
    not dropped on its end event alone (the cause of calls captured without a frame)."""
    t = FollowTracker(grace_s=1.0, end_wait_s=60.0)
    t.observe(call_event("c", ended=False), 0.0)
    t.observe(status_event("c", "SESSION_ONGOING"), 0.5)
    t.observe(call_event("c", ended=True), 30.0)
    assert t.due(40.0) == []  # the old rule dropped it at 31.0
    t.observe(status_event("c", "SESSION_ENDED"), 62.0)  # 32 s after the call
    assert t.due(62.9) == [] and t.due(63.0) == ["c"]


def test_every_session_of_a_call_must_end():
    """SESSION_ENDED of one communication (e.g. before a transfer) does not drop a call
    whose call has not ended; the call end plus every session's end does."""
    t = FollowTracker(grace_s=1.0, end_wait_s=60.0)
    t.observe(call_event("c", ended=False), 0.0)
    t.observe(status_event("c", "SESSION_ONGOING", "m1"), 1.0)
    t.observe(status_event("c", "SESSION_ENDED", "m1"), 10.0)
    t.observe(status_event("c", "SESSION_ONGOING", "m2"), 11.0)
    assert t.due(100.0) == []
    t.observe(call_event("c", ended=True), 120.0)
    assert t.due(125.0) == []  # m2 has not ended
    t.observe(status_event("c", "SESSION_ENDED", "m2"), 130.0)
    assert t.due(131.0) == ["c"]


def test_a_call_whose_end_event_was_lost_is_dropped_after_its_sessions_end():
    t = FollowTracker(grace_s=1.0, end_wait_s=60.0)
    t.observe(call_event("c", ended=False), 0.0)
    t.observe(status_event("c", "SESSION_ENDED"), 10.0)
    assert t.due(309.9) == [] and t.due(310.0) == ["c"]  # max(end_wait_s, 300) after


def test_ended_before_seen_and_pinned_are_not_followed():
    t = FollowTracker(grace_s=0.0, pinned=frozenset({"pin"}))
    assert t.observe(call_event("gone", ended=True), 0.0) == []
    assert t.observe(call_event("pin", ended=False), 0.0) == []
    assert t.due(100.0) == [] and t.active == []
    # a call first seen already over is reported once as missed (for a late_join gap)
    assert t.take_missed() == ["gone"]
    assert t.observe(call_event("gone", ended=True), 1.0) == []
    assert t.take_missed() == []


def test_topic_plan_spreads_over_channels_and_refuses_a_21st():
    plan = TopicPlan(per_channel=2, max_channels=2)
    assert plan.place("a") == (0, True)
    assert plan.place("b") == (0, False)
    assert plan.place("a") == (0, False)
    assert plan.place("c") == (1, True)
    assert plan.place("d") == (1, False)
    with pytest.raises(ValueError, match="channels of 2 topics are full"):
        plan.place("e")
    assert plan.remove("a") == 0 and plan.remove("zzz") is None
    assert plan.place("e") == (0, False)
    assert plan.topics(0) == ["b", "e"]


def test_topic_plan_spreads_channels_over_clients_by_budget():
    plan = TopicPlan(per_channel=2, max_channels=2, clients=2)
    assert plan.place("a") == (0, True) and plan.owner(0) == 0
    assert plan.place("b") == (0, False)
    assert plan.place("c") == (1, True) and plan.owner(1) == 1  # fewest channels first
    # client 1 out of budget: the topic waits rather than go on its channel
    assert plan.place("d", can_use=lambda i: plan.owner(i) == 0,
                      can_open=lambda k: k == 0) == (2, True)
    assert plan.owner(2) == 0
    assert plan.place("e", can_use=lambda i: False, can_open=lambda k: False) is None
    assert plan.place("e") == (1, False)
    for t in "fgh":
        plan.place(t)
    assert [len(c) for c in plan.channels] == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="on each of 2 OAuth clients"):
        plan.place("i")


def test_conversation_of_uses_topic_parser():
    assert conversation_of("v2.conversations.abc-1.transcription") == "abc-1"
    assert conversation_of("v2.routing.queues.q.conversations.calls") is None


# ---------------------------------------------------------------- live: batched follow mode


def _follow_run(tmp_path, *, conversations, budget=240, batch_s=0.5, **sim_kw):
    from tests.capture.simhelp import (
        check_no_duplicates_and_losses_in_gaps,
        make_capture,
        make_sim,
        stored_rows,
        wait_for,
        wait_live,
    )

    with make_sim(conversations=conversations, **sim_kw) as sim:
        cap = make_capture(sim, tmp_path, grace_s=0.2, follow_queues=sim.queue_ids,
                           follow_batch_s=batch_s, subscription_budget_per_min=budget)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(40)
        wait_for(lambda: cap.stats().active_conversations == 0, what="calls dropped")
        stats = cap.stop()
        ids = set(sim.conversation_ids)
        check_no_duplicates_and_losses_in_gaps(sim, tmp_path)
    found = {r["conversation_id"] for r in stored_rows(tmp_path) if r["kind"] == "transcription"}
    return stats, cap, ids, found


def test_follow_batches_a_burst_of_new_calls_into_few_requests(tmp_path):
    """40 calls starting together: far fewer subscription requests than changes (80)."""
    stats, cap, ids, found = _follow_run(
        tmp_path, conversations=40, stagger_s=0.2, call_duration_s=(60.0, 120.0), speed=30.0
    )
    assert found == ids  # every call followed: none missed
    # one request per batch per channel, instead of one per new call and one per drop
    assert 0 < stats.subscription_requests < len(ids)
    assert stats.subscription_requests_per_min <= 240
    assert cap.notifications.retries == 0  # the simulator never answered 429


def _run_calls_side_by_side(sim, caps) -> None:
    """Start every capture, wait until each is live, then run the simulator's calls."""
    from tests.capture.simhelp import wait_live

    for cap in caps:
        cap.start()
    for cap in caps:
        wait_live(cap)
    sim.start_conversations()
    assert sim.wait_for_conversations_done(40)


def test_follow_stays_under_a_tight_budget_without_missing_a_call(tmp_path):
    """Two captures follow the same 12 calls at once, each with its own OAuth client: one
    batched (1-second batches, a budget of 10 requests a minute), one subscribing each
    change at once (as before batching). The batched one stays within 10 requests in any
    minute where the other needs ~2.5x that; both capture every call, including the
    transcripts and SESSION_ENDED that come after a call's end event (grouped ~35 s
    windows: before, follow mode dropped a call grace_s after its end event and lost
    them, and a call whose only frames came then was captured without a frame).
    """
    from tests.capture.simhelp import make_capture, make_sim, stored_rows, wait_for

    # speed 10: a batch's 1 s wait is 10 s of call time (a live capture waits 1 s)
    with make_sim(conversations=12, stagger_s=1.0, call_duration_s=(80.0, 120.0),
                  speed=10.0) as sim:
        sim.add_client("each", "pw")
        caps = {
            "batched": make_capture(sim, tmp_path / "batched", grace_s=0.2,
                                    follow_queues=sim.queue_ids, follow_batch_s=1.0,
                                    subscription_budget_per_min=10, session_end_wait_s=8.0),
            "each": make_capture(sim, tmp_path / "each", grace_s=0.2, client_id="each",
                                 client_secret="pw", follow_queues=sim.queue_ids,
                                 follow_batch_s=0.0, session_end_wait_s=8.0),
        }
        _run_calls_side_by_side(sim, caps.values())
        for cap in caps.values():
            wait_for(lambda c=cap: c.stats().active_conversations == 0, what="calls dropped")
        stats = {k: cap.stop() for k, cap in caps.items()}
        ids = set(sim.conversation_ids)
    rows = {k: [r for r in stored_rows(tmp_path / k) if r["kind"] == "transcription"]
            for k in caps}
    for k in caps:
        assert {r["conversation_id"] for r in rows[k]} == ids, k
        ended = {r["conversation_id"] for r in rows[k] if '"SESSION_ENDED"' in r["frame"]}
        assert ended == ids, k  # the last frame of every call, after its end event
        assert stats[k].missed_calls == 0
    assert stats["batched"].subscription_requests_per_min <= 10
    assert stats["each"].subscription_requests_per_min > 2 * 10
    assert caps["batched"].notifications.retries == 0


def _transcribed(dataset) -> set[str]:
    from tests.capture.simhelp import stored_rows

    return {r["conversation_id"] for r in stored_rows(dataset) if r["kind"] == "transcription"}


def _late_join_gaps(dataset) -> set[str]:
    import pyarrow.parquet as pq

    out: set[str] = set()
    for f in sorted((dataset / "gaps").glob("*.parquet")):
        for row in pq.read_table(f).to_pylist():
            if row["cause"] == "late_join":
                out.update(row["conversations"] or [])
    return out


def test_calls_missed_for_want_of_budget_are_gaps_and_backfill_candidates(tmp_path):
    """Real Genesys replays nothing: a call whose frames all went before its subscription
    is lost to live capture. Follow mode must say so: with a budget of one subscription
    request per minute only the first batch goes out; every later call ends unsubscribed
    and is recorded as a late_join gap, so ``diarkit backfill`` lists it."""
    from diarkit.capture.backfill import find_candidates
    from tests.capture.simhelp import make_capture, make_sim, wait_for, wait_live

    with make_sim(conversations=6, stagger_s=20.0, call_duration_s=(40.0, 60.0),
                  speed=20.0, queues=1) as sim:
        cap = make_capture(sim, tmp_path, grace_s=0.2, follow_queues=sim.queue_ids,
                           follow_batch_s=0.5, subscription_budget_per_min=2,
                           session_end_wait_s=0.5, clock=sim.call_clock)
        cap.start()
        wait_live(cap)  # the queue topic's PUT: the first of the two requests
        sim.start_conversations()
        assert sim.wait_for_conversations_done(40)
        wait_for(lambda: cap.stats().missed_calls >= 4, what="missed calls recorded")
        stats = cap.stop()
        ids = set(sim.conversation_ids)
    found = _transcribed(tmp_path)
    missed = ids - found
    assert len(missed) >= 4 and stats.missed_calls == len(missed)
    assert stats.subscription_requests_per_min <= 2
    late = _late_join_gaps(tmp_path)
    assert missed <= late  # every miss is recorded ...
    candidates = find_candidates(tmp_path)
    listed = set(candidates.loc[candidates["reasons"].str.contains("late_join"),
                                "conversation_id"])
    assert missed <= listed  # ... and listed for back-fill
    assert ids <= found | late  # nothing silently absent


def test_two_oauth_clients_catch_a_burst_one_alone_throttles(tmp_path):
    """Channels of 2 topics and a budget of 4 subscription requests a minute per token:
    a burst of 8 calls needs at least 4 new channels. One client (its queue channel's
    PUT spent one request) can open 2 or 3 and misses calls (each recorded as a
    late_join gap); two clients share the burst, each within its own budget, and catch
    every call."""
    from diarkit.capture.backfill import find_candidates
    from tests.capture.simhelp import make_capture, make_sim, wait_for

    with make_sim(conversations=8, stagger_s=0.5, call_duration_s=(80.0, 100.0),
                  speed=10.0, queues=1) as sim:
        for name in ("solo", "m1", "m2"):
            sim.add_client(name, f"pw-{name}")
        common = {"grace_s": 0.2, "follow_queues": sim.queue_ids, "follow_batch_s": 3.0,
                  "subscription_budget_per_min": 4, "max_topics_per_channel": 2,
                  "session_end_wait_s": 1.0, "clock": sim.call_clock}
        caps = {
            "solo": make_capture(sim, tmp_path / "solo", client_id="solo",
                                 client_secret="pw-solo", **common),
            "multi": make_capture(sim, tmp_path / "multi", client_id=None,
                                  client_secret=None,
                                  clients=[("m1", "pw-m1"), ("m2", "pw-m2")], **common),
        }
        _run_calls_side_by_side(sim, caps.values())
        wait_for(lambda: caps["multi"].stats().active_conversations == 0,
                 what="calls dropped")
        owned = {c: len(sim.channel_subscriptions(c)) for c in ("m1", "m2")}
        stats = {k: cap.stop() for k, cap in caps.items()}
        ids = set(sim.conversation_ids)
    found = {k: _transcribed(tmp_path / k) for k in caps}
    assert found["multi"] == ids and stats["multi"].missed_calls == 0
    per_client = stats["multi"].subscription_requests_per_min_by_client
    assert len(per_client) == 2 and all(0 < n <= 4 for n in per_client)
    assert stats["multi"].channels >= 4
    missed = ids - found["solo"]
    assert missed and stats["solo"].missed_calls == len(missed)
    assert stats["solo"].subscription_requests_per_min <= 4
    listed = set(find_candidates(tmp_path / "solo")["conversation_id"])
    assert missed <= _late_join_gaps(tmp_path / "solo") and missed <= listed
    assert owned["m1"] >= 2 and owned["m2"] >= 2  # both tokens hold channels
    for cap in caps.values():
        assert all(c.notifications.retries == 0 for c in cap.clients)


# ---------------------------------------------------------------- several OAuth clients


def test_clients_file_is_read_with_line_numbers_and_no_secret_shown(tmp_path):
    from diarkit.capture.errors import CaptureError
    from diarkit.capture.token import read_clients_file

    good = tmp_path / "clients"
    good.write_text("# two clients\nid-one  s3cret-one\n\nid-two:s3cret-two\n")
    good.chmod(0o600)
    pairs = read_clients_file(good)
    assert [c for c, _ in pairs] == ["id-one", "id-two"]
    assert pairs[1][1].reveal() == "s3cret-two" and "s3cret" not in repr(pairs)
    for text, match in (("id-only\n", "clients:1: expected 'CLIENT_ID SECRET'"),
                        ("a x1\nb x2\na x3\n", "clients:3: client id a already given on line 1"),
                        ("# nothing\n\n", "no OAuth client in the file")):
        good.write_text(text)
        with pytest.raises(CaptureError, match=match) as err:
            read_clients_file(good)
        assert "x1" not in str(err.value) and "x3" not in str(err.value)


def test_capture_clients_argument_is_checked():
    from diarkit.capture import Capture

    base = {"login_base": "http://127.0.0.1:9", "api_base": "http://127.0.0.1:9",
            "follow_queues": ["q1"]}
    with pytest.raises(ValueError, match="not both"):
        Capture("/tmp/x-never", client_id="a", client_secret="b", clients=[("c", "d")], **base)
    with pytest.raises(ValueError, match="given twice: a"):
        Capture("/tmp/x-never", clients=[("a", "b"), ("a", "c")], **base)
    with pytest.raises(ValueError, match=r"clients\[1\]: expected \(client_id, client_secret\)"):
        Capture("/tmp/x-never", clients=[("a", "b"), "c"], **base)  # type: ignore[list-item]


def test_diarkit_capture_clients_file_uses_every_client(tmp_path):
    """``diarkit capture --clients-file``: every client's token is fetched at start (a
    wrong secret on the second one fails the capture, naming that client), and a good
    file captures."""
    from click.testing import CliRunner

    from diarkit.cli import cli
    from tests.capture.simhelp import make_sim

    with make_sim(conversations=2, call_duration_s=(20.0, 30.0), speed=30.0,
                  autostart=True, start_delay_s=1.0) as sim:
        sim.add_client("m2", "pw-m2")
        creds = tmp_path / "clients"
        common = ["capture", "--login-base", sim.login_base, "--api-base", sim.api_base,
                  "--clients-file", str(creds), "--quiet", "--heartbeat", "0.25"]
        for q in sim.queue_ids:
            common += ["--follow-queue", q]
        creds.write_text(f"{sim.client_id} {sim.client_secret}\nm2 wrong-secret\n")
        creds.chmod(0o600)
        bad = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "bad"),
                                       "--duration", "2"])
        assert bad.exit_code == 1 and "m2" in bad.output and "wrong-secret" not in bad.output
        creds.write_text(f"{sim.client_id} {sim.client_secret}\nm2 pw-m2\n")
        ok = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "ok"),
                                      "--duration", "4"])
        assert ok.exit_code == 0, ok.output
        both = CliRunner().invoke(cli, [*common, "--client-id", "x", "--out",
                                        str(tmp_path / "x"), "--duration", "1"])
        assert both.exit_code == 1 and "not both" in both.output


def test_each_client_moves_its_channels_to_its_new_token(tmp_path):
    """Tokens of 1.2 s: each OAuth client refreshes its own token and moves its own
    channels to channels of the new token before the old one stops; nothing is lost,
    nothing stored twice, no gap, channels of both clients on the simulator."""
    from diarkit.capture import TokenSource
    from tests.capture.simhelp import (
        check_no_duplicates_and_losses_in_gaps,
        ledger_entries,
        make_capture,
        make_sim,
        wait_for,
        wait_live,
    )

    with make_sim(conversations=5, token_lifetime_s=1.2, channel_lifetime_s=1.0,
                  speed=40.0) as sim:
        sim.add_client("second", "pw-2")
        sources = [TokenSource(sim.login_base, sim.client_id, sim.client_secret,
                               refresh_fraction=0.5),
                   TokenSource(sim.login_base, "second", "pw-2", refresh_fraction=0.5)]
        cap = make_capture(sim, tmp_path, client_id=None, client_secret=None,
                           clients=sources, max_topics_per_channel=2, dead_after=12.0)
        cap.start()
        wait_live(cap)
        owners = set(cap.plan.owners)
        sim.start_conversations()
        wait_for(lambda: cap.stats().transcription_events >= 20, what="first events")
        assert sim.wait_for_conversations_done(30)
        time.sleep(0.3)
        stats = cap.stop()
        assert stats.status == "stopped", stats.message
        rows, lost, gaps = check_no_duplicates_and_losses_in_gaps(sim, tmp_path)
        sent = ledger_entries(sim)
    assert owners == {0, 1} and stats.channels == 3  # 5 topics, 2 a channel, both clients
    assert lost == [] and [g["cause"] for g in gaps] == [] and stats.reconnects == 0
    assert stats.handovers >= 2 and len(rows) == len(sent)
    assert all(c.tokens.fetches >= 2 for c in cap.clients)  # each refreshed its own
