"""Faults on demand: each one observable by a real client, logged, reproducible by seed."""

from __future__ import annotations

import time

import httpx
import pytest

from diarkit.genesys import ProtocolError, parse_frame, transcription_topic
from diarkit.sim import PlannedFault, Simulator, parse_fault_spec

from .conftest import FAST, close, connect, new_channel, recv_close, recv_until, subscribe


def test_drop_socket_aborts_without_close_frame(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        assert sim.faults.drop_socket(ch["id"]) == 1
        texts, code = recv_close(ws)
    finally:
        close(ws)
    assert code is None and texts == []
    assert sim.fault_log.kinds()[-1] == "drop_socket"
    # the channel survives: a reconnect works
    ws = connect(sim, ch)
    close(ws)


def test_socket_closing_then_close(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        t0 = time.monotonic()
        sim.faults.socket_closing(ch["id"], close_after_s=0.3)
        texts, code = recv_close(ws)
        waited = time.monotonic() - t0
    finally:
        close(ws)
    assert [parse_frame(t).kind for t in texts] == ["socket_closing"]
    assert code == 1000 and waited >= 0.25


def test_stop_and_resume_heartbeats(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        recv_until(ws, lambda t: parse_frame(t).kind == "heartbeat")
        sim.faults.stop_heartbeats(ch["id"])
        n = len(sim.ledger.entries(ch["id"]))
        time.sleep(1.0)  # > 3 periods of 0.3 s
        assert len(sim.ledger.entries(ch["id"])) == n
        sim.faults.resume_heartbeats(ch["id"])
        recv_until(ws, lambda t: parse_frame(t).kind == "heartbeat")
    finally:
        close(ws)
    assert sim.fault_log.kinds()[-2:] == ["stop_heartbeats", "resume_heartbeats"]


@pytest.mark.parametrize("kind", ["truncated", "malformed", "garbage"])
def test_corrupt_frames(sim: Simulator, api: httpx.Client, kind: str) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    assert subscribe(api, ch["id"], [transcription_topic(sim.conversation_ids[0])]
                     ).status_code == 200
    ws = connect(sim, ch)
    try:
        sim.faults.corrupt_frames(3, kind, ch["id"])
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        sim.faults.socket_closing(ch["id"], close_after_s=0.05)
        texts, _ = recv_close(ws)
    finally:
        close(ws)
    entries = sim.ledger.entries(ch["id"])
    assert [e.text for e in entries] == texts
    bad = []
    for t in texts:
        try:
            parse_frame(t)
        except ProtocolError:
            bad.append(t)
    assert bad == texts[:3]
    assert [e.fault for e in entries[:3]] == [kind] * 3 and entries[3].fault is None
    assert sim.fault_log.kinds().count(kind) == 3


def test_revoke_token(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        access_token = api.headers["Authorization"].split()[1]
        (token_id,) = sim.faults.revoke_token(access_token)
        texts, code = recv_close(ws)
    finally:
        close(ws)
    (msg,) = [parse_frame(t) for t in texts]
    assert msg.kind == "system" and msg.envelope.topic == f"v2.system.token_revoked.{token_id}"
    assert msg.channel_id == ch["id"] and msg.system_topic_type == "token_revoked"
    assert code == 1008
    r = api.get("/api/v2/notifications/channels")
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    with pytest.raises(KeyError):
        sim.faults.revoke_token("no-such-token")


@pytest.mark.parametrize(("fault", "kind"), [("expire_channel", "expired_channel"),
                                              ("evict_channel", "evicted_channel")])
def test_expire_or_evict_channel(sim: Simulator, api: httpx.Client, fault: str, kind: str) -> None:
    sim.faults.stop_heartbeats()
    ch = new_channel(api)
    ws = connect(sim, ch)
    try:
        assert getattr(sim.faults, fault)(ch["id"]) == 1
        _, code = recv_close(ws)
    finally:
        close(ws)
    assert code == 1000
    assert api.head(f"/api/v2/notifications/channels/{ch['id']}").status_code == 404
    assert sim.fault_log.kinds()[-1] == kind


def test_429_then_5xx_then_ok(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.rate_limit_next(2, retry_after_s=7)
    sim.faults.server_error_next(1, status=502)
    url = "/api/v2/notifications/channels"
    r1, r2 = api.get(url), api.get(url)
    assert (r1.status_code, r2.status_code) == (429, 429)
    assert r1.headers["Retry-After"] == "7"
    assert r1.json()["code"] == "too.many.requests.retry.after" and r1.json()["status"] == 429
    r3 = api.get(url)
    assert r3.status_code == 502 and r3.json()["status"] == 502
    assert api.get(url).status_code == 200
    assert sim.fault_log.kinds() == ["http_429", "http_429", "http_5xx"]
    with pytest.raises(ValueError, match="5xx"):
        sim.faults.server_error_next(1, status=404)


def test_5xx_for_one_method_only(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    sim.faults.server_error_next(2, status=503, method="delete")
    url = f"/api/v2/notifications/channels/{ch['id']}/subscriptions"
    assert api.get(url).status_code == 200  # other methods are untouched
    assert api.delete(url).status_code == 503
    assert api.get(url).status_code == 200
    assert api.delete(url).status_code == 503
    assert api.delete(url).status_code == 204
    assert sim.fault_log.kinds() == ["http_5xx", "http_5xx"]


def test_slow_responses(sim: Simulator, api: httpx.Client) -> None:
    sim.faults.slow_responses(1, delay_s=0.5)
    t0 = time.monotonic()
    assert api.get("/api/v2/notifications/channels").status_code == 200
    slow = time.monotonic() - t0
    t0 = time.monotonic()
    assert api.get("/api/v2/notifications/channels").status_code == 200
    assert slow >= 0.5 > time.monotonic() - t0


def test_fault_spec_parsing() -> None:
    assert parse_fault_spec("drop@30") == PlannedFault(30.0, "drop", 1)
    assert parse_fault_spec("429:3@1.5") == PlannedFault(1.5, "429", 3)
    for bad in ("drop", "nope@1", "429:x@1", "drop@-1", "drop@soon"):
        with pytest.raises(ValueError, match="bad fault"):
            parse_fault_spec(bad)


def _chaos_kinds(seed: int) -> list[str]:
    with Simulator(seed=seed, conversations=1, chaos_every_s=0.03, start_delay_s=0.0,
                   **FAST) as sim:
        deadline = time.monotonic() + 10
        while len(triggers := [r.detail for r in sim.fault_log if r.kind == "trigger"]) < 6:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    return triggers[:6]


def test_random_faults_are_reproducible_by_seed() -> None:
    a, b, c = _chaos_kinds(5), _chaos_kinds(5), _chaos_kinds(8)
    assert len(a) == 6 and a == b
    assert a != c


def test_planned_faults_fire_on_time() -> None:
    plan = [PlannedFault(1.0, "429", 2), PlannedFault(1.2, "drop")]
    with Simulator(seed=1, conversations=1, fault_plan=plan, start_delay_s=0.0, **FAST) as sim:
        headers = {"Authorization": f"Bearer {_token(sim)}"}
        with httpx.Client(base_url=sim.api_base, headers=headers) as api:
            ch = new_channel(api)
            ws = connect(sim, ch)
            try:
                sim.faults.stop_heartbeats()
                _, code = recv_close(ws)
            finally:
                close(ws)
            assert code is None  # dropped
            assert [api.get("/api/v2/notifications/channels").status_code
                    for _ in range(3)] == [429, 429, 200]


def _token(sim: Simulator) -> str:
    from .conftest import token

    return token(sim)
