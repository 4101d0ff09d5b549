"""OAuth and notifications REST endpoints: bodies, status codes, limits and expiry."""

from __future__ import annotations

import time

import httpx
import pytest

from diarkit.genesys import queue_calls_topic, transcription_topic, user_calls_topic
from diarkit.sim import TRANSCRIPTION_PERMISSION, Simulator

from .conftest import FAST, close, connect, new_channel, recv_close, subscribe, token


def _error_shape(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and isinstance(body["message"], str) and body["code"]
    return body


# ------------------------------------------------------------------------ OAuth


def test_oauth_basic_and_form_fields(sim: Simulator) -> None:
    r = httpx.post(f"{sim.login_base}/oauth/token", auth=(sim.client_id, sim.client_secret),
                   data={"grant_type": "client_credentials"})
    assert r.status_code == 200
    assert set(r.json()) == {"access_token", "token_type", "expires_in"}
    assert r.json()["token_type"] == "bearer"
    r = httpx.post(f"{sim.login_base}/oauth/token",
                   data={"grant_type": "client_credentials", "client_id": sim.client_id,
                         "client_secret": sim.client_secret})
    assert r.status_code == 200 and r.json()["access_token"]


@pytest.mark.parametrize(
    ("auth", "data", "status", "error"),
    [
        (("diarkit-sim-client", "wrong"), {"grant_type": "client_credentials"}, 401,
         "invalid_client"),
        (("nobody", "x"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("diarkit-sim-client", "diarkit-sim-secret"), {"grant_type": "password"}, 400,
         "unsupported_grant_type"),
        (("diarkit-sim-client", "diarkit-sim-secret"), {}, 400, "invalid_request"),
    ],
)
def test_oauth_errors(sim: Simulator, auth, data, status, error) -> None:
    r = httpx.post(f"{sim.login_base}/oauth/token", auth=auth, data=data)
    assert r.status_code == status
    assert r.json()["error"] == error and r.json()["error_description"]


def test_token_lifetime_and_expired_token() -> None:
    with Simulator(seed=1, conversations=0, token_lifetime_s=1.0, autostart=False) as sim:
        r = httpx.post(f"{sim.login_base}/oauth/token", auth=(sim.client_id, sim.client_secret),
                       data={"grant_type": "client_credentials"})
        assert r.json()["expires_in"] == 1
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        url = f"{sim.api_base}/api/v2/notifications/channels"
        assert httpx.get(url, headers=headers).status_code == 200
        time.sleep(1.1)
        body = _error_shape(httpx.get(url, headers=headers), 401)
        assert "expired" in body["message"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc"])
def test_bearer_checks(sim: Simulator, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = httpx.post(f"{sim.api_base}/api/v2/notifications/channels", headers=headers)
    _error_shape(r, 401)


# ------------------------------------------------------------------------ channels


def test_channel_create_list_head(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    assert set(ch) == {"connectUri", "id", "expires"}
    assert ch["connectUri"] == f"ws://127.0.0.1:{sim.port}/channels/{ch['id']}"
    assert ch["expires"].endswith("Z")
    listed = api.get("/api/v2/notifications/channels").json()["entities"]
    assert [c["id"] for c in listed] == [ch["id"]]
    assert api.head(f"/api/v2/notifications/channels/{ch['id']}").status_code == 200
    assert api.head("/api/v2/notifications/channels/streaming-0-nope").status_code == 404


def test_21st_channel_evicts_an_unconnected_channel_first(sim: Simulator, api: httpx.Client
                                                         ) -> None:
    # Genesys Cloud: "Creating a 21st channel will remove the channel with oldest last used
    # date. Channels without an active connection will be removed first."
    first = new_channel(api)
    ws = connect(sim, first)
    try:
        others = [new_channel(api) for _ in range(19)]
        assert len(api.get("/api/v2/notifications/channels").json()["entities"]) == 20
        new_channel(api)  # the 21st: the oldest unconnected channel goes, not the live one
        assert api.head(f"/api/v2/notifications/channels/{others[0]['id']}").status_code == 404
        assert api.head(f"/api/v2/notifications/channels/{first['id']}").status_code == 200
        assert first["id"] in sim.channel_ids(connected=True)
    finally:
        close(ws)
    ids = {c["id"] for c in api.get("/api/v2/notifications/channels").json()["entities"]}
    assert len(ids) == 20 and others[0]["id"] not in ids and others[1]["id"] in ids
    assert "evict_channel" in sim.fault_log.kinds()


def test_21st_channel_evicts_the_least_recently_used(sim: Simulator, api: httpx.Client
                                                    ) -> None:
    chans = [new_channel(api) for _ in range(20)]
    topic = transcription_topic(sim.conversation_ids[0])
    assert subscribe(api, chans[0]["id"], [topic]).status_code == 200  # uses the first
    new_channel(api)
    assert api.head(f"/api/v2/notifications/channels/{chans[0]['id']}").status_code == 200
    assert api.head(f"/api/v2/notifications/channels/{chans[1]['id']}").status_code == 404


def test_channels_of_another_client_are_invisible(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    sim.add_client("other", "other-secret")
    headers = {"Authorization": f"Bearer {token(sim, 'other', 'other-secret')}"}
    r = httpx.head(f"{sim.api_base}/api/v2/notifications/channels/{ch['id']}", headers=headers)
    assert r.status_code == 404
    r = httpx.get(f"{sim.api_base}/api/v2/notifications/channels/{ch['id']}/subscriptions",
                  headers=headers)
    _error_shape(r, 404)


# ------------------------------------------------------------------------ subscriptions


def test_subscriptions_post_put_get_delete(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    c1, c2 = sim.conversation_ids[:2]
    t1, t2, tq = transcription_topic(c1), transcription_topic(c2), queue_calls_topic(
        sim.queue_ids[0])
    r = subscribe(api, ch["id"], [t1, tq])
    assert r.status_code == 200
    assert r.json()["entities"] == [{"id": t1, "state": "Permitted"},
                                    {"id": tq, "state": "Permitted"}]
    r = subscribe(api, ch["id"], [t2])  # POST adds
    assert [e["id"] for e in r.json()["entities"]] == [t1, tq, t2]
    r = subscribe(api, ch["id"], [t2, user_calls_topic(sim.user_ids[0])], "PUT")  # replaces
    assert [e["id"] for e in r.json()["entities"]] == [t2, user_calls_topic(sim.user_ids[0])]
    got = api.get(f"/api/v2/notifications/channels/{ch['id']}/subscriptions").json()
    assert got == r.json()
    assert sim.subscriptions(ch["id"]) == [t2, user_calls_topic(sim.user_ids[0])]
    r = api.delete(f"/api/v2/notifications/channels/{ch['id']}/subscriptions")
    assert r.status_code == 204
    assert api.get(f"/api/v2/notifications/channels/{ch['id']}/subscriptions").json() == {
        "entities": []}
    # the channel itself stays (the real API cannot delete one), with nothing subscribed
    assert api.head(f"/api/v2/notifications/channels/{ch['id']}").status_code == 200
    assert sim.channel_subscriptions() == {ch["id"]: []}
    assert subscribe(api, "streaming-0-missing", [t1]).status_code == 404
    assert api.delete("/api/v2/notifications/channels/streaming-0-missing/subscriptions"
                      ).status_code == 404


def test_channel_subscriptions_lists_each_clients_channels(sim: Simulator, api: httpx.Client
                                                           ) -> None:
    a, b = new_channel(api), new_channel(api)
    t1 = transcription_topic(sim.conversation_ids[0])
    assert subscribe(api, a["id"], [t1]).status_code == 200
    sim.add_client("other", "other-secret")
    headers = {"Authorization": f"Bearer {token(sim, 'other', 'other-secret')}"}
    c = httpx.post(f"{sim.api_base}/api/v2/notifications/channels", headers=headers).json()
    assert sim.channel_subscriptions(sim.client_id) == {a["id"]: [t1], b["id"]: []}
    assert sim.channel_subscriptions("other") == {c["id"]: []}
    assert set(sim.channel_subscriptions()) == {a["id"], b["id"], c["id"]}
    sim.faults.expire_channel(a["id"])
    assert a["id"] not in sim.channel_subscriptions()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"id": "x"}, "JSON array"),
        ([{"topic": "v2.conversations.a.transcription"}], "body[0]"),
        ([{"id": "v2.conversations.bad id.transcription"}], "invalid topic"),
        ([{"id": "channel.metadata"}], "not a subscribable topic"),
        ([{"id": "v2.system.socket_closing"}], "not a subscribable topic"),
    ],
)
def test_bad_subscription_bodies_are_400(sim: Simulator, api: httpx.Client, body, needle) -> None:
    ch = new_channel(api)
    r = api.post(f"/api/v2/notifications/channels/{ch['id']}/subscriptions", json=body)
    assert needle in _error_shape(r, 400)["message"]
    r = api.post(f"/api/v2/notifications/channels/{ch['id']}/subscriptions", content=b"{nope")
    assert "not valid JSON" in _error_shape(r, 400)["message"]


def test_topic_limit_is_1000(sim: Simulator, api: httpx.Client) -> None:
    ch = new_channel(api)
    topics = [transcription_topic(f"c{i:04d}") for i in range(1000)]
    assert subscribe(api, ch["id"], topics, "PUT").status_code == 200
    r = subscribe(api, ch["id"], [transcription_topic("one-more")])
    assert "1000" in _error_shape(r, 400)["message"]
    assert len(sim.subscriptions(ch["id"])) == 1000  # nothing lost on refusal
    assert subscribe(api, ch["id"], topics[:10]).status_code == 200  # already there: fine


def test_client_without_transcription_permission_is_rejected(sim: Simulator) -> None:
    sim.add_client("no-tx", "s3cret", permissions={"routing:queue:view"})
    headers = {"Authorization": f"Bearer {token(sim, 'no-tx', 's3cret')}"}
    with httpx.Client(base_url=sim.api_base, headers=headers) as api:
        ch = new_channel(api)
        t = transcription_topic(sim.conversation_ids[0])
        q = queue_calls_topic(sim.queue_ids[0])
        # ignoreErrors defaults to false: one unpermitted topic refuses the whole request
        r = subscribe(api, ch["id"], [t, q])
        body = _error_shape(r, 403)
        assert body["code"] == "missing.permissions"
        assert TRANSCRIPTION_PERMISSION in body["message"]
        assert body["messageParams"] == {"permissions": f"[{TRANSCRIPTION_PERMISSION}]"}
        assert sim.subscriptions(ch["id"]) == []
        # with ignoreErrors=true the permitted topics go through, the others come back
        r = api.post(f"/api/v2/notifications/channels/{ch['id']}/subscriptions",
                     params={"ignoreErrors": "true"}, json=[{"id": t}, {"id": q}])
    assert r.status_code == 200
    assert r.json()["entities"] == [
        {"id": q, "state": "Permitted"},
        {"id": t, "state": "Rejected", "rejectionReason": "Missing permissions",
         "missingPermissions": [TRANSCRIPTION_PERMISSION]},
    ]
    assert sim.subscriptions(ch["id"]) == [q]


def test_channel_expires_unless_resubscribed() -> None:
    with Simulator(seed=1, conversations=1, channel_lifetime_s=0.8, autostart=False) as sim:
        headers = {"Authorization": f"Bearer {token(sim)}"}
        with httpx.Client(base_url=sim.api_base, headers=headers) as api:
            kept, lapsed = new_channel(api), new_channel(api)
            ws = connect(sim, lapsed)
            topic = transcription_topic(sim.conversation_ids[0])
            for _ in range(3):  # re-subscribing extends the life each time
                time.sleep(0.4)
                assert subscribe(api, kept["id"], [topic]).status_code == 200
            assert api.head(f"/api/v2/notifications/channels/{kept['id']}").status_code == 200
            assert api.head(f"/api/v2/notifications/channels/{lapsed['id']}").status_code == 404
            try:
                _, code = recv_close(ws)
            finally:
                close(ws)
            assert code == 1000
            time.sleep(1.2)
            assert api.head(f"/api/v2/notifications/channels/{kept['id']}").status_code == 404
    assert sim.fault_log.kinds().count("channel_expired") == 2


# ------------------------------------------------------------------------ rate limit


def test_rate_limit_429_with_retry_after() -> None:
    with Simulator(seed=1, conversations=0, rate_limit=(5, 60.0), autostart=False) as sim:
        headers = {"Authorization": f"Bearer {token(sim)}"}
        url = f"{sim.api_base}/api/v2/notifications/channels"
        codes = [httpx.get(url, headers=headers).status_code for _ in range(5)]
        assert codes == [200] * 5
        r = httpx.get(url, headers=headers)
        body = _error_shape(r, 429)
        assert body["code"] == "too.many.requests.retry.after"
        assert 1 <= int(r.headers["Retry-After"]) <= 60


# ------------------------------------------------------------------------ post-call


def test_transcript_url_404_while_ongoing_then_document() -> None:
    with Simulator(seed=4, conversations=2, autostart=False, **FAST) as sim:
        headers = {"Authorization": f"Bearer {token(sim)}"}
        cid = sim.conversation_ids[0]
        comm = sim.communication_id(cid)
        path = (f"{sim.api_base}/api/v2/speechandtextanalytics/conversations/{cid}"
                f"/communications/{comm}/transcripturl")
        assert "not finished" in _error_shape(httpx.get(path, headers=headers), 404)["message"]
        _error_shape(httpx.get(path.replace(comm, "nope"), headers=headers), 404)
        _error_shape(httpx.get(path), 401)
        # the document URL is pre-signed: without a valid signature S3 says 403
        assert httpx.get(f"{sim.api_base}/transcripts/{cid}/{comm}.json").status_code == 403
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        r = httpx.get(path, headers=headers)
        assert r.status_code == 200
        doc = httpx.get(r.json()["url"]).json()
    assert doc == sim.post_call_transcript(cid)
    assert doc["conversationId"] == cid and doc["communicationId"] == comm
    assert doc["transcripts"][0]["phrases"][0]["participantPurpose"] == "internal"
