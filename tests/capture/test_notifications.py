"""NotificationsClient against httpx.MockTransport: channels, subscriptions, rejections."""

from __future__ import annotations

import httpx
import pytest

from diarkit.capture import (
    ChannelGoneError,
    NotificationsClient,
    NotificationsError,
    TokenSource,
)

API = "https://api.example.test"
T1 = "v2.conversations.c1.transcription"
T2 = "v2.conversations.c2.transcription"


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes, str]] = []
        self.tokens = 0
        self.subs: list[str] = []
        self.fail_next: list[httpx.Response] = []
        self.reject: dict[str, list[str]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"t{self.tokens}", "expires_in": 600})
        self.calls.append(
            (request.method, request.url.path, request.content, request.headers["Authorization"])
        )
        if self.fail_next:
            return self.fail_next.pop(0)
        path = request.url.path
        if path == "/api/v2/notifications/channels" and request.method == "POST":
            return httpx.Response(
                200,
                json={
                    "id": "ch-1",
                    "connectUri": "ws://127.0.0.1:1/channels/ch-1",
                    "expires": "2026-11-25T10:00:00.000Z",
                },
            )
        if path == "/api/v2/notifications/channels/ch-1" and request.method == "HEAD":
            return httpx.Response(200)
        if path.startswith("/api/v2/notifications/channels/ch-1/subscriptions"):
            import json

            if request.method == "DELETE":
                self.subs = []
                return httpx.Response(200)
            if request.method in ("POST", "PUT"):
                topics = [t["id"] for t in json.loads(request.content)]
                self.subs = topics if request.method == "PUT" else self.subs + topics
            entities = []
            for t in self.subs:
                if t in self.reject:
                    entities.append(
                        {
                            "id": t,
                            "state": "Rejected",
                            "rejectionReason": "Permission denied",
                            "missingPermissions": self.reject[t],
                        }
                    )
                else:
                    entities.append({"id": t, "state": "Permitted"})
            return httpx.Response(200, json={"entities": entities})
        return httpx.Response(404, json={"message": "channel not found", "status": 404})


def client(api: FakeApi) -> NotificationsClient:
    transport = httpx.MockTransport(api)
    tokens = TokenSource(API, "id", "secret", transport=transport)

    def no_sleep(s: float) -> bool:
        return False

    return NotificationsClient(
        API, tokens, transport=transport, sleep=no_sleep, backoff_factory=lambda: iter([0.0] * 9)
    )


def test_channel_lifecycle_and_subscriptions():
    api = FakeApi()
    nc = client(api)
    ch = nc.create_channel()
    assert ch.id == "ch-1" and ch.connect_uri.endswith("/channels/ch-1")
    assert ch.expires is not None and ch.expires.year == 2026
    assert nc.channel_exists("ch-1") is True
    assert nc.channel_exists("gone") is False
    res = nc.add_subscriptions("ch-1", [T1])
    assert res.permitted == (T1,) and res.rejected == ()
    res = nc.add_subscriptions("ch-1", [T2])
    assert res.permitted == (T1, T2)
    res = nc.replace_subscriptions("ch-1", [T2])
    assert res.permitted == (T2,)
    assert nc.list_subscriptions("ch-1").permitted == (T2,)
    nc.remove_subscriptions("ch-1")
    assert api.subs == []
    methods = [(m, p) for m, p, _, _ in api.calls]
    assert ("PUT", "/api/v2/notifications/channels/ch-1/subscriptions") in methods
    assert all(auth == "Bearer t1" for *_, auth in api.calls)
    assert b'[{"id":"v2.conversations.c1.transcription"}]' in [c for _, _, c, _ in api.calls]


def test_rejected_topics_reported_with_reason_and_permissions():
    api = FakeApi()
    api.reject[T2] = ["conversation:transcription:view"]
    nc = client(api)
    res = nc.replace_subscriptions("ch-1", [T1, T2])
    assert res.permitted == (T1,)
    (rej,) = res.rejected
    assert rej.topic == T2 and rej.reason == "Permission denied"
    assert rej.missing_permissions == ("conversation:transcription:view",)
    assert "conversation:transcription:view" in str(rej)


def test_401_refreshes_token_once_and_429_is_retried():
    api = FakeApi()
    nc = client(api)
    api.fail_next = [
        httpx.Response(401, json={"message": "expired"}),
        httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "slow"}),
    ]
    ch = nc.create_channel()
    assert ch.id == "ch-1"
    assert api.tokens == 2  # the 401 invalidated the first token
    assert [c[3] for c in api.calls] == ["Bearer t1", "Bearer t2", "Bearer t2"]
    assert nc.retries == 1


def test_channel_gone_and_other_errors_are_clear():
    api = FakeApi()
    nc = client(api)
    with pytest.raises(ChannelGoneError, match="no longer exists"):
        nc.add_subscriptions("missing", [T1])
    api.fail_next = [httpx.Response(403, json={"message": "Forbidden"})]
    with pytest.raises(NotificationsError, match=r"403.*Forbidden.*permission"):
        nc.create_channel()
    api.fail_next = [httpx.Response(200, json={"weird": True})]
    with pytest.raises(NotificationsError, match="unexpected reply, not a channel"):
        nc.create_channel()
