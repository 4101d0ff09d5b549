"""Drive the simulator exactly as a user of the real API would and compare with the ledger."""

from __future__ import annotations

import httpx
import websocket

from diarkit.genesys import parse_frame, queue_calls_topic, transcription_topic
from diarkit.sim import Simulator

from .conftest import FAST


def _receive_until_closed(ws: websocket.WebSocket, limit: int = 100_000) -> list[str]:
    frames: list[str] = []
    for _ in range(limit):
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        frames.append(data.decode())
    return frames


def test_real_protocol_client_receives_exactly_the_ledger() -> None:
    with Simulator(seed=11, conversations=4, queues=2, autostart=False, **FAST) as sim:
        with httpx.Client(timeout=10) as http:
            r = http.post(
                f"{sim.login_base}/oauth/token",
                auth=(sim.client_id, sim.client_secret),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                content="grant_type=client_credentials",
            )
            assert r.status_code == 200
            body = r.json()
            assert body["token_type"] == "bearer" and body["expires_in"] == 86400
            auth = {"Authorization": f"Bearer {body['access_token']}"}
            ch = http.post(f"{sim.api_base}/api/v2/notifications/channels", headers=auth).json()
            assert ch["connectUri"] == f"{sim.ws_base}/channels/{ch['id']}"
            topics = [transcription_topic(c) for c in sim.conversation_ids]
            topics += [queue_calls_topic(q) for q in sim.queue_ids]
            r = http.post(
                f"{sim.api_base}/api/v2/notifications/channels/{ch['id']}/subscriptions",
                headers=auth, json=[{"id": t} for t in topics],
            )
            assert r.status_code == 200
            assert {e["id"] for e in r.json()["entities"]} == set(topics)
            assert {e["state"] for e in r.json()["entities"]} == {"Permitted"}
        ws = websocket.create_connection(ch["connectUri"], skip_utf8_validation=True, timeout=10)
        try:
            assert sim.wait_connected(ch["id"])
            ws.send('{"message": "ping"}')
            sim.start_conversations()
            assert sim.wait_for_conversations_done(60)
            sim.faults.socket_closing(ch["id"], close_after_s=0.2)
            received = _receive_until_closed(ws)
        finally:
            ws.close()
            ws.shutdown()
    sent = sim.ledger.texts(ch["id"])
    assert received == sent
    kinds = [parse_frame(t).kind for t in received]
    closing = kinds.index("socket_closing")
    assert set(kinds[closing + 1:]) <= {"heartbeat"}  # only heartbeats until the close
    assert {"pong", "heartbeat", "transcription", "conversation"} <= set(kinds)
    # every simulated call reached the client, start to end
    ended = {
        m.conversation_id
        for m in map(parse_frame, received)
        if m.kind == "transcription" and m.status is not None
        and m.status.status == "SESSION_ENDED"
    }
    assert ended == set(sim.conversation_ids)


def test_many_concurrent_calls_over_two_channels() -> None:
    import threading

    from .conftest import close, connect, new_channel, recv_close, subscribe, token

    with Simulator(seed=21, conversations=30, queues=3, agents=8, autostart=False,
                   grouping="per_frame", **FAST) as sim:
        headers = {"Authorization": f"Bearer {token(sim)}"}
        with httpx.Client(base_url=sim.api_base, headers=headers) as api:
            channels = [new_channel(api), new_channel(api)]
            halves = [sim.conversation_ids[::2], sim.conversation_ids[1::2]]
            for ch, convs in zip(channels, halves, strict=True):
                r = subscribe(api, ch["id"], [transcription_topic(c) for c in convs])
                assert r.status_code == 200
        sockets = [connect(sim, ch) for ch in channels]
        results: list[tuple[list[str], int | None]] = [([], None), ([], None)]

        def read(i: int) -> None:
            results[i] = recv_close(sockets[i], limit=200_000)

        readers = [threading.Thread(target=read, args=(i,)) for i in range(2)]
        for t in readers:
            t.start()
        try:
            sim.start_conversations()
            assert sim.wait_for_conversations_done(60)
            sim.faults.socket_closing(close_after_s=0.1)
            for t in readers:
                t.join(30)
        finally:
            for ws in sockets:
                close(ws)
    for (texts, code), ch, convs in zip(results, channels, halves, strict=True):
        assert code == 1000
        assert texts == sim.ledger.texts(ch["id"])
        got = {m.conversation_id for m in map(parse_frame, texts) if m.kind == "transcription"}
        assert got == set(convs)
    assert sum(len(t) for t, _ in results) > 2000
