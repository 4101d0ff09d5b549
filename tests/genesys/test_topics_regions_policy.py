"""Environments, topic names and the retry policy: pure, no sockets."""

from __future__ import annotations

import itertools
import random

import pytest

from diarkit.genesys import (
    REGIONS,
    Action,
    ProtocolError,
    TopicKind,
    UnknownEnvironmentError,
    backoff,
    classify_close,
    classify_exception,
    classify_http,
    parse_topic,
    queue_calls_topic,
    resolve_environment,
    transcription_topic,
    user_calls_topic,
)
from diarkit.genesys.topics import no_longer_subscribed_topic, token_revoked_topic


def test_all_18_regions():
    assert len(REGIONS) == 18
    assert len(set(REGIONS.values())) == 18


@pytest.mark.parametrize(
    "name",
    [
        "mypurecloud.de",
        "eu-central-1",
        "EU_CENTRAL_1",
        "api.mypurecloud.de",
        "https://login.mypurecloud.de/",
    ],
)
def test_resolve_frankfurt(name):
    env = resolve_environment(name)
    assert env.login_base == "https://login.mypurecloud.de"
    assert env.api_base == "https://api.mypurecloud.de"
    assert env.streaming_base == "wss://streaming.mypurecloud.de"
    assert env.region == "eu-central-1" and env.domain == "mypurecloud.de"
    assert env.token_url == "https://login.mypurecloud.de/oauth/token"


def test_every_region_round_trips():
    for region, domain in REGIONS.items():
        assert resolve_environment(region).domain == domain
        assert resolve_environment(domain).region == region


def test_explicit_base_urls():
    env = resolve_environment(login_base="http://127.0.0.1:9000/", api_base="http://127.0.0.1:9001")
    assert env.login_base == "http://127.0.0.1:9000"
    assert env.api_base == "http://127.0.0.1:9001"
    assert env.streaming_base == "ws://127.0.0.1:9001"
    assert env.token_url == "http://127.0.0.1:9000/oauth/token"


def test_unknown_environment_lists_valid_names():
    with pytest.raises(UnknownEnvironmentError) as info:
        resolve_environment("api.us.genesyscloud.com")
    text = str(info.value)
    assert "api.us.genesyscloud.com" in text
    for region, domain in REGIONS.items():
        assert region in text and domain in text


def test_topic_builders_and_parser():
    assert transcription_topic("c-1") == "v2.conversations.c-1.transcription"
    assert queue_calls_topic("q1") == "v2.routing.queues.q1.conversations.calls"
    assert user_calls_topic("u1") == "v2.users.u1.conversations.calls"
    cases = {
        transcription_topic("c-1"): (TopicKind.TRANSCRIPTION, "c-1"),
        queue_calls_topic("q1"): (TopicKind.QUEUE_CALLS, "q1"),
        user_calls_topic("u1"): (TopicKind.USER_CALLS, "u1"),
        token_revoked_topic("t9"): (TopicKind.TOKEN_REVOKED, "t9"),
        no_longer_subscribed_topic("ch"): (TopicKind.NO_LONGER_SUBSCRIBED, "ch"),
        "v2.system.socket_closing": (TopicKind.SOCKET_CLOSING, ""),
        "channel.metadata": (TopicKind.CHANNEL_METADATA, ""),
        "v2.system.something_new": (TopicKind.SYSTEM, ""),
        "v2.users.u1.presence": (TopicKind.OTHER, ""),
    }
    for name, (kind, ident) in cases.items():
        topic = parse_topic(name)
        assert (topic.kind, topic.id) == (kind, ident), name


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "*", "c/1", "-lead", "x" * 129])
def test_malformed_ids_rejected(bad):
    with pytest.raises(ValueError, match="malformed"):
        transcription_topic(bad)


def test_parse_topic_rejects_malformed_id():
    with pytest.raises(ProtocolError):
        parse_topic("v2.conversations.*.transcription")


def test_backoff_exact_sequence_without_jitter():
    assert list(itertools.islice(backoff(jitter=0), 8)) == [2, 4, 8, 16, 30, 30, 30, 30]


def test_backoff_jitter_is_bounded_and_seedable():
    a = list(itertools.islice(backoff(seed=7), 20))
    b = list(itertools.islice(backoff(seed=7), 20))
    assert a == b
    base = [2, 4, 8, 16] + [30] * 16
    assert all(0 <= d - x <= 0.5 for d, x in zip(a, base, strict=True))
    assert a != list(itertools.islice(backoff(seed=8), 20))
    rng = random.Random(7)
    assert list(itertools.islice(backoff(rng=rng), 20)) == a


def test_classify_http():
    d = classify_http(429, "7")
    assert d.action is Action.RETRY and d.retry_after == 7.0
    assert classify_http(429).retry_after is None
    assert classify_http(503).action is Action.RETRY
    assert classify_http(401).action is Action.NEW_TOKEN
    assert classify_http(404, channel_call=True).action is Action.NEW_CHANNEL
    assert classify_http(404).action is Action.FATAL
    assert classify_http(400).action is Action.FATAL
    assert classify_http(403).action is Action.FATAL


def test_classify_close_and_exceptions():
    assert classify_close(None).action is Action.RETRY
    assert classify_close(1006).action is Action.RETRY
    assert classify_close(1000).action is Action.NEW_CHANNEL
    assert classify_close(1008).action is Action.NEW_TOKEN
    assert classify_close(1002).action is Action.FATAL
    assert classify_exception(ConnectionResetError()).action is Action.RETRY
    assert classify_exception(TimeoutError()).action is Action.RETRY
    assert classify_exception(KeyError("x")).action is Action.FATAL

    class WebSocketConnectionClosedException(Exception):
        pass

    class WebSocketBadStatusException(Exception):
        status_code = 401

    assert classify_exception(WebSocketConnectionClosedException()).action is Action.RETRY
    assert classify_exception(WebSocketBadStatusException()).action is Action.NEW_TOKEN
