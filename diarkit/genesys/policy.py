"""Reconnect and retry policy: a pure backoff generator and an error classifier.

No sleeping and no clock reads here: the capture shell asks what to do and waits itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


def backoff(
    initial: float = 2.0,
    factor: float = 2.0,
    cap: float = 30.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
    seed: int | None = None,
) -> Iterator[float]:
    """Yield delays in seconds: ``initial``, doubling up to ``cap``, each plus 0..``jitter`` s.

    Infinite; the caller decides when to give up. ``seed`` (or ``rng``) makes the jitter
    reproducible; ``jitter=0`` gives the exact sequence 2, 4, 8, 16, 30, 30, ...
    """
    rand = rng if rng is not None else random.Random(seed)
    delay = initial
    while True:
        yield min(delay, cap) + (rand.uniform(0.0, jitter) if jitter > 0 else 0.0)
        delay = min(delay * factor, cap)


class Action(StrEnum):
    """What the capture shell should do after a failure."""

    RETRY = "retry"
    NEW_TOKEN = "new_token"
    NEW_CHANNEL = "new_channel"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Decision:
    """An action and, for ``RETRY``, a server-imposed wait in seconds (``None``: use backoff)."""

    action: Action
    reason: str
    retry_after: float | None = None


def parse_retry_after(value: str | float | int | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form); ``None`` if absent or bad."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return max(seconds, 0.0)


def classify_http(
    status: int, retry_after: str | float | int | None = None, *, channel_call: bool = False
) -> Decision:
    """Classify an HTTP status from the token or REST endpoints.

    Args:
        status: HTTP status code.
        retry_after: the ``Retry-After`` header value (seconds), if any.
        channel_call: the request addressed a channel (404 then means it is gone).
    """
    if status == 429:
        return Decision(Action.RETRY, "rate limited (429)", parse_retry_after(retry_after))
    if status in (500, 502, 503, 504) or status == 408:
        return Decision(Action.RETRY, f"server error ({status})", parse_retry_after(retry_after))
    if status == 401:
        return Decision(Action.NEW_TOKEN, "token missing, expired or revoked (401)")
    if status == 404 and channel_call:
        return Decision(Action.NEW_CHANNEL, "channel no longer exists (404)")
    return Decision(Action.FATAL, f"request rejected ({status})")


def classify_close(code: int | None) -> Decision:
    """Classify a WebSocket close code (``None``: the connection dropped without a close)."""
    if code is None or code in (1001, 1006, 1011, 1012, 1013, 1014):
        return Decision(Action.RETRY, f"socket closed abnormally ({code})")
    if code == 1000:
        # A normal close from Genesys means the channel ended (expired, evicted, maintenance).
        return Decision(Action.NEW_CHANNEL, "socket closed by server (1000)")
    if code == 1008 or code == 4001:
        return Decision(Action.NEW_TOKEN, f"socket closed for policy/auth ({code})")
    if code in (1002, 1003, 1007, 1009, 1010):
        return Decision(Action.FATAL, f"socket closed for a protocol error ({code})")
    return Decision(Action.RETRY, f"socket closed ({code})")


_RETRY_EXCEPTION_NAMES = frozenset(
    {
        "TransportError",
        "TimeoutException",
        "NetworkError",
        "RemoteProtocolError",
        "WebSocketConnectionClosedException",
        "WebSocketTimeoutException",
        "WebSocketAddressException",
    }
)


def classify_exception(exc: BaseException) -> Decision:
    """Classify an exception raised by the network shell.

    Network failures (``OSError``, timeouts, httpx transport errors, websocket-client
    connection errors, recognised by class name so no I/O library is imported) are
    retried; a ``WebSocketBadStatusException`` is classified by its HTTP status;
    anything else is fatal.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "WebSocketBadStatusException" in names:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return classify_http(status, channel_call=True)
    if isinstance(exc, OSError | TimeoutError | ConnectionError) or names & _RETRY_EXCEPTION_NAMES:
        return Decision(Action.RETRY, f"network error: {type(exc).__name__}: {exc}")
    return Decision(Action.FATAL, f"{type(exc).__name__}: {exc}")
