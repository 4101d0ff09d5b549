"""Notifications REST client (httpx): channels and their topic subscriptions.

Replies with ``Rejected`` topics are surfaced as ``RejectedTopic`` values (reason and
missing permissions) so a capture never silently records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from diarkit.genesys import Action, Environment, backoff
from diarkit.scale.batching import RateMeter

from ._http import (
    MAX_RETRY_AFTER_S,
    BackoffFactory,
    Sleeper,
    WaitNotice,
    default_sleep,
    error_detail,
    send_with_retry,
)
from .errors import BadReplyError, ChannelGoneError, NotificationsError
from .token import TokenSource

CHANNELS_PATH = "/api/v2/notifications/channels"
#: Subscriptions are sent with ``?ignoreErrors=true``: without it one topic the client
#: may not see fails the whole request (403 ``missing.permissions``); with it the other
#: topics go through and the refused ones come back as ``Rejected`` entries.
IGNORE_ERRORS = {"ignoreErrors": "true"}


def reply_json(response: httpx.Response, what: str) -> Any:
    """The JSON body of a 2xx reply.

    Raises:
        BadReplyError: the body is not JSON (an HTML page from a proxy, a cut reply).
    """
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        text = response.text[:120].replace("\n", " ")
        raise BadReplyError(
            f"{what}: unexpected reply ({response.status_code}, {kind}), not JSON: {text!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class Channel:
    """A notification channel: id, WebSocket URI and expiry (UTC, when the server gave one)."""

    id: str
    connect_uri: str
    expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class RejectedTopic:
    """A topic the server refused, with its reason and the permissions it lacks."""

    topic: str
    reason: str
    missing_permissions: tuple[str, ...] = ()

    def __str__(self) -> str:
        missing = ", ".join(self.missing_permissions)
        missing = f" (missing: {missing})" if missing else ""
        return f"{self.topic}: {self.reason}{missing}"


@dataclass(frozen=True, slots=True)
class SubscriptionResult:
    """What a subscription call left on the channel: permitted and rejected topics."""

    permitted: tuple[str, ...] = ()
    rejected: tuple[RejectedTopic, ...] = field(default_factory=tuple)


def _parse_expires(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_subscriptions(body: Any) -> SubscriptionResult:
    """Split a subscriptions reply ``{"entities": [{"id", "state", ...}]}`` by state."""
    entities = body.get("entities", []) if isinstance(body, dict) else []
    permitted: list[str] = []
    rejected: list[RejectedTopic] = []
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or not isinstance(entity.get("id"), str):
            continue
        state = entity.get("state")
        if state is None or str(state).lower() == "permitted":
            permitted.append(entity["id"])
        else:
            missing = entity.get("missingPermissions") or []
            rejected.append(
                RejectedTopic(
                    topic=entity["id"],
                    reason=str(entity.get("rejectionReason") or state),
                    missing_permissions=tuple(str(m) for m in missing),
                )
            )
    return SubscriptionResult(tuple(permitted), tuple(rejected))


class NotificationsClient:
    """Create channels and manage their subscriptions over the Notifications REST API.

    Args:
        api_base: REST base URL (``https://api.mypurecloud.de``) or an ``Environment``.
        tokens: where Bearer tokens come from; a 401 invalidates the token and retries once.
        transport: httpx transport (tests pass ``httpx.MockTransport``).
        timeout: per-request timeout in seconds.
        sleep: waits between retries; returning True aborts (stopping capture).
        backoff_factory: delays in seconds when the server gives no ``Retry-After``.
        max_attempts: attempts per call on 429/5xx/network errors.
        on_wait: told each retry wait as one line (also logged).
        max_retry_after_s: cap on a server's ``Retry-After`` wait, seconds.
    """

    def __init__(
        self,
        api_base: str | Environment,
        tokens: TokenSource,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        sleep: Sleeper = default_sleep,
        backoff_factory: BackoffFactory = backoff,
        max_attempts: int = 8,
        on_wait: WaitNotice | None = None,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
    ) -> None:
        if isinstance(api_base, Environment):
            api_base = api_base.api_base
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens
        self._client = httpx.Client(transport=transport, timeout=timeout)
        self._sleep = sleep
        self._backoff = backoff_factory
        self._max_attempts = max_attempts
        self.on_wait = on_wait
        self.max_retry_after_s = max_retry_after_s
        #: Retries caused by 429/5xx/network errors.
        self.retries = 0
        #: Subscription requests (POST/PUT/DELETE ``.../subscriptions``, every attempt)
        #: sent with this client's token, per sliding minute (the API allows 300).
        self.subscription_meter = RateMeter()

    def __repr__(self) -> str:
        return f"NotificationsClient(api_base={self.api_base!r})"

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    # ------------------------------------------------------------------ public calls

    def create_channel(self) -> Channel:
        """``POST /api/v2/notifications/channels``: a new channel (a 21st evicts the oldest).

        Raises:
            BadReplyError: the reply is not a channel (not JSON, ``id`` or ``connectUri``
                missing or not a string, a URI that is not ``ws://``/``wss://``).
        """
        what = f"POST {CHANNELS_PATH}"
        body = reply_json(self._call("POST", CHANNELS_PATH), what)
        cid = body.get("id") if isinstance(body, dict) else None
        uri = body.get("connectUri") if isinstance(body, dict) else None
        if not isinstance(cid, str) or not cid or "/" in cid or not isinstance(uri, str) or (
            not uri.startswith(("ws://", "wss://"))
        ):
            raise BadReplyError(
                f"{what}: unexpected reply, not a channel (id and connectUri must be "
                f"strings, connectUri ws:// or wss://): {str(body)[:200]}"
            )
        return Channel(cid, uri, _parse_expires(body.get("expires")))

    def channel_exists(self, channel_id: str) -> bool:
        """``HEAD .../channels/{id}``: True on 200, False when the channel is gone (404)."""
        try:
            self._call("HEAD", f"{CHANNELS_PATH}/{channel_id}", channel_call=True)
        except ChannelGoneError:
            return False
        return True

    def add_subscriptions(self, channel_id: str, topics: Iterable[str]) -> SubscriptionResult:
        """``POST .../subscriptions``: add topics to the channel (also extends its life)."""
        return self._subscriptions("POST", channel_id, topics)

    def replace_subscriptions(self, channel_id: str, topics: Iterable[str]) -> SubscriptionResult:
        """``PUT .../subscriptions``: replace the channel's whole topic list."""
        return self._subscriptions("PUT", channel_id, topics)

    def list_subscriptions(self, channel_id: str) -> SubscriptionResult:
        """``GET .../subscriptions``: the topics on the channel now."""
        path = f"{CHANNELS_PATH}/{channel_id}/subscriptions"
        return parse_subscriptions(
            reply_json(self._call("GET", path, channel_call=True), f"GET {path}"))

    def remove_subscriptions(self, channel_id: str) -> None:
        """``DELETE .../subscriptions``: remove every topic from the channel."""
        self._call("DELETE", f"{CHANNELS_PATH}/{channel_id}/subscriptions", channel_call=True)

    # ------------------------------------------------------------------ plumbing

    def _subscriptions(
        self, method: str, channel_id: str, topics: Iterable[str]
    ) -> SubscriptionResult:
        body = [{"id": t} for t in topics]
        path = f"{CHANNELS_PATH}/{channel_id}/subscriptions"
        response = self._call(method, path, json=body, channel_call=True, params=IGNORE_ERRORS)
        if not response.content:
            return SubscriptionResult(tuple(t["id"] for t in body))
        reply = reply_json(response, f"{method} {path}")
        if not isinstance(reply, dict) or not isinstance(reply.get("entities"), list):
            raise BadReplyError(f"{method} {path}: unexpected reply, no entities list: "
                                f"{str(reply)[:200]}")
        return parse_subscriptions(reply)

    def _count_retry(self, _decision: object) -> None:
        self.retries += 1

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        channel_call: bool = False,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        what = f"{method} {path}"
        url = f"{self.api_base}{path}"
        for attempt in range(2):

            def build() -> httpx.Request:
                if path.endswith("/subscriptions") and method != "GET":
                    self.subscription_meter.record(time.monotonic())
                headers = {"Authorization": f"Bearer {self.tokens.token()}"}
                return self._client.build_request(
                    method, url, headers=headers, json=json, params=params
                )

            try:
                response, decision = send_with_retry(
                    self._client,
                    build,
                    what=what,
                    sleep=self._sleep,
                    backoff_factory=self._backoff,
                    max_attempts=self._max_attempts,
                    channel_call=channel_call,
                    on_retry=self._count_retry,
                    on_wait=self.on_wait,
                    max_retry_after_s=self.max_retry_after_s,
                )
            except httpx.HTTPError as exc:
                raise NotificationsError(f"{what} failed: {type(exc).__name__}: {exc}") from None
            if decision is None:
                return response
            if decision.action is Action.NEW_TOKEN and attempt == 0:
                self.tokens.invalidate()
                continue
            detail = error_detail(response)
            status = response.status_code
            if decision.action is Action.NEW_CHANNEL:
                raise ChannelGoneError(f"{what}: channel no longer exists ({detail})", status)
            hint = ""
            if status == 403:
                hint = " (the OAuth client lacks a permission or role for this call)"
            raise NotificationsError(f"{what} refused ({status}: {detail}){hint}", status)
        raise AssertionError("unreachable")
