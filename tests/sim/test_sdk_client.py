"""The official Genesys Cloud Python SDK as a client of the simulator (issue #13.6).

An unmodified ``purecloudplatformclientv2`` 269 ``ApiClient``, pointed at the simulator's
base URL, fetches a token and runs channels, subscriptions (with and without
``ignoreErrors``), ``availabletopics``, ``HEAD`` and the transcript URL; every REST reply
and error body and every system frame the simulator emits is read strictly with the SDK's
models (``tests/sim/test_sdk_conformance.strict``: no field, JSON type or enum value the
SDK does not know).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
import websocket
from PureCloudPlatformClientV2 import ApiClient, NotificationsApi, SpeechTextAnalyticsApi, models
from PureCloudPlatformClientV2.rest import ApiException

from diarkit.genesys import queue_calls_topic, transcription_topic
from diarkit.sim import Simulator

from .test_sdk_conformance import _deserialize, _model, outdated
from .test_sdk_conformance import strict as _strict


def strict(value: Any, klass: str, path: str, seen: Counter[str]) -> None:
    """``test_sdk_conformance.strict`` plus ``object`` (any JSON value) in model fields."""
    if klass == "object":
        return
    if klass.startswith("list["):
        assert isinstance(value, list), f"{path}: expected a list for {klass}"
        for i, v in enumerate(value):
            strict(v, klass[5:-1], f"{path}[{i}]", seen)
        return
    if klass.startswith("dict("):
        assert isinstance(value, dict), f"{path}: expected an object for {klass}"
        for k, v in value.items():
            strict(v, klass.split(", ", 1)[1][:-1], f"{path}.{k}", seen)
        return
    if klass in ("str", "int", "float", "bool", "datetime"):
        _strict(value, klass, path, seen)
        return
    model, attr_of = _model(klass)
    assert isinstance(value, dict), f"{path}: expected an object for {klass}"
    for key, v in value.items():
        assert key in attr_of, f"{path}.{key}: {klass} has no field {key!r}"
        strict(v, model.swagger_types[attr_of[key]], f"{path}.{key}", seen)


def sdk(sim: Simulator, client_id: str | None = None, secret: str | None = None) -> ApiClient:
    return ApiClient(host=sim.api_base).get_client_credentials_token(
        client_id or sim.client_id, secret or sim.client_secret)


def channel_topic(name: str) -> Any:
    """An SDK ``ChannelTopic`` naming ``name`` (the models take no constructor arguments)."""
    topic = models.ChannelTopic()
    topic.id = name
    return topic


def check(body: Any, klass: str) -> Any:
    """Strict SDK read of a JSON value; returns the model object."""
    strict(body, klass, "$", Counter())
    obj = _deserialize(body, klass)
    assert not outdated(obj), outdated(obj)
    return obj


def error_of(exc: ApiException) -> Any:
    return check(json.loads(exc.body), "ErrorBody")


@pytest.fixture
def sim():
    with Simulator(seed=3, conversations=2, queues=2, speed=60.0, heartbeat_s=0.3,
                   autostart=False, call_duration_s=(10.0, 15.0), stagger_s=0.0) as s:
        yield s


def test_sdk_client_runs_channels_and_subscriptions_unchanged(sim):
    api = sdk(sim)
    assert api.access_token
    notif = NotificationsApi(api)
    channel = notif.post_notifications_channels()
    assert isinstance(channel, models.Channel) and channel.expires.tzinfo is not None
    assert channel.connect_uri.startswith("ws://127.0.0.1:")
    listing = notif.get_notifications_channels()
    assert [c.id for c in listing.entities] == [channel.id]
    topics = [transcription_topic(c) for c in sim.conversation_ids]
    body = [channel_topic(t) for t in topics]
    reply = notif.put_notifications_channel_subscriptions(channel.id, body)
    assert [(e.id, e.state) for e in reply.entities] == [(t, "Permitted") for t in topics]
    got = notif.get_notifications_channel_subscriptions(channel.id)
    assert sorted(e.id for e in got.entities) == sorted(topics)
    notif.head_notifications_channel(channel.id)
    with pytest.raises(ApiException) as info:
        notif.head_notifications_channel("streaming-0-nope")
    assert info.value.status == 404
    notif.delete_notifications_channel_subscriptions(channel.id)
    assert notif.get_notifications_channel_subscriptions(channel.id).entities == []
    topics_listing = notif.get_notifications_availabletopics()
    ids = {t.id for t in topics_listing.entities}
    assert "v2.conversations.{id}.transcription" in ids
    raw = httpx.get(f"{sim.api_base}/api/v2/notifications/availabletopics",
                    headers={"Authorization": f"Bearer {api.access_token}"}).json()
    check(raw, "AvailableTopicEntityListing")
    for path in ("/api/v2/notifications/channels",):
        check(httpx.get(sim.api_base + path,
                        headers={"Authorization": f"Bearer {api.access_token}"}).json(),
              "ChannelEntityListing")


def test_sdk_sees_missing_permissions_without_ignore_errors_and_entities_with(sim):
    allowed, hidden = sim.queue_ids
    sim.add_client("limited", "limited-secret", hidden_ids=[hidden])
    notif = NotificationsApi(sdk(sim, "limited", "limited-secret"))
    channel = notif.post_notifications_channels()
    body = [channel_topic(queue_calls_topic(q)) for q in (allowed, hidden)]
    with pytest.raises(ApiException) as info:
        notif.post_notifications_channel_subscriptions(channel.id, body)
    assert info.value.status == 403
    err = error_of(info.value)
    assert err.code == "missing.permissions" and "routing:queue:view" in err.message
    assert notif.get_notifications_channel_subscriptions(channel.id).entities == []
    reply = notif.post_notifications_channel_subscriptions(channel.id, body, ignore_errors=True)
    states = {e.id: (e.state, e.missing_permissions) for e in reply.entities}
    assert states == {queue_calls_topic(allowed): ("Permitted", None),
                      queue_calls_topic(hidden): ("Rejected", ["routing:queue:view"])}
    # an unknown topic: 400 without ignoreErrors, a Rejected entry with it
    unknown = [channel_topic("v2.users.abc.presence")]
    with pytest.raises(ApiException) as info:
        notif.post_notifications_channel_subscriptions(channel.id, unknown)
    assert info.value.status == 400 and error_of(info.value).code == "bad.request"
    reply = notif.post_notifications_channel_subscriptions(channel.id, unknown,
                                                           ignore_errors=True)
    assert [(e.id, e.state) for e in reply.entities if e.state == "Rejected"] == [
        ("v2.users.abc.presence", "Rejected")]


def test_oauth_and_rest_errors_have_the_real_shapes(sim):
    r = httpx.post(f"{sim.login_base}/oauth/token", auth=("nobody", "wrong"),
                   data={"grant_type": "client_credentials"})
    assert r.status_code == 401
    assert set(r.json()) == {"error", "description", "error_description"}
    assert r.json()["error"] == "invalid_client"
    for response in (
        httpx.get(f"{sim.api_base}/api/v2/notifications/channels"),  # no token
        httpx.get(f"{sim.api_base}/api/v2/notifications/channels",
                  headers={"Authorization": "Bearer nope"}),
    ):
        assert response.status_code == 401
        assert check(response.json(), "ErrorBody").status == 401
    with pytest.raises(ApiException) as info:
        NotificationsApi(sdk(sim)).get_notifications_channel_subscriptions("streaming-0-x")
    assert error_of(info.value).status == 404


def test_sdk_transcript_url_is_signed_and_expires(sim):
    api = sdk(sim)
    sim.start_conversations()
    assert sim.wait_for_conversations_done(30)
    cid = sim.conversation_ids[0]
    sta = SpeechTextAnalyticsApi(api)
    # the documented 600 s validity: these URLs must still work however loaded the machine
    url = sta.get_speechandtextanalytics_conversation_communication_transcripturl(
        cid, sim.communication_id(cid))
    assert isinstance(url, models.TranscriptUrl) and "Signature=" in url.url
    assert httpx.get(url.url).json()["conversationId"] == cid
    urls = sta.get_speechandtextanalytics_conversation_communication_transcripturls(
        cid, sim.communication_id(cid))  # the plural endpoint
    assert isinstance(urls, models.TranscriptUrls) and urls.conversation.id == cid
    assert httpx.get(urls.urls[0].url).json()["conversationId"] == cid
    raw = httpx.get(
        f"{sim.api_base}/api/v2/speechandtextanalytics/conversations/{cid}/communications/"
        f"{sim.communication_id(cid)}/transcripturls",
        headers={"Authorization": f"Bearer {api.access_token}"}).json()
    check(raw, "TranscriptUrls")
    # a URL signed for 0.2 s, fetched at least 0.5 s later, has expired (the wait is a
    # lower bound, so a slow machine only makes it later); the 600 s URL still works
    sim._server.url_ttl_s = 0.2
    short = sta.get_speechandtextanalytics_conversation_communication_transcripturl(
        cid, sim.communication_id(cid))
    time.sleep(0.5)
    expired = httpx.get(short.url)
    assert expired.status_code == 403 and "expired" in expired.text
    assert httpx.get(url.url).json()["conversationId"] == cid
    tampered = httpx.get(url.url.replace("Signature=", "Signature=x"))
    assert tampered.status_code == 403


def _recv_until(ws: websocket.WebSocket, want: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = orjson.loads(ws.recv())
        if doc.get("topicName", "").startswith(want):
            return doc
    raise AssertionError(f"no {want} frame within {timeout} s")


def test_system_frames_read_with_the_sdk_models(sim):
    """token_revoked, no_longer_subscribed, socket_closing and heartbeats, strictly."""
    api = sdk(sim)
    notif = NotificationsApi(api)
    first = notif.post_notifications_channels()
    topic = transcription_topic(sim.conversation_ids[0])
    notif.put_notifications_channel_subscriptions(first.id, [channel_topic(topic)])
    ws = websocket.create_connection(first.connect_uri, timeout=5)
    try:
        beat = _recv_until(ws, "channel.metadata")  # the SDK has no model: the documented body
        assert beat["eventBody"] == {"message": "WebSocket Heartbeat"}
        # the topic moves to another channel: the first gets no_longer_subscribed
        second = notif.post_notifications_channels()
        notif.post_notifications_channel_subscriptions(second.id, [channel_topic(topic)])
        moved = _recv_until(ws, "v2.system.no_longer_subscribed")
        body = check(moved["eventBody"], "SystemMessageSystemMessage")
        assert body.system_topic_type == "no_longer_subscribed"
        assert body.reason == "another_channel_subscribed" and body.channel_id == first.id
        assert sim.subscriptions(first.id) == [] and sim.subscriptions(second.id) == [topic]
        sim.faults.socket_closing(first.id, close_after_s=5.0)
        closing = _recv_until(ws, "v2.system.socket_closing")
        assert set(closing) == {"topicName", "version", "eventBody", "metadata"}
        sim.faults.revoke_token(api.access_token)
        revoked = _recv_until(ws, "v2.system.token_revoked")
        body = check(revoked["eventBody"], "SystemMessageSystemMessage")
        assert body.system_topic_type == "token_revoked" and body.reason == "user_tokens_revoked"
    finally:
        ws.close()
    # channels live with their token: the revoked token's channels are gone
    with pytest.raises(ApiException) as info:
        NotificationsApi(sdk(sim)).head_notifications_channel(first.id)
    assert info.value.status == 404
