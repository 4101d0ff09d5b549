"""The OAuth clients of a capture: which credentials, and each client's own token, REST
client, channel releaser and subscription meter (``Capture(clients=...)``).

Each client-credentials token has its own 300 requests a minute and 20 channels, so
follow mode spreads its channels over several clients when one is not enough.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from diarkit.genesys import Environment
from diarkit.scale.batching import RateMeter

from .errors import CaptureError
from .notifications import NotificationsClient
from .options import CaptureOptions
from .release import Releaser
from .token import Secret, TokenSource


@dataclass(slots=True)
class OAuthClient:
    """One OAuth client of a capture: its token, REST client and channel releaser.

    Each client's token has its own 300 requests a minute and 20 channels; follow mode
    puts channels on several clients when one is not enough (``Capture(clients=...)``).
    ``notifications.subscription_meter`` counts this client's subscription requests.
    """

    tokens: TokenSource
    notifications: NotificationsClient
    releaser: Releaser
    token_retry_at: float = 0.0

    @property
    def client_id(self) -> str:
        """The OAuth client id (never the secret)."""
        return self.tokens.client_id


def token_sources(
    clients: Sequence[tuple[str, str | Secret] | TokenSource],
    *,
    tokens: TokenSource | None,
    client_id: str | None,
    client_secret: str | Secret | None,
    make: Callable[[str, str | Secret], TokenSource],
) -> list[TokenSource]:
    """One token source per OAuth client, from exactly one way of giving credentials.

    ``clients`` (pairs or ready sources), else ``tokens``, else ``client_id`` and
    ``client_secret``; ``make(client_id, secret)`` builds a source from a pair.

    Raises:
        ValueError: ``clients`` mixed with the others, a malformed entry (named by its
            index), or a client id given twice.
        CaptureError: no credentials at all.
    """
    if not clients:
        if tokens is not None:
            return [tokens]
        if not client_id or client_secret is None:
            raise CaptureError(
                "no OAuth client credentials: set GENESYS_CLIENT_ID and "
                "GENESYS_CLIENT_SECRET (or pass client_id/client_secret)"
            )
        return [make(client_id, client_secret)]
    if tokens is not None or client_id or client_secret is not None:
        raise ValueError("give clients, or client_id/client_secret (or tokens), not both")
    sources: list[TokenSource] = []
    for i, item in enumerate(clients):
        if isinstance(item, TokenSource):
            sources.append(item)
            continue
        if (not isinstance(item, tuple) or len(item) != 2
                or not isinstance(item[0], str) or not item[0]):
            raise ValueError(f"clients[{i}]: expected (client_id, client_secret) or "
                             f"a TokenSource, got {type(item).__name__}")
        sources.append(make(item[0], item[1]))
    ids = [t.client_id for t in sources]
    dupes = sorted({c for c in ids if ids.count(c) > 1})
    if dupes:
        raise ValueError(f"clients: client id(s) given twice: {', '.join(dupes)} "
                         "(one client's channels and budget are shared by its tokens)")
    return sources


def oauth_client(env: Environment, source: TokenSource, *, transport: Any,
                 sleep: Callable[[float], Any], options: CaptureOptions,
                 on_wait: Callable[[str], None]) -> OAuthClient:
    """A client's REST client (with its subscription meter) and channel releaser.

    The releaser has its own REST client, whose retries outlive the capture's stop and
    are cut short only by its ``abort`` event.
    """
    source.on_wait = on_wait
    notifications = NotificationsClient(
        env, source, transport=transport, sleep=sleep,
        backoff_factory=options.backoff_factory, on_wait=on_wait,
        max_retry_after_s=options.max_retry_after_s,
    )
    notifications.subscription_meter = RateMeter(options.rate_window_s)
    abort = threading.Event()  # cuts the releaser's retries short at stop
    releaser = Releaser(NotificationsClient(
        env, source, transport=transport, sleep=abort.wait,
        backoff_factory=options.backoff_factory, max_attempts=3,
        max_retry_after_s=options.max_retry_after_s,
    ), abort=abort)
    return OAuthClient(source, notifications, releaser)
