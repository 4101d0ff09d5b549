"""Fixtures of the simulator tests: a fast simulator and an authorised httpx client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

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
