"""Analysis profiles: every threshold and rule behind a metric, named once (seconds, 0-1).

A :class:`Profile` is the single source of the defaults that ``talk_stats``, ``turns``,
``diarkit stats``, the demo report, the notebooks and the widget use, so the same data
gives the same numbers everywhere. Shipped profiles follow the published definitions of
the vendors where they differ (see ``docs/metrics.md`` for each definition and its source):

- ``default``: diarkit's own choice — NICE's 3 s silence threshold compared strictly
  ("more than 3 s"), whole call as the talk-share denominator, confidence 0.5 for text.
- ``genesys``: Genesys Cloud Speech and Text Analytics — agent, customer, IVR, ACD,
  silence and overtalk each as a share of the whole conversation (the SDK's
  ``ParticipantMetrics``); the strict 3 s silence threshold.
- ``contact_lens``: AWS Contact Lens — agent talk time over the conversation Contact Lens
  analyses (the agent's connected time); every gap where nobody talks is non-talk time
  (no minimum).
- ``ccai``: Google CCAI Insights — silence only when longer than 5 s, as a share of the
  whole conversation.
- ``nice``: NICE — silence is notable when it lasts three or more seconds (inclusive) and
  excludes hold time.

Profiles are frozen; derive a variant with :meth:`Profile.replace`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

#: Phase kinds (``diarkit.schema.PHASES``) that are conversation: silence counts only there.
TALK_PHASES = ("talk",)

Denominator = Literal["call", "agent", "speech"]
Span = Literal["call", "speech", "session"]
Unfinalized = Literal["finalize", "error"]


@dataclass(frozen=True, slots=True)
class Profile:
    """Every rule behind a metric; times in seconds, confidences 0-1.

    Attributes:
        name: the profile's name (``get_profile`` key).
        min_confidence: segments with a lower confidence (0-1) are not *said*: their text
            and words leave ``word_count``, ``words_per_minute`` and exports. They still
            count as speech (talk time, turns, silence never change with it).
        min_silence_s: silence threshold, seconds.
        silence_inclusive: ``False``: a gap counts only when strictly longer than
            ``min_silence_s`` ("more than 3 s"); ``True``: when at least that long.
        silence_phases: phase kinds inside which a gap can be silence; any other phase
            (hold, queue, ivr, acw, unknown/capture gap) is never silence.
        max_gap_s: largest pause (seconds) between two segments of one speaker inside one
            turn; a pause exactly this long stays inside the turn.
        min_overtalk_s: shortest overlap episode counted (seconds, inclusive).
        backchannel_max_s: turns shorter than this (seconds) are backchannels.
        backchannel_ends_turn: whether a backchannel of B ends A's turn for response
            latency (default ``False``: A's turn goes on, B's "mm-hm" is not a response).
        backchannel_is_response: whether a backchannel counts as a response.
        interruption_grace_s: an interrupted speaker stops within this many seconds.
        denominator: talk-share denominator: ``"call"`` — call duration from the first
            connect to the end; ``"agent"`` — time any agent was connected;
            ``"speech"`` — sum of all speakers' talk time.
        span: call span when no conversation metadata exists: ``"speech"`` (first to last
            speech), ``"session"`` (from 0, the transcription session start); with
            metadata the span is always the call (``"call"``).
        unfinalized: ``"finalize"`` — input with partial versions is finalized first;
            ``"error"`` — refuse it with a ``ValueError``.
        source: URL of the vendor definition followed (empty for ``default``).
    """

    name: str = "default"
    min_confidence: float = 0.5
    min_silence_s: float = 3.0
    silence_inclusive: bool = False
    silence_phases: tuple[str, ...] = TALK_PHASES
    max_gap_s: float = 1.0
    min_overtalk_s: float = 0.5
    backchannel_max_s: float = 1.0
    backchannel_ends_turn: bool = False
    backchannel_is_response: bool = False
    interruption_grace_s: float = 2.0
    denominator: Denominator = "call"
    span: Span = "speech"
    unfinalized: Unfinalized = "finalize"
    source: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within 0-1, got {self.min_confidence}")
        for field in (
            "min_silence_s",
            "max_gap_s",
            "min_overtalk_s",
            "backchannel_max_s",
            "interruption_grace_s",
        ):
            value = getattr(self, field)
            if not value >= 0:
                raise ValueError(f"{field} must be >= 0 seconds, got {value}")
        if self.denominator not in ("call", "agent", "speech"):
            raise ValueError(f"denominator must be call, agent or speech: {self.denominator!r}")
        if self.span not in ("call", "speech", "session"):
            raise ValueError(f"span must be call, speech or session, got {self.span!r}")
        if self.unfinalized not in ("finalize", "error"):
            raise ValueError(f"unfinalized must be finalize or error: {self.unfinalized!r}")

    def replace(self, **changes: object) -> Profile:
        """A copy with ``changes`` applied (validated like a new profile)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


PROFILES: dict[str, Profile] = {
    "default": Profile(),
    "genesys": Profile(
        name="genesys",
        denominator="call",
        source=(
            "https://github.com/MyPureCloud/platform-client-sdk-python/blob/master/"
            "build/docs/ParticipantMetrics.md"
        ),
    ),
    "contact_lens": Profile(
        name="contact_lens",
        min_silence_s=0.0,
        silence_inclusive=False,
        denominator="agent",
        source="https://docs.aws.amazon.com/connect/latest/adminguide/contact-lens-metrics.html",
    ),
    "ccai": Profile(
        name="ccai",
        min_silence_s=5.0,
        silence_inclusive=False,
        denominator="call",
        source="https://docs.cloud.google.com/contact-center/insights/docs/silence-analysis",
    ),
    "nice": Profile(
        name="nice",
        min_silence_s=3.0,
        silence_inclusive=True,
        denominator="call",
        source=(
            "https://help.incontact.com/Content/InteractionAnalyticsPro/"
            "AchieveYourBusinessGoals/EvaluateInteractionSilence.htm"
        ),
    ),
}

#: The profile used when none is named.
DEFAULT_PROFILE = PROFILES["default"]


def get_profile(profile: str | Profile | None = None) -> Profile:
    """The shipped profile named ``profile`` (or ``profile`` itself; ``None``: default).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if profile is None:
        return DEFAULT_PROFILE
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}") from None
