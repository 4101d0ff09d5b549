"""TokenSource against httpx.MockTransport: Basic auth, caching, refresh, retries, errors."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from diarkit.capture import AuthError, RetryExhaustedError, Secret, TokenSource
from diarkit.capture.token import read_secret_file

SECRET = "s3cr3t-Value-XYZ"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(handler, **kw) -> tuple[TokenSource, list[float]]:
    sleeps: list[float] = []

    def sleep(s: float) -> bool:
        sleeps.append(s)
        return False

    kw.setdefault("backoff_factory", lambda: iter([0.01, 0.02, 0.04, 0.08, 0.16, 0.3, 0.3, 0.3]))
    ts = TokenSource(
        "https://login.example.test/",
        "my-client",
        SECRET,
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        **kw,
    )
    return ts, sleeps


def ok(token: str = "tok-1", expires_in: int = 100) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": token, "token_type": "bearer", "expires_in": expires_in}
    )


def test_basic_auth_form_body_and_caching():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok()

    ts, _ = make(handler)
    assert ts.token() == "tok-1"
    assert ts.token() == "tok-1"
    assert len(seen) == 1
    req = seen[0]
    assert req.method == "POST"
    assert str(req.url) == "https://login.example.test/oauth/token"
    expected = base64.b64encode(f"my-client:{SECRET}".encode()).decode()
    assert req.headers["Authorization"] == f"Basic {expected}"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.content == b"grant_type=client_credentials"


def test_refreshes_at_fraction_of_lifetime_and_after_invalidate():
    n = iter(range(1, 100))

    def handler(request: httpx.Request) -> httpx.Response:
        return ok(f"tok-{next(n)}", expires_in=100)

    clock = Clock()
    ts, _ = make(handler, refresh_fraction=0.5, clock=clock)
    assert ts.token() == "tok-1"
    clock.now += 49.9
    assert ts.token() == "tok-1"
    assert ts.seconds_left() == pytest.approx(50.1)
    clock.now += 0.2
    assert ts.token() == "tok-2"
    ts.invalidate()
    assert ts.token() == "tok-3"
    assert ts.fetches == 3


def test_retries_429_honouring_retry_after_and_5xx_with_backoff():
    replies = iter(
        [
            httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"}),
            httpx.Response(503),
            ok("tok-after-storm"),
        ]
    )
    ts, sleeps = make(lambda r: next(replies))
    assert ts.token() == "tok-after-storm"
    assert sleeps == [3.0, 0.02]  # server's Retry-After, then the 2nd backoff delay
    assert ts.retries == 2


def test_gives_up_after_max_attempts():
    ts, sleeps = make(lambda r: httpx.Response(500), max_attempts=3)
    with pytest.raises(RetryExhaustedError, match="3 attempts"):
        ts.token()
    assert len(sleeps) == 2  # no wait after the last attempt


@pytest.mark.parametrize("status", [400, 401])
def test_rejected_credentials_name_the_cause_never_the_secret(status, caplog):
    body = {"error": "invalid_client", "error_description": f"bad secret {SECRET}"}
    ts, _ = make(lambda r: httpx.Response(status, json=body))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        ts.token()
    msg = str(info.value)
    assert "wrong client id or secret" in msg and "region" in msg and "invalid_client" in msg
    assert SECRET not in msg and SECRET not in repr(info.value)
    assert SECRET not in caplog.text
    assert SECRET not in repr(ts) and SECRET not in str(ts.__dict__)


def test_network_error_is_retried_then_reported_without_secret():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    ts, sleeps = make(handler, max_attempts=2)
    with pytest.raises(RetryExhaustedError) as info:
        ts.token()
    assert "ConnectError" in str(info.value) and SECRET not in str(info.value)
    assert len(sleeps) == 1  # no wait after the last attempt


def test_secret_hidden_everywhere(tmp_path):
    s = Secret(SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s) and SECRET not in f"{s}"
    assert s.reveal() == SECRET
    f = tmp_path / "secret.txt"
    f.write_text(SECRET + "\n")
    assert read_secret_file(f).reveal() == SECRET
    with pytest.raises(Exception, match="cannot read client secret file"):
        read_secret_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(Exception, match="is empty"):
        read_secret_file(tmp_path / "empty.txt")


def test_malformed_reply_is_an_auth_error():
    ts, _ = make(lambda r: httpx.Response(200, json={"nope": 1}))
    with pytest.raises(AuthError, match="no access_token"):
        ts.token()
