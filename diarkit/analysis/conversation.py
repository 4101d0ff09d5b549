"""The conversation model, attribution and source reconciliation (one import for all).

This module re-exports the public names of the modules the conversation layer is made
of, so ``from diarkit.analysis.conversation import ...`` keeps working:

- :mod:`diarkit.analysis.model`: :func:`build_model` turns the ``.calls`` events of
  ``raw/`` into the ``CONVERSATIONS``, ``PARTICIPANTS`` and ``PHASES`` tables
  (``diarkit.schema``); :func:`snapshot_from_transcript` reads a post-call transcript's
  participants (the per-conversation phase painting is :mod:`diarkit.analysis._calls`);
- :mod:`diarkit.analysis.attribution`: :func:`attribute` gives every segment its party
  and, for internal speech, the participant who held the line at that moment
  (conference speech: the ``conference`` participant); :func:`by_party`;
- :mod:`diarkit.analysis.sources`: :func:`source_of` names each segment's source
  (``live``/``backfill``/``import``); :func:`reconcile` merges sources and duplicate
  communications into one timeline per conversation, never adding them
  (:func:`align_to_live`); :func:`one_timeline` is what every metric reads;
- :mod:`diarkit.analysis.phases`: :func:`phase_index`, :class:`PhaseIndex` and
  :class:`AllowedTime`, the phases as arrays for ``talk_stats``.

Times on the session clock in seconds, ``*_at`` UTC. ``docs/conversation-model.md``
states every rule with its reasons.
"""

from __future__ import annotations

from diarkit.analysis._calls import EXTERNAL_PURPOSES, INTERNAL_PURPOSES, PHASE_PRIORITY
from diarkit.analysis._core import to_ms
from diarkit.analysis.attribution import ATTRIBUTIONS, CONFERENCE, attribute, by_party
from diarkit.analysis.model import (
    RECEIVE_TOLERANCE_S,
    ConversationModel,
    build_model,
    calls_without_speech,
    snapshot_from_transcript,
)
from diarkit.analysis.phases import AllowedTime, PhaseIndex, phase_index
from diarkit.analysis.sources import (
    BACKFILL_SOURCE_PREFIX,
    BACKFILL_TOPIC,
    SOURCE_RANK,
    WILDCARD_CHANNELS,
    Reconciled,
    align_to_live,
    one_timeline,
    reconcile,
    source_of,
)

__all__ = [
    "ATTRIBUTIONS",
    "BACKFILL_SOURCE_PREFIX",
    "BACKFILL_TOPIC",
    "CONFERENCE",
    "EXTERNAL_PURPOSES",
    "INTERNAL_PURPOSES",
    "PHASE_PRIORITY",
    "RECEIVE_TOLERANCE_S",
    "SOURCE_RANK",
    "WILDCARD_CHANNELS",
    "AllowedTime",
    "ConversationModel",
    "PhaseIndex",
    "Reconciled",
    "align_to_live",
    "attribute",
    "build_model",
    "by_party",
    "calls_without_speech",
    "one_timeline",
    "phase_index",
    "reconcile",
    "snapshot_from_transcript",
    "source_of",
    "to_ms",
]
