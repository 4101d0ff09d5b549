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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from diarkit.genesys import queue_calls_topic, transcription_topic, user_calls_topic

from .calls import (
    DEFAULT_EPOCH_MS,
    CallPlan,
    Scenario,
    SpokenUtterance,
    iso_ms,
    new_uuid,
    plan_call,
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


def _participant(pid: str, purpose: str, connected: int, end: int | None, state: str,
                 **extra: object) -> dict[str, object]:
    p: dict[str, object] = {"id": pid, "connectedTime": iso_ms(connected)}
    if end is not None:
        p["endTime"] = iso_ms(end)
    p["purpose"] = purpose
    p.update(extra)
    p["state"] = state
    return p


def _conversation_bodies(plan: CallPlan) -> list[tuple[int, bool, dict[str, object]]]:
    """(ms from session start, also on the user topic, body) of each conversation event."""
    e0 = plan.session_start_epoch_ms
    pid = plan.participant_ids
    q_in, a_in, end = plan.queue_entry_ms, plan.agent_connect_ms, plan.duration_ms

    def customer(state: str, until: int | None) -> dict[str, object]:
        calls = [{"id": plan.communication_id, "state": state, "direction": "inbound",
                  "connectedTime": iso_ms(e0)}]
        return _participant(pid["customer"], "customer", e0, until, state,
                            address=plan.customer_address, calls=calls)

    ivr_c = _participant(pid["ivr"], "ivr", e0 + 100, None, "connected")
    ivr_d = _participant(pid["ivr"], "ivr", e0 + 100, e0 + q_in, "disconnected")
    acd_c = _participant(pid["acd"], "acd", e0 + q_in, None, "connected", queueId=plan.queue_id)
    acd_d = _participant(pid["acd"], "acd", e0 + q_in, e0 + a_in, "disconnected",
                         queueId=plan.queue_id)
    ag_c = _participant(pid["agent"], "agent", e0 + a_in, None, "connected",
                        userId=plan.user_id, queueId=plan.queue_id)
    ag_d = _participant(pid["agent"], "agent", e0 + a_in, e0 + end, "disconnected",
                        userId=plan.user_id, queueId=plan.queue_id)
    cid = plan.conversation_id
    return [
        (0, False, {"id": cid, "participants": [customer("connected", None), ivr_c]}),
        (q_in, False, {"id": cid, "participants": [customer("connected", None), ivr_d, acd_c]}),
        (a_in, True, {"id": cid, "participants": [customer("connected", None), ivr_d, acd_d,
                                                  ag_c]}),
        (end + 200, True, {"id": cid, "participants": [customer("disconnected", e0 + end), ivr_d,
                                                       acd_d, ag_d]}),
    ]


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
            "transcriptionStartTimeMs": self.e0 + 250,
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


def _frame_specs(plan: CallPlan, rng: random.Random, seq0: int = 0) -> list[_Spec]:
    """Specs of every frame of one call, unsorted; ``seq`` counts up from ``seq0``.

    All random draws happen here, in a fixed order, so rendering texts later (or never)
    changes nothing. Correlation ids share a random per-call prefix and end in a scrambled
    counter (UUID-shaped, unique), which saves a random draw per frame.
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
    utter, status = ct.utterance, ct.status
    qt, ut = queue_calls_topic(plan.queue_id), user_calls_topic(plan.user_id)
    for at, on_user, body in _conversation_bodies(plan):
        for topic_name in (qt, ut) if on_user else (qt,):
            corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
            append((t0 + at, seq, "conversation", topic_name, corr, _envelope,
                    (topic_name, corr, body), cid))
            seq += 1
    ends = [*range(250, plan.duration_ms, STATUS_PERIOD_MS), plan.duration_ms + 100]
    for j, at in enumerate(ends):
        corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
        state = "SESSION_ENDED" if j == len(ends) - 1 else "SESSION_ONGOING"
        append((t0 + at, seq, "status", topic, corr, status, (at, state, corr), cid))
        seq += 1
    rand = rng.random
    for u in plan.utterances:
        ut_text = _UtteranceText(u, ct.engine)
        confs, starts, durs = u.word_confidences, u.word_starts_ms, u.word_durations_ms
        csum = 0.0
        last_at = 0
        for k in range(1, len(u.words)):  # partials: 1..n-1 words
            i = k - 1
            csum = 0 + confs[0] if k == 1 else csum + confs[i]
            end_k = starts[i] + durs[i]
            # 150 + 250 * rand() is exactly rng.uniform(150, 400), inlined
            at = end_k + int(150 + (400 - 150) * rand())
            at = last_at = at if at > last_at + 20 else last_at + 20  # max(), inlined
            corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
            word = u.words[i]
            # now and then the newest word of a partial is still incomplete ("calli")
            cut = len(word) - 2 if len(word) >= 5 and rand() < 0.15 else 0
            append((t0 + at, seq, "transcription", topic, corr, utter,
                    (at, ut_text, k, round(csum / k * 0.9, 3), corr, cut), cid))
            seq += 1
        at = u.end_ms + int(300 + (700 - 300) * rand())
        at = at if at > last_at + 20 else last_at + 20
        corr = f"{corr_prefix}{(corr_base + (seq - seq0) * _GOLDEN) & _MASK48:012x}"
        append((t0 + at, seq, "transcription", topic, corr, utter,
                (at, ut_text, len(u.words), u.confidence, corr), cid))
        seq += 1
    return specs


def _materialize(spec: _Spec) -> ScheduledFrame:
    at, _, kind, topic, corr, fn, args, cid = spec
    return ScheduledFrame(at, topic, corr, fn(*args), cid, kind)


def render_call(plan: CallPlan, rng: random.Random) -> list[ScheduledFrame]:
    """Every notification frame about one call, in send order (ms from scenario start).

    Transcription partials grow word by word (``isFinal`` false) and are followed by the
    final version with the same ``utteranceId``; empty utterances come as a final only.
    Status-only messages: SESSION_ONGOING at the start and every 5 minutes, SESSION_ENDED
    at the end. Queue events go to the queue topic; once an agent joins, also to the
    agent's user topic. Frames are built from pre-serialised JSON pieces for speed; the
    result is ordinary compact JSON.
    """
    specs = _frame_specs(plan, rng)
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
        specs.extend(_frame_specs(plan, rng, len(specs)))
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
) -> Iterator[ScheduledFrame]:
    """Stream scheduled frames of ``conversations`` calls (``None``: endless) in send order.

    Memory stays bounded by the calls in progress, so millions of frames can be streamed;
    a frame's text is only built when it is yielded. ``conversation_id`` gives every call
    that id (a new communication id each), which is how a firehose aims many calls'
    frames at one subscribed topic. Same options and seed as ``build_scenario`` give the
    same frames as ``schedule(build_scenario(...))``.
    """
    for spec in _iter_specs(conversations, seed, queues, agents, call_duration_s, stagger_s,
                            epoch_ms, conversation_id):
        yield _materialize(spec)


def _iter_specs(
    conversations: int | None, seed: int, queues: int, agents: int,
    call_duration_s: tuple[float, float], stagger_s: float, epoch_ms: int,
    conversation_id: str | None,
) -> Iterator[_Spec]:
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
            plan = plan_call(
                rng, organization_id=org, queue_id=queue_ids[i % queues],
                user_id=user_ids[i % agents], start_ms=int(start), epoch_ms=epoch_ms,
                call_duration_s=call_duration_s, conversation_id=conversation_id,
            )
            until: float = plan.start_ms
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
        specs = _frame_specs(plan, frame_rng, seq)
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
    ``call_duration_s``, ``stagger_s``, ``epoch_ms``, ``conversation_id``).
    """
    opts: dict[str, Any] = {"queues": 2, "agents": 6, "call_duration_s": (120.0, 480.0),
                            "stagger_s": 2.0, "epoch_ms": DEFAULT_EPOCH_MS,
                            "conversation_id": None}
    unknown = set(options) - set(opts)
    if unknown:
        raise TypeError(f"iter_frames() got unexpected options {sorted(unknown)}")
    opts.update(options)
    specs = _iter_specs(conversations, seed, opts["queues"], opts["agents"],
                        opts["call_duration_s"], opts["stagger_s"], opts["epoch_ms"],
                        opts["conversation_id"])
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
