"""The simulator's wire shapes and state records: permissions, topics offered, error
bodies, and the client, token, channel and HTTP-fault records ``SimServer`` keeps.

Shapes follow the official SDK's models (``purecloudplatformclientv2`` 269): REST errors
are ``ErrorBody``, offered topics ``AvailableTopic``; OAuth errors carry ``error``,
``description`` and ``error_description``. Times in records are ``time.monotonic()``
seconds unless named ``*_wall`` (epoch seconds).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from diarkit.genesys import TopicKind

Json = dict[str, Any]

TRANSCRIPTION_PERMISSION = "conversation:transcription:view"
QUEUE_PERMISSION = "routing:queue:view"
#: Permissions a default simulator client holds.
DEFAULT_PERMISSIONS = frozenset({TRANSCRIPTION_PERMISSION, QUEUE_PERMISSION,
                                 "speechAndTextAnalytics:data:view"})
#: The permission each subscribable topic kind needs; a kind not listed is not offered
#: (subscribing it is refused as unknown: 400, or ``Rejected`` with ignoreErrors).
TOPIC_PERMISSIONS: dict[TopicKind, tuple[str, ...]] = {
    TopicKind.TRANSCRIPTION: (TRANSCRIPTION_PERMISSION,),
    TopicKind.QUEUE_CALLS: (QUEUE_PERMISSION,),
    TopicKind.USER_CALLS: (),
}


def _available(template: str, description: str, permissions: tuple[str, ...]) -> Json:
    """One ``AvailableTopic`` entity (SDK model field names)."""
    return {"id": template, "description": description,
            "requiresPermissions": list(permissions), "requiresDivisionPermissions": False,
            "requiresAnyValidator": False, "enforced": bool(permissions),
            "visibility": "Public", "requiresCurrentUser": False,
            "requiresCurrentUserOrPermission": False, "transports": ["All"],
            "topicParameters": ["id"], "schema": {"type": "object"}}


#: ``GET /api/v2/notifications/availabletopics`` entities: the topics the simulator serves.
AVAILABLE_TOPICS: list[Json] = [
    _available("v2.conversations.{id}.transcription",
               "Real-time transcription of a conversation", (TRANSCRIPTION_PERMISSION,)),
    _available("v2.routing.queues.{id}.conversations.calls",
               "Call conversations routed to a queue", (QUEUE_PERMISSION,)),
    _available("v2.users.{id}.conversations.calls", "Call conversations of a user", ()),
]
HEARTBEAT_TEXT = '{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}'
PONG_TEXT = '{"topicName":"channel.metadata","eventBody":{"message":"pong"}}'
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008

@dataclass
class Client:
    """A configured OAuth client (client-credentials grant)."""

    client_id: str
    client_secret: str
    permissions: frozenset[str]
    #: Ids (queues, users, conversations) outside the client's divisions: their topics
    #: are refused with the permission they need, as a division-scoped role does.
    hidden_ids: frozenset[str] = frozenset()


@dataclass
class Token:
    """An issued access token; ``expires_at`` is ``time.monotonic()`` seconds."""

    access_token: str
    token_id: str
    client_id: str
    expires_at: float
    revoked: bool = False
    #: Its channels were stopped (expired or revoked).
    ended: bool = False


@dataclass
class Channel:
    """A notification channel; ``expires_at`` and ``last_used`` are ``time.monotonic()`` s.

    ``last_used`` moves on creation, every subscription change and every socket connect
    or disconnect; the channel limit evicts by it (unconnected channels first).
    """

    id: str
    client_id: str
    token_id: str
    created: int
    expires_at: float
    expires_wall: float
    last_used: float = field(default_factory=time.monotonic)
    topics: dict[str, None] = field(default_factory=dict)
    ws: web.WebSocketResponse | None = None
    transport: asyncio.Transport | None = None
    heartbeats: bool = True
    corrupt_next: deque[str] = field(default_factory=deque)


@dataclass
class HttpFaults:
    """Pending HTTP faults: counts of next requests to fail or slow down."""

    too_many: int = 0
    retry_after_s: int = 2
    too_many_path: str | None = None
    server_errors: int = 0
    server_error_status: int = 503
    server_error_method: str | None = None
    server_error_path: str | None = None
    slow: int = 0
    slow_s: float = 0.0


def error_body(status: int, code: str, message: str,
               params: dict[str, str] | None = None) -> Json:
    """The Genesys Cloud REST error body (SDK ``ErrorBody``).

    ``message``, ``code``, ``status``, ``contextId``, ``details``, ``errors``; with
    ``params``, also ``messageWithParams`` (``{name}`` placeholders) and ``messageParams``.
    """
    body: Json = {"message": message, "code": code, "status": status,
                  "contextId": str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
                  "details": [], "errors": []}
    if params:
        template = message
        for key, value in params.items():
            template = template.replace(value, "{" + key + "}")
        body["messageWithParams"] = template
        body["messageParams"] = dict(params)
    return body


def oauth_error(error: str, description: str) -> Json:
    """An OAuth error body: ``error``, ``description`` and ``error_description``."""
    return {"error": error, "description": description, "error_description": description}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
           params: dict[str, str] | None = None) -> web.Response:
    return _json(error_body(status, code, message, params), status, headers)


def corrupt(text: str, kind: str) -> str:
    """A broken version of ``text``: ``truncated`` (cut in half) or ``malformed``.

    ``malformed`` stays valid JSON but ``eventBody`` is a string, so the frame fails
    protocol validation rather than JSON decoding; ``garbage`` is not JSON at all.
    """
    if kind == "truncated":
        return text[: max(1, len(text) // 2)]
    if kind == "garbage":
        return "\x00garbage " + text[:40]
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text[: len(text) // 2]
    if isinstance(doc, dict):
        doc["eventBody"] = "<<corrupted>>"
    return orjson.dumps(doc).decode()


def _form_str(form: Any, key: str) -> str | None:
    value = form.get(key)
    return value if isinstance(value, str) else None
