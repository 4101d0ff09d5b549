"""Follow mode's subscription batches and late-join bookkeeping; pure, no I/O, no clock.

``FollowBatcher`` holds what follow mode still has to send (new conversations to
subscribe, channels whose list to ``PUT`` again) and decides, when told the time
(seconds, any monotonic clock) and each OAuth client's request budget, whether a batch
is due and what it sends on which channel of which client (``take`` returns a
``FollowBatch``; the capture does the requests). It also keeps the ``late_join`` gaps of
followed calls: the call's start (epoch microseconds, from its first call event) until
the subscription is in place on its channel (``close_late_joins``), or, for a call that
never got a subscription, until now (``missed_gap``).

Not thread-safe: the capture calls it under its lock where worker threads also reach it
(``note_start``, ``drop_unfollowed``, ``take``, ``take_pending``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from diarkit.genesys import transcription_topic

from .follow import TopicPlan
from .stats import Gap

LATE_JOIN = "late_join"


def missed_gap(conversation_id: str, begun_us: int | None, now_us: int) -> Gap:
    """The closed ``late_join`` gap of a followed call that got no subscription.

    Args:
        conversation_id: the call's conversation id.
        begun_us: the call's start (earliest participant time of its call event), epoch
            microseconds, or None when unknown.
        now_us: now, epoch microseconds: the gap's end.

    Returns:
        A gap from the call's start (``now_us`` when unknown or not before it) to
        ``now_us``, on no channel: nothing replays the missed events, the gap makes the
        call a back-fill candidate.
    """
    start = begun_us if begun_us is not None and begun_us < now_us else now_us
    return Gap(start, LATE_JOIN, "", [conversation_id], now_us)


@dataclass(frozen=True, slots=True)
class FollowBatch:
    """What one batch sends (the capture makes the requests, in this order).

    Attributes:
        refused: ``(topic, reason)`` of conversations no channel could take (every
            channel of every client full).
        fresh: indexes of new channels, each created subscribed to its whole list.
        updates: ``(index, topics)`` of existing channels, by index: ``topics`` to
            ``POST``, or None to ``PUT`` the channel's whole list (topics also left it).
    """

    refused: tuple[tuple[str, str], ...] = ()
    fresh: tuple[int, ...] = ()
    updates: tuple[tuple[int, list[str] | None], ...] = ()


@dataclass(slots=True)
class FollowBatcher:
    """Follow mode's pending subscription changes, sent as one request per channel.

    Batches go out at most once every ``batch_s`` seconds: a change after a quiet period
    goes at once, later ones gather until the window since the last batch is over.

    Args:
        batch_s: seconds between two batches (``options.follow_batch_s``).
    """

    batch_s: float = 0.5
    #: new conversations waiting for a batch, in arrival order
    pending_adds: list[str] = field(default_factory=list)
    #: channels (by index) whose whole list waits to be PUT again
    pending_puts: set[int] = field(default_factory=set)
    #: when the oldest waiting change arrived (None: nothing waits)
    batch_since: float | None = None
    last_flush: float = float("-inf")
    #: followed conversation -> its call's start, epoch µs (until placed on a channel)
    _late: dict[str, int] = field(default_factory=dict)
    #: late joins placed on a channel that does not have them yet, by channel index
    _unsynced: dict[int, list[tuple[str, int]]] = field(default_factory=dict)

    def note_start(self, conversation_id: str, begun_us: int) -> None:
        """Remember when a newly followed call started (epoch µs): its late join's start."""
        self._late[conversation_id] = begun_us

    def subscribe(self, conversation_id: str, now: float) -> None:
        """Queue a new conversation for the next batch (``now`` in seconds)."""
        self.pending_adds.append(conversation_id)
        if self.batch_since is None:
            self.batch_since = now

    def resync(self, index: int, now: float) -> None:
        """Queue channel ``index`` for a ``PUT`` of its whole list (topics left it)."""
        self.pending_puts.add(index)
        if self.batch_since is None:
            self.batch_since = now

    def drop_unfollowed(self, following: Callable[[str], bool]) -> list[tuple[str, int | None]]:
        """Take the waiting conversations no longer followed (their call ended first).

        Returns:
            ``(conversation_id, call start in epoch µs or None)`` of each: calls that got
            no subscription, to record with ``missed_gap``.
        """
        if not self.pending_adds:
            return []
        keep: list[str] = []
        gone: list[tuple[str, int | None]] = []
        for cid in self.pending_adds:
            if following(cid):
                keep.append(cid)
            else:
                gone.append((cid, self._late.pop(cid, None)))
        if gone:
            self.pending_adds = keep
            if not self.pending_adds and not self.pending_puts:
                self.batch_since = None
        return gone

    def due(self, now: float) -> bool:
        """True when a change waits and ``batch_s`` seconds passed since the last batch."""
        return self.batch_since is not None and now - self.last_flush >= self.batch_s

    def take(self, now: float, room: Sequence[float], plan: TopicPlan) -> FollowBatch | None:
        """Plan the batch due now: place new conversations on channels, pick the PUTs.

        Each OAuth client (by index) may send ``room[k]`` more subscription requests now;
        a batch touches only as many of a client's channels (one request each, a new
        channel counting one) as that allows. New conversations go to the first channel
        with room whose client may still send (``TopicPlan.place``), else to a new
        channel of the client with the fewest channels that may; what does not fit
        waits for the next batch, as do the PUTs of clients without room.

        Args:
            now: seconds, the same clock as ``subscribe``.
            room: requests each client may still send in its rate window.
            plan: the channels and their topics (updated in place).

        Returns:
            The batch, or None when none is due or no client has room (changes wait).
        """
        if not self.due(now) or not room or max(room) < 1:
            return None
        left = list(room)
        adds, self.pending_adds = self.pending_adds, []
        puts, self.pending_puts = self.pending_puts, set()
        touched: set[int] = set()

        def can_use(index: int) -> bool:
            if index in touched:
                return True
            owner = plan.owner(index)
            if left[owner] < 1:
                return False
            left[owner] -= 1
            touched.add(index)
            return True

        def can_open(client: int) -> bool:
            if left[client] < 1:
                return False
            left[client] -= 1
            return True

        refused: list[tuple[str, str]] = []
        placed: dict[int, list[str]] = {}
        fresh: list[int] = []
        waiting: list[str] = []
        for cid in adds:
            topic = transcription_topic(cid)
            try:
                where = plan.place(topic, can_use=can_use, can_open=can_open)
            except ValueError as exc:  # every channel full: report it, keep the rest
                refused.append((topic, str(exc)))
                continue
            if where is None:  # no budget left this batch
                waiting.append(cid)
                continue
            index, is_new = where
            if is_new:
                fresh.append(index)
                touched.add(index)
            placed.setdefault(index, []).append(cid)
        for index in sorted(puts):
            if index not in touched and not can_use(index):
                self.pending_puts.add(index)  # its client has no budget left
        self.pending_adds = waiting
        self.batch_since = now if (self.pending_adds or self.pending_puts) else None
        if touched:
            self.last_flush = now
        for index, cids in placed.items():
            late = [(c, b) for c in cids if (b := self._late.pop(c, None)) is not None]
            if late:
                self._unsynced.setdefault(index, []).extend(late)
        updates = tuple(
            (index, None if index in puts else [transcription_topic(c) for c in placed[index]])
            for index in sorted(touched) if index not in fresh
        )
        return FollowBatch(tuple(refused), tuple(fresh), updates)

    @property
    def unsynced(self) -> bool:
        """True while a late join waits for its channel to have the subscription."""
        return bool(self._unsynced)

    def close_late_joins(self, in_place: Callable[[int], str | None], now_us: int, *,
                         stopping: bool = False) -> list[Gap]:
        """The ``late_join`` gaps of calls whose channel now has their subscription.

        A gap ends when the subscription is in place (a new channel connected and
        subscribed, a failed update re-sent), not when the batch was planned. At stop
        (``stopping``), what is left is closed as it is (never subscribed: the gap
        covers those calls).

        Args:
            in_place: channel index -> the channel id when its subscriptions are in
                place, else None (at stop: the channel id, or "" without a channel).
            now_us: now, epoch microseconds: the gaps' end.
            stopping: the capture is stopping: close every gap left.

        Returns:
            The closed gaps (a call that started at or after ``now_us`` gets none,
            unless stopping).
        """
        gaps: list[Gap] = []
        for index in list(self._unsynced):
            channel = in_place(index)
            if channel is None and not stopping:
                continue
            for cid, begun in self._unsynced.pop(index):
                if begun < now_us or stopping:
                    gaps.append(Gap(min(begun, now_us), LATE_JOIN, channel or "", [cid],
                                    now_us))
        return gaps

    def take_pending(self) -> list[tuple[str, int | None]]:
        """At stop: the conversations never subscribed, with their call start (µs or None)."""
        out = [(cid, self._late.pop(cid, None)) for cid in self.pending_adds]
        self.pending_adds = []
        return out


__all__ = ["LATE_JOIN", "FollowBatch", "FollowBatcher", "missed_gap"]
