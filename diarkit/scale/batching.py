"""Batch follow mode's subscription changes within the API's limits (pure: no I/O, no clock).

Follow mode subscribes each new call's transcription topic and drops it when the call
ends. Sent one request per change, 5,000 concurrent calls of 6 minutes cost ~1,670
requests a minute, 5.6x the 300 per minute a client-credentials token may send
(DESIGN.md section 1). :class:`SubscriptionBatcher` plans the same changes as at most one
``PUT .../channels/{id}/subscriptions`` (the channel's whole topic list, adds and drops
together) per channel per ``window_s``, spreads topics over channels (1,000 each) and
channels over OAuth clients (20 each), and never lets one client's token exceed
``headroom`` x 300 requests in any 60-second window. A client keeps at most as many
channels as its budget can flush every window (``headroom`` x 300 x ``window_s`` / 60,
and at most 20); the next client takes the further channels.

It only decides: the caller (the capture's follow mode) feeds it ``add``/``drop`` with
its own clock and sends what :meth:`SubscriptionBatcher.due` returns. :func:`simulate`
drives it with a seeded call arrival process on a virtual clock and reports the request
rates and subscription delays it achieves (``diarkit.scale.batching.simulate``; the
figures are in ``docs/eventbridge.md``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field

#: Genesys Cloud limits (DESIGN.md section 1).
REQUESTS_PER_MIN = 300
TOPICS_PER_CHANNEL = 1_000
CHANNELS_PER_CLIENT = 20


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """One ``PUT`` replacing channel ``channel``'s topic list, sent with client ``client``.

    Attributes:
        at_s: when it is due (the caller's clock, seconds).
        client: index of the OAuth client (token) that sends it.
        channel: index of the channel (global, in creation order).
        topics: conversation ids subscribed on the channel after the request.
        added: conversation ids this request subscribes.
        dropped: conversation ids this request drops.
    """

    at_s: float
    client: int
    channel: int
    topics: frozenset[str]
    added: frozenset[str]
    dropped: frozenset[str]


@dataclass(slots=True)
class _Channel:
    index: int
    client: int
    topics: set[str] = field(default_factory=set)
    adds: set[str] = field(default_factory=set)
    drops: set[str] = field(default_factory=set)
    pending_since: float | None = None

    @property
    def load(self) -> int:
        """Topic slots taken, counting pending adds (drops free a slot once sent)."""
        return len(self.topics) + len(self.adds)


class SubscriptionBatcher:
    """Plans batched subscription requests per channel under a per-token rate limit.

    Args:
        window_s: a channel's changes wait at most this long to be sent together (s).
        requests_per_min: the API limit per client-credentials token.
        headroom: share of the limit the plan may use (retries and bursts get the rest).
        topics_per_channel: topics one channel may hold.
        channels_per_client: channels one OAuth client may hold.
    """

    def __init__(
        self,
        *,
        window_s: float = 2.0,
        requests_per_min: int = REQUESTS_PER_MIN,
        headroom: float = 0.8,
        topics_per_channel: int = TOPICS_PER_CHANNEL,
        channels_per_client: int = CHANNELS_PER_CLIENT,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive seconds, got {window_s}")
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom}")
        self.window_s = window_s
        self.budget = max(1, math.floor(requests_per_min * headroom))
        self.topics_per_channel = topics_per_channel
        # a channel sends at most 60 / window_s requests a minute: a client keeps only as
        # many channels as its budget can flush every window (and never more than 20)
        self.channels_per_client = max(
            1, min(channels_per_client, math.floor(self.budget * window_s / 60.0))
        )
        self.channels: list[_Channel] = []
        self._where: dict[str, _Channel] = {}
        self._sent: list[deque[float]] = []  # per client: send times in the last 60 s

    @property
    def clients(self) -> int:
        """OAuth clients in use."""
        return len(self._sent)

    def _rate(self, client: int, now: float) -> int:
        sent = self._sent[client]
        while sent and sent[0] <= now - 60.0:
            sent.popleft()
        return len(sent)

    def _channel_for_new_topic(self, now: float) -> _Channel:
        free = [c for c in self.channels if c.load < self.topics_per_channel]
        if free:
            # the emptiest channel whose client still has budget; else the emptiest
            ok = [c for c in free if self._rate(c.client, now) < self.budget]
            return min(ok or free, key=lambda c: (c.load, c.index))
        client = next(
            (
                k
                for k in range(self.clients)
                if sum(c.client == k for c in self.channels) < self.channels_per_client
                and self._rate(k, now) < self.budget
            ),
            None,
        )
        if client is None:
            self._sent.append(deque())
            client = self.clients - 1
        channel = _Channel(len(self.channels), client)
        self.channels.append(channel)
        return channel

    def add(self, conversation_id: str, now: float) -> None:
        """A new call: its topic joins a channel with the next request of that channel."""
        if conversation_id in self._where:
            return
        channel = self._channel_for_new_topic(now)
        channel.adds.add(conversation_id)
        channel.drops.discard(conversation_id)
        if channel.pending_since is None:
            channel.pending_since = now
        self._where[conversation_id] = channel

    def drop(self, conversation_id: str, now: float) -> None:
        """A call ended: its topic leaves its channel with the next request of that channel."""
        channel = self._where.pop(conversation_id, None)
        if channel is None:
            return
        if conversation_id in channel.adds:  # never sent: nothing to undo
            channel.adds.discard(conversation_id)
            if not channel.adds and not channel.drops:
                channel.pending_since = None
            return
        channel.drops.add(conversation_id)
        if channel.pending_since is None:
            channel.pending_since = now

    def next_due(self) -> float | None:
        """When the earliest pending change must be sent (its arrival + ``window_s``)."""
        times = [c.pending_since for c in self.channels if c.pending_since is not None]
        return min(times) + self.window_s if times else None

    def due(self, now: float) -> list[SubscriptionRequest]:
        """The requests to send now: channels whose oldest change waited ``window_s``.

        A channel whose client has no budget left in the current 60-second window waits
        (its changes keep accumulating into one request).
        """
        out = []
        for c in self.channels:
            if c.pending_since is None or now - c.pending_since < self.window_s:
                continue
            if self._rate(c.client, now) >= self.budget:
                continue
            c.topics |= c.adds
            c.topics -= c.drops
            out.append(
                SubscriptionRequest(
                    now,
                    c.client,
                    c.index,
                    frozenset(c.topics),
                    frozenset(c.adds),
                    frozenset(c.drops),
                )
            )
            c.adds, c.drops, c.pending_since = set(), set(), None
            self._sent[c.client].append(now)
        return out


class RateMeter:
    """Requests sent with one token, counted per sliding 60-second window (pure: no clock).

    The capture records each subscription request (every attempt, retries included)
    with its monotonic time in seconds; :meth:`rate` is the count in the last 60 s and
    :attr:`max_per_min` the largest count any 60-second window held so far.

    Args:
        window_s: the window, seconds (60: a minute; against a simulator running
            ``speed`` times faster, ``60 / speed`` wall seconds are one simulated minute).
    """

    def __init__(self, window_s: float = 60.0) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive seconds, got {window_s}")
        self.window_s = window_s
        self._sent: deque[float] = deque()
        self.total = 0
        self.max_per_min = 0

    def record(self, now: float) -> None:
        """One request sent at ``now`` (seconds)."""
        self._sent.append(now)
        self.total += 1
        self.max_per_min = max(self.max_per_min, self.rate(now))

    def rate(self, now: float) -> int:
        """Requests sent in the ``window_s`` seconds up to ``now``."""
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        return len(self._sent)


@dataclass(frozen=True, slots=True)
class BatchingReport:
    """What :func:`simulate` measured (rates per token, delays in seconds)."""

    calls: int
    changes: int
    requests: int
    clients: int
    channels: int
    max_requests_per_min_per_client: int
    mean_requests_per_min: float
    unbatched_requests_per_min: float
    delay_p50_s: float
    delay_p99_s: float
    delay_max_s: float
    max_topics_per_channel: int


def simulate(
    concurrent_calls: int,
    handle_time_s: float,
    *,
    minutes: float = 20.0,
    window_s: float = 2.0,
    headroom: float = 0.8,
    seed: int = 1,
    tick_s: float = 0.1,
) -> BatchingReport:
    """Drive a :class:`SubscriptionBatcher` with calls on a virtual clock; measure it.

    Calls arrive as a Poisson process at ``concurrent_calls / handle_time_s`` per second
    and last an exponential time of mean ``handle_time_s``; the run starts at steady
    state (``concurrent_calls`` calls already in progress, subscribed at time 0) and
    lasts ``minutes``. The batcher is polled every ``tick_s`` seconds.

    Returns:
        Requests per minute per client (the maximum over every 60-second window and the
        mean), the unbatched rate (one request per change) for comparison, and the delay
        from a call's start to the request subscribing it (p50, p99, max; seconds).
    """
    rng = random.Random(seed)
    rate = concurrent_calls / handle_time_s
    batcher = SubscriptionBatcher(window_s=window_s, headroom=headroom)
    events: list[tuple[float, int, str, str]] = []  # (time, order, kind, id)
    n = 0
    for _ in range(concurrent_calls):  # steady state: calls in progress at time 0
        cid = f"c{n}"
        n += 1
        batcher.add(cid, 0.0)
        heapq.heappush(events, (rng.expovariate(1 / handle_time_s), n, "drop", cid))
    initial = batcher.due(window_s)  # the initial subscription of the calls in progress
    end = minutes * 60.0
    t = window_s
    while t < end:
        t += rng.expovariate(rate)
        cid = f"c{n}"
        n += 1
        heapq.heappush(events, (t, n, "add", cid))
        heapq.heappush(events, (t + rng.expovariate(1 / handle_time_s), n, "drop", cid))
    started: dict[str, float] = {}
    delays: list[float] = []
    sends: list[tuple[float, int]] = [(window_s, r.client) for r in initial]
    changes = 0
    clock = window_s
    while clock < end:
        clock += tick_s
        while events and events[0][0] <= clock:
            at, _, kind, cid = heapq.heappop(events)
            if at > end:
                break
            changes += 1
            if kind == "add":
                started[cid] = at
                batcher.add(cid, at)
            else:
                batcher.drop(cid, at)
        for req in batcher.due(clock):
            sends.append((clock, req.client))
            delays.extend(clock - started.pop(c) for c in req.added if c in started)
    per_client_max = 0
    for k in range(batcher.clients):
        times = [s for s, c in sends if c == k]
        j = 0
        for i, s in enumerate(times):
            while times[j] <= s - 60.0:
                j += 1
            per_client_max = max(per_client_max, i - j + 1)
    delays.sort()

    def q(p: float) -> float:
        return delays[min(len(delays) - 1, int(p * len(delays)))] if delays else 0.0

    span_min = (end - window_s) / 60.0
    return BatchingReport(
        calls=n,
        changes=changes,
        requests=len(sends),
        clients=batcher.clients,
        channels=len(batcher.channels),
        max_requests_per_min_per_client=per_client_max,
        mean_requests_per_min=len(sends) / span_min,
        unbatched_requests_per_min=changes / span_min,
        delay_p50_s=q(0.5),
        delay_p99_s=q(0.99),
        delay_max_s=delays[-1] if delays else 0.0,
        max_topics_per_channel=max((len(c.topics) for c in batcher.channels), default=0),
    )
