"""The one analysis behind the report, the demo, the notebooks and ``diarkit stats``.

``analyse(segments, profile)`` is ``finalize`` followed by ``talk_stats`` with the named
analysis profile (``diarkit.analysis.profiles``), nothing else: the statistics rows it
returns are the rows ``talk_stats(finalize(segments).segments, profile=...)`` gives in the
library, the rows ``diarkit stats`` writes and the rows the report's ``talk_stats.csv``
holds. The confidence threshold of the profile decides what is *said* (the audit lists
low-confidence text), never whether someone *spoke*.

``definitions(profile)`` names, once, the definition behind each figure of the report,
with its thresholds taken from the profile and the vendor source it follows.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pandas as pd


def _profile(profile: Any) -> Any:
    """The profile object for a name, a profile, or None (the default profile).

    Raises:
        ValueError: an unknown profile name (the message lists the known ones).
    """
    try:
        from diarkit.analysis.profiles import get_profile
    except ImportError:  # pragma: no cover - the profiles module ships with diarkit
        if profile not in (None, "default"):
            raise ValueError(f"unknown analysis profile {profile!r}") from None
        return None
    return get_profile(profile)


def profile_name(profile: Any) -> str:
    """The name of a profile given by name, object or None."""
    prof = _profile(profile)
    return "default" if prof is None else str(prof.name)


def _talk_stats_kwargs(prof: Any) -> dict[str, Any]:
    """Keyword arguments of ``talk_stats`` that carry the profile's rules."""
    from diarkit.analysis import talk_stats

    params = inspect.signature(talk_stats).parameters
    if "profile" in params:
        return {"profile": prof}
    if prof is None:
        return {}
    mapped = {
        "max_gap": prof.max_gap_s,
        "min_overtalk_s": prof.min_overtalk_s,
        "min_silence_s": prof.min_silence_s,
        "backchannel_max_s": prof.backchannel_max_s,
        "interruption_grace_s": prof.interruption_grace_s,
        "span": prof.span if prof.span in ("speech", "session") else "speech",
    }
    return {k: v for k, v in mapped.items() if k in params}


def stats_of(final_segments: pd.DataFrame, profile: Any = None) -> pd.DataFrame:
    """``talk_stats`` of finalized segments under ``profile`` (the library call, unchanged)."""
    from diarkit.analysis import talk_stats

    return talk_stats(final_segments, **_talk_stats_kwargs(_profile(profile)))


@dataclass(frozen=True)
class Analysis:
    """What the report shows: finalized segments, their statistics and the text audit.

    Attributes:
        profile: the profile's name.
        segments: final utterances (every one: low confidence is still speech).
        unfinished: utterances that never became final (not in the statistics).
        stats: ``talk_stats`` rows (one per conversation and speaker; seconds).
        low_confidence: the ``filter_confidence`` audit at the profile's threshold: rows
            whose *text* is unreliable (they still count as speech).
        min_confidence: that threshold (0-1).
        phases: the conversation model's ``PHASES`` rows (None without call events).
        without_speech: the model's ``CONVERSATIONS`` rows of calls with no transcribed
            speech in the data (``calls_without_speech``), None without a model.
    """

    profile: str
    segments: pd.DataFrame
    unfinished: pd.DataFrame
    stats: pd.DataFrame
    low_confidence: pd.DataFrame
    min_confidence: float
    phases: pd.DataFrame | None = None
    without_speech: pd.DataFrame | None = None


def analyse(segments: pd.DataFrame, profile: Any = None) -> Analysis:
    """Finalize ``segments`` and compute ``talk_stats`` under ``profile``.

    Args:
        segments: ``SEGMENTS`` rows as loaded (every utterance version).
        profile: an analysis profile name (``"default"``, ``"genesys"``, ...), a
            ``Profile``, or None for the default.

    Returns:
        An ``Analysis``; ``.stats`` equals ``talk_stats(finalize(segments).segments,
        profile=profile)``.
    """
    from diarkit.analysis import filter_confidence, finalize

    prof = _profile(profile)
    final = finalize(segments)
    stats = stats_of(final.segments, prof)
    threshold = float(getattr(prof, "min_confidence", 0.5))
    _kept, audit = filter_confidence(final.segments, min_confidence=threshold)
    return Analysis(profile_name(prof), final.segments, final.unfinished, stats, audit,
                    threshold)


def analyse_dataset(dataset: Any, profile: Any = None, *, conversations: Any = None,
                    start: Any = None, end: Any = None) -> Analysis:
    """``analyse`` for a dataset folder, on the conversation model when the dataset has one.

    The statistics are the rows ``diarkit stats`` writes for the same dataset and profile
    (``diarkit.io.load.conversation_stats``: segments attributed to the participants of
    the call events, phases excluded from silence); the segments are the final
    utterances of the same conversations with ``speaker`` set to the party the statistics
    count (``agent``, ``ivr``, ``acd``, ``customer``), for timelines.
    """
    from diarkit.analysis import filter_confidence, finalize
    from diarkit.io import load

    prof = _profile(profile)
    segments = load.load_segments(dataset, conversations=conversations, start=start, end=end)
    final = finalize(segments)
    by_model = getattr(load, "conversation_stats", None)
    shown = final.segments
    phases = without_speech = None
    if by_model is None or segments.empty:
        stats = stats_of(final.segments, prof)
    else:
        from diarkit.analysis.conversation import attribute, by_party, calls_without_speech

        ids = sorted(segments["conversation_id"].astype(str).unique())
        stats = by_model(dataset, prof, conversations=ids)
        # the same selection as the segments': calls without speech are in it too
        model = load.load_conversation_model(dataset, conversations, start, end)
        without_speech = calls_without_speech(model.conversations, ids)
        phases = model.phases[model.phases["conversation_id"].astype(str).isin(ids)
                              .to_numpy(dtype=bool)].reset_index(drop=True)
        # timelines show the parties the statistics count (IVR apart from the agent)
        shown = by_party(attribute(final.segments, phases))
    threshold = float(getattr(prof, "min_confidence", 0.5))
    _kept, audit = filter_confidence(final.segments, min_confidence=threshold)
    return Analysis(profile_name(prof), shown, final.unfinished, stats, audit, threshold,
                    phases, without_speech)


@dataclass(frozen=True)
class Definition:
    """One figure's definition as the report prints it."""

    name: str
    formula: str
    source: str


def definitions(profile: Any = None) -> dict[str, Definition]:
    """The definition of each figure the report shows, thresholds from ``profile``.

    Keys: ``talk_share``, ``silence``, ``nobody_speaking``, ``overtalk``,
    ``interruptions``, ``call_duration``, ``low_confidence``.
    """
    prof = _profile(profile)
    get = (lambda name, default: getattr(prof, name, default)) if prof is not None else (
        lambda _name, default: default)
    silence_s = float(get("min_silence_s", 3.0))
    inclusive = bool(get("silence_inclusive", False))
    overtalk_s = float(get("min_overtalk_s", 0.5))
    backchannel_s = float(get("backchannel_max_s", 1.0))
    grace_s = float(get("interruption_grace_s", 2.0))
    span = str(get("span", "speech"))
    denominator = str(get("denominator", "call"))
    confidence = float(get("min_confidence", 0.5))
    source = str(get("source", "")) or "diarkit default profile (docs/metrics.md)"
    name = "default" if prof is None else str(prof.name)
    compare = "at least" if inclusive else "longer than"
    denominators = {
        "call": "the call duration",
        "agent": "the time an agent was connected",
        "speech": "the sum of every speaker's talk time",
    }
    spans = {"speech": "first to last speech", "session": "from the transcription session "
             "start to the last speech", "call": "from the first connect to the end"}
    return {
        "talk_share": Definition(
            "talk share",
            "a speaker's talk time (union of their speech intervals) divided by "
            f"{denominators.get(denominator, denominator)} (talk_stats column "
            f"talk_share_{'speech' if denominator == 'speech' else 'call'})",
            source,
        ),
        "silence": Definition(
            "silence",
            f"time inside the call when nobody speaks, counting only gaps {compare} "
            f"{silence_s:g} s (call_silence_s; share = call_silence_s / call_duration_s)",
            source,
        ),
        "nobody_speaking": Definition(
            "nobody speaking",
            "every moment of the call without speech, pauses of any length "
            "(1 - call_speech_s / call_duration_s); drawn in grey in the talk-share chart",
            "diarkit (complement of the union of all speech)",
        ),
        "overtalk": Definition(
            "overtalk",
            "time two or more speakers talk at once (call_overtalk_s; share of the call "
            f"duration); episodes counted from {overtalk_s:g} s",
            source,
        ),
        "interruptions": Definition(
            "interruptions",
            "a turn starting strictly inside another speaker's turn, lasting at least "
            f"{backchannel_s:g} s, after which the other stops within {grace_s:g} s",
            source,
        ),
        "call_duration": Definition(
            "call duration", f"call span ({spans.get(span, span)}), seconds", source),
        "low_confidence": Definition(
            "low-confidence text",
            f"final utterances below confidence {confidence:g}: their words are unreliable "
            "but they still count as speech",
            f"analysis profile {name!r}",
        ),
    }


__all__ = ["Analysis", "Definition", "analyse", "analyse_dataset", "definitions", "profile_name",
           "stats_of"]
