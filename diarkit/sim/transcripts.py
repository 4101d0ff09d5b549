"""The simulator's post-call Speech & Text Analytics transcript endpoints.

Plain functions taking the ``SimServer`` (``SimServer.app()`` binds them):
``GET .../communications/{comm}/transcripturl`` (``{"url"}``), the plural
``.../transcripturls`` (SDK ``TranscriptUrls``; served only when no route installer,
such as ``diarkit.sim.analytics``, serves it) and the pre-signed document those URLs
point at (``/transcripts/{conv}/{comm}.json``, no auth, 403 once expired as S3 answers).
Kept apart from the notification endpoints because it is a different Genesys API (after
the call, not during it). The state they use lives on the server: ``plans``,
``finished``, ``transcript_gate``, ``url_ttl_s`` (wall seconds) and ``signed_urls``.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from .ground_truth import post_call_transcript
from .wire import _error, _json

if TYPE_CHECKING:
    from .server import SimServer

#: The post-call transcript endpoints' common path.
STA_COMMUNICATION = "/api/v2/speechandtextanalytics/conversations/{conv}/communications/{comm}"


async def transcript_urls(srv: SimServer, request: web.Request) -> web.Response:
    """``GET .../transcripturls`` (plural): SDK ``TranscriptUrls`` with one signed URL."""
    reply = await transcript_url(srv, request)
    if reply.status != 200:
        return reply
    url = orjson.loads(reply.body)["url"]  # type: ignore[arg-type]
    conv, comm = request.match_info["conv"], request.match_info["comm"]
    return _json({"conversation": {"id": conv, "selfUri": f"/api/v2/conversations/{conv}"},
                  "communicationId": comm, "urls": [{"url": url}]})


async def transcript_url(srv: SimServer, request: web.Request) -> web.Response:
    """``GET .../transcripturl``: ``{"url"}`` of a finished call's transcript, else 404.

    The URL is pre-signed and expires after ``url_ttl_s`` (600 s, as documented):
    the document then answers 403, as S3 does.
    """
    token = srv._authorize(request)
    if isinstance(token, web.Response):
        return token
    conv, comm = request.match_info["conv"], request.match_info["comm"]
    plan = srv.plans.get(conv)
    if plan is None or plan.communication_id != comm:
        return _error(404, "not.found", f"conversation {conv} communication {comm} not found")
    if conv not in srv.finished:
        return _error(404, "not.found",
                      f"no transcript yet: conversation {conv} has not finished")
    why = srv.transcript_gate(conv) if srv.transcript_gate is not None else None
    if why is not None:
        return _error(404, "not.found", why)
    key = secrets.token_urlsafe(24)
    srv.signed_urls[key] = (conv, time.monotonic() + srv.url_ttl_s)
    expires = int(time.time() + srv.url_ttl_s)
    return _json({"url": f"{srv.base_url}/transcripts/{conv}/{comm}.json"
                         f"?X-Amz-Expires={int(srv.url_ttl_s)}&Expires={expires}"
                         f"&Signature={key}"})


async def transcript_document(srv: SimServer, request: web.Request) -> web.Response:
    """The post-call transcript JSON a ``transcripturl`` points at (pre-signed: no auth)."""
    conv = request.match_info["conv"]
    signed = srv.signed_urls.get(request.query.get("Signature", ""))
    if signed is None or signed[0] != conv:
        return web.Response(status=403, text="AccessDenied: signature does not match")
    if time.monotonic() >= signed[1]:
        return web.Response(status=403, text="AccessDenied: Request has expired")
    plan = srv.plans.get(conv)
    if conv not in srv.finished or plan is None:
        return web.Response(status=404, text="NoSuchKey")
    return _json(post_call_transcript(plan))  # built on request: cheap, saves memory
