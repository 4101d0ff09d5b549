"""OAuth client-credentials token source (httpx): cached, refreshed before expiry, retried.

The secret is held in a ``Secret`` wrapper whose ``repr``/``str`` hide it, and every
error message is scrubbed of it.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from diarkit.genesys import Action, Environment, backoff

from ._http import (
    MAX_RETRY_AFTER_S,
    BackoffFactory,
    Sleeper,
    WaitNotice,
    default_sleep,
    error_detail,
    send_with_retry,
)
from .errors import AuthError, CaptureError


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("client secret is empty")
        self._value = value

    def reveal(self) -> str:
        """The secret itself: only for building the Authorization header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def read_secret_file(path: str | Path) -> Secret:
    """Read a client secret from a file (first line, stripped).

    A file that other users may read (any group/other permission bit, as ``ls -l`` shows
    past ``-rw-------``) is read all the same but logged as a warning on
    ``diarkit.capture`` naming the file and the fix (``chmod 600``).

    Raises:
        CaptureError: the file is missing, unreadable or empty (the message names the file).
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except OSError:
        mode = 0
    if mode & 0o077 and p.is_file():
        logging.getLogger("diarkit.capture").warning(
            "client secret file %s can be read by other users (mode %s); "
            "restrict it with: chmod 600 %s", p, oct(mode & 0o777), p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaptureError(f"cannot read client secret file {p}: {exc.strerror}") from None
    value = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not value:
        raise CaptureError(f"client secret file {p} is empty")
    return Secret(value)


def read_clients_file(path: str | Path) -> list[tuple[str, Secret]]:
    """Several OAuth clients from a file: one ``CLIENT_ID SECRET`` per line.

    Blank lines and lines starting with ``#`` are skipped; the id and the secret are
    separated by whitespace (or one ``:``). A file other users may read is read all the
    same but logged as a warning (``chmod 600``), as ``read_secret_file`` does.

    Raises:
        CaptureError: the file is missing, unreadable, empty, a line has no secret, or a
            client id repeats (the message names the file and line, never a secret).
    """
    p = Path(path)
    read_secret_file(p)  # the permission warning and the missing/empty file errors
    text = p.read_text(encoding="utf-8")
    out: list[tuple[str, Secret]] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) == 1 and ":" in line:
            parts = line.split(":", 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise CaptureError(f"{p}:{n}: expected 'CLIENT_ID SECRET' (an OAuth client id, "
                               "then its secret)")
        cid = parts[0].strip()
        if cid in seen:
            raise CaptureError(f"{p}:{n}: client id {cid} already given on line {seen[cid]}")
        seen[cid] = n
        out.append((cid, Secret(parts[1].strip())))
    if not out:
        raise CaptureError(f"{p}: no OAuth client in the file (lines 'CLIENT_ID SECRET')")
    return out


class TokenSource:
    """Client-credentials access tokens for one OAuth client, cached and refreshed early.

    Args:
        login_base: OAuth base URL (``https://login.mypurecloud.de``) or an ``Environment``.
        client_id: the OAuth client id.
        client_secret: the client secret (a ``str`` is wrapped in ``Secret``).
        refresh_fraction: refresh once this fraction of the token lifetime has passed.
        transport: httpx transport (tests pass ``httpx.MockTransport``).
        timeout: per-request timeout in seconds.
        sleep: waits between retries; returning True aborts (stopping capture).
        backoff_factory: delays in seconds when the server gives no ``Retry-After``.
        max_attempts: attempts per token request before giving up.
        clock: monotonic clock in seconds (tests pass a fake one).
        on_wait: told each retry wait as one line (also logged).
        max_retry_after_s: cap on a server's ``Retry-After`` wait, seconds.
    """

    def __init__(
        self,
        login_base: str | Environment,
        client_id: str,
        client_secret: str | Secret,
        *,
        refresh_fraction: float = 0.8,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        sleep: Sleeper = default_sleep,
        backoff_factory: BackoffFactory = backoff,
        max_attempts: int = 8,
        clock: Callable[[], float] = time.monotonic,
        on_wait: WaitNotice | None = None,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
    ) -> None:
        if isinstance(login_base, Environment):
            login_base = login_base.login_base
        if not client_id:
            raise ValueError("client id is empty")
        if not 0.0 < refresh_fraction <= 1.0:
            raise ValueError(f"refresh_fraction must be in (0, 1], got {refresh_fraction}")
        self.login_base = login_base.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        self.refresh_fraction = refresh_fraction
        self._client = httpx.Client(transport=transport, timeout=timeout)
        self._sleep = sleep
        self._backoff = backoff_factory
        self._max_attempts = max_attempts
        self._clock = clock
        self.on_wait = on_wait
        self.max_retry_after_s = max_retry_after_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0
        #: Tokens fetched so far (each fetch is one successful POST).
        self.fetches = 0
        #: Retries caused by 429/5xx/network errors.
        self.retries = 0

    def __repr__(self) -> str:
        state = "cached" if self._token else "empty"
        return f"TokenSource(login_base={self.login_base!r}, client_id={self.client_id!r}, {state})"

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.login_base}/oauth/token"

    def token(self) -> str:
        """A valid access token: the cached one, or a new one once the refresh point passed."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (after a 401 or a ``token_revoked``): the next call fetches."""
        with self._lock:
            self._token = None

    def seconds_left(self) -> float:
        """Seconds until the cached token expires (0 when none is cached)."""
        if self._token is None:
            return 0.0
        return max(self._expires_at - self._clock(), 0.0)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _scrub(self, text: str) -> str:
        """Foreign ``text`` (a server reply, an exception) with the secret masked.

        Applied to what others wrote, never to diarkit's own wording, so a short secret
        that is also an ordinary word cannot garble the explanation around it.
        """
        secret = self._secret.reveal()
        return text.replace(secret, "***") if secret else text

    def _request(self) -> httpx.Request:
        raw = f"{self.client_id}:{self._secret.reveal()}".encode()
        return self._client.build_request(
            "POST",
            self.token_url,
            headers={
                "Authorization": "Basic " + base64.b64encode(raw).decode("ascii"),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            content=b"grant_type=client_credentials",
        )

    def _notice(self, line: str) -> None:
        if self.on_wait is not None:
            self.on_wait(self._scrub(line))

    def expires_in(self) -> float:
        """Seconds until the current token expires (fetching one if none is cached)."""
        self.token()
        return self.seconds_left()

    def _count_retry(self, _decision: object) -> None:
        self.retries += 1

    def _fetch(self) -> None:
        what = f"POST {self.token_url}"
        try:
            response, decision = send_with_retry(
                self._client,
                self._request,
                what=what,
                sleep=self._sleep,
                backoff_factory=self._backoff,
                max_attempts=self._max_attempts,
                on_retry=self._count_retry,
                on_wait=self._notice,
                max_retry_after_s=self.max_retry_after_s,
            )
        except httpx.HTTPError as exc:
            raise AuthError(self._scrub(f"{what} failed: {type(exc).__name__}: {exc}")) from None
        except CaptureError as exc:
            raise type(exc)(self._scrub(str(exc))) from None
        if decision is not None:
            raise AuthError(self._explain(response, decision.action))
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or 86400)
        except (ValueError, KeyError, TypeError):
            raise AuthError(
                f"{what}: unexpected reply (no access_token): {self._scrub(response.text[:200])!r}"
            ) from None
        if not isinstance(token, str) or not token:
            raise AuthError(f"{what}: unexpected reply: access_token is not a string")
        now = self._clock()
        self._token = token
        self._expires_at = now + lifetime
        self._refresh_at = now + lifetime * self.refresh_fraction
        self.fetches += 1

    def _explain(self, response: httpx.Response, action: Action) -> str:
        status = response.status_code
        detail = self._scrub(error_detail(response))
        head = f"OAuth token request to {self.token_url} refused ({status}: {detail})"
        if status in (400, 401):
            return (
                f"{head}: wrong client id or secret for client {self.client_id!r}, a client "
                "without the client-credentials grant, or the wrong region/environment "
                "(an org only exists in one region)"
            )
        if status == 403:
            return f"{head}: the OAuth client is not allowed to use this grant"
        if status == 404:
            return f"{head}: no token endpoint there; check the environment or login base URL"
        return head
