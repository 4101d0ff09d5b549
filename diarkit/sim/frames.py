"""Notification frames of planned calls: the exact wire text, in send order (pure).

``render_call`` turns one ``CallPlan`` into the text of every notification frame the
Genesys Cloud service would send about it (transcription partials and finals, session
status messages, queue/user conversation events), each stamped with its send time in
milliseconds from the scenario start. ``lazy_schedule`` plans a whole scenario's frames
without building their text; ``iter_frames`` and ``write_jsonl`` stream frames offline.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from diarkit.genesys import queue_calls_topic, transcription_topic, user_calls_topic

from .calls import (
    DEFAULT_EPOCH_MS,
    EARLIEST_FRAME_MS,
    GROUPINGS,
    CallPlan,
    PlannedParticipant,
    Scenario,
    SpokenUtterance,
    build_scenario,
    iso_ms,
    new_uuid,
    plan_nth,
)

#: Session status messages come at the start, then every 5 minutes (milliseconds).
STATUS_PERIOD_MS = 300_000
ENGINE = {
    "engineProvider": "GENESYS",
    "engineId": "r2d2",
    "engineName": "Genesys Native",
    "dialect": "en-US",
    "agentAssistEnabled": False,
    "voiceTranscriptionEnabled": True,
}


@dataclass(frozen=True, slots=True)
class ScheduledFrame:
    """One notification frame and when to send it (ms from the scenario start)."""

    at_ms: int
    topic: str
    correlation_id: str
    text: str
    conversation_id: str
    kind: str  # "transcription", "status" or "conversation"


# --------------------------------------------------------------------------- frames


_ISO_CACHE: dict[int, str] = {}


def _iso_cached(epoch_ms: int) -> str:
    seconds, ms = divmod(int(epoch_ms), 1000)
    prefix = _ISO_CACHE.get(seconds)
    if prefix is None:
        if len(_ISO_CACHE) > 100_000:
            _ISO_CACHE.clear()
        prefix = _ISO_CACHE[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{prefix}.{ms:03d}Z"


def _envelope(topic: str, correlation_id: str, body: dict[str, object]) -> str:
    return orjson.dumps(
        {"topicName": topic, "version": "2", "eventBody": body,
         "metadata": {"CorrelationId": correlation_id}}
    ).decode()


def _participant_at(p: PlannedParticipant, t: int, e0: int,
                    pauses: tuple[tuple[int, int], ...]) -> dict[str, object]:
    """Participant ``p`` as a call event at ``t`` (ms from session start) shows it.

    Fields follow the SDK's ``QueueConversationCallEventTopicCallMediaParticipant``; null
    fields are left out, as the service serialises them.
    """
    d: dict[str, object] = {"id": p.participant_id, "name": p.name}
    if p.address:
        d["address"] = p.address
    d["startTime"] = iso_ms(e0 + p.start_ms)
    connected = p.connected_ms is not None and t >= p.connected_ms
    if connected:
        d["connectedTime"] = iso_ms(e0 + p.connected_ms)  # type: ignore[operator]
    ended = t >= p.end_ms
    if ended:
        d["endTime"] = iso_ms(e0 + p.end_ms)
    hold = next(((s, e) for s, e in p.holds_ms if s <= t < e), None)
    if hold is not None:
        d["startHoldTime"] = iso_ms(e0 + hold[0])
    d["purpose"] = p.purpose
    d["state"] = "disconnected" if ended else "connected" if connected else p.initial_state
    d["initialState"] = p.initial_state
    d["direction"] = p.direction
    if ended:
        d["disconnectType"] = p.disconnect_type
    d["held"] = hold is not None
    if p.purpose == "agent":
        d["wrapupRequired"] = True
    if p.user_id:
        d["user"] = {"id": p.user_id, "name": p.user_name}
    if p.queue_id:
        d["queue"] = {"id": p.queue_id, "name": p.queue_name}
    if p.acw_end_ms is not None and ended:
        d["startAcwTime"] = iso_ms(e0 + p.end_ms)
        if t >= p.acw_end_ms:
            d["endAcwTime"] = iso_ms(e0 + p.acw_end_ms)
            d["wrapup"] = {"code": p.wrapup_code, "notes": p.wrapup_notes,
                           "durationSeconds": (p.acw_end_ms - p.end_ms) // 1000,
                           "endTime": iso_ms(e0 + p.acw_end_ms)}
    if p.purpose == "agent" and not ended:
        d["securePause"] = any(s <= t < e for s, e in pauses)
    if p.ani:
        d["ani"] = p.ani
    if p.dnis:
        d["dnis"] = p.dnis
    if p.consult_participant_id and p.consult_start_ms is not None and t >= p.consult_start_ms:
        d["consultParticipantId"] = p.consult_participant_id
    return d


def conversation_events(plan: CallPlan) -> list[tuple[int, dict[str, object], tuple[str, ...]]]:
    """``(ms from session start, body, topics)`` of each call event of ``plan``, in order.

    One event per change (a participant created, connected or ended, a hold on or off,
    after-call work ended, a consult or secure pause started or ended); each body is the
    whole conversation (SDK ``QueueConversationCallEventTopicCallConversation``) as it is
    then. A queue's topic carries the call from when its ``acd`` participant was created
    to the last event; a user's topic from when the user's agent participant was created
    (alerting) until the user's after-call work ended.
    """
    e0 = plan.session_start_epoch_ms
    parts = plan.participants
    times: set[int] = set()
    for p in parts:
        times.update(x for x in (p.start_ms, p.connected_ms, p.end_ms, p.acw_end_ms,
                                 p.consult_start_ms) if x is not None)
        for s, e in (*p.holds_ms, *p.secure_pauses_ms):
            times.update((s, e))
    pauses = plan.secure_pauses_ms
    address = parts[0].address if parts else plan.customer_address
    out = []
    for t in sorted(times):
        paused = any(s <= t < e for s, e in pauses)
        body: dict[str, object] = {
            "id": plan.conversation_id,
            "participants": [_participant_at(p, t, e0, p.secure_pauses_ms)
                             for p in parts if p.start_ms <= t],
            "recordingState": "paused" if paused else "active",
            "securePause": paused,
        }
        if address:
            body["address"] = address
        topics: list[str] = []
        for p in parts:
            if p.start_ms > t:
                continue
            if p.purpose == "acd" and p.queue_id:
                topic = queue_calls_topic(p.queue_id)
            elif p.purpose == "agent" and p.user_id and t <= (p.acw_end_ms or p.end_ms):
                topic = user_calls_topic(p.user_id)
            else:
                continue
            if topic not in topics:
                topics.append(topic)
        out.append((t, body, tuple(topics)))
    return out


class _CallText:
    """Builds the text of one call's transcription frames on demand (see ``_frame_specs``)."""

    __slots__ = ("e0", "engine", "head", "prefix")

    def __init__(self, plan: CallPlan, topic: str) -> None:
        self.e0 = plan.session_start_epoch_ms
        self.head = orjson.dumps({
            "organizationId": plan.organization_id,
            "conversationId": plan.conversation_id,
            "communicationId": plan.communication_id,
            "sessionStartTimeMs": self.e0,
            "transcriptionStartTimeMs": (self.e0 - plan.transcription_lead_ms
                                         if plan.transcription_lead_ms else self.e0 + 250),
            "speechTextAnalyticsProgramId": plan.program_id,
        }).decode()[1:-1]
        self.prefix = f'{{"topicName":"{topic}","version":"2","eventBody":{{"eventTime":"'
        self.engine = orjson.dumps(ENGINE).decode()[1:-1]

    def frame(self, at: int, status: str, item: str | None, corr: str) -> str:
        tail = "" if item is None else f',"transcripts":[{item}]'
        return (
            f'{self.prefix}{_iso_cached(self.e0 + at)}",{self.head},"status":{{"offsetMs":'
            f'{at},"status":"{status}"}}{tail}}},"metadata":{{"CorrelationId":"{corr}"}}}}'
        )

    def status(self, at: int, status: str, corr: str) -> str:
        return self.frame(at, status, None, corr)

    def group(self, at: int, items: tuple[tuple[_UtteranceText, int, float, int], ...],
              corr: str) -> str:
        """A frame of several transcripts (utterance versions), in the order given."""
        body = ",".join(ut.item(k, conf, cut) for ut, k, conf, cut in items)
        return (
            f'{self.prefix}{_iso_cached(self.e0 + at)}",{self.head},"status":{{"offsetMs":'
            f'{at},"status":"SESSION_ONGOING"}},"transcripts":[{body}]}},'
            f'"metadata":{{"CorrelationId":"{corr}"}}}}'
        )

    def utterance(self, at: int, ut: _UtteranceText, k: int, conf: float, corr: str,
                  cut: int = 0) -> str:
        # frame() inlined: this runs once per transcription frame
        seconds, ms = divmod(self.e0 + at, 1000)
        prefix = _ISO_CACHE.get(seconds) or _iso_cached(seconds * 1000)[:-5]
        return (
            f'{self.prefix}{prefix}.{ms:03d}Z",{self.head},"status":{{"offsetMs":{at},'
            f'"status":"SESSION_ONGOING"}},"transcripts":[{ut.item(k, conf, cut)}]}},'
            f'"metadata":{{"CorrelationId":"{corr}"}}}}'
        )


class _UtteranceText:
    """Pre-serialised words of one utterance; ``item(k)`` is its version with k words.

    Vocabulary text needs no JSON escaping (tests pin that), so items are assembled with
    f-strings; floats use repr, which matches orjson's shortest form.
    """

    __slots__ = ("_parts", "dtexts", "dwords", "engine", "u", "words")

    def __init__(self, u: SpokenUtterance, engine: str) -> None:
        self.u = u
        self.engine = engine
        self._parts: tuple[str, str, str] | None = None
        self.words: list[str] = []
        self.dwords: list[str] = []
        self.dtexts: list[str] = []

    def _prepare(self) -> tuple[str, str, str]:
        u = self.u
        dtexts = [("I" if w == "i" else w) for w in u.words]
        if dtexts:
            dtexts[0] = dtexts[0][:1].upper() + dtexts[0][1:]
        self.dtexts = dtexts
        words, dwords = [], []
        for w, dw, c, st, d in zip(u.words, dtexts, u.word_confidences, u.word_starts_ms,
                                   u.word_durations_ms, strict=True):
            tail = f'","confidence":{c!r},"offsetMs":{st},"durationMs":{d}}}'
            plain = f'{{"word":"{w}{tail}'
            words.append(plain)
            dwords.append(plain if dw == w else f'{{"word":"{dw}{tail}')
        self.words, self.dwords = words, dwords
        base = (f'{{"utteranceId":"{u.utterance_id}","isFinal":%s,"channel":"{u.channel}",'
                f'{self.engine},"alternatives":[{{"confidence":')
        self._parts = (base % "false", base % "true", f',"offsetMs":{u.start_ms},"durationMs":')
        return self._parts

    def item(self, k: int, conf: float, cut: int = 0) -> str:
        """The utterance with its first ``k`` words; ``k == len(words)`` is the final.

        ``cut`` > 0 shows the k-th word of a partial with only its first ``cut`` letters,
        as a recogniser does while the word is still being spoken.
        """
        partial, final, head_alt = self._parts or self._prepare()
        u = self.u
        n = len(u.words)
        if k < n:
            end = u.word_starts_ms[k - 1] + u.word_durations_ms[k - 1]
            words, dwords = u.words[:k], self.dtexts[:k]
            wj, dj = self.words[:k], self.dwords[:k]
            if cut:
                i = k - 1
                w, dw = words[i][:cut], dwords[i][:cut]
                tail = (f'","confidence":{u.word_confidences[i]!r},"offsetMs":'
                        f'{u.word_starts_ms[i]},"durationMs":{u.word_durations_ms[i]}}}')
                words, dwords = (*words[:i], w), [*dwords[:i], dw]
                wj = [*wj[:i], f'{{"word":"{w}{tail}']
                dj = [*dj[:i], f'{{"word":"{dw}{tail}']
            return (
                f'{partial}{conf!r}{head_alt}{end - u.start_ms},"transcript":'
                f'"{" ".join(words)}","decoratedTranscript":"{" ".join(dwords)}"'
                f',"words":[{",".join(wj)}],"decoratedWords":[{",".join(dj)}]}}]}}'
            )
        return (
            f'{final}{conf!r}{head_alt}{u.end_ms - u.start_ms},"transcript":'
            f'"{u.text}","decoratedTranscript":"{u.decorated}","words":[{",".join(self.words)}]'
            f',"decoratedWords":[{",".join(self.dwords)}]}}]}}'
        )


#: A frame not yet rendered: (at ms from scenario start, seq, kind, topic, correlation id,
#: builder, builder args, conversation id). The text is ``builder(*args)``; (at, seq) is
#: unique, so heaps and sorts never compare further.
_Spec = tuple[int, int, str, str, str, Callable[..., str], tuple[Any, ...], str]


#: An odd multiplier: n -> n * _GOLDEN mod 2**48 is a bijection, so correlation ids of one
#: call stay unique while looking random.
_GOLDEN = 0x9E3779B97F4A7C15
_MASK48 = (1 << 48) - 1


#: Grouping modes: (partial stride range, per-utterance delay range ms, tick gap range ms).
#: ``grouped``: every 2nd-4th partial kept, batches every 15-35 s (so a transcript is sent
#: within about 35 s of its words, as documented); ``low_latency``: every partial, 2.3-3.3 s
#: pipeline delay, batches every 0.5-1.2 s (about 2.5-5 s after the words).
_GROUPING = {"grouped": ((2, 4), (0, 0), (15_000, 35_000)),
             "low_latency": ((1, 1), (2_300, 3_300), (500, 1_200))}


def _frame_specs(plan: CallPlan, rng: random.Random, seq0: int = 0,
                 grouping: str = "grouped") -> list[_Spec]:
    """Specs of every frame of one call, unsorted; ``seq`` counts up from ``seq0``.

    All random draws happen here, in a fixed order, so rendering texts later (or never)
    changes nothing. Correlation ids share a random per-call prefix and end in a scrambled
    counter (UUID-shaped, unique), which saves a random draw per frame. ``grouping`` is
    one of ``GROUPINGS``.
    """
    cid = plan.conversation_id
    topic = transcription_topic(cid)
    ct = _CallText(plan, topic)
    t0 = plan.start_ms
    specs: list[_Spec] = []
    append = specs.append
    seq = seq0
    first = new_uuid(rng)
    corr_prefix, corr_base = first[:24], int(first[24:], 16)
    utter, status, group = ct.utterance, ct.status, ct.group
    for at, body, topics in conversation_events(plan):
        for topic_name in topics:
            corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
            append((t0 + at, seq, "conversation", topic_name, corr, _envelope,
                    (topic_name, corr, body), cid))
            seq += 1
    rand = rng.random
    per_frame = grouping == "per_frame"
    if not per_frame:
        (s_lo, s_hi), (d_lo, d_hi), (g_lo, g_hi) = _GROUPING[grouping]
    # versions: (due ms, order, utterance text, k words, confidence, cut letters)
    versions: list[tuple[int, int, _UtteranceText, int, float, int]] = []
    last_sent = plan.duration_ms
    for u in plan.utterances:
        if u.kind == "paused":  # secure pause: never transcribed
            continue
        ut_text = _UtteranceText(u, ct.engine)
        confs, starts, durs = u.word_confidences, u.word_starts_ms, u.word_durations_ms
        csum = 0.0
        last_at = u.start_ms
        if not per_frame:
            stride = s_lo + int((s_hi - s_lo + 1) * rand())
            delay = d_lo + int((d_hi - d_lo) * rand())
        for k in range(1, len(u.words)):  # partials: 1..n-1 words
            i = k - 1
            csum = 0 + confs[0] if k == 1 else csum + confs[i]
            end_k = starts[i] + durs[i]
            # 150 + 250 * rand() is exactly rng.uniform(150, 400), inlined
            at = end_k + int(150 + (400 - 150) * rand())
            at = last_at = at if at > last_at + 20 else last_at + 20  # max(), inlined
            word = u.words[i]
            # now and then the newest word of a partial is still incomplete ("calli")
            cut = len(word) - 2 if len(word) >= 5 and rand() < 0.15 else 0
            if per_frame:
                corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
                append((t0 + at, seq, "transcription", topic, corr, utter,
                        (at, ut_text, k, round(csum / k * 0.9, 3), corr, cut), cid))
                seq += 1
            elif k % stride == 0:
                versions.append((at + delay, len(versions), ut_text, k,
                                 round(csum / k * 0.9, 3), cut))
        at = u.end_ms + int(300 + (700 - 300) * rand())
        at = at if at > last_at + 20 else last_at + 20
        if per_frame:
            corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
            append((t0 + at, seq, "transcription", topic, corr, utter,
                    (at, ut_text, len(u.words), u.confidence, corr), cid))
            seq += 1
            last_sent = max(last_sent, at)
        else:
            versions.append((at + delay, len(versions), ut_text, len(u.words),
                             u.confidence, 0))
    if versions:  # batches: every version goes out at the first tick at or after it is due
        versions.sort(key=lambda v: (v[0], v[1]))
        tick = versions[0][0] + int((g_hi - g_lo) * rand())
        batch: list[tuple[_UtteranceText, int, float, int]] = []
        for due, _, ut_text, k, conf, cut in versions:
            if due > tick and batch:
                corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
                append((t0 + tick, seq, "transcription", topic, corr, group,
                        (tick, tuple(batch), corr), cid))
                seq += 1
                batch = []
            while due > tick:
                tick += g_lo + int((g_hi - g_lo) * rand())
            batch.append((ut_text, k, conf, cut))
        corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
        append((t0 + tick, seq, "transcription", topic, corr, group, (tick, tuple(batch), corr),
                cid))
        seq += 1
        last_sent = max(last_sent, tick)
    for at in range(250, plan.duration_ms, STATUS_PERIOD_MS):
        corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
        append((t0 + at, seq, "status", topic, corr, status, (at, "SESSION_ONGOING", corr), cid))
        seq += 1
    # SESSION_ENDED goes out after the last transcript (delivered with the last group), but
    # says when the session ended: status.offsetMs (SDK TranscriptionTopicTranscription-
    # RequestStatus: a position on the session clock) and eventTime are the end of the
    # customer's communication, not the delivery time, so a reader gets the call's end.
    corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
    append((t0 + last_sent + 100, seq, "status", topic, corr, status,
            (plan.duration_ms, "SESSION_ENDED", corr), cid))
    seq += 1
    return specs


def _materialize(spec: _Spec) -> ScheduledFrame:
    at, _, kind, topic, corr, fn, args, cid = spec
    return ScheduledFrame(at, topic, corr, fn(*args), cid, kind)


def render_call(plan: CallPlan, rng: random.Random,
                grouping: str = "grouped") -> list[ScheduledFrame]:
    """Every notification frame about one call, in send order (ms from scenario start).

    Transcription partials grow word by word (``isFinal`` false) and are followed by the
    final version with the same ``utteranceId``; empty utterances come as a final only;
    ``grouping`` (``GROUPINGS``) says how versions are batched into frames: ``grouped``
    (several utterances and versions per frame, within about 35 s), ``low_latency``
    (about 3-5 s) or ``per_frame`` (one per frame, 150-700 ms after the words).
    Status-only messages: SESSION_ONGOING at the start and every 5 minutes, SESSION_ENDED
    sent after the last transcript, its ``eventTime``/``offsetMs`` the call's real end.
    Call events: see ``conversation_events``. Frames are built from pre-serialised JSON
    pieces for speed; the result is ordinary compact JSON.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    specs = _frame_specs(plan, rng, 0, grouping)
    specs.sort()  # by (at, seq): (at, seq) is unique, so nothing else is compared
    return [_materialize(spec) for spec in specs]


#: A scheduled frame whose text is built on demand: ``(at_ms, seq, kind, topic,
#: correlation_id, builder, args, conversation_id)``; ``frame_text(lazy)`` builds it.
LazyFrame = _Spec


def lazy_schedule(scenario: Scenario) -> list[LazyFrame]:
    """All frames of a scenario in send order, texts not built yet (ms from scenario start).

    Much lighter than ``schedule`` (a 500-call scenario holds ~350k frames of ~1.9 KB);
    ``frame_text`` builds a text when it is needed, identical to ``schedule``'s.
    """
    rng = random.Random(f"frames-{scenario.seed}")
    specs: list[_Spec] = []
    for plan in scenario.plans:
        specs.extend(_frame_specs(plan, rng, len(specs), scenario.grouping))
    specs.sort()  # by (at, seq); seq follows call order, then creation order
    return specs


def frame_text(frame: LazyFrame) -> str:
    """The JSON text of a ``LazyFrame``."""
    return frame[5](*frame[6])


def materialize(frame: LazyFrame) -> ScheduledFrame:
    """A ``LazyFrame`` as a ``ScheduledFrame`` (its text built)."""
    return _materialize(frame)


def schedule(scenario: Scenario) -> list[ScheduledFrame]:
    """All frames of a scenario merged in send order (ms from the scenario start)."""
    return [_materialize(spec) for spec in lazy_schedule(scenario)]


def iter_scheduled(
    *,
    conversations: int | None = None,
    seed: int = 7,
    queues: int = 2,
    agents: int = 6,
    call_duration_s: tuple[float, float] = (120.0, 480.0),
    stagger_s: float = 2.0,
    epoch_ms: int = DEFAULT_EPOCH_MS,
    conversation_id: str | None = None,
    kinds: Sequence[str] | None = None,
    grouping: str = "grouped",
) -> Iterator[ScheduledFrame]:
    """Stream scheduled frames of ``conversations`` calls (``None``: endless) in send order.

    Memory stays bounded by the calls in progress, so millions of frames can be streamed;
    a frame's text is only built when it is yielded. ``conversation_id`` gives every call
    that id (a new communication id each), which is how a firehose aims many calls'
    frames at one subscribed topic. Same options and seed as ``build_scenario`` give the
    same frames as ``schedule(build_scenario(...))``.
    """
    for spec in _iter_specs(conversations, seed, queues, agents, call_duration_s, stagger_s,
                            epoch_ms, conversation_id, kinds, grouping):
        yield _materialize(spec)


def _iter_specs(
    conversations: int | None, seed: int, queues: int, agents: int,
    call_duration_s: tuple[float, float], stagger_s: float, epoch_ms: int,
    conversation_id: str | None, kinds: Sequence[str] | None = None,
    grouping: str = "grouped",
) -> Iterator[_Spec]:
    # validates like build_scenario; plans nothing
    build_scenario(seed=seed, conversations=0, queues=queues, agents=agents,
                   call_duration_s=call_duration_s, kinds=kinds, grouping=grouping)
    rng = random.Random(seed)
    frame_rng = random.Random(f"frames-{seed}")
    org = new_uuid(rng)
    queue_ids = [new_uuid(rng) for _ in range(queues)]
    user_ids = [new_uuid(rng) for _ in range(agents)]
    # A heap of calls in progress, keyed by each call's next frame: (at, seq, position,
    # the call's sorted specs). Far smaller than a heap of all pending frames.
    heap: list[tuple[int, int, int, list[_Spec]]] = []
    seq = 0
    start = 0.0
    i = 0
    replace, pop, push = heapq.heapreplace, heapq.heappop, heapq.heappush
    done = False
    while not done:
        if conversations is None or i < conversations:
            plan = plan_nth(
                rng, i, organization_id=org, queue_ids=queue_ids, user_ids=user_ids,
                start_ms=int(start), epoch_ms=epoch_ms, call_duration_s=call_duration_s,
                conversation_id=conversation_id, kinds=kinds)
            # no later call has a frame before this (calls start in order)
            until: float = plan.start_ms + EARLIEST_FRAME_MS
        else:
            done, until = True, float("inf")
        while heap and heap[0][0] <= until:  # every frame due before the next call starts
            top = heap[0]
            specs, pos = top[3], top[2]
            yield specs[pos]
            pos += 1
            if pos < len(specs):
                nxt = specs[pos]
                replace(heap, (nxt[0], nxt[1], pos, specs))
            else:
                pop(heap)
        if done:
            break
        specs = _frame_specs(plan, frame_rng, seq, grouping)
        specs.sort()  # (at, seq) is unique
        if specs:
            push(heap, (specs[0][0], specs[0][1], 0, specs))
        seq += len(specs)
        if stagger_s > 0:
            start += rng.expovariate(1.0 / (stagger_s * 1000))
        i += 1


def iter_frames(
    conversations: int | None = None,
    seed: int = 7,
    *,
    n_frames: int | None = None,
    **options: object,
) -> Iterator[str]:
    """The JSON text of every notification frame of ``conversations`` calls, in send order.

    Offline (no server). Stops after ``n_frames`` frames when given; with neither limit
    it never ends. ``options`` go to :func:`iter_scheduled` (``queues``, ``agents``,
    ``call_duration_s``, ``stagger_s``, ``epoch_ms``, ``conversation_id``, ``kinds``,
    ``grouping``).
    """
    opts: dict[str, Any] = {"queues": 2, "agents": 6, "call_duration_s": (120.0, 480.0),
                            "stagger_s": 2.0, "epoch_ms": DEFAULT_EPOCH_MS,
                            "conversation_id": None, "kinds": None, "grouping": "grouped"}
    unknown = set(options) - set(opts)
    if unknown:
        raise TypeError(f"iter_frames() got unexpected options {sorted(unknown)}")
    opts.update(options)
    specs = _iter_specs(conversations, seed, opts["queues"], opts["agents"],
                        opts["call_duration_s"], opts["stagger_s"], opts["epoch_ms"],
                        opts["conversation_id"], opts["kinds"], opts["grouping"])
    if n_frames is not None:
        specs = itertools.islice(specs, n_frames)
    for spec in specs:
        yield spec[5](*spec[6])


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "wt", encoding="utf-8", compresslevel=5)
    return open(path, "w", encoding="utf-8", buffering=1 << 20)


def write_jsonl(
    path: str | Path,
    n_frames: int | None = None,
    seed: int = 7,
    *,
    conversations: int | None = None,
    **options: object,
) -> int:
    """Write frames one per line (UTF-8 JSONL) to ``path``; return how many were written.

    Give ``n_frames`` (a frame count, calls cut at the limit) or ``conversations``
    (whole calls), or both. ``.gz`` paths are gzip-compressed.
    """
    if n_frames is None and conversations is None:
        raise ValueError("write_jsonl needs n_frames or conversations")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _open_text(path) as fh:
        batch: list[str] = []
        for text in iter_frames(conversations, seed, n_frames=n_frames, **options):
            batch.append(text)
            if len(batch) >= 4096:
                fh.write("\n".join(batch) + "\n")
                count += len(batch)
                batch.clear()
        if batch:
            fh.write("\n".join(batch) + "\n")
            count += len(batch)
    return count
