"""Fault triggers of a running simulator, and the ``KIND@SECONDS`` fault-plan syntax.

Every trigger runs on the simulator's event loop, is logged to ``diarkit.sim`` and
recorded in ``Simulator.fault_log``. Seconds are wall-clock seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import SimServer

#: Fault kinds accepted by ``Faults.trigger`` and in ``KIND[:N]@SECONDS`` plans.
FAULT_KINDS = (
    "drop", "socket_closing", "stop_heartbeats", "resume_heartbeats", "truncated", "malformed",
    "garbage", "revoke", "expire", "evict", "429", "5xx", "slow",
)
#: Kinds the seeded random (chaos) mode picks from.
CHAOS_KINDS = ("drop", "socket_closing", "truncated", "malformed", "429", "5xx", "slow")


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """A fault to trigger ``at_s`` wall seconds after the conversations start."""

    at_s: float
    kind: str
    count: int = 1


def parse_fault_spec(spec: str) -> PlannedFault:
    """Parse ``KIND[:N]@SECONDS`` (e.g. ``drop@30``, ``429:3@10``) into a ``PlannedFault``.

    Raises:
        ValueError: unknown kind, bad count or bad seconds, naming the spec.
    """
    head, sep, at = spec.partition("@")
    kind, _, count = head.partition(":")
    if not sep or kind not in FAULT_KINDS:
        raise ValueError(f"bad fault {spec!r}: expected KIND[:N]@SECONDS with KIND one of "
                         f"{', '.join(FAULT_KINDS)}")
    try:
        at_s = float(at)
        n = int(count) if count else 1
    except ValueError:
        raise ValueError(f"bad fault {spec!r}: N must be an integer, SECONDS a number") from None
    if at_s < 0 or n < 1:
        raise ValueError(f"bad fault {spec!r}: SECONDS must be >= 0 and N >= 1")
    return PlannedFault(at_s, kind, n)


class Faults:
    """Fault triggers of one simulator (``sim.faults``); each call blocks until applied.

    ``channel_id=None`` means every channel with a connected socket.
    """

    def __init__(self, server: SimServer, run: Callable[[Any], Any], seed: int) -> None:
        self._server = server
        self._run = run
        self.rng = random.Random(f"faults-{seed}")

    async def _channel_lists(self) -> tuple[list[str], list[str]]:
        """All channel ids and those with a socket, read on the server loop (sorted)."""
        chans = self._server.channels
        return sorted(chans), sorted(c.id for c in chans.values() if c.ws is not None)

    def drop_socket(self, channel_id: str | None = None) -> int:
        """Abort sockets abruptly (no close frame); returns how many."""
        return int(self._run(self._server.drop(channel_id)))

    def socket_closing(self, channel_id: str | None = None, close_after_s: float = 1.0) -> int:
        """Send ``v2.system.socket_closing``, then close (1000) after ``close_after_s``."""
        return int(self._run(self._server.socket_closing(channel_id, close_after_s)))

    def stop_heartbeats(self, channel_id: str | None = None) -> None:
        """Stop heartbeats (on one channel, or everywhere) until ``resume_heartbeats``."""
        self._run(self._set_heartbeats(channel_id, False))

    def resume_heartbeats(self, channel_id: str | None = None) -> None:
        """Resume heartbeats stopped by ``stop_heartbeats``."""
        self._run(self._set_heartbeats(channel_id, True))

    async def _set_heartbeats(self, channel_id: str | None, on: bool) -> None:
        s = self._server
        kind = "resume_heartbeats" if on else "stop_heartbeats"
        if channel_id is None:
            s.heartbeats_enabled = on
            for ch in s.channels.values():
                ch.heartbeats = True
            s.fault(kind, "all channels")
        else:
            s.targets(channel_id)[0].heartbeats = on
            s.fault(kind, f"channel {channel_id}")

    def corrupt_frames(self, n: int = 1, kind: str = "truncated",
                       channel_id: str | None = None) -> None:
        """Corrupt the next ``n`` event frames per channel: truncated, malformed or garbage."""
        if kind not in ("truncated", "malformed", "garbage"):
            raise ValueError(f"kind must be truncated, malformed or garbage, got {kind!r}")
        self._run(self._corrupt(n, kind, channel_id))

    async def _corrupt(self, n: int, kind: str, channel_id: str | None) -> None:
        for ch in self._server.targets(channel_id):
            ch.corrupt_next.extend([kind] * n)

    def revoke_token(self, access_token: str | None = None) -> list[str]:
        """Revoke a token (or all): ``token_revoked`` on its channels' sockets, close 1008."""
        return list(self._run(self._server.revoke(access_token)))

    def expire_channel(self, channel_id: str | None = None) -> int:
        """Expire a channel (or all) now: socket closed (1000), REST says 404."""
        return int(self._run(self._server.expire(channel_id, "expired")))

    def evict_channel(self, channel_id: str | None = None) -> int:
        """Evict a channel (or all) now, as the 21st channel would: closed (1000), 404."""
        return int(self._run(self._server.expire(channel_id, "evicted")))

    def rate_limit_next(self, n: int = 1, retry_after_s: int = 2,
                        path: str | None = None) -> None:
        """Answer the next ``n`` HTTP requests (only those whose path contains ``path``,
        when given) with 429 and ``Retry-After``."""
        self._run(self._http(too_many=n, retry_after_s=retry_after_s, too_many_path=path))

    def server_error_next(self, n: int = 1, status: int = 503, method: str | None = None,
                          path: str | None = None) -> None:
        """Answer the next ``n`` HTTP requests with a 5xx: only ``method`` ones, and only
        those whose path contains ``path`` (e.g. one channel's id), when given."""
        if not 500 <= status <= 599:
            raise ValueError(f"status must be a 5xx, got {status}")
        self._run(self._http(server_errors=n, server_error_status=status,
                             server_error_method=method.upper() if method else None,
                             server_error_path=path))

    def slow_responses(self, n: int = 1, delay_s: float = 2.0) -> None:
        """Delay the next ``n`` HTTP responses by ``delay_s`` seconds."""
        self._run(self._http(slow=n, slow_s=delay_s))

    async def _http(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self._server.http_faults, key, value)

    def trigger(self, kind: str, count: int = 1) -> str:
        """Apply one fault by kind name (see ``FAULT_KINDS``); returns a description.

        Channel-level faults pick one connected channel at random (seeded).
        """
        self._server.fault("trigger", f"{kind} x{count}")
        channels, connected = self._run(self._channel_lists())
        pick = self.rng.choice(connected) if connected else None
        if kind in ("drop", "socket_closing", "truncated", "malformed", "garbage", "expire",
                    "evict", "stop_heartbeats") and pick is None:
            target = self.rng.choice(channels) if channels and kind in ("expire", "evict") else None
            if target is None:
                self._server.fault(kind, "skipped: no channel to apply it to")
                return f"{kind}: no channel"
            pick = target
        if kind == "drop":
            self.drop_socket(pick)
        elif kind == "socket_closing":
            self.socket_closing(pick)
        elif kind == "stop_heartbeats":
            self.stop_heartbeats(pick)
        elif kind == "resume_heartbeats":
            self.resume_heartbeats()
        elif kind in ("truncated", "malformed", "garbage"):
            self.corrupt_frames(count, kind, pick)
        elif kind == "revoke":
            self.revoke_token()
        elif kind == "expire":
            self.expire_channel(pick)
        elif kind == "evict":
            self.evict_channel(pick)
        elif kind == "429":
            self.rate_limit_next(count)
        elif kind == "5xx":
            self.server_error_next(count)
        elif kind == "slow":
            self.slow_responses(count, 2.0)
        else:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        return f"{kind} x{count}" + (f" on {pick}" if pick else "")
