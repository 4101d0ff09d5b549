"""REST clients for what Genesys Cloud knows after a call (httpx).

* post-call transcripts: ``GET /api/v2/speechandtextanalytics/conversations/{id}/
  communications/{commId}/transcripturl`` (and the plural ``transcripturls``), then the
  pre-signed document URL (valid 10 minutes: an expired one is fetched again);
* analytics conversation details: the synchronous ``POST /api/v2/analytics/conversations/
  details/query`` for small sets, the asynchronous jobs API for large ones (submit, poll
  ``QUEUED``/``PENDING``/``FULFILLED``/``FAILED``, page with the cursor, delete the job);
* STA conversation metrics: ``GET /api/v2/speechandtextanalytics/conversations/{id}``;
* names: ``GET /api/v2/users``, ``/api/v2/routing/queues``, ``/api/v2/routing/wrapupcodes``
  with up to 100 ``id`` parameters per request.

Every call goes through ``diarkit.capture._http.send_with_retry``: 429 and 5xx are retried
after ``Retry-After`` seconds (Genesys allows 300 requests per minute per client-credentials
token), a 401 fetches a new token once. Permissions each call needs are in
``PERMISSIONS`` (from the official SDK's API documentation). Durations are seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from diarkit.genesys import Action, Environment, backoff
from diarkit.io.dims import DIMS_DIR, NAME_COLUMNS, NAME_KINDS, add_names, load_names

from ._http import BackoffFactory, Sleeper, default_sleep, error_detail, send_with_retry
from .errors import CaptureError
from .token import TokenSource

STA = "/api/v2/speechandtextanalytics/conversations"
DETAILS = "/api/v2/analytics/conversations/details"
#: Ids per request of the users/queues/wrap-up code listings and per details query filter.
BATCH = 100
#: Conversations above which ``details`` uses the asynchronous jobs API.
SYNC_LIMIT = 100

#: Permissions each call needs, as the SDK's API documentation states them
#: (``Requires ALL``: every one; ``Requires ANY``: one of them; empty: none).
PERMISSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "GET /api/v2/speechandtextanalytics/conversations/{conversationId}/communications/"
    "{communicationId}/transcripturl": (
        "ALL", ("recording:recording:view", "speechAndTextAnalytics:data:view")),
    "GET /api/v2/speechandtextanalytics/conversations/{conversationId}/communications/"
    "{communicationId}/transcripturls": (
        "ANY", ("recording:recording:view", "recording:recordingSegment:view")),
    "GET /api/v2/speechandtextanalytics/conversations/{conversationId}": (
        "ALL", ("recording:recording:view", "speechAndTextAnalytics:data:view")),
    "POST /api/v2/analytics/conversations/details/query": (
        "ANY", ("analytics:conversationDetail:view", "analytics:agentConversationDetail:view")),
    "POST /api/v2/analytics/conversations/details/jobs": (
        "ANY", ("analytics:conversationDetail:view", "analytics:agentConversationDetail:view")),
    "GET /api/v2/analytics/conversations/details/jobs/{jobId}": (
        "ANY", ("analytics:conversationDetail:view", "analytics:agentConversationDetail:view")),
    "GET /api/v2/analytics/conversations/details/jobs/{jobId}/results": (
        "ANY", ("analytics:conversationDetail:view", "analytics:agentConversationDetail:view")),
    "DELETE /api/v2/analytics/conversations/details/jobs/{jobId}": (
        "ANY", ("analytics:conversationDetail:view", "analytics:agentConversationDetail:view")),
    "GET /api/v2/users": ("ALL", ()),
    "GET /api/v2/routing/queues": ("ANY", ("routing:queue:view",)),
    "GET /api/v2/routing/wrapupcodes": ("ALL", ("routing:wrapupCode:view",)),
}


class AnalyticsError(CaptureError):
    """A post-call REST call was refused; ``status`` is the HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotReadyError(AnalyticsError):
    """404: the transcript (or STA metrics) is not there yet; try again later."""


class UrlExpiredError(AnalyticsError):
    """The pre-signed document URL was refused (expired: 403, or gone: 404)."""


class JobFailedError(AnalyticsError):
    """An analytics details job ended ``FAILED``, ``CANCELLED`` or ``EXPIRED``."""


@dataclass(frozen=True, slots=True)
class DetailsResult:
    """Analytics conversation details: the records and how they were fetched.

    Attributes:
        conversations: ``AnalyticsConversationWithoutAttributes`` JSON objects.
        mode: ``"query"`` (synchronous) or ``"job"`` (asynchronous jobs API).
        requests: REST requests made.
    """

    conversations: list[dict[str, Any]]
    mode: str
    requests: int


class RateLimiter:
    """At most ``per_minute`` requests in any 60 s window (blocks until one is allowed).

    Genesys Cloud allows 300 requests per minute per client-credentials token; staying
    under it avoids most 429s (those that still come are retried after ``Retry-After``).
    """

    def __init__(self, per_minute: int = 300, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self.per_minute = per_minute
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more request fits in the window, and count it."""
        with self._lock:
            while True:
                now = self._clock()
                while self._times and self._times[0] <= now - 60.0:
                    self._times.popleft()
                if len(self._times) < self.per_minute:
                    self._times.append(now)
                    return
                self._sleep(self._times[0] + 60.0 - now)


class AnalyticsClient:
    """Post-call transcripts, analytics details, STA metrics and names over REST.

    Args:
        api_base: REST base URL (``https://api.mypurecloud.de``) or an ``Environment``.
        tokens: where Bearer tokens come from; a 401 invalidates the token and retries once.
        transport: httpx transport (tests may pass one; the simulator needs none).
        timeout: per-request timeout in seconds.
        sleep: waits between retries (seconds); returning True aborts.
        backoff_factory: delays in seconds when the server gives no ``Retry-After``.
        max_attempts: attempts per call on 429/5xx/network errors.
        per_minute: client-side request budget per 60 s (None: no client-side limit).
        poll_s: seconds between polls of an analytics job.
        job_timeout_s: give up on an analytics job after this many seconds.
        close_tokens: ``close()`` also closes ``tokens`` (the client owns it).
    """

    def __init__(
        self,
        api_base: str | Environment,
        tokens: TokenSource,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        sleep: Sleeper = default_sleep,
        backoff_factory: BackoffFactory = backoff,
        max_attempts: int = 8,
        per_minute: int | None = 300,
        poll_s: float = 2.0,
        job_timeout_s: float = 1800.0,
        close_tokens: bool = False,
    ) -> None:
        if isinstance(api_base, Environment):
            api_base = api_base.api_base
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens
        self._client = httpx.Client(transport=transport, timeout=timeout)
        self._sleep = sleep
        self._backoff = backoff_factory
        self._max_attempts = max_attempts
        self.limiter = RateLimiter(per_minute) if per_minute else None
        self.poll_s = poll_s
        self.job_timeout_s = job_timeout_s
        self._close_tokens = close_tokens
        #: REST requests sent (each attempt counts), and retries after 429/5xx/network.
        self.requests = 0
        self.retries = 0
        #: Retries that answered a 429.
        self.rate_limited = 0

    def __repr__(self) -> str:
        return f"AnalyticsClient(api_base={self.api_base!r})"

    def close(self) -> None:
        """Close the HTTP client (and the token source, when the client owns it)."""
        self._client.close()
        if self._close_tokens:
            self.tokens.close()

    def __enter__(self) -> AnalyticsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _count_retry(self, decision: Any) -> None:
        self.retries += 1
        if "429" in decision.reason:
            self.rate_limited += 1

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str | int]] | None = None,
        json: Any = None,
        not_found_ok: bool = False,
    ) -> httpx.Response | None:
        """Send one REST request with retries; the 2xx response (None for an allowed 404).

        Raises:
            NotReadyError: never (a 404 returns None when ``not_found_ok``).
            AnalyticsError: any other refusal, naming the call, status and reason.
        """
        what = f"{method} {path}"
        url = f"{self.api_base}{path}"
        for attempt in range(2):

            def build() -> httpx.Request:
                if self.limiter is not None:
                    self.limiter.wait()
                self.requests += 1
                headers = {"Authorization": f"Bearer {self.tokens.token()}"}
                return self._client.build_request(
                    method, url, headers=headers,
                    params=list(params) if params is not None else None, json=json)

            try:
                response, decision = send_with_retry(
                    self._client, build, what=what, sleep=self._sleep,
                    backoff_factory=self._backoff, max_attempts=self._max_attempts,
                    on_retry=self._count_retry,
                )
            except httpx.HTTPError as exc:
                raise AnalyticsError(f"{what} failed: {type(exc).__name__}: {exc}") from None
            if decision is None:
                return response
            if decision.action is Action.NEW_TOKEN and attempt == 0:
                self.tokens.invalidate()
                continue
            status = response.status_code
            if status == 404 and not_found_ok:
                return None
            hint = ""
            if status == 403:
                hint = f" (the OAuth client lacks a permission: {_needs(method, path)})"
            raise AnalyticsError(
                f"{what} refused ({status}: {error_detail(response)}){hint}", status)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ transcripts

    def transcript_urls(self, conversation_id: str, communication_id: str,
                        *, plural: bool = False) -> list[str] | None:
        """Pre-signed URLs of a communication's post-call transcript; None while not ready.

        Args:
            conversation_id, communication_id: the call and its communication (call leg).
            plural: use ``.../transcripturls`` (``TranscriptUrls``: one URL per recording
                segment) instead of ``.../transcripturl`` (``TranscriptUrl``).
        """
        base = f"{STA}/{conversation_id}/communications/{communication_id}/transcripturl"
        path = base + ("s" if plural else "")
        response = self.call("GET", path, not_found_ok=True)
        if response is None:
            return None
        body = response.json()
        if plural:
            urls = [u.get("url") for u in body.get("urls") or [] if isinstance(u, dict)]
        else:
            urls = [body.get("url")]
        if not urls or not all(isinstance(u, str) and u for u in urls):
            raise AnalyticsError(f"GET {path}: reply has no url: {str(body)[:200]}")
        return [str(u) for u in urls]

    def download(self, url: str) -> bytes:
        """The document a pre-signed URL points at (no Authorization header is sent).

        Raises:
            UrlExpiredError: 403 or 404 from the storage (an expired or unknown URL).
            AnalyticsError: another failure.
        """
        try:
            response, decision = send_with_retry(
                self._client, lambda: self._client.build_request("GET", url),
                what="GET <pre-signed transcript URL>", sleep=self._sleep,
                backoff_factory=self._backoff, max_attempts=self._max_attempts,
                on_retry=self._count_retry,
            )
        except httpx.HTTPError as exc:
            raise AnalyticsError(f"transcript download failed: {type(exc).__name__}") from None
        if decision is None:
            return response.content
        status = response.status_code
        if status in (401, 403, 404):
            raise UrlExpiredError(f"transcript URL refused ({status}): expired or gone", status)
        raise AnalyticsError(f"transcript download refused ({status})", status)

    def fetch_transcripts(self, conversation_id: str, communication_id: str, *,
                          plural: bool = False, url_attempts: int = 3) -> list[bytes] | None:
        """Every post-call transcript document of a communication; None while not ready.

        A URL refused as expired is fetched again (pre-signed URLs last 10 minutes), at
        most ``url_attempts`` times.
        """
        for attempt in range(url_attempts):
            urls = self.transcript_urls(conversation_id, communication_id, plural=plural)
            if urls is None:
                return None
            try:
                return [self.download(u) for u in urls]
            except UrlExpiredError:
                if attempt == url_attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ analytics

    def details(self, conversation_ids: Sequence[str], interval: tuple[datetime, datetime],
                *, mode: str = "auto", page_size: int = 100) -> DetailsResult:
        """Analytics conversation details of the given conversations.

        Args:
            conversation_ids: conversations to fetch.
            interval: (start, end) UTC covering the conversations' starts.
            mode: ``"query"`` (synchronous, ``BATCH`` ids a request), ``"job"``
                (asynchronous jobs API) or ``"auto"`` (jobs above ``SYNC_LIMIT`` ids).
            page_size: ``paging.pageSize`` / results ``pageSize``.
        """
        ids = list(dict.fromkeys(conversation_ids))
        if mode == "auto":
            mode = "job" if len(ids) > SYNC_LIMIT else "query"
        if mode not in ("query", "job"):
            raise ValueError(f"mode must be 'auto', 'query' or 'job', got {mode!r}")
        before = self.requests
        if mode == "query":
            convs = self._details_query(ids, interval, min(page_size, 100))
        else:
            convs = self._details_job(ids, interval, page_size)
        return DetailsResult(convs, mode, self.requests - before)

    def _details_query(self, ids: list[str], interval: tuple[datetime, datetime],
                       page_size: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for batch in _batches(ids, BATCH):
            page = 1
            while True:
                body = _query(batch, interval) | {
                    "paging": {"pageSize": page_size, "pageNumber": page}}
                reply = self._json("POST", f"{DETAILS}/query", json=body)
                convs = reply.get("conversations") or []
                out.extend(convs)
                if not convs or page * page_size >= int(reply.get("totalHits") or 0):
                    break
                page += 1
        return out

    def _details_job(self, ids: list[str], interval: tuple[datetime, datetime],
                     page_size: int) -> list[dict[str, Any]]:
        """One job over the whole interval; the wanted conversations are kept from it."""
        wanted = set(ids)
        body = {"interval": _query([], interval)["interval"], "order": "asc",
                "orderBy": "conversationStart"}
        job = self._json("POST", f"{DETAILS}/jobs", json=body)
        job_id = job.get("jobId")
        if not isinstance(job_id, str):
            raise AnalyticsError(f"POST {DETAILS}/jobs: reply has no jobId: {job}")
        out: list[dict[str, Any]] = []
        try:
            self._wait_job(job_id)
            cursor: str | None = None
            while True:
                params: list[tuple[str, str | int]] = [("pageSize", page_size)]
                if cursor:
                    params.append(("cursor", cursor))
                page = self._json("GET", f"{DETAILS}/jobs/{job_id}/results", params=params)
                out.extend(c for c in page.get("conversations") or []
                           if isinstance(c, dict) and c.get("conversationId") in wanted)
                cursor = page.get("cursor")
                if not cursor:
                    break
        finally:
            self._delete_job(job_id)
        return out

    def _wait_job(self, job_id: str) -> None:
        deadline = time.monotonic() + self.job_timeout_s
        while True:
            status = self._json("GET", f"{DETAILS}/jobs/{job_id}")
            state = str(status.get("state", "")).upper()
            if state == "FULFILLED":
                return
            if state in ("FAILED", "CANCELLED", "EXPIRED"):
                raise JobFailedError(
                    f"analytics details job {job_id} ended {state}: "
                    f"{status.get('errorMessage') or 'no reason given'}")
            if state not in ("QUEUED", "PENDING"):
                raise AnalyticsError(f"analytics details job {job_id}: unknown state {state!r}")
            if time.monotonic() >= deadline:
                raise AnalyticsError(f"analytics details job {job_id} still {state} after "
                                     f"{self.job_timeout_s:.0f} s")
            if self._sleep(self.poll_s):
                raise AnalyticsError(f"stopped while waiting for job {job_id}")

    def _delete_job(self, job_id: str) -> None:
        # an undeleted job expires by itself; the results already came
        with contextlib.suppress(AnalyticsError):
            self.call("DELETE", f"{DETAILS}/jobs/{job_id}", not_found_ok=True)

    def conversation_metrics(self, conversation_id: str) -> dict[str, Any] | None:
        """STA ``ConversationMetrics`` of a conversation; None while not available (404)."""
        response = self.call("GET", f"{STA}/{conversation_id}", not_found_ok=True)
        return None if response is None else dict(response.json())

    # ------------------------------------------------------------------ names

    def names(self, kind: str, ids: Iterable[str]) -> dict[str, str]:
        """Names of users, queues or wrap-up codes by id (``BATCH`` ids a request).

        Args:
            kind: ``"users"``, ``"queues"`` or ``"wrapupcodes"``.
            ids: the ids to resolve (unknown ones are left out of the result).
        """
        paths = {"users": "/api/v2/users", "queues": "/api/v2/routing/queues",
                 "wrapupcodes": "/api/v2/routing/wrapupcodes"}
        if kind not in paths:
            raise ValueError(f"kind must be one of {sorted(paths)}, got {kind!r}")
        out: dict[str, str] = {}
        for batch in _batches(sorted(set(ids)), BATCH):
            page = 1
            while True:
                params: list[tuple[str, str | int]] = [("id", i) for i in batch]
                params += [("pageSize", BATCH), ("pageNumber", page)]
                reply = self._json("GET", paths[kind], params=params)
                for e in reply.get("entities") or []:
                    if isinstance(e, dict) and e.get("id") and e.get("name") is not None:
                        out[str(e["id"])] = str(e["name"])
                if page >= int(reply.get("pageCount") or 1):
                    break
                page += 1
        return out

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        response = self.call(method, path, **kw)
        assert response is not None
        try:
            body = response.json()
        except ValueError:
            raise AnalyticsError(f"{method} {path}: reply is not JSON") from None
        if not isinstance(body, dict):
            raise AnalyticsError(f"{method} {path}: reply is not a JSON object")
        return body


# --------------------------------------------------------------------------- client from CLI


def open_client(
    *,
    environment: str | None = None,
    login_base: str | None = None,
    api_base: str | None = None,
    client_id: str | None = None,
    client_secret_file: str | None = None,
    per_minute: int | None = 300,
) -> AnalyticsClient:
    """An ``AnalyticsClient`` from CLI-style settings (credentials as ``diarkit capture``).

    The client id and secret come from ``GENESYS_CLIENT_ID`` / ``GENESYS_CLIENT_SECRET`` or
    ``client_secret_file``; the environment from a domain, a region or explicit URLs.
    """
    from diarkit.genesys import resolve_environment

    from .runner import credentials

    env = resolve_environment(environment, login_base=login_base, api_base=api_base)
    cid, secret = credentials(client_id, client_secret_file)
    return AnalyticsClient(env.api_base, TokenSource(env.login_base, cid, secret),
                           per_minute=per_minute, close_tokens=True)


# --------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class ReconcileResult:
    """Outcome of ``reconcile_dataset``.

    Attributes:
        comparison: per call and fleet differences (``diarkit.analysis.reconcile``).
        diarkit: diarkit's figures per conversation (seconds).
        genesys: Genesys's figures per conversation (seconds), with ``sta`` (True when
            STA metrics were available) and ``details`` (True when analytics had it).
        mode: how the details were fetched (``query`` or ``job``).
        requests: REST requests made.
    """

    comparison: Any
    diarkit: Any
    genesys: Any
    mode: str
    requests: int


def _ts_ms(text: str | None) -> int | None:
    if not text:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def details_frame(conversations: Iterable[dict[str, Any]]) -> tuple[Any, Any]:
    """Genesys's per-call figures and phases from analytics details records.

    Returns:
        ``(calls, phases)``: ``calls`` has ``conversation_id``, ``start_ms``/``end_ms``
        (epoch ms), ``duration_s``, ``hold_s`` (sum of agents' ``tHeld``), ``talk_s``
        (``tTalk``), ``acw_s`` (``tAcw``), ``handle_s`` (``tHandle``), ``user_ids``,
        ``queue_ids``, ``wrapup_codes``; ``phases`` has ``conversation_id``, ``phase``
        (``ivr``, ``queue``, ``hold``), ``start_ms``, ``end_ms`` (epoch ms).
    """
    import pandas as pd

    calls, phases = [], []
    for c in conversations:
        cid = str(c.get("conversationId"))
        start, end = _ts_ms(c.get("conversationStart")), _ts_ms(c.get("conversationEnd"))
        totals = {"tHeld": 0, "tTalk": 0, "tAcw": 0, "tHandle": 0}
        users, queues, codes = set(), set(), set()
        for p in c.get("participants") or []:
            purpose = p.get("purpose")
            if p.get("userId"):
                users.add(str(p["userId"]))
            for sess in p.get("sessions") or []:
                for m in sess.get("metrics") or []:
                    if purpose == "agent" and m.get("name") in totals:
                        totals[m["name"]] += int(m.get("value") or 0)
                for seg in sess.get("segments") or []:
                    s, e = _ts_ms(seg.get("segmentStart")), _ts_ms(seg.get("segmentEnd"))
                    kind = seg.get("segmentType")
                    if seg.get("queueId"):
                        queues.add(str(seg["queueId"]))
                    if seg.get("wrapUpCode"):
                        codes.add(str(seg["wrapUpCode"]))
                    phase = ("ivr" if purpose == "ivr" and kind == "ivr" else
                             "queue" if purpose == "acd" else
                             "hold" if purpose == "customer" and kind == "hold" else None)
                    if phase and s is not None and e is not None:
                        phases.append({"conversation_id": cid, "phase": phase,
                                       "start_ms": s, "end_ms": e})
        calls.append({
            "conversation_id": cid, "start_ms": start, "end_ms": end,
            "duration_s": (end - start) / 1000 if start is not None and end is not None
            else float("nan"),
            "hold_s": totals["tHeld"] / 1000, "talk_s": totals["tTalk"] / 1000,
            "acw_s": totals["tAcw"] / 1000, "handle_s": totals["tHandle"] / 1000,
            "user_ids": sorted(users), "queue_ids": sorted(queues),
            "wrapup_codes": sorted(codes),
        })
    cols = ["conversation_id", "start_ms", "end_ms", "duration_s", "hold_s", "talk_s",
            "acw_s", "handle_s", "user_ids", "queue_ids", "wrapup_codes"]
    return (pd.DataFrame(calls, columns=cols),
            pd.DataFrame(phases, columns=["conversation_id", "phase", "start_ms", "end_ms"]))


def reconcile_dataset(
    dataset: str,
    client: AnalyticsClient,
    *,
    threshold_s: float = 1.0,
    mode: str = "auto",
    conversations: Iterable[str] | None = None,
    hold_from: str = "auto",
) -> ReconcileResult:
    """Compare a dataset's talk, hold, silence and overtalk with Genesys's own figures.

    diarkit's side: the dataset's segments on one timeline (live + back-fill, see
    ``diarkit.capture.backfill.merged_segments``), split into the interaction overview's
    categories (``diarkit.analysis.reconcile.speech_partition``) over the call's window
    and phases (IVR, queue, hold) as the analytics details give them; ``duration_s`` is
    diarkit's own (``SESSION_ENDED`` offset or back-filled transcript duration). Genesys's
    side: the analytics details (``duration_s``, ``hold_s`` = agents' ``tHeld``) and STA
    conversation metrics (percentages of the call for agent, customer, overtalk,
    silence). Metrics missing on either side are not compared for that call.

    Args:
        dataset: the dataset directory.
        client: the REST client.
        threshold_s: a call disagrees on a metric when the difference exceeds this (s).
        mode: details fetch mode (``auto``, ``query``, ``job``).
        conversations: only these conversations (default: every one in the dataset).
        hold_from: where diarkit's holds come from: ``"events"`` (the dataset's call
            events, through the conversation model's ``hold`` phases), ``"analytics"``
            (the details' hold segments: then ``hold_s`` is not an independent measure)
            or ``"auto"`` (events for conversations that have them, else analytics). The
            ``diarkit`` table's ``hold_source`` says which, per call.
    """
    import numpy as np
    import pandas as pd

    from diarkit.analysis.reconcile import compare_metrics, partition_table, sta_seconds

    from .backfill import coverage_table, merged_segments

    seg = merged_segments(dataset)
    seg = seg[seg["conversation_id"].notna()]
    seg["conversation_id"] = seg["conversation_id"].astype(str)
    ids = sorted(seg["conversation_id"].unique().tolist())
    if conversations is not None:
        keep = set(conversations)
        ids = [i for i in ids if i in keep]
        seg = seg[seg["conversation_id"].isin(keep)]
    before = client.requests
    starts = seg["start_at"].dropna()
    if len(starts) == 0 or not ids:
        raise ValueError(f"{dataset}: no segments with start times to reconcile")
    lo = starts.min().to_pydatetime() - pd.Timedelta(hours=6).to_pytimedelta()
    hi = starts.max().to_pydatetime() + pd.Timedelta(hours=6).to_pytimedelta()
    details = client.details(ids, (lo, hi), mode=mode)
    calls, phases = details_frame(details.conversations)
    sta_rows = []
    for cid in ids:
        m = client.conversation_metrics(cid)
        pm = (m or {}).get("participantMetrics") if m else None
        sta_rows.append({"conversation_id": cid, "pm": pm if isinstance(pm, dict) else None})
    # diarkit: segments in ms from the analytics conversation start, over its window
    call_at = calls.set_index("conversation_id")
    seg = seg[seg["conversation_id"].isin(call_at.index) & seg["start_at"].notna()].copy()
    origin = seg["conversation_id"].map(call_at["start_ms"]).astype("int64")
    epoch = pd.Timestamp(0, tz="UTC")
    start_abs = ((seg["start_at"] - epoch) // pd.Timedelta(milliseconds=1)).astype("int64")
    dur_ms = ((seg["end_s"] - seg["start_s"]) * 1000).round().astype("int64")
    seg["start_s"] = (start_abs - origin) / 1000
    seg["end_s"] = seg["start_s"] + dur_ms / 1000
    ph = phases.copy()
    if hold_from not in ("auto", "events", "analytics"):
        raise ValueError(f"hold_from must be 'auto', 'events' or 'analytics', got {hold_from!r}")
    own, mine = _dataset_holds(dataset, ids) if hold_from != "analytics" else (None, set())
    hold_source = dict.fromkeys(ids, "analytics" if hold_from != "events" else None)
    if own is not None:
        ph = pd.concat([ph[~((ph["phase"] == "hold") & ph["conversation_id"].isin(mine))],
                        own], ignore_index=True)
        hold_source.update(dict.fromkeys(mine, "events"))
    ph["start_s"] = (ph["start_ms"] - ph["conversation_id"].map(call_at["start_ms"])) / 1000
    ph["end_s"] = (ph["end_ms"] - ph["conversation_id"].map(call_at["start_ms"])) / 1000
    durations = {str(k): float(v) for k, v in call_at["duration_s"].items() if v == v}
    dk = partition_table(seg, durations, ph)
    dk["hold_source"] = dk["conversation_id"].map(hold_source)
    dk.loc[dk["hold_source"].isna(), "hold_s"] = np.nan  # events asked for, none there
    cov = coverage_table(dataset).set_index("conversation_id")["duration_s"]
    dk["duration_s"] = dk["conversation_id"].map(cov).astype(float)
    gen_rows = []
    sta_by = {r["conversation_id"]: r["pm"] for r in sta_rows}
    for r in calls.itertuples(index=False):
        pm = sta_by.get(r.conversation_id)
        secs = sta_seconds(pm or {}, r.duration_s) if pm else {}
        gen_rows.append({"conversation_id": r.conversation_id, "duration_s": r.duration_s,
                         "hold_s": r.hold_s, "sta": pm is not None, "details": True,
                         **{k: secs.get(k, np.nan) for k in
                            ("agent_s", "customer_s", "overtalk_s", "silence_s",
                             "ivr_s", "acd_s", "other_s")}})
    gen = pd.DataFrame(gen_rows)
    comparison = compare_metrics(dk, gen, threshold_s=threshold_s)
    return ReconcileResult(comparison, dk, gen, details.mode, client.requests - before)


def _dataset_holds(dataset: str, ids: list[str]) -> tuple[Any, set[str]]:
    """``hold`` phases (epoch ms) the dataset's own call events give, and the conversations
    the events cover (a call among them without a hold row had no hold)."""
    import pandas as pd

    from diarkit.io.load import load_conversation_model

    try:
        model = load_conversation_model(dataset, conversations=ids)
    except (ValueError, KeyError, FileNotFoundError):
        return None, set()
    phases, convs = model.phases, model.conversations
    # conversations the call events describe (not those the model only knows from a
    # post-call transcript's participants, nor a lone "unknown" row)
    if "event_count" in convs.columns:
        covered = set(convs.loc[convs["event_count"] > 0, "conversation_id"].astype(str))
    else:
        described = phases[phases["phase"].astype(str) != "unknown"]
        covered = set(described["conversation_id"].astype(str))
    phases = phases[phases["conversation_id"].astype(str).isin(covered)]
    holds = phases[phases["phase"] == "hold"].dropna(subset=["start_at", "end_at"])
    if not covered:
        return None, set()
    epoch = pd.Timestamp(0, tz="UTC")
    ms = pd.Timedelta(milliseconds=1)
    return pd.DataFrame({
        "conversation_id": holds["conversation_id"].astype(str).to_numpy(),
        "phase": "hold",
        "start_ms": ((holds["start_at"] - epoch) // ms).astype("int64").to_numpy(),
        "end_ms": ((holds["end_at"] - epoch) // ms).astype("int64").to_numpy(),
    }), covered


# --------------------------------------------------------------------------- names



def dataset_ids(dataset: str) -> dict[str, set[str]]:
    """User, queue and wrap-up code ids a dataset mentions (call events, transcripts)."""
    from pathlib import Path

    import orjson
    import pyarrow.dataset as ds

    out: dict[str, set[str]] = {k: set() for k in NAME_KINDS}
    raw_dir = Path(dataset) / "raw"
    if not raw_dir.exists():
        return out
    table = ds.dataset(str(raw_dir), format="parquet", partitioning="hive",
                       exclude_invalid_files=True).to_table(
        columns=["kind", "topic", "frame"],
        filter=ds.field("kind").isin(["conversation"]) | ds.field("topic").isin(
            ["diarkit.import.sta_transcript"]))
    for text in table.column("frame").to_pylist():
        if text.startswith('{"path"'):
            continue
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        body = doc.get("eventBody", doc) if isinstance(doc, dict) else None
        if isinstance(body, dict) and isinstance(body.get("detail"), dict):
            body = body["detail"].get("eventBody", body)
        for p in (body or {}).get("participants") or []:
            if not isinstance(p, dict):
                continue
            for key, kind in (("user", "users"), ("queue", "queues")):
                obj = p.get(key)
                if isinstance(obj, dict) and obj.get("id"):
                    out[kind].add(str(obj["id"]))
            for key, kind in (("userId", "users"), ("queueId", "queues")):
                if isinstance(p.get(key), str):
                    out[kind].add(p[key])
            wrap = p.get("wrapup")
            if isinstance(wrap, dict) and wrap.get("code"):
                out["wrapupcodes"].add(str(wrap["code"]))
    return out


def refresh_names(dataset: str, client: AnalyticsClient, *,
                  kinds: Sequence[str] = NAME_KINDS,
                  extra_ids: dict[str, set[str]] | None = None) -> dict[str, int]:
    """Resolve the dataset's ids to names and store them as ``DATASET/dims/<kind>.parquet``.

    Each table has ``id``, ``name`` and ``resolved_at`` (UTC); ids the API does not know
    keep no row. Rerunning refreshes every table it is asked for (names change).

    Returns:
        Rows written per kind.
    """
    from pathlib import Path

    import pyarrow as pa

    from diarkit.io.dataset import write_table_atomic

    ids = dataset_ids(dataset)
    for k, v in (extra_ids or {}).items():
        ids.setdefault(k, set()).update(v)
    out = {}
    now = datetime.now(UTC)
    for kind in kinds:
        if kind not in NAME_KINDS:
            raise ValueError(f"kind must be one of {NAME_KINDS}, got {kind!r}")
        names = client.names(kind, ids.get(kind, set())) if ids.get(kind) else {}
        table = pa.table({"id": pa.array(sorted(names), pa.string()),
                          "name": pa.array([names[i] for i in sorted(names)], pa.string()),
                          "resolved_at": pa.array([now] * len(names),
                                                  pa.timestamp("us", tz="UTC"))})
        write_table_atomic(table, Path(dataset) / DIMS_DIR / f"{kind}.parquet")
        out[kind] = table.num_rows
    return out


def _needs(method: str, path: str) -> str:
    for key, (mode, perms) in PERMISSIONS.items():
        m, _, p = key.partition(" ")
        if m == method and _same_path(p, path):
            return f"{mode.lower()} of {', '.join(perms)}" if perms else "none"
    return "see docs/backfill.md"


def _same_path(template: str, path: str) -> bool:
    a, b = template.strip("/").split("/"), path.split("?")[0].strip("/").split("/")
    return len(a) == len(b) and all(x.startswith("{") or x == y for x, y in zip(a, b,
                                                                                strict=True))


def _batches(items: Sequence[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield list(items[i: i + n])


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("interval times must be timezone-aware (UTC)")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _query(ids: list[str], interval: tuple[datetime, datetime]) -> dict[str, Any]:
    """A ``ConversationQuery`` / ``AsyncConversationQuery`` body for these conversations."""
    return {
        "interval": f"{_iso(interval[0])}/{_iso(interval[1])}",
        "order": "asc",
        "orderBy": "conversationStart",
        "conversationFilters": [{"type": "or", "predicates": [
            {"type": "dimension", "dimension": "conversationId", "operator": "matches",
             "value": i} for i in ids]}],
    }


__all__ = [
    "NAME_COLUMNS",
    "NAME_KINDS",
    "PERMISSIONS",
    "AnalyticsClient",
    "AnalyticsError",
    "DetailsResult",
    "JobFailedError",
    "NotReadyError",
    "RateLimiter",
    "ReconcileResult",
    "UrlExpiredError",
    "add_names",
    "dataset_ids",
    "details_frame",
    "load_names",
    "open_client",
    "reconcile_dataset",
    "refresh_names",
]
