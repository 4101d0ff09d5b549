"""Fixtures of the simulator tests: a fast simulator and an authorised httpx client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import websocket

from diarkit.sim import Simulator

FAST = {"speed": 200.0, "heartbeat_s": 0.3, "call_duration_s": (20.0, 40.0), "stagger_s": 0.0}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A running simulator with 3 short calls that start only when asked."""
    with Simulator(seed=3, conversations=3, autostart=False, **FAST) as s:
        yield s


def token(sim: Simulator, client_id: str | None = None, secret: str | None = None) -> str:
    """An access token for the default (or given) client, via HTTP Basic."""
    r = httpx.post(
        f"{sim.login_base}/oauth/token",
        auth=(client_id or sim.client_id, secret or sim.client_secret),
        data={"grant_type": "client_credentials"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture
def api(sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on ``sim.api_base`` carrying a valid bearer token."""
    headers = {"Authorization": f"Bearer {token(sim)}"}
    with httpx.Client(base_url=sim.api_base, headers=headers, timeout=10) as client:
        yield client


def new_channel(api: httpx.Client) -> dict[str, str]:
    """``POST /api/v2/notifications/channels`` and return the reply body."""
    r = api.post("/api/v2/notifications/channels")
    assert r.status_code == 200, r.text
    return dict(r.json())


def subscribe(api: httpx.Client, channel_id: str, topics: list[str], method: str = "POST"
              ) -> httpx.Response:
    """Send a subscriptions request with the real body shape ``[{"id": topic}]``."""
    return api.request(method, f"/api/v2/notifications/channels/{channel_id}/subscriptions",
                       json=[{"id": t} for t in topics])


def connect(sim: Simulator, channel: dict[str, str], timeout: float = 5.0
            ) -> websocket.WebSocket:
    """Open the channel's socket with websocket-client and wait until the server has it."""
    ws = websocket.create_connection(channel["connectUri"], skip_utf8_validation=True,
                                     timeout=timeout)
    assert sim.wait_connected(channel["id"])
    return ws


def close(ws: websocket.WebSocket) -> None:
    """Close a client socket and release it."""
    ws.close()
    ws.shutdown()


def recv_until(ws: websocket.WebSocket, predicate: Callable[[str], bool], limit: int = 10_000
               ) -> list[str]:
    """Receive text frames until one satisfies ``predicate`` (included); bounded."""
    got = []
    for _ in range(limit):
        text = ws.recv()
        got.append(text)
        if predicate(text):
            return got
    raise AssertionError(f"no matching frame in {limit} frames")


def recv_close(ws: websocket.WebSocket, limit: int = 10_000) -> tuple[list[str], int | None]:
    """Receive until the server closes; (texts, close code or None for an abrupt drop)."""
    texts: list[str] = []
    for _ in range(limit):
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return texts, None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            return texts, code
        if opcode == websocket.ABNF.OPCODE_TEXT:
            texts.append(data.decode())
        if opcode == websocket.ABNF.OPCODE_CLOSE or (opcode == 0 and not data):
            return texts, None
    raise AssertionError("socket did not close")
