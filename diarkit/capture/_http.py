"""The retry loop shared by the token source and the notifications client (httpx).

Policy comes from ``diarkit.genesys`` (``classify_http``, ``classify_exception``,
``backoff``); this module only sends, sleeps and counts attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from diarkit.genesys import Action, Decision, backoff, classify_exception, classify_http

from .errors import RetryExhaustedError, StoppedError

#: ``sleep(seconds) -> interrupted``: returns True when the wait was cut short by a stop.
Sleeper = Callable[[float], bool]
BackoffFactory = Callable[[], Iterator[float]]


def default_sleep(seconds: float) -> bool:
    """Sleep ``seconds`` (never interrupted)."""
    time.sleep(seconds)
    return False


def send_with_retry(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    *,
    what: str,
    sleep: Sleeper = default_sleep,
    backoff_factory: BackoffFactory = backoff,
    max_attempts: int = 8,
    channel_call: bool = False,
    on_retry: Callable[[Decision], Any] | None = None,
) -> tuple[httpx.Response, Decision | None]:
    """Send a request, retrying 429/5xx (honouring ``Retry-After`` seconds) and network errors.

    Args:
        client: the httpx client.
        build: makes a fresh request per attempt (so a refreshed token is picked up).
        what: names the call in errors (``"POST /api/v2/notifications/channels"``).
        sleep: waits between attempts; returning True aborts with ``StoppedError``.
        backoff_factory: yields the delays in seconds when the server gives none.
        max_attempts: attempts in all before ``RetryExhaustedError``.
        channel_call: the request addresses a channel (404 means it is gone).
        on_retry: called with the decision before each wait (for counters).

    Returns:
        The final response and, when it is not a 2xx, the policy decision for it
        (``NEW_TOKEN``, ``NEW_CHANNEL`` or ``FATAL``); ``None`` on success.

    Raises:
        RetryExhaustedError: still failing after ``max_attempts``.
        StoppedError: a wait was interrupted.
    """
    delays = backoff_factory()
    last = ""
    for _attempt in range(max_attempts):
        try:
            response = client.send(build())
        except httpx.HTTPError as exc:
            decision = classify_exception(exc)
            if decision.action is not Action.RETRY:
                raise
            last = decision.reason
            wait = next(delays)
        else:
            if response.is_success:
                return response, None
            decision = classify_http(
                response.status_code,
                response.headers.get("Retry-After"),
                channel_call=channel_call,
            )
            if decision.action is not Action.RETRY:
                return response, decision
            last = decision.reason
            server_wait = decision.retry_after
            backoff_wait = next(delays)
            wait = server_wait if server_wait is not None else backoff_wait
        if on_retry is not None:
            on_retry(decision)
        if sleep(wait):
            raise StoppedError(f"{what}: stopped while waiting to retry ({last})")
    raise RetryExhaustedError(f"{what}: gave up after {max_attempts} attempts; last: {last}")


def error_detail(response: httpx.Response) -> str:
    """A short description of an error body: ``error``/``error_description`` or ``message``."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200] if text else "(empty body)"
    if not isinstance(body, dict):
        return str(body)[:200]
    parts = [
        str(body[k])
        for k in ("error", "error_description", "code", "message")
        if body.get(k) not in (None, "")
    ]
    return "; ".join(parts) if parts else str(body)[:200]
