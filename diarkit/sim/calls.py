"""Seeded plans of realistic phone calls: who is on the line and who says what, when (pure).

``plan_call`` plans one call of a given kind (see ``CALL_KINDS``): its participants
(customer, IVR, queue, agents, with their connect/end times, holds, after-call work,
wrap-up, consult and secure pause) and its utterances (IVR prompts, queue announcements,
turn-taking with gaps, backchannels, overtalk, low-confidence and empty results);
``build_scenario`` plans many across queues and agents. Times inside a call are
milliseconds from the transcription session start (negative before it); absolute times
are epoch milliseconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import vocab

#: 2026-11-24T09:00:00Z in epoch milliseconds: the default clock of offline scenarios.
DEFAULT_EPOCH_MS = 1_795_510_800_000
CHANNEL_OF_PARTY = {"ivr": "INTERNAL", "acd": "INTERNAL", "agent": "INTERNAL",
                    "customer": "EXTERNAL"}

#: The kinds of simulated call and their share of a seeded mix (weights sum to 1).
CALL_KINDS: dict[str, float] = {
    "basic": 0.50,             # IVR -> queue -> agent
    "blind_transfer": 0.10,    # agent A -> queue -> agent B
    "consult_transfer": 0.10,  # customer held while A consults B, then A drops
    "conference": 0.07,        # A, B and the customer together, then A leaves
    "abandoned": 0.10,         # the customer hangs up in the queue
    "callback": 0.13,          # queue -> agent dials the customer (outbound)
}
#: Optional features a call kind can carry (``"basic+hold"``); a seeded mix draws them with
#: ``FEATURE_ODDS``. ``early`` (transcription starting before the session: negative
#: offsets) is opt-in (``"basic+early"``); the exports take negative times (WebVTT/SRT shift).
CALL_FEATURES = ("hold", "secure_pause", "early")
FEATURE_ODDS = {"hold": 0.35, "secure_pause": 0.08, "early": 0.0}
#: Chance of an utterance on the ``BOTH`` / ``UNKNOWN`` channel (seeded mix only).
ODD_CHANNEL_ODDS = 0.008
#: No frame of a call comes earlier than this, in ms from its session start (an ``early``
#: call starts at most ~1 s before its session); streaming merges calls relying on it.
EARLIEST_FRAME_MS = -2_000
#: How transcripts reach the wire (see ``diarkit.sim.frames``): ``grouped`` (the documented
#: default: batches within about 35 s), ``low_latency`` (about 3-5 s), ``per_frame`` (one
#: transcript per frame, 150-700 ms after the words).
GROUPINGS = ("grouped", "low_latency", "per_frame")


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
    """What one participant really said; times in ms from the session start.

    ``kind`` is ``speech``, ``backchannel``, ``empty`` (noise the recogniser returned as an
    empty transcript; nobody spoke, so ground truth leaves it out) or ``paused`` (said
    during a secure pause: never transcribed, so neither frames nor ground truth show it).
    ``party`` is the speaker's purpose (``ivr``, ``acd``, ``agent``, ``customer``) and
    ``participant_id`` the participant who said it (an agent's, after a transfer, is the
    second agent's). ``channel`` is the transcript's channel: ``INTERNAL``/``EXTERNAL``,
    now and then ``BOTH`` or ``UNKNOWN`` as the real service sends.
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
    participant_id: str = ""

    @property
    def text(self) -> str:
        """The exact words, lower case, as the recogniser emits them."""
        return " ".join(self.words)

    @property
    def decorated(self) -> str:
        """The words with capitals and final punctuation (``decoratedTranscript``)."""
        return decorate(self.words, final=True)


@dataclass(frozen=True, slots=True)
class PlannedParticipant:
    """One participant of a simulated call; times in ms from the session start.

    Attributes:
        participant_id: its id (UUID).
        purpose: ``customer``, ``ivr``, ``acd`` or ``agent`` (SDK ``purpose``).
        name: display name (the agent's or queue's name, ``Main IVR``, the caller).
        start_ms: when it was created (alerting, dialing); ``startTime``.
        connected_ms: when it connected (``connectedTime``); None if it never did.
        end_ms: when it disconnected (``endTime``).
        direction: ``inbound`` or ``outbound``.
        disconnect_type: SDK ``disconnectType`` at ``end_ms``.
        initial_state: state before connecting (``alerting``, ``dialing``, ...).
        address, ani, dnis: ``tel:`` addresses.
        user_id, user_name: the agent's user (``user`` object).
        queue_id, queue_name: the queue (``queue`` object) of an acd or queue-routed agent.
        holds_ms: ``(start, end)`` of each hold of this participant (``held``).
        acw_end_ms: end of after-call work, which starts at ``end_ms`` (agents).
        wrapup_code, wrapup_notes: wrap-up entered when after-call work ends.
        consult_participant_id, consult_start_ms: the consulted participant, from when.
        secure_pauses_ms: ``(start, end)`` of secure pauses this participant started.
    """

    participant_id: str
    purpose: str
    name: str
    start_ms: int
    connected_ms: int | None
    end_ms: int
    direction: str = "inbound"
    disconnect_type: str = "peer"
    initial_state: str = "alerting"
    address: str | None = None
    ani: str | None = None
    dnis: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    queue_id: str | None = None
    queue_name: str | None = None
    holds_ms: tuple[tuple[int, int], ...] = ()
    acw_end_ms: int | None = None
    wrapup_code: str | None = None
    wrapup_notes: str | None = None
    consult_participant_id: str | None = None
    consult_start_ms: int | None = None
    secure_pauses_ms: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One simulated call: ids, participants, timeline (ms from the session start), words.

    ``start_ms`` is when the call's session starts, in ms from the scenario start; that is
    epoch ms ``session_start_epoch_ms``. ``kind`` is one of ``CALL_KINDS``; ``features``
    names the optional parts it has (``hold``, ``secure_pause``, ``early``). ``queue_id``/
    ``user_id`` are the first queue and the first agent's user (None when no agent ever
    connected); ``queue_entry_ms``/``agent_connect_ms`` when the call reached that queue
    and that agent connected (None when not). ``holds_ms`` are the customer's holds and
    ``secure_pauses_ms`` the conversation's secure pauses. ``participants[0]`` is the
    customer; the others follow in order of creation. ``duration_ms`` is when the
    customer's leg ends; after-call work can run later. ``transcription_lead_ms`` > 0:
    transcription started that long before the session start (negative offsets).
    """

    conversation_id: str
    communication_id: str
    organization_id: str
    program_id: str
    queue_id: str
    user_id: str | None
    start_ms: int
    session_start_epoch_ms: int
    queue_entry_ms: int | None
    agent_connect_ms: int | None
    duration_ms: int
    participant_ids: dict[str, str]
    customer_address: str
    utterances: tuple[SpokenUtterance, ...]
    holds_ms: tuple[tuple[int, int], ...] = ()
    kind: str = "basic"
    features: tuple[str, ...] = ()
    participants: tuple[PlannedParticipant, ...] = ()
    secure_pauses_ms: tuple[tuple[int, int], ...] = ()
    transcription_lead_ms: int = 0
    dnis: str = "tel:+18005550100"

    @property
    def end_ms(self) -> int:
        """When the call ends, in ms from the scenario start."""
        return self.start_ms + self.duration_ms

    @property
    def wrapup_end_ms(self) -> int:
        """When the last participant's after-call work ends (ms from the session start)."""
        return max([self.duration_ms, *(p.acw_end_ms or p.end_ms for p in self.participants)])

    def participant(self, participant_id: str) -> PlannedParticipant:
        """The participant with this id (``KeyError`` if none)."""
        for p in self.participants:
            if p.participant_id == participant_id:
                return p
        raise KeyError(participant_id)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A seeded set of calls over queues and agents (user ids, with their names).

    ``grouping`` is how transcripts are sent: see ``diarkit.sim.frames.GROUPINGS``.
    """

    seed: int
    organization_id: str
    queue_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    plans: tuple[CallPlan, ...] = field(default=())
    queue_names: tuple[str, ...] = ()
    user_names: tuple[str, ...] = ()
    grouping: str = "grouped"

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
    """Accumulates the utterances and holds of one call (internal to ``plan_call``)."""

    def __init__(self, rng: random.Random, slots: dict[str, str], *, odd_channels: bool) -> None:
        self.rng = rng
        self.slots = slots
        self.utterances: list[SpokenUtterance] = []
        self.used: set[str] = set()
        self.pid: dict[str, str] = {}
        self.odd_channels = odd_channels
        self.paused = False
        self.hold_at: int | None = None   # hold the customer after this time (ms)
        self.pause_at: int | None = None  # secure pause after this time (ms)
        self.hold_ms = (15_000, 60_000)
        self.did_hold = False
        self.holds: list[tuple[int, int]] = []
        self.pauses: list[tuple[int, int, str]] = []  # (start, end, agent participant id)

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
        channel = CHANNEL_OF_PARTY[party]
        if self.odd_channels:
            r = rand()
            if r < ODD_CHANNEL_ODDS:
                channel = "BOTH" if r < ODD_CHANNEL_ODDS / 2 else "UNKNOWN"
        u = SpokenUtterance(
            utterance_id=new_uuid(rng), party=party, channel=channel,
            start_ms=start_ms, end_ms=end, words=words, word_starts_ms=tuple(starts),
            word_durations_ms=tuple(durs), word_confidences=tuple(confs), confidence=conf,
            kind="paused" if self.paused else kind, participant_id=self.pid[party],
        )
        self.utterances.append(u)
        return u

    def line(self, party: str, start_ms: int, options: tuple[str, ...], *,
             noise: bool = True) -> SpokenUtterance:
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
        if noise and self.rng.random() < 0.02:
            noise_at = u.end_ms + int(self.rng.uniform(50, 300))
            present = ("customer",) if party in ("ivr", "acd") else ("agent", "customer")
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

    def agent(self, participant_id: str, name: str) -> None:
        """From now on ``agent`` lines are said by this agent (greetings use its first name)."""
        self.pid["agent"] = participant_id
        self.slots["agent"] = name.split()[0].lower()

    def talk(self, u: SpokenUtterance, until: int) -> SpokenUtterance:
        """Agent and customer turns until ``until`` (ms), with a pending hold or pause."""
        rng = self.rng
        while u.end_ms < until:
            if self.hold_at is not None and u.end_ms > self.hold_at:
                self.hold_at, self.did_hold = None, True
                u = self.line("agent", self.next_start(u), vocab.AGENT_HOLD, noise=False)
                lo, hi = self.hold_ms
                start = u.end_ms + int(rng.uniform(150, 400))
                end = start + int(rng.uniform(lo, hi))
                self.holds.append((start, end))  # hold music: nobody speaks
                u = self.line("agent", end + int(rng.uniform(300, 800)), vocab.AGENT_RESUME)
                continue
            if self.pause_at is not None and u.end_ms > self.pause_at:
                self.pause_at = None
                u = self.line("agent", self.next_start(u), vocab.AGENT_PAUSE, noise=False)
                start = u.end_ms + int(rng.uniform(200, 500))
                self.paused = True  # said, never transcribed
                u = self.line("customer", start + int(rng.uniform(600, 1500)), vocab.CUSTOMER_CARD)
                u = self.line("agent", self.next_start(u), vocab.AGENT_PAUSED_ACK)
                end = max(x.end_ms for x in self.utterances) + int(rng.uniform(300, 700))
                self.paused = False
                self.pauses.append((start, end, self.pid["agent"]))
                u = self.line("agent", end + int(rng.uniform(300, 800)), vocab.AGENT_UNPAUSE)
                continue
            u = self.line("agent", self.next_start(u), vocab.AGENT_BODY)
            if rng.random() < 0.3:
                u = self.line("agent", u.end_ms + int(rng.uniform(200, 600)), vocab.AGENT_BODY)
            u = self.line("customer", self.next_start(u), vocab.CUSTOMER_BODY)
        return u


def _kind(rng: random.Random, kind: str | None) -> tuple[str, set[str], bool]:
    """(kind, features, drawn) of a call: parsed from ``"basic+hold"`` or drawn from the mix."""
    if kind is None:
        r = rng.random()
        acc = 0.0
        drawn = "basic"
        for name, weight in CALL_KINDS.items():
            acc += weight
            if r < acc:
                drawn = name
                break
        features = {f for f in CALL_FEATURES if rng.random() < FEATURE_ODDS[f]}
        return drawn, features, True
    name, *extra = kind.split("+")
    if name not in CALL_KINDS or not set(extra) <= set(CALL_FEATURES):
        raise ValueError(f"unknown call kind {kind!r}: kinds are {sorted(CALL_KINDS)}, "
                         f"features (after '+') {list(CALL_FEATURES)}")
    return name, set(extra), False


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
    kind: str | None = None,
    queue_name: str = "Billing",
    user_name: str = "Sam Carter",
    second_user: tuple[str, str] | None = None,
    second_queue: tuple[str, str] | None = None,
) -> CallPlan:
    """Plan one realistic call of a kind: participants, holds, ACW, and every utterance.

    Args:
        rng: the seeded random source (advanced by this call).
        organization_id: the org id.
        queue_id, queue_name: the queue the call is routed to first.
        user_id, user_name: the agent who answers first.
        start_ms: call start in ms from the scenario start.
        epoch_ms: epoch ms of the scenario start.
        call_duration_s: (min, max) target call length in seconds.
        conversation_id: force this conversation id (default: a new UUID).
        kind: one of ``CALL_KINDS``, optionally with features (``"basic+hold"``,
            ``"consult_transfer+secure_pause+early"``); None draws kind and features from
            the seeded mix (which also sends a few ``BOTH``/``UNKNOWN`` channels).
        second_user: ``(id, name)`` of the agent a transfer or conference brings in (kinds
            needing one become ``basic`` without it).
        second_queue: ``(id, name)`` of the queue of a blind transfer (default: the first).

    Raises:
        ValueError: an unknown kind or feature.
    """
    cid = conversation_id or new_uuid(rng)
    comm = new_uuid(rng)
    program = new_uuid(rng)
    target = int(rng.uniform(*call_duration_s) * 1000)
    kind, features, drawn = _kind(rng, kind)
    if kind in ("blind_transfer", "consult_transfer", "conference") and second_user is None:
        kind = "basic"
    company = rng.choice(vocab.COMPANIES)
    slots = {"company": company}
    b = _CallBuilder(rng, slots, odd_channels=drawn)
    pid = {p: new_uuid(rng) for p in ("customer", "ivr", "acd", "agent")}
    address = f"tel:+1555{rng.randrange(10**7):07d}"
    dnis = f"tel:+1800555{vocab.COMPANIES.index(company):04d}"
    customer_name = rng.choice(vocab.SLOTS["name"]).title()
    b.pid = {"customer": pid["customer"], "ivr": pid["ivr"], "acd": pid["acd"]}
    b.agent(pid["agent"], user_name)
    short = target < 90_000
    if kind != "abandoned":
        if "hold" in features:  # hold_at goes back to None once the hold happened
            b.hold_at = int(target * 0.3)
            b.hold_ms = (int(min(15_000, target * 0.15)), int(min(60_000, target * 0.2)))
        if "secure_pause" in features:
            b.pause_at = int(target * 0.45)
    parts: list[PlannedParticipant] = []
    closing_ms = 9_000
    callback = kind == "callback"
    lead = 0
    acd_start: int
    if not callback:
        early = "early" in features
        first = -int(rng.uniform(100, 600)) if early else int(rng.uniform(300, 800))
        call_start = first - 400 if early else 0
        if early:
            lead = max(-first + 50, int(rng.uniform(200, 1500)))
        u = b.line("ivr", first, vocab.IVR_WELCOME)
        if not short:
            u = b.line("ivr", b.next_start(u) + 300, vocab.IVR_MENU)
            u = b.say("customer", u.end_ms + int(rng.uniform(500, 1500)),
                      tuple(rng.choice(vocab.CUSTOMER_TO_IVR).split()))
        u = b.line("ivr", u.end_ms + int(rng.uniform(400, 900)), vocab.IVR_CONNECT)
        acd_start = u.end_ms + 200
        parts.append(PlannedParticipant(
            pid["ivr"], "ivr", vocab.IVR_NAME, call_start, call_start, acd_start,
            disconnect_type="transfer", initial_state="connected", address=dnis, ani=address,
            dnis=dnis))
        if kind == "abandoned":
            wait = int(rng.uniform(8_000, 45_000))
        else:
            wait = int(rng.uniform(1000, 3000) if short else rng.uniform(3000, 15000))
        if wait > 9_000 and rng.random() < 0.6:  # a queue announcement
            u = b.line("acd", acd_start + int(rng.uniform(2000, 4000)), vocab.ACD_COMFORT)
            wait = max(wait, u.end_ms + 500 - acd_start)
        agent_connect = acd_start + wait
        alert = max(acd_start + 100, agent_connect - int(rng.uniform(2000, 6000)))
    else:
        call_start = acd_start = 0
        alert = int(rng.uniform(500, 3000))
        agent_connect = alert + int(rng.uniform(1500, 4000))
    if kind == "abandoned":
        end = agent_connect  # the customer hangs up in the queue
        parts.append(PlannedParticipant(
            pid["acd"], "acd", queue_name, acd_start, acd_start, end, initial_state="connected",
            queue_id=queue_id, queue_name=queue_name, ani=address, dnis=dnis))
        parts.insert(0, PlannedParticipant(
            pid["customer"], "customer", customer_name, call_start, call_start, end,
            disconnect_type="endpoint", initial_state="offering", address=address, ani=address,
            dnis=dnis))
        return _plan(cid, comm, organization_id, program, queue_id, None, start_ms, epoch_ms,
                     acd_start, None, end, pid, address, b, kind, features, parts, lead, dnis)
    parts.append(PlannedParticipant(
        pid["acd"], "acd", queue_name, acd_start, acd_start, agent_connect,
        disconnect_type="transfer", initial_state="connected", queue_id=queue_id,
        queue_name=queue_name, ani=address, dnis=dnis))
    agent_a = {"participant_id": pid["agent"], "purpose": "agent", "name": user_name,
               "start_ms": alert, "connected_ms": agent_connect, "user_id": user_id,
               "user_name": user_name, "queue_id": queue_id, "queue_name": queue_name,
               "ani": address, "dnis": dnis,
               "direction": "outbound" if callback else "inbound"}
    if callback:
        cust_start = agent_connect + 300
        cust_connect = cust_start + int(rng.uniform(4000, 9000))
        u = b.line("agent", cust_connect + int(rng.uniform(300, 900)),
                   vocab.AGENT_CALLBACK_GREETING)
    else:
        cust_start = cust_connect = call_start
        u = b.line("agent", agent_connect + int(rng.uniform(300, 900)), vocab.AGENT_GREETING)
    u = b.line("customer", b.next_start(u), vocab.CUSTOMER_OPENING)
    if not short:
        u = b.line("agent", b.next_start(u), vocab.AGENT_VERIFY)
        u = b.line("customer", b.next_start(u), vocab.CUSTOMER_VERIFY)
    agents: list[dict[str, object]] = [agent_a]
    if kind in ("blind_transfer", "consult_transfer", "conference"):
        assert second_user is not None
        b_id, b_name = second_user
        pid["agent2"] = new_uuid(rng)
        agent_b: dict[str, object] = {
            "participant_id": pid["agent2"], "purpose": "agent", "name": b_name,
            "user_id": b_id, "user_name": b_name, "ani": address, "dnis": dnis}
        agents.append(agent_b)
        if kind == "blind_transfer":
            u = b.talk(u, int(target * 0.45))
            u = b.line("agent", b.next_start(u), vocab.AGENT_BLIND_TRANSFER)
            a_end = u.end_ms + int(rng.uniform(300, 700))
            q2_id, q2_name = second_queue or (queue_id, queue_name)
            pid["acd2"] = new_uuid(rng)
            b_connect = a_end + int(rng.uniform(3000, 12000))
            parts.append(PlannedParticipant(
                pid["acd2"], "acd", q2_name, a_end, a_end, b_connect, disconnect_type="transfer",
                initial_state="connected", queue_id=q2_id, queue_name=q2_name, ani=address,
                dnis=dnis))
            agent_a.update(end_ms=a_end, disconnect_type="transfer")
            agent_b.update(start_ms=max(a_end + 100, b_connect - int(rng.uniform(2000, 5000))),
                           connected_ms=b_connect, queue_id=q2_id, queue_name=q2_name)
            b.agent(pid["agent2"], b_name)
            u = b.line("agent", b_connect + int(rng.uniform(300, 900)), vocab.AGENT_GREETING)
            u = b.line("customer", b.next_start(u), vocab.CUSTOMER_OPENING)
        elif kind == "consult_transfer":
            u = b.talk(u, int(target * 0.45))
            u = b.line("agent", b.next_start(u), vocab.AGENT_CONSULT, noise=False)
            hold_start = u.end_ms + int(rng.uniform(200, 500))
            b_start = hold_start + int(rng.uniform(500, 1500))
            b_connect = b_start + int(rng.uniform(2000, 5000))
            consult_end = b_connect + int(rng.uniform(8_000, 30_000))
            b.holds.append((hold_start, consult_end))  # customer held during the consult
            agent_a.update(end_ms=consult_end, disconnect_type="transfer.consult",
                           consult_participant_id=pid["agent2"], consult_start_ms=b_start)
            agent_b.update(start_ms=b_start, connected_ms=b_connect)
            b.agent(pid["agent2"], b_name)
            u = b.line("agent", consult_end + int(rng.uniform(500, 1200)),
                       vocab.AGENT_TRANSFER_GREETING)
            u = b.line("customer", b.next_start(u), vocab.CUSTOMER_BODY)
        else:  # conference
            u = b.talk(u, int(target * 0.35))
            u = b.line("agent", b.next_start(u), vocab.AGENT_CONFERENCE)
            b_start = u.end_ms + int(rng.uniform(200, 500))
            b_connect = b_start + int(rng.uniform(2000, 5000))
            agent_b.update(start_ms=b_start, connected_ms=b_connect)
            b.agent(pid["agent2"], b_name)
            u = b.line("agent", b_connect + int(rng.uniform(300, 800)),
                       vocab.AGENT_CONFERENCE_HELLO)
            u = b.line("customer", b.next_start(u), vocab.CUSTOMER_BODY)
            while u.end_ms < target * 0.7:  # three-way: either agent speaks
                if rng.random() < 0.5:
                    b.agent(pid["agent"], user_name)
                else:
                    b.agent(pid["agent2"], b_name)
                u = b.line("agent", b.next_start(u), vocab.AGENT_BODY)
                u = b.line("customer", b.next_start(u), vocab.CUSTOMER_BODY)
            b.agent(pid["agent"], user_name)
            u = b.line("agent", b.next_start(u), vocab.AGENT_CONFERENCE_LEAVE)
            a_end = u.end_ms + int(rng.uniform(300, 700))
            agent_a.update(end_ms=a_end, disconnect_type="client")
            b.agent(pid["agent2"], b_name)
            u = b.line("agent", max(a_end, b.next_start(u)), vocab.AGENT_BODY)
    u = b.talk(u, target - closing_ms)
    u = b.line("agent", b.next_start(u), vocab.AGENT_CLOSING[:1])
    u = b.line("customer", b.next_start(u), vocab.CUSTOMER_CLOSING)
    u = b.line("agent", b.next_start(u), vocab.AGENT_CLOSING[1:])
    end = max(x.end_ms for x in b.utterances) + int(rng.uniform(500, 1500))
    customer_hangs_up = rng.random() < 0.7
    parts.insert(0, PlannedParticipant(
        pid["customer"], "customer", customer_name, cust_start, cust_connect, end,
        direction="outbound" if callback else "inbound",
        disconnect_type="endpoint" if customer_hangs_up else "peer",
        initial_state="dialing" if callback else "offering", address=address,
        ani=dnis if callback else address, dnis=address if callback else dnis,
        holds_ms=tuple(b.holds)))
    for a in agents:
        a.setdefault("end_ms", end)
        a.setdefault("disconnect_type", "peer" if customer_hangs_up else "client")
        a_end = int(a["end_ms"])  # type: ignore[call-overload]
        acw = int(rng.uniform(5_000, 40_000))
        transferred = a["disconnect_type"] in ("transfer", "transfer.consult")
        code, notes = (vocab.WRAPUP_CODES[-1] if transferred
                       else rng.choice(vocab.WRAPUP_CODES[:-1]))
        pauses = tuple((s, e) for s, e, who in b.pauses if who == a["participant_id"])
        parts.append(PlannedParticipant(
            acw_end_ms=a_end + acw, wrapup_code=code, wrapup_notes=notes,
            secure_pauses_ms=pauses, **a))  # type: ignore[arg-type]
    parts.sort(key=lambda p: (p.purpose != "customer", p.start_ms))  # the customer first
    return _plan(cid, comm, organization_id, program, queue_id, user_id, start_ms, epoch_ms,
                 acd_start, agent_connect, end, pid, address, b, kind, features, parts, lead,
                 dnis)


def _plan(
    cid: str, comm: str, org: str, program: str, queue_id: str, user_id: str | None,
    start_ms: int, epoch_ms: int, queue_entry: int, agent_connect: int | None, end: int,
    pid: dict[str, str], address: str, b: _CallBuilder, kind: str, features: set[str],
    parts: list[PlannedParticipant], lead: int, dnis: str,
) -> CallPlan:
    happened = {"hold": b.did_hold,
                "secure_pause": bool(b.pauses), "early": lead > 0}
    return CallPlan(
        conversation_id=cid, communication_id=comm, organization_id=org,
        program_id=program, queue_id=queue_id, user_id=user_id, start_ms=start_ms,
        session_start_epoch_ms=epoch_ms + start_ms, queue_entry_ms=queue_entry,
        agent_connect_ms=agent_connect, duration_ms=end, participant_ids=pid,
        customer_address=address,
        utterances=tuple(sorted(b.utterances, key=lambda x: (x.start_ms, x.end_ms))),
        holds_ms=tuple(sorted(b.holds)), kind=kind,
        features=tuple(f for f in CALL_FEATURES if happened[f] and f in features),
        participants=tuple(parts), secure_pauses_ms=tuple((s, e) for s, e, _ in b.pauses),
        transcription_lead_ms=lead, dnis=dnis,
    )


def agent_names(agents: int) -> tuple[str, ...]:
    """Display names of ``agents`` simulated agents (numbered once the list runs out)."""
    names = vocab.AGENT_NAMES
    return tuple(names[i % len(names)] + ("" if i < len(names) else f" {i // len(names) + 1}")
                 for i in range(agents))


def queue_names(queues: int) -> tuple[str, ...]:
    """Display names of ``queues`` simulated queues (numbered once the list runs out)."""
    names = vocab.QUEUE_NAMES
    return tuple(names[i % len(names)] + ("" if i < len(names) else f" {i // len(names) + 1}")
                 for i in range(queues))


def plan_nth(
    rng: random.Random, i: int, *, organization_id: str, queue_ids: Sequence[str],
    user_ids: Sequence[str], start_ms: int, epoch_ms: int,
    call_duration_s: tuple[float, float], conversation_id: str | None = None,
    kinds: Sequence[str] | None = None,
) -> CallPlan:
    """Plan call number ``i`` of a scenario (queue, agents and kind chosen by position).

    Call ``i`` goes to queue ``i % queues`` and agent ``i % agents``; a transfer or
    conference brings in agent ``(i + 1) % agents`` (blind transfers go through queue
    ``(i + 1) % queues``). ``kinds`` cycles through the given kinds; None draws from the
    seeded mix.
    """
    nq, na = len(queue_ids), len(user_ids)
    qn, an = queue_names(nq), agent_names(na)
    q, a, a2, q2 = i % nq, i % na, (i + 1) % na, (i + 1) % nq
    return plan_call(
        rng, organization_id=organization_id, queue_id=queue_ids[q], user_id=user_ids[a],
        start_ms=start_ms, epoch_ms=epoch_ms, call_duration_s=call_duration_s,
        conversation_id=conversation_id, kind=None if not kinds else kinds[i % len(kinds)],
        queue_name=qn[q], user_name=an[a],
        second_user=(user_ids[a2], an[a2]) if na > 1 else None,
        second_queue=(queue_ids[q2], qn[q2]),
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
    kinds: Sequence[str] | None = None,
    grouping: str = "grouped",
) -> Scenario:
    """Plan ``conversations`` calls over ``queues`` queues and ``agents`` agents.

    Args:
        seed: everything (ids, kinds, words, timings) follows from it.
        conversations: number of calls.
        queues, agents: how many queue and user (agent) ids to spread the calls over.
        call_duration_s: (min, max) length of a call in seconds.
        stagger_s: mean seconds between call starts (0: all start together).
        epoch_ms: epoch ms of the scenario start.
        kinds: call kinds (with ``+feature``\\ s) given to calls in turn; None: the seeded
            mix of ``CALL_KINDS``.
        grouping: how transcripts are grouped into frames (``diarkit.sim.frames.GROUPINGS``).

    Raises:
        ValueError: impossible counts, durations, kinds or grouping.
    """
    if conversations < 0 or queues < 1 or agents < 1:
        raise ValueError("need conversations >= 0, queues >= 1 and agents >= 1")
    lo, hi = call_duration_s
    if not 0 < lo <= hi:
        raise ValueError(f"call_duration_s must be 0 < min <= max seconds, got {call_duration_s}")
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    if kinds is not None:
        for k in kinds:
            _kind(random.Random(0), k)  # names a bad kind before any planning
    rng = random.Random(seed)
    org = new_uuid(rng)
    queue_ids = tuple(new_uuid(rng) for _ in range(queues))
    user_ids = tuple(new_uuid(rng) for _ in range(agents))
    plans = []
    start = 0.0
    for i in range(conversations):
        plans.append(plan_nth(
            rng, i, organization_id=org, queue_ids=queue_ids, user_ids=user_ids,
            start_ms=int(start), epoch_ms=epoch_ms, call_duration_s=call_duration_s,
            kinds=kinds))
        if stagger_s > 0:
            start += rng.expovariate(1.0 / (stagger_s * 1000))
    return Scenario(seed, org, queue_ids, user_ids, tuple(plans), queue_names(queues),
                    agent_names(agents), grouping)
