"""The simulator application's route table, and where each endpoint lives.

``diarkit.sim.server`` keeps the state and the route table; the handlers live in
``notifications``, ``streaming``, ``transcripts`` (``lifecycle`` holds the fault actions).
These tests build the real aiohttp application and read its router; what the endpoints
answer is tested over a socket in ``test_rest.py``, ``test_socket.py``, ``test_faults.py``.
"""

from __future__ import annotations

import pytest

from diarkit.sim import lifecycle, notifications, streaming, transcripts
from diarkit.sim.analytics import AnalyticsSim
from diarkit.sim.server import EXTRA_ROUTES, STA_COMMUNICATION, SimServer

CHANNELS = "/api/v2/notifications/channels"
SUBS = f"{CHANNELS}/{{cid}}/subscriptions"
#: (method, path) -> the function serving it.
ROUTES = {
    ("POST", "/oauth/token"): SimServer.oauth_token,
    ("GET", CHANNELS): notifications.list_channels,
    ("POST", CHANNELS): notifications.create_channel,
    ("HEAD", f"{CHANNELS}/{{cid}}"): notifications.head_channel,
    ("GET", SUBS): notifications.get_subscriptions,
    ("POST", SUBS): notifications.add_subscriptions,
    ("PUT", SUBS): notifications.replace_subscriptions,
    ("DELETE", SUBS): notifications.delete_subscriptions,
    ("GET", "/api/v2/notifications/availabletopics"): notifications.available_topics,
    ("GET", f"{STA_COMMUNICATION}/transcripturl"): transcripts.transcript_url,
    ("GET", f"{STA_COMMUNICATION}/transcripturls"): transcripts.transcript_urls,
    ("GET", "/transcripts/{conv}/{comm}.json"): transcripts.transcript_document,
    ("GET", "/channels/{cid}"): streaming.websocket,
}


def _served(server: SimServer) -> dict[tuple[str, str], object]:
    """(method, path) -> the function behind each route (GET's implicit HEAD left out)."""
    out: dict[tuple[str, str], object] = {}
    for route in server.app().router.routes():
        resource = route.resource
        assert resource is not None
        handler = route.handler
        func = getattr(handler, "func", None) or getattr(handler, "__func__", handler)
        out[(route.method, resource.canonical)] = func
    return {(method, path): func for (method, path), func in out.items()
            if method != "HEAD" or out.get(("GET", path)) is not func}


def test_every_endpoint_is_served_by_its_module() -> None:
    assert _served(SimServer(frames=[], plans=[])) == ROUTES


def test_an_installer_serving_the_plural_transcript_urls_keeps_it() -> None:
    server = SimServer(frames=[], plans=[])
    analytics = AnalyticsSim()
    server.route_installers.append(analytics.install)
    served = _served(server)
    plural = ("GET", f"{STA_COMMUNICATION}/transcripturls")
    assert getattr(served[plural], "__name__", "") == "transcript_urls"
    assert served[plural] is not transcripts.transcript_urls  # the installer's, not ours
    assert server.transcript_gate == analytics.not_ready
    assert {k: v for k, v in served.items() if k in ROUTES and k != plural} == {
        k: v for k, v in ROUTES.items() if k != plural}


def test_extra_routes_run_for_every_server() -> None:
    seen: list[SimServer] = []
    EXTRA_ROUTES.append(lambda _router, server: seen.append(server))
    try:
        a, b = SimServer(frames=[], plans=[]), SimServer(frames=[], plans=[])
        a.app()
        b.app()
    finally:
        EXTRA_ROUTES.pop()
    assert seen == [a, b]


@pytest.mark.parametrize("name", ["run_schedule", "firehose", "watch_expiry", "drop",
                                  "socket_closing", "revoke", "expire", "targets"])
def test_the_loop_entry_points_stay_on_the_server(name: str) -> None:
    # diarkit.sim.Simulator and diarkit.sim.faults call these on the server object
    assert callable(getattr(SimServer, name))
    module = streaming if name in ("run_schedule", "firehose") else lifecycle
    assert callable(getattr(module, name))


def test_every_name_importers_use_is_still_exported() -> None:
    from diarkit.sim import server

    for name in ("AVAILABLE_TOPICS", "DEFAULT_PERMISSIONS", "EXTRA_ROUTES", "QUEUE_PERMISSION",
                 "TOPIC_PERMISSIONS", "TRANSCRIPTION_PERMISSION", "Channel", "Client",
                 "HttpFaults", "RouteInstaller", "SimServer", "Token", "corrupt", "error_body",
                 "oauth_error", "STA_COMMUNICATION", "_error", "_json"):
        assert hasattr(server, name), name
        if not name.startswith("_") and name != "STA_COMMUNICATION":
            assert name in server.__all__, name
