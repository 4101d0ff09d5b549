"""The retry loop shared by the token source and the notifications client (httpx).

Policy comes from ``diarkit.genesys`` (``classify_http``, ``classify_exception``,
``backoff``); this module only sends, sleeps and counts attempts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from diarkit.genesys import Action, Decision, backoff, classify_exception, classify_http

from .errors import RetryExhaustedError, StoppedError

log = logging.getLogger("diarkit.capture.http")

#: ``sleep(seconds) -> interrupted``: returns True when the wait was cut short by a stop.
Sleeper = Callable[[float], bool]
BackoffFactory = Callable[[], Iterator[float]]
#: Told (and shown) before each wait: one line naming the call, the cause and the wait.
WaitNotice = Callable[[str], Any]
#: Longest wait a ``Retry-After`` header can impose, seconds (the Genesys .NET SDK caps
#: its waits at 3 minutes; an ``inf``/``1e400``/``1e12`` header would otherwise crash or
#: stall the capture for days).
MAX_RETRY_AFTER_S = 180.0


def server_wait(
    retry_after: float | None, header: str | None, cap: float = MAX_RETRY_AFTER_S
) -> tuple[float | None, str]:
    """The wait a server asked for, capped; ``(None, "")`` when it gave none usable.

    Args:
        retry_after: the parsed ``Retry-After`` seconds (``inf``/``nan`` possible).
        header: the header text as sent (for the note).
        cap: the longest wait, seconds.

    Returns:
        (seconds to wait or None for "use the backoff policy", a note such as
        ``"Retry-After inf capped to 180 s"`` or ``""``).
    """
    with contextlib.suppress(TypeError, ValueError):
        if header is not None and float(header) < 0:  # parse_retry_after clamps it to 0
            retry_after = None
    if retry_after is None or math.isnan(retry_after) or retry_after < 0:
        return None, (f"Retry-After {header!r} ignored" if header is not None else "")
    if retry_after > cap:
        return cap, f"Retry-After {header} capped to {cap:g} s"
    return retry_after, ""


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
    on_wait: WaitNotice | None = None,
    max_retry_after_s: float = MAX_RETRY_AFTER_S,
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
        on_wait: told each wait as one line (call, cause, seconds) before it starts; the
            same line is logged at WARNING on ``diarkit.capture.http``.
        max_retry_after_s: cap on a server's ``Retry-After`` wait, seconds.

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
            header = response.headers.get("Retry-After")
            asked, note = server_wait(decision.retry_after, header, max_retry_after_s)
            backoff_wait = next(delays)
            wait = asked if asked is not None else backoff_wait
            if note:
                last = f"{decision.reason}, {note}"
        if _attempt + 1 >= max_attempts:
            break  # no attempt left: do not wait for nothing
        if on_retry is not None:
            on_retry(decision)
        line = (f"{what}: {last}; retrying in {wait:.1f} s "
                f"(attempt {_attempt + 2} of {max_attempts})")
        log.warning("%s", line)
        if on_wait is not None:
            on_wait(line)
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
