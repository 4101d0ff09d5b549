"""Simulated analytics, Speech and Text Analytics metrics, users, queues and wrap-up codes.

Installed into a simulator with ``Simulator(routes=[AnalyticsSim(...).install])`` (or
``AnalyticsSim().install`` appended to ``diarkit.sim.server.EXTRA_ROUTES``). Everything it
serves follows from the simulator's call plans (its ground truth), in the JSON shapes of
the official SDK's models (``purecloudplatformclientv2`` 269):

* ``POST /api/v2/analytics/conversations/details/query`` (``ConversationQuery`` ->
  ``AnalyticsConversationQueryResponse``): ``interval``, ``conversationFilters`` with
  ``conversationId`` predicates, ``paging`` (``pageSize`` at most 100, ``pageNumber``).
* ``POST .../details/jobs`` (-> ``AsyncQueryResponse`` ``{jobId}``, 202), ``GET
  .../jobs/{id}`` (``AsyncQueryStatus``: ``QUEUED`` -> ``PENDING`` -> ``FULFILLED`` or
  ``FAILED``), ``GET .../jobs/{id}/results?cursor=&pageSize=``
  (``AnalyticsConversationAsyncQueryResponse``, ``cursor`` until the last page),
  ``DELETE .../jobs/{id}`` (204).
* ``GET /api/v2/speechandtextanalytics/conversations/{id}`` (``ConversationMetrics``):
  ``participantMetrics`` percentages computed from the ground truth with
  ``diarkit.analysis.reconcile.speech_partition``; 404 until the transcript is ready.
* ``GET /api/v2/users``, ``/api/v2/routing/queues``, ``/api/v2/routing/wrapupcodes``
  (``UserEntityListing``, ``QueueEntityListing``, ``WrapupCodeEntityListing``) with
  repeated ``id`` parameters and ``pageSize``/``pageNumber`` paging.
* ``GET .../communications/{commId}/transcripturls`` (``TranscriptUrls``; unless the server
  serves it) with pre-signed URLs under ``/sim-s3/`` that expire after ``url_ttl_s``
  (403 then, as S3 answers), and a fault that issues the next URLs already expired.
* Post-call transcript readiness (``SimServer.transcript_gate``): a transcript is ready
  ``ready_delay_s`` wall seconds after the simulator first sees its call finished
  (``late`` overrides per conversation; ``never`` are never ready: 404 for ever).

Rate limits are the server's (300 requests per minute per client by default, 429 with
``Retry-After``), since every route here authorises through it. Times in bodies are
ISO-8601 UTC; metric values (``tTalk`` ...) are milliseconds; wall durations are seconds.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from diarkit.analysis.reconcile import speech_partition

from .generator import CallPlan, iso_ms, new_uuid
from .ground_truth import post_call_transcript, truth_utterances
from .server import SimServer, Token, _error, _json

ANALYTICS_PERMISSION = "analytics:conversationDetail:view"
RECORDING_PERMISSION = "recording:recording:view"
STA_PERMISSION = "speechAndTextAnalytics:data:view"
QUEUE_PERMISSION = "routing:queue:view"
WRAPUP_PERMISSION = "routing:wrapupCode:view"
#: Permissions these endpoints check (users need none), per the SDK's API docs.
PERMISSIONS = frozenset({ANALYTICS_PERMISSION, RECORDING_PERMISSION, STA_PERMISSION,
                         QUEUE_PERMISSION, WRAPUP_PERMISSION})
#: Largest ``paging.pageSize`` of a synchronous details query and of the listing APIs.
MAX_PAGE_SIZE = 100
DETAILS = "/api/v2/analytics/conversations/details"
STA_CONVERSATIONS = "/api/v2/speechandtextanalytics/conversations"

Json = dict[str, Any]


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True, slots=True)
class _Party:
    """A participant as analytics sees it (times ms from the session start)."""

    participant_id: str
    purpose: str
    name: str | None
    connected_ms: int | None
    end_ms: int
    user_id: str | None = None
    queue_id: str | None = None
    holds_ms: tuple[tuple[int, int], ...] = ()
    acw_end_ms: int | None = None
    wrapup_code: str | None = None
    start_ms: int | None = None


def parties(plan: CallPlan) -> list[_Party]:
    """The participants of a call: the plan's own, or (older plans) ones derived from it."""
    planned = getattr(plan, "participants", ())
    if planned:
        return [_Party(p.participant_id, p.purpose, p.name, p.connected_ms, p.end_ms,
                       p.user_id, p.queue_id, tuple(p.holds_ms), p.acw_end_ms, p.wrapup_code,
                       p.start_ms)
                for p in planned]
    pid = plan.participant_ids
    q, a, d = plan.queue_entry_ms, plan.agent_connect_ms, plan.duration_ms
    assert q is not None and a is not None
    return [
        _Party(pid["customer"], "customer", None, 0, d, holds_ms=tuple(plan.holds_ms)),
        _Party(pid["ivr"], "ivr", "Main IVR", 100, q),
        _Party(pid["acd"], "acd", None, q, a, queue_id=plan.queue_id),
        _Party(pid["agent"], "agent", None, a, d, user_id=plan.user_id,
               queue_id=plan.queue_id, holds_ms=tuple(plan.holds_ms)),
    ]


def call_window(plan: CallPlan) -> tuple[int, int]:
    """(start, end) of the whole call in ms from the session start: from the customer
    participant's creation (``conversationStart``; negative when the call began before
    transcription, as for a callback's dialing) to the customer's leg end
    (``duration_ms``), as the post-call transcript's ``conversationStartTime``/``duration``."""
    customer = next((p for p in parties(plan) if p.purpose == "customer"), None)
    if customer is not None and customer.start_ms is not None:
        return (customer.start_ms, plan.duration_ms)
    starts = [p.connected_ms for p in parties(plan) if p.connected_ms is not None]
    return (min([0, *starts]), plan.duration_ms)


def call_phases(plan: CallPlan) -> dict[str, list[tuple[int, int]]]:
    """``ivr``, ``queue`` and ``hold`` intervals of a call (ms from the session start).

    IVR: while an ``ivr`` participant is connected; queue: while an ``acd`` participant
    is; hold: the customer's holds.
    """
    out: dict[str, list[tuple[int, int]]] = {"ivr": [], "queue": [], "hold": []}
    for p in parties(plan):
        if p.connected_ms is None:
            continue
        if p.purpose == "ivr":
            out["ivr"].append((p.connected_ms, p.end_ms))
        elif p.purpose == "acd":
            out["queue"].append((p.connected_ms, p.end_ms))
        elif p.purpose == "customer":
            out["hold"].extend(p.holds_ms)
    if not any(p.purpose == "customer" for p in parties(plan)):
        out["hold"].extend(plan.holds_ms)
    return out


def sta_percentages(plan: CallPlan) -> Json:
    """STA ``ParticipantMetrics`` of a call from its ground truth (percentages 0-100)."""
    spoken = truth_utterances(plan)
    w0, w1 = call_window(plan)

    def arrays(channel: str) -> tuple[np.ndarray, np.ndarray]:
        us = [u for u in spoken if u.channel == channel]
        return (np.array([(u.start_ms - w0) / 1000 for u in us], dtype=float),
                np.array([(u.end_ms - w0) / 1000 for u in us], dtype=float))

    phases = {k: (np.array([(s - w0) / 1000 for s, _ in v], dtype=float),
                  np.array([(e - w0) / 1000 for _, e in v], dtype=float))
              for k, v in call_phases(plan).items()}
    dur = (w1 - w0) / 1000
    part = speech_partition(arrays("INTERNAL"), arrays("EXTERNAL"), dur, phases)
    pct = {k: 100.0 * v / dur if dur > 0 else 0.0 for k, v in part.items()}
    return {
        "agentDurationPercentage": pct["agent_s"],
        "customerDurationPercentage": pct["customer_s"],
        "silenceDurationPercentage": pct["silence_s"],
        "ivrDurationPercentage": pct["ivr_s"],
        "acdDurationPercentage": pct["acd_s"],
        "overtalkDurationPercentage": pct["overtalk_s"],
        "otherDurationPercentage": pct["other_s"],
    }


def _hold_owners(everyone: list[_Party]) -> dict[str, tuple[tuple[int, int], ...]]:
    """Agent participant id -> the customer's holds that agent placed (ms).

    The customer is the one ``held``; the hold belongs to the first agent connected when
    it began (in a consult, the consulting agent, not the consulted one), so each hold
    counts once in the agents' ``tHeld``.
    """
    agents = [p for p in everyone if p.purpose == "agent" and p.connected_ms is not None]
    out: dict[str, list[tuple[int, int]]] = {}
    for h in (h for p in everyone if p.purpose == "customer" for h in p.holds_ms):
        for a in agents:
            assert a.connected_ms is not None
            if a.connected_ms <= h[0] < a.end_ms and not a.holds_ms:
                out.setdefault(a.participant_id, []).append(h)
                break
    return {k: tuple(v) for k, v in out.items()}


def _segment(kind: str, start: int, end: int, e0: int, **extra: Any) -> Json:
    seg = {"segmentStart": iso_ms(e0 + start), "segmentEnd": iso_ms(e0 + end),
           "segmentType": kind}
    seg.update({k: v for k, v in extra.items() if v is not None})
    return seg


def _metric(name: str, value: int, at: int) -> Json:
    return {"name": name, "value": int(value), "emitDate": iso_ms(at)}


def _interact_pieces(start: int, end: int, holds: Iterable[tuple[int, int]]
                     ) -> list[tuple[str, int, int]]:
    """``interact``/``hold`` pieces of [start, end) given the holds inside it (ms)."""
    out, t = [], start
    for hs, he in sorted(holds):
        hs, he = max(hs, start), min(he, end)
        if he <= hs:
            continue
        if hs > t:
            out.append(("interact", t, hs))
        out.append(("hold", hs, he))
        t = he
    if t < end:
        out.append(("interact", t, end))
    return out


def conversation_details(plan: CallPlan) -> Json:
    """The analytics details record of a call (``AnalyticsConversationWithoutAttributes``).

    Segments per participant session: ``ivr`` for the IVR, ``interact`` for the queue's
    ``acd`` participant (with ``queueId``), ``interact``/``hold`` for the customer and
    agents, ``wrapup`` (with ``wrapUpCode``) for an agent's after-call work. Session
    metrics, in milliseconds: ``tIvr``, ``tAcd``, ``tTalk`` (connected, not held),
    ``tHeld``, ``tAcw``, ``tHandle`` (= tTalk + tHeld + tAcw).
    """
    e0 = plan.session_start_epoch_ms
    w0, w1 = call_window(plan)
    everyone = parties(plan)
    held_by = _hold_owners(everyone)
    out_parts = []
    for p in everyone:
        segs: list[Json] = []
        metrics: list[Json] = []
        if p.connected_ms is not None:
            c, e = p.connected_ms, p.end_ms
            if p.purpose == "ivr":
                segs.append(_segment("ivr", c, e, e0))
                metrics.append(_metric("tIvr", e - c, e0 + e))
            elif p.purpose == "acd":
                segs.append(_segment("interact", c, e, e0, queueId=p.queue_id))
                metrics.append(_metric("tAcd", e - c, e0 + e))
            else:
                holds = p.holds_ms or held_by.get(p.participant_id, ())
                pieces = _interact_pieces(c, e, holds)
                segs += [_segment(k, s, t, e0, queueId=p.queue_id) for k, s, t in pieces]
                if p.purpose == "agent":
                    talk = sum(t - s for k, s, t in pieces if k == "interact")
                    held = sum(t - s for k, s, t in pieces if k == "hold")
                    acw = 0
                    if p.acw_end_ms is not None and p.acw_end_ms > e:
                        acw = p.acw_end_ms - e
                        segs.append(_segment("wrapup", e, p.acw_end_ms, e0,
                                             queueId=p.queue_id, wrapUpCode=p.wrapup_code))
                    at = e0 + (p.acw_end_ms or e)
                    metrics += [_metric("tTalk", talk, at), _metric("tHeld", held, at),
                                _metric("tAcw", acw, at),
                                _metric("tHandle", talk + held + acw, at)]
        # the customer's call session is the communication (transcripturl's commId)
        sid = (plan.communication_id if p.purpose == "customer"
               else new_uuid_from(p.participant_id))
        session: Json = {"mediaType": "voice", "sessionId": sid,
                         "direction": "inbound", "segments": segs}
        if metrics:
            session["metrics"] = metrics
        participant: Json = {"participantId": p.participant_id, "purpose": p.purpose,
                             "sessions": [session]}
        if p.name:
            participant["participantName"] = p.name
        if p.user_id:
            participant["userId"] = p.user_id
        out_parts.append(participant)
    return {
        "conversationId": plan.conversation_id,
        "conversationStart": iso_ms(e0 + w0),
        "conversationEnd": iso_ms(e0 + w1),
        "originatingDirection": "inbound",
        "divisionIds": ["00000000-0000-0000-0000-000000000000"],
        "participants": out_parts,
    }


def new_uuid_from(text: str) -> str:
    """A stable UUID-shaped id derived from ``text`` (session ids of a participant)."""
    import hashlib

    h = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# --------------------------------------------------------------------------- the service


@dataclass
class _Job:
    job_id: str
    conversations: list[str]
    submitted: float
    submitted_wall: float
    fail: bool
    deleted: bool = False


@dataclass
class AnalyticsSim:
    """The analytics, STA metrics and directory endpoints of one simulated org.

    Args:
        ready_delay_s: wall seconds after a call finished until its post-call transcript
            (and STA metrics) are ready.
        late: per-conversation readiness delays (wall seconds) overriding ``ready_delay_s``.
        never: conversations whose transcript and STA metrics never become available.
        job_queued_s, job_pending_s: wall seconds an async job stays QUEUED, then PENDING.
        fail_jobs: the next this many submitted jobs end FAILED.
        job_page_size: default ``pageSize`` of async job results.
        wrapup_names: wrap-up code id to name (default: from the plans' codes).
        url_ttl_s: wall seconds a pre-signed URL of ``transcripturls`` stays valid
            (Genesys: 10 minutes); after that the document answers 403.
        expire_next_urls: the next this many pre-signed URLs are issued already expired.
    """

    ready_delay_s: float = 0.0
    late: Mapping[str, float] = field(default_factory=dict)
    never: frozenset[str] = frozenset()
    job_queued_s: float = 0.1
    job_pending_s: float = 0.1
    fail_jobs: int = 0
    job_page_size: int = 100
    wrapup_names: Mapping[str, str] | None = None
    url_ttl_s: float = 600.0
    expire_next_urls: int = 0
    server: SimServer | None = None
    jobs: dict[str, _Job] = field(default_factory=dict)
    signed: dict[str, tuple[str, float]] = field(default_factory=dict)
    finished_at: dict[str, float] = field(default_factory=dict)
    #: Requests served, by route name (for tests and benchmarks).
    served: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ install

    def install(self, router: web.UrlDispatcher, server: SimServer) -> None:
        """Add the routes to a simulator's router and gate its transcripts (a RouteInstaller)."""
        self.server = server
        server.transcript_gate = self.not_ready
        r = router
        r.add_post(f"{DETAILS}/query", self.details_query)
        r.add_post(f"{DETAILS}/jobs", self.submit_job)
        r.add_get(f"{DETAILS}/jobs/{{job}}", self.job_status)
        r.add_get(f"{DETAILS}/jobs/{{job}}/results", self.job_results)
        r.add_delete(f"{DETAILS}/jobs/{{job}}", self.delete_job)
        r.add_get("/api/v2/speechandtextanalytics/conversations/{conv}", self.sta_metrics)
        plural = (f"{STA_CONVERSATIONS}/{{conv}}/communications/{{comm}}/transcripturls")
        if not any(getattr(res, "canonical", None) == plural for res in r.resources()):
            r.add_get(plural, self.transcript_urls)  # unless the server serves it already
        r.add_get("/sim-s3/{key}.json", self.signed_document)
        r.add_get("/api/v2/users", self.users)
        r.add_get("/api/v2/routing/queues", self.queues)
        r.add_get("/api/v2/routing/wrapupcodes", self.wrapup_codes)

    # ------------------------------------------------------------------ readiness

    def not_ready(self, conversation_id: str) -> str | None:
        """Why a finished call's transcript is not available yet (None when it is)."""
        if conversation_id in self.never:
            return f"no transcript for conversation {conversation_id}"
        first = self.finished_at.setdefault(conversation_id, time.monotonic())
        delay = self.late.get(conversation_id, self.ready_delay_s)
        if time.monotonic() < first + delay:
            return f"transcript of conversation {conversation_id} is not ready yet"
        return None

    # ------------------------------------------------------------------ helpers

    def _srv(self) -> SimServer:
        assert self.server is not None, "AnalyticsSim.install was not called"
        return self.server

    def _auth(self, request: web.Request, *permissions: str) -> Token | web.Response:
        srv = self._srv()
        token = srv._authorize(request)
        if isinstance(token, web.Response):
            return token
        resource = request.match_info.route.resource
        name = f"{request.method} {resource.canonical if resource else request.path}"
        self.served[name] = self.served.get(name, 0) + 1
        have = srv.clients[token.client_id].permissions
        missing = [p for p in permissions if p not in have]
        if missing:
            return _error(403, "missing.permissions",
                          f"Missing permissions: {', '.join(missing)}")
        return token

    def _finished_plans(self) -> list[CallPlan]:
        srv = self._srv()
        return [p for cid, p in srv.plans.items() if cid in srv.finished]

    def _authed_job(self, request: web.Request) -> _Job | web.Response:
        """The job of a ``.../jobs/{job}`` request, after the analytics permission check."""
        token = self._auth(request, ANALYTICS_PERMISSION)
        if isinstance(token, web.Response):
            return token
        return self._job(request)

    # ------------------------------------------------------------------ details query

    def _select(self, body: Any) -> list[CallPlan] | str:
        """Plans a ``ConversationQuery`` selects (by start time), or what is wrong with it."""
        if not isinstance(body, dict):
            return "body must be a JSON object (ConversationQuery)"
        interval = body.get("interval")
        if not isinstance(interval, str) or interval.count("/") != 1:
            return "interval is required: '<ISO start>/<ISO end>'"
        try:
            lo, hi = (_parse_iso_ms(x) for x in interval.split("/"))
        except ValueError as exc:
            return f"interval {interval!r}: {exc}"
        ids: set[str] | None = None
        for f in body.get("conversationFilters") or []:
            preds = f.get("predicates") if isinstance(f, dict) else None
            if not isinstance(preds, list):
                return "conversationFilters[].predicates must be a list"
            for p in preds:
                if not isinstance(p, dict) or p.get("dimension") != "conversationId":
                    return "only conversationId predicates are supported by the simulator"
                ids = (ids or set()) | {str(p.get("value"))}
        out = [p for p in self._finished_plans()
               if lo <= p.session_start_epoch_ms < hi
               and (ids is None or p.conversation_id in ids)]
        order = body.get("order", "asc")
        out.sort(key=lambda p: (p.session_start_epoch_ms, p.conversation_id),
                 reverse=order == "desc")
        return out

    async def details_query(self, request: web.Request) -> web.Response:
        """``POST .../details/query``: one page of matching conversations."""
        token = self._auth(request, ANALYTICS_PERMISSION)
        if isinstance(token, web.Response):
            return token
        body = await _body(request)
        plans = self._select(body)
        if isinstance(plans, str):
            return _error(400, "bad.request", plans)
        paging = body.get("paging") or {}
        args = _paging(paging.get("pageSize"), paging.get("pageNumber"), "paging.")
        if isinstance(args, web.Response):
            return args
        page = _slice(plans, *args)
        reply: Json = {"totalHits": len(plans)}
        if page:
            reply["conversations"] = [conversation_details(p) for p in page]
        return _json(reply)

    # ------------------------------------------------------------------ async jobs

    async def submit_job(self, request: web.Request) -> web.Response:
        """``POST .../details/jobs``: 202 ``{jobId}``; the job runs QUEUED, PENDING, done."""
        token = self._auth(request, ANALYTICS_PERMISSION)
        if isinstance(token, web.Response):
            return token
        plans = self._select(await _body(request))
        if isinstance(plans, str):
            return _error(400, "bad.request", plans)
        srv = self._srv()
        job = _Job(new_uuid(srv.rng), [p.conversation_id for p in plans], time.monotonic(),
                   time.time(), fail=self.fail_jobs > 0)
        if job.fail:
            self.fail_jobs -= 1
            srv.fault("analytics_job_failed", f"job {job.job_id} will fail")
        self.jobs[job.job_id] = job
        return _json({"jobId": job.job_id}, status=202)

    def _job(self, request: web.Request) -> _Job | web.Response:
        job = self.jobs.get(request.match_info["job"])
        if job is None or job.deleted:
            return _error(404, "not.found", f"job {request.match_info['job']} not found")
        return job

    def _state(self, job: _Job) -> str:
        age = time.monotonic() - job.submitted
        if age < self.job_queued_s:
            return "QUEUED"
        if age < self.job_queued_s + self.job_pending_s:
            return "PENDING"
        return "FAILED" if job.fail else "FULFILLED"

    async def job_status(self, request: web.Request) -> web.Response:
        """``GET .../jobs/{id}``: ``AsyncQueryStatus``."""
        job = self._authed_job(request)
        if isinstance(job, web.Response):
            return job
        state = self._state(job)
        sub_ms = int(job.submitted_wall * 1000)
        reply: Json = {"state": state, "submissionDate": iso_ms(sub_ms),
                       "expirationDate": iso_ms(sub_ms + 48 * 3_600_000)}
        if state in ("FULFILLED", "FAILED"):
            done = sub_ms + int((self.job_queued_s + self.job_pending_s) * 1000)
            reply["completionDate"] = iso_ms(done)
        if state == "FAILED":
            reply["errorMessage"] = "The job failed (simulated fault)"
        return _json(reply)

    async def job_results(self, request: web.Request) -> web.Response:
        """``GET .../jobs/{id}/results``: a page of conversations and the next ``cursor``."""
        job = self._authed_job(request)
        if isinstance(job, web.Response):
            return job
        state = self._state(job)
        if state != "FULFILLED":
            return _error(400, "bad.request", f"job {job.job_id} is {state}, not FULFILLED")
        try:
            size = int(request.query.get("pageSize", self.job_page_size))
            cursor = request.query.get("cursor")
            offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except (ValueError, UnicodeDecodeError):
            return _error(400, "bad.request", "bad cursor or pageSize")
        if size < 1:
            return _error(400, "bad.request", "pageSize must be >= 1")
        srv = self._srv()
        ids = job.conversations[offset: offset + size]
        reply: Json = {"dataAvailabilityDate": iso_ms(int(time.time() * 1000))}
        if ids:
            reply["conversations"] = [conversation_details(srv.plans[c]) for c in ids]
        if offset + size < len(job.conversations):
            reply["cursor"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return _json(reply)

    async def delete_job(self, request: web.Request) -> web.Response:
        """``DELETE .../jobs/{id}``: forget the job (204)."""
        job = self._authed_job(request)
        if isinstance(job, web.Response):
            return job
        job.deleted = True
        return web.Response(status=204)

    # ------------------------------------------------------------------ transcripts

    async def transcript_urls(self, request: web.Request) -> web.Response:
        """``GET .../transcripturls``: ``TranscriptUrls`` with pre-signed, expiring URLs."""
        srv = self._srv()
        token = srv._authorize(request)
        if isinstance(token, web.Response):
            return token
        have = srv.clients[token.client_id].permissions
        if not have & {RECORDING_PERMISSION, "recording:recordingSegment:view"}:
            return _error(403, "missing.permissions",
                          f"Missing permissions: {RECORDING_PERMISSION}")
        conv, comm = request.match_info["conv"], request.match_info["comm"]
        plan = srv.plans.get(conv)
        if plan is None or plan.communication_id != comm:
            return _error(404, "not.found", f"conversation {conv} communication {comm} not found")
        why = None if conv in srv.finished else f"conversation {conv} has not finished"
        why = why or self.not_ready(conv)
        if why is not None:
            return _error(404, "not.found", why)
        key = secrets.token_urlsafe(18)
        ttl = self.url_ttl_s
        if self.expire_next_urls > 0:
            self.expire_next_urls -= 1
            ttl = -1.0
            srv.fault("url_expired", f"transcript URL of {conv} issued expired")
        self.signed[key] = (conv, time.monotonic() + ttl)
        url = (f"{srv.base_url}/sim-s3/{key}.json?X-Amz-Algorithm=AWS4-HMAC-SHA256"
               f"&X-Amz-Expires={max(int(ttl), 0)}&X-Amz-Signature={key[:16]}")
        return _json({"conversation": {"id": conv, "selfUri": f"/api/v2/conversations/{conv}"},
                      "communicationId": comm, "urls": [{"url": url}]})

    async def signed_document(self, request: web.Request) -> web.Response:
        """The document behind a pre-signed URL: 403 once expired, as S3 answers."""
        entry = self.signed.get(request.match_info["key"])
        if entry is None:
            return web.Response(status=404, text="NoSuchKey")
        conv, expires = entry
        if time.monotonic() >= expires:
            return web.Response(status=403, text="AccessDenied: Request has expired")
        plan = self._srv().plans[conv]
        return _json(post_call_transcript(plan))

    # ------------------------------------------------------------------ STA metrics

    async def sta_metrics(self, request: web.Request) -> web.Response:
        """``GET /api/v2/speechandtextanalytics/conversations/{id}``: ConversationMetrics."""
        token = self._auth(request, RECORDING_PERMISSION, STA_PERMISSION)
        if isinstance(token, web.Response):
            return token
        srv = self._srv()
        cid = request.match_info["conv"]
        plan = srv.plans.get(cid)
        if plan is None:
            return _error(404, "not.found", f"conversation {cid} not found")
        why = None if cid in srv.finished else f"conversation {cid} has not finished"
        why = why or self.not_ready(cid)
        if why is not None:
            return _error(404, "not.found", why)
        return _json({
            "conversation": {"id": cid, "selfUri": f"/api/v2/conversations/{cid}"},
            "sentimentScore": 0.0, "sentimentTrend": 0.0, "sentimentTrendClass": "NoChange",
            "participantMetrics": sta_percentages(plan),
        })

    # ------------------------------------------------------------------ directory

    def directory(self) -> dict[str, dict[str, str]]:
        """``{"users"|"queues"|"wrapupcodes": {id: name}}`` of the scenario."""
        srv = self._srv()
        users: dict[str, str] = {}
        queues: dict[str, str] = {}
        codes: dict[str, str] = dict(self.wrapup_names or {})
        for plan in srv.plans.values():
            for p in parties(plan):
                if p.user_id and p.purpose == "agent" and p.name:
                    users.setdefault(p.user_id, p.name)
                if p.queue_id and p.purpose == "acd" and p.name:
                    queues.setdefault(p.queue_id, p.name)
                if p.wrapup_code and self.wrapup_names is None:
                    codes.setdefault(p.wrapup_code, p.wrapup_code.replace("-", " ").capitalize())
        scen_users = sorted({p.user_id for p in srv.plans.values() if p.user_id})
        scen_queues = sorted({p.queue_id for p in srv.plans.values()})
        for i, u in enumerate(scen_users):
            users.setdefault(u, f"Agent {i + 1:03d}")
        for i, q in enumerate(scen_queues):
            queues.setdefault(q, f"Queue {i + 1:03d}")
        return {"users": users, "queues": queues, "wrapupcodes": codes}

    def _listing(self, request: web.Request, names: dict[str, str], kind: str) -> web.Response:
        wanted = request.query.getall("id", [])
        if len(wanted) > MAX_PAGE_SIZE:
            return _error(400, "bad.request", f"at most {MAX_PAGE_SIZE} ids per request")
        ids = [i for i in wanted if i in names] if wanted else sorted(names)
        args = _paging(request.query.get("pageSize"), request.query.get("pageNumber"))
        if isinstance(args, web.Response):
            return args
        size, number = args
        page = _slice(ids, size, number)
        path = request.path
        entities = []
        for i in page:
            e: Json = {"id": i, "name": names[i], "selfUri": f"{path}/{i}"}
            if kind == "users":
                e["state"] = "active"
            entities.append(e)
        total = len(ids)
        pages = max(1, -(-total // size))
        reply: Json = {"entities": entities, "pageSize": size, "pageNumber": number,
                       "total": total, "pageCount": pages,
                       "selfUri": f"{path}?pageSize={size}&pageNumber={number}",
                       "firstUri": f"{path}?pageSize={size}&pageNumber=1",
                       "lastUri": f"{path}?pageSize={size}&pageNumber={pages}"}
        if number < pages:
            reply["nextUri"] = f"{path}?pageSize={size}&pageNumber={number + 1}"
        return _json(reply)

    async def users(self, request: web.Request) -> web.Response:
        """``GET /api/v2/users``: UserEntityListing (needs no permission)."""
        token = self._auth(request)
        if isinstance(token, web.Response):
            return token
        return self._listing(request, self.directory()["users"], "users")

    async def queues(self, request: web.Request) -> web.Response:
        """``GET /api/v2/routing/queues``: QueueEntityListing."""
        token = self._auth(request, QUEUE_PERMISSION)
        if isinstance(token, web.Response):
            return token
        return self._listing(request, self.directory()["queues"], "queues")

    async def wrapup_codes(self, request: web.Request) -> web.Response:
        """``GET /api/v2/routing/wrapupcodes``: WrapupCodeEntityListing."""
        token = self._auth(request, WRAPUP_PERMISSION)
        if isinstance(token, web.Response):
            return token
        return self._listing(request, self.directory()["wrapupcodes"], "wrapupcodes")


def _paging(size: Any, number: Any, where: str = "") -> tuple[int, int] | web.Response:
    """``(pageSize, pageNumber)`` of a Genesys paged request (defaults 25 and 1), or the
    400 answer when they are not integers with ``pageSize`` 1-``MAX_PAGE_SIZE`` and
    ``pageNumber`` >= 1. ``where`` prefixes the field names (``"paging."`` in a body)."""
    try:
        n_size = int(25 if size is None else size)
        n_number = int(1 if number is None else number)
    except (TypeError, ValueError):
        return _error(400, "bad.request",
                      f"{where}pageSize and {where}pageNumber must be integers")
    if not 1 <= n_size <= MAX_PAGE_SIZE or n_number < 1:
        return _error(400, "bad.request",
                      f"{where}pageSize must be 1-{MAX_PAGE_SIZE}, {where}pageNumber >= 1")
    return n_size, n_number


def _slice(items: list[Any], size: int, number: int) -> list[Any]:
    """Page ``number`` (from 1) of ``items``, ``size`` items a page."""
    return items[(number - 1) * size: number * size]


async def _body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


def _parse_iso_ms(text: str) -> int:
    """Epoch ms of an ISO-8601 UTC time (``2026-11-24T09:00:00.000Z`` or ``...+00:00``)."""
    from datetime import datetime

    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("time zone missing (use Z)")
    return int(value.timestamp() * 1000)


__all__ = ["PERMISSIONS", "AnalyticsSim", "call_phases", "call_window", "conversation_details",
           "parties", "sta_percentages"]
