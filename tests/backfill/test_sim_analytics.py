"""The simulator's analytics, STA metrics, directory and transcript-URL endpoints, read with
the official SDK's models (conformance) over a real 127.0.0.1 socket."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from diarkit.capture.analytics import AnalyticsError, JobFailedError
from diarkit.sim.analytics import AnalyticsSim, call_phases, call_window
from diarkit.sim.ground_truth import truth_utterances

from .bfhelp import analytics_sim, client_of, conform

pytestmark = pytest.mark.timeout(120)
DETAILS = "/api/v2/analytics/conversations/details"


@pytest.fixture(scope="module")
def org():
    asim = AnalyticsSim(job_page_size=2, never=frozenset(), job_queued_s=0.05,
                        job_pending_s=0.05)
    sim = analytics_sim(asim, conversations=5, speed=200.0, call_duration_s=(20.0, 30.0),
                        stagger_s=1.0)
    asim.never = frozenset({sim.conversation_ids[-1]})
    sim.start()
    sim.start_conversations()
    assert sim.wait_for_conversations_done(60)
    with client_of(sim) as client:
        yield sim, asim, client
    sim.stop()


def raw(client, method, path, **kw):
    headers = {"Authorization": f"Bearer {client.tokens.token()}"}
    return httpx.request(method, client.api_base + path, headers=headers, timeout=10, **kw)


def interval(sim):
    t0 = min(p.session_start_epoch_ms for p in sim.scenario.plans)
    start = datetime.fromtimestamp(t0 / 1000, UTC) - timedelta(hours=1)
    return (start, start + timedelta(hours=3))


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_details_query_conforms_and_matches_ground_truth(org):
    sim, _asim, client = org
    lo, hi = interval(sim)
    ids = sim.conversation_ids
    body = {"interval": f"{iso(lo)}/{iso(hi)}", "paging": {"pageSize": 2, "pageNumber": 1},
            "conversationFilters": [{"type": "or", "predicates": [
                {"dimension": "conversationId", "value": i} for i in ids]}]}
    r = raw(client, "POST", f"{DETAILS}/query", json=body)
    assert r.status_code == 200
    page = conform(r.json(), "AnalyticsConversationQueryResponse")
    assert page.total_hits == len(ids) and len(page.conversations) == 2
    result = client.details(ids, (lo, hi), mode="query", page_size=2)
    assert sorted(c["conversationId"] for c in result.conversations) == sorted(ids)
    assert result.requests == 3  # three pages of two
    for c in result.conversations:
        conv = conform(c, "AnalyticsConversationWithoutAttributes")
        plan = next(p for p in sim.scenario.plans if p.conversation_id == c["conversationId"])
        w0, w1 = call_window(plan)
        assert (conv.conversation_end - conv.conversation_start).total_seconds() == (
            (w1 - w0) / 1000)
        agent = [p for p in conv.participants if p.purpose == "agent"]
        metrics = {m.name: m.value for p in agent for s in p.sessions for m in s.metrics}
        held = sum(e - s for s, e in call_phases(plan)["hold"])
        assert metrics["tHeld"] == held
        assert metrics["tHandle"] == metrics["tTalk"] + metrics["tHeld"] + metrics["tAcw"]
    bad = raw(client, "POST", f"{DETAILS}/query", json={"paging": {"pageSize": 5}})
    assert bad.status_code == 400 and "interval" in bad.json()["message"]
    # one paging rule for the details query and the directory listings: 400 and why
    good = {"interval": f"{iso(lo)}/{iso(hi)}"}
    for paging, why in (({"pageSize": 0}, "paging.pageSize must be 1-100"),
                        ({"pageSize": 101}, "paging.pageSize must be 1-100"),
                        ({"pageNumber": 0}, "paging.pageNumber >= 1"),
                        ({"pageSize": "x"}, "must be integers")):
        bad = raw(client, "POST", f"{DETAILS}/query", json={**good, "paging": paging})
        assert bad.status_code == 400 and why in bad.json()["message"], bad.text
    for params, why in (({"pageSize": 0}, "pageSize must be 1-100"),
                        ({"pageNumber": "two"}, "must be integers")):
        bad = raw(client, "GET", "/api/v2/routing/queues", params=params)
        assert bad.status_code == 400 and why in bad.json()["message"], bad.text
    second = raw(client, "GET", "/api/v2/routing/queues", params={"pageSize": 1,
                                                                  "pageNumber": 2}).json()
    assert second["pageNumber"] == 2 and len(second["entities"]) == 1


def test_async_jobs_conform_page_with_a_cursor_and_are_deleted(org):
    sim, asim, client = org
    lo, hi = interval(sim)
    # each state lasts 2 s, so a poll on a loaded machine (one took > 0.5 s) still sees it
    asim.job_queued_s = asim.job_pending_s = 2.0
    r = raw(client, "POST", f"{DETAILS}/jobs", json={"interval": f"{iso(lo)}/{iso(hi)}"})
    assert r.status_code == 202
    job = conform(r.json(), "AsyncQueryResponse").job_id
    states = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st = conform(raw(client, "GET", f"{DETAILS}/jobs/{job}").json(), "AsyncQueryStatus")
        states.append(st.state)
        if st.state == "FULFILLED":
            break
        time.sleep(0.01)
    order = ["QUEUED", "PENDING", "FULFILLED"]
    assert states[0] == "QUEUED" and states[-1] == "FULFILLED" and "PENDING" in states
    assert [order.index(x) for x in states] == sorted(order.index(x) for x in states)
    asim.job_queued_s = asim.job_pending_s = 0.05
    early = raw(client, "GET", f"{DETAILS}/jobs/{job}/results")
    page = conform(early.json(), "AnalyticsConversationAsyncQueryResponse")
    assert len(page.conversations) == 2 and page.cursor
    ids = sim.conversation_ids
    result = client.details(ids, (lo, hi), mode="job", page_size=2)
    assert result.mode == "job"
    assert sorted(c["conversationId"] for c in result.conversations) == sorted(ids)
    assert all(j.deleted for j in asim.jobs.values() if j.job_id != job)
    assert raw(client, "DELETE", f"{DETAILS}/jobs/{job}").status_code == 204
    assert raw(client, "GET", f"{DETAILS}/jobs/{job}").status_code == 404
    asim.fail_jobs = 1
    with pytest.raises(JobFailedError, match="FAILED"):
        client.details(ids, (lo, hi), mode="job")
    assert all(j.deleted for j in asim.jobs.values())


def test_sta_metrics_directory_and_transcript_urls_conform(org):
    sim, _asim, client = org
    finished = [p for p in sim.scenario.plans if p.conversation_id != sim.conversation_ids[-1]]
    plan = next(p for p in finished if call_phases(p)["ivr"] and p.agent_connect_ms)
    cid = plan.conversation_id
    m = conform(client.conversation_metrics(cid), "ConversationMetrics")
    pm = m.participant_metrics
    total = (pm.agent_duration_percentage + pm.customer_duration_percentage
             + pm.silence_duration_percentage + pm.ivr_duration_percentage
             + pm.acd_duration_percentage + pm.overtalk_duration_percentage
             + pm.other_duration_percentage)
    assert total == pytest.approx(100.0)
    assert pm.ivr_duration_percentage > 0 and pm.agent_duration_percentage > 0
    assert client.conversation_metrics(sim.conversation_ids[-1]) is None  # never ready
    sta = "/api/v2/speechandtextanalytics/conversations"
    one = raw(client, "GET", f"{sta}/{cid}/communications/{plan.communication_id}/transcripturl")
    conform(one.json(), "TranscriptUrl")
    many = raw(client, "GET",
               f"{sta}/{cid}/communications/{plan.communication_id}/transcripturls")
    urls = conform(many.json(), "TranscriptUrls")
    doc = httpx.get(urls.urls[0].url, timeout=10).json()
    assert len(doc["transcripts"][0]["phrases"]) == len(truth_utterances(plan))
    for kind, klass in (("users", "UserEntityListing"), ("queues", "QueueEntityListing"),
                        ("wrapupcodes", "WrapupCodeEntityListing")):
        path = {"users": "/api/v2/users", "queues": "/api/v2/routing/queues",
                "wrapupcodes": "/api/v2/routing/wrapupcodes"}[kind]
        listing = conform(raw(client, "GET", path, params={"pageSize": 2}).json(), klass)
        assert listing.page_size == 2 and listing.total >= 1
    names = client.names("users", [*sim.user_ids, "no-such-user"])
    assert set(names) == {p.user_id for p in sim.scenario.plans if p.user_id}
    assert all(names.values())
    queues = client.names("queues", sim.queue_ids)
    assert set(queues) == {p.queue_id for p in sim.scenario.plans}


def test_permissions_rate_limits_and_readiness(org):
    sim, asim, client = org
    sim.add_client("weak", "weak-secret", permissions={"conversation:transcription:view"})
    from diarkit.capture.analytics import AnalyticsClient
    from diarkit.capture.token import TokenSource

    with AnalyticsClient(sim.api_base, TokenSource(sim.login_base, "weak", "weak-secret"),
                         close_tokens=True) as weak:
        with pytest.raises(AnalyticsError, match="analytics:conversationDetail:view") as exc:
            weak.details(sim.conversation_ids, interval(sim), mode="query")
        assert exc.value.status == 403
        assert weak.names("users", sim.user_ids)  # GET /api/v2/users needs no permission
        with pytest.raises(AnalyticsError, match="403"):
            weak.names("wrapupcodes", ["billing-query"])
    # the 429s are for the users listing only: any other request the simulator serves
    # meanwhile (seen once on a loaded machine) must not take them
    sim.faults.rate_limit_next(1, retry_after_s=1, path="/api/v2/users")
    r = raw(client, "GET", "/api/v2/users")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json()["code"] == "too.many.requests.retry.after"
    before = client.rate_limited
    sim.faults.rate_limit_next(2, retry_after_s=1, path="/api/v2/users")
    t = time.monotonic()
    assert client.names("users", sim.user_ids)
    assert client.rate_limited == before + 2 and time.monotonic() - t >= 2.0
    # readiness: 404 until the delay after the call's end has passed
    cid = sim.conversation_ids[1]
    asim.late = {cid: 0.5}
    asim.finished_at.pop(cid, None)
    comm = sim.communication_id(cid)
    assert client.transcript_urls(cid, comm) is None
    time.sleep(0.6)
    assert client.transcript_urls(cid, comm)
