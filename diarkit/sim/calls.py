"""Seeded plans of realistic phone calls: who says what, when (pure: no sockets, no clock).

``plan_call`` plans one call (IVR, queue wait, turn-taking with gaps, backchannels,
overtalk, holds, low-confidence and empty utterances, closing); ``build_scenario`` plans
many across queues and agents. Times inside a call are milliseconds from the
transcription session start; absolute times are epoch milliseconds.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from . import vocab

#: 2026-11-24T09:00:00Z in epoch milliseconds: the default clock of offline scenarios.
DEFAULT_EPOCH_MS = 1_795_510_800_000
CHANNEL_OF_PARTY = {"ivr": "INTERNAL", "agent": "INTERNAL", "customer": "EXTERNAL"}


def _fast_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (reproducible, unlike ``uuid.uuid4``)."""
    return _fast_uuid(rng)


def iso_ms(epoch_ms: int) -> str:
    """ISO-8601 UTC text with milliseconds (``2026-11-24T10:15:42.318Z``) of epoch ms."""
    seconds, ms = divmod(int(epoch_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class SpokenUtterance:
    """What one party really said; times in ms from the session start.

    ``kind`` is ``speech``, ``backchannel`` or ``empty`` (noise the recogniser returned
    as an empty transcript; nobody spoke, so ground truth leaves it out).
    """

    utterance_id: str
    party: str
    channel: str
    start_ms: int
    end_ms: int
    words: tuple[str, ...]
    word_starts_ms: tuple[int, ...]
    word_durations_ms: tuple[int, ...]
    word_confidences: tuple[float, ...]
    confidence: float
    kind: str = "speech"

    @property
    def text(self) -> str:
        """The exact words, lower case, as the recogniser emits them."""
        return " ".join(self.words)

    @property
    def decorated(self) -> str:
        """The words with capitals and final punctuation (``decoratedTranscript``)."""
        return decorate(self.words, final=True)


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One simulated call: ids, timeline (ms from the session start) and utterances.

    ``start_ms`` is when the call starts, in ms from the scenario start; the session
    starts then too, at epoch ms ``session_start_epoch_ms``.
    """

    conversation_id: str
    communication_id: str
    organization_id: str
    program_id: str
    queue_id: str
    user_id: str
    start_ms: int
    session_start_epoch_ms: int
    queue_entry_ms: int
    agent_connect_ms: int
    duration_ms: int
    participant_ids: dict[str, str]
    customer_address: str
    utterances: tuple[SpokenUtterance, ...]
    holds_ms: tuple[tuple[int, int], ...] = ()

    @property
    def end_ms(self) -> int:
        """When the call ends, in ms from the scenario start."""
        return self.start_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class Scenario:
    """A seeded set of calls over queues and agents (user ids)."""

    seed: int
    organization_id: str
    queue_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    plans: tuple[CallPlan, ...] = field(default=())

    @property
    def conversation_ids(self) -> tuple[str, ...]:
        """Conversation ids in start order."""
        return tuple(p.conversation_id for p in self.plans)


def decorate(words: tuple[str, ...] | list[str], *, final: bool) -> str:
    """Capitalise a word sequence like the decorated transcript; punctuate it when final."""
    if not words:
        return ""
    out = [("I" if w == "i" else w.replace(" i ", " I ")) for w in words]
    out[0] = out[0][:1].upper() + out[0][1:]
    text = " ".join(out)
    if final:
        first = words[0]
        question = first in ("can", "could", "is", "so", "will", "what", "how", "when", "are")
        text += "?" if question else "."
    return text


def _fill(rng: random.Random, template: str, slots: dict[str, str]) -> tuple[str, ...]:
    if "{" in template:
        template = template.format(
            **{k: slots.get(k) or rng.choice(v) for k, v in vocab.SLOTS.items()}
        )
    return tuple(template.split())


class _CallBuilder:
    """Accumulates the utterances of one call (internal to ``plan_call``)."""

    def __init__(self, rng: random.Random, slots: dict[str, str]) -> None:
        self.rng = rng
        self.slots = slots
        self.utterances: list[SpokenUtterance] = []
        self.used: set[str] = set()

    def say(
        self, party: str, start_ms: int, words: tuple[str, ...], *, kind: str = "speech",
        low_confidence: bool | None = None,
    ) -> SpokenUtterance:
        rng = self.rng
        if low_confidence is None:
            low_confidence = rng.random() < 0.06
        starts, durs, confs = [], [], []
        t = start_ms
        rand = rng.random  # a + (b - a) * rand() is exactly rng.uniform(a, b), inlined
        for w in words:
            d = int((90 + 55 * len(w)) * (0.8 + (1.25 - 0.8) * rand()))
            starts.append(t)
            durs.append(d)
            if low_confidence:
                confs.append(round(0.25 + (0.6 - 0.25) * rand(), 3))
            else:
                c = (0.78 + (0.995 - 0.78) * rand() if rand() > 0.05
                     else 0.5 + (0.75 - 0.5) * rand())
                confs.append(round(c, 3))
            t += d + int(0 + (90 - 0) * rand())
        end = starts[-1] + durs[-1] if words else start_ms + int(rng.uniform(300, 800))
        conf = round(sum(confs) / len(confs), 3) if confs else 0.0
        u = SpokenUtterance(
            utterance_id=new_uuid(rng), party=party, channel=CHANNEL_OF_PARTY[party],
            start_ms=start_ms, end_ms=end, words=words, word_starts_ms=tuple(starts),
            word_durations_ms=tuple(durs), word_confidences=tuple(confs), confidence=conf,
            kind=kind,
        )
        self.utterances.append(u)
        return u

    def line(self, party: str, start_ms: int, options: tuple[str, ...]) -> SpokenUtterance:
        fresh = [o for o in options if o not in self.used] or list(options)
        template = self.rng.choice(fresh)  # no sentence twice in a call while others are left
        self.used.add(template)
        u = self.say(party, start_ms, _fill(self.rng, template, self.slots))
        listener = "customer" if party == "agent" else "agent" if party == "customer" else ""
        if listener and len(u.words) >= 8 and self.rng.random() < 0.3:
            k = self.rng.randrange(3, len(u.words) - 2)
            bc = (self.rng.choice(vocab.BACKCHANNELS),)
            self.say(listener, u.word_starts_ms[k] + 80, tuple(bc[0].split()), kind="backchannel",
                     low_confidence=False)
        if self.rng.random() < 0.02:
            noise_at = u.end_ms + int(self.rng.uniform(50, 300))
            present = ("customer",) if party == "ivr" else ("agent", "customer")
            self.say(self.rng.choice(present), noise_at, (), kind="empty")
        return u

    def next_start(self, prev: SpokenUtterance) -> int:
        """Start of the next turn after ``prev``: a natural gap, a pause or an interruption."""
        r = self.rng.random()
        if r < 0.12:  # interruption / overtalk
            return max(prev.start_ms + 400, prev.end_ms - int(self.rng.uniform(200, 900)))
        if r < 0.22:
            return prev.end_ms + int(self.rng.uniform(1500, 4000))
        return prev.end_ms + int(min(1200, max(120, self.rng.gauss(450, 200))))


def plan_call(
    rng: random.Random,
    *,
    organization_id: str,
    queue_id: str,
    user_id: str,
    start_ms: int = 0,
    epoch_ms: int = DEFAULT_EPOCH_MS,
    call_duration_s: tuple[float, float] = (120.0, 480.0),
    conversation_id: str | None = None,
) -> CallPlan:
    """Plan one realistic call: IVR, queue wait, greeting, turns, holds, closing.

    Args:
        rng: the seeded random source (advanced by this call).
        organization_id, queue_id, user_id: ids the call belongs to.
        start_ms: call start in ms from the scenario start.
        epoch_ms: epoch ms of the scenario start.
        call_duration_s: (min, max) target call length in seconds.
        conversation_id: force this conversation id (default: a new UUID).
    """
    cid = conversation_id or new_uuid(rng)
    comm = new_uuid(rng)
    program = new_uuid(rng)
    target = int(rng.uniform(*call_duration_s) * 1000)
    slots = {"company": rng.choice(vocab.COMPANIES), "agent": rng.choice(vocab.SLOTS["agent"])}
    b = _CallBuilder(rng, slots)
    short = target < 90_000
    # IVR on INTERNAL at the start.
    u = b.line("ivr", int(rng.uniform(300, 800)), vocab.IVR_WELCOME)
    if not short:
        u = b.line("ivr", b.next_start(u) + 300, vocab.IVR_MENU)
        u = b.say("customer", u.end_ms + int(rng.uniform(500, 1500)),
                  tuple(rng.choice(vocab.CUSTOMER_TO_IVR).split()))
    u = b.line("ivr", u.end_ms + int(rng.uniform(400, 900)), vocab.IVR_CONNECT)
    queue_entry = u.end_ms + 200
    wait = rng.uniform(1000, 3000) if short else rng.uniform(3000, 15000)
    agent_connect = queue_entry + int(wait)
    # Agent and customer turn-taking.
    u = b.line("agent", agent_connect + int(rng.uniform(300, 900)), vocab.AGENT_GREETING)
    u = b.line("customer", b.next_start(u), vocab.CUSTOMER_OPENING)
    if not short:
        u = b.line("agent", b.next_start(u), vocab.AGENT_VERIFY)
        u = b.line("customer", b.next_start(u), vocab.CUSTOMER_VERIFY)
    holds: list[tuple[int, int]] = []
    want_hold = rng.random() < 0.35
    closing_ms = 9_000
    while u.end_ms < target - closing_ms:
        if want_hold and not holds and u.end_ms > target * 0.3:
            u = b.line("agent", b.next_start(u), vocab.AGENT_HOLD)
            hold = int(min(rng.uniform(15_000, 60_000), target * 0.2))
            holds.append((u.end_ms, u.end_ms + hold))
            u = b.line("agent", u.end_ms + hold, vocab.AGENT_RESUME)
            continue
        u = b.line("agent", b.next_start(u), vocab.AGENT_BODY)
        if rng.random() < 0.3:
            u = b.line("agent", u.end_ms + int(rng.uniform(200, 600)), vocab.AGENT_BODY)
        u = b.line("customer", b.next_start(u), vocab.CUSTOMER_BODY)
    u = b.line("agent", b.next_start(u), vocab.AGENT_CLOSING[:1])
    u = b.line("customer", b.next_start(u), vocab.CUSTOMER_CLOSING)
    u = b.line("agent", b.next_start(u), vocab.AGENT_CLOSING[1:])
    utterances = sorted(b.utterances, key=lambda x: (x.start_ms, x.end_ms))
    duration = max(x.end_ms for x in utterances) + int(rng.uniform(500, 1500))
    pids = {p: new_uuid(rng) for p in ("customer", "ivr", "acd", "agent")}
    address = f"tel:+1555{rng.randrange(10**7):07d}"
    return CallPlan(
        conversation_id=cid, communication_id=comm, organization_id=organization_id,
        program_id=program, queue_id=queue_id, user_id=user_id, start_ms=start_ms,
        session_start_epoch_ms=epoch_ms + start_ms, queue_entry_ms=queue_entry,
        agent_connect_ms=agent_connect, duration_ms=duration, participant_ids=pids,
        customer_address=address, utterances=tuple(utterances), holds_ms=tuple(holds),
    )


def build_scenario(
    *,
    seed: int = 7,
    conversations: int = 12,
    queues: int = 2,
    agents: int = 6,
    call_duration_s: tuple[float, float] = (120.0, 480.0),
    stagger_s: float = 5.0,
    epoch_ms: int = DEFAULT_EPOCH_MS,
) -> Scenario:
    """Plan ``conversations`` calls over ``queues`` queues and ``agents`` agents.

    Args:
        seed: everything (ids, words, timings) follows from it.
        conversations: number of calls.
        queues, agents: how many queue and user (agent) ids to spread the calls over.
        call_duration_s: (min, max) length of a call in seconds.
        stagger_s: mean seconds between call starts (0: all start together).
        epoch_ms: epoch ms of the scenario start.
    """
    if conversations < 0 or queues < 1 or agents < 1:
        raise ValueError("need conversations >= 0, queues >= 1 and agents >= 1")
    lo, hi = call_duration_s
    if not 0 < lo <= hi:
        raise ValueError(f"call_duration_s must be 0 < min <= max seconds, got {call_duration_s}")
    rng = random.Random(seed)
    org = new_uuid(rng)
    queue_ids = tuple(new_uuid(rng) for _ in range(queues))
    user_ids = tuple(new_uuid(rng) for _ in range(agents))
    plans = []
    start = 0.0
    for i in range(conversations):
        plans.append(
            plan_call(
                rng, organization_id=org, queue_id=queue_ids[i % queues],
                user_id=user_ids[i % agents], start_ms=int(start), epoch_ms=epoch_ms,
                call_duration_s=call_duration_s,
            )
        )
        if stagger_s > 0:
            start += rng.expovariate(1.0 / (stagger_s * 1000))
    return Scenario(seed, org, queue_ids, user_ids, tuple(plans))
