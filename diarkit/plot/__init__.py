"""Matplotlib figures of conversations and fleets; times on the axes are mm:ss of call time.

Every function takes ``ax=`` (or creates a figure when it is ``None``), draws, and returns
the Axes; none calls ``plt.show()``, so all of them work on the Agg backend. Inputs are
tables of the contracts in ``diarkit.schema`` (``SEGMENTS``, ``TURNS``, ``STATS``); nothing
here computes statistics that ``diarkit.analysis`` owns beyond what drawing needs (the union,
overlap and gaps of one call's intervals).

The package is split by what is drawn, with the pure table and interval logic (no
matplotlib) kept apart from the drawing:

- ``timeline``: ``plot_timeline`` and ``timeline_png``, one call's speakers over time;
- ``talk_share``: ``plot_talk_share``, a stacked bar per call;
- ``fleet``: ``plot_fleet`` and ``plot_compare``, distributions across calls and groups;
- ``fleet_table``: the per-call table, ``FLEET_METRICS`` and ``tukey_outliers`` (pandas);
- ``style``: speaker colours, row order and the mm:ss axis;
- ``tables``: table checks, short ids, conversation prefixes and names (pandas);
- ``intervals``: union, overlap, gaps and clipping of intervals in seconds (NumPy).

Everything public is importable from ``diarkit.plot`` itself.
"""

from __future__ import annotations

from .fleet import plot_compare, plot_fleet
from .fleet_table import FLEET_METRICS, fleet_metric_columns, tukey_outliers
from .style import (
    LANE_SEP,
    OTHER_COLOUR,
    OVERTALK_COLOUR,
    SILENCE_COLOUR,
    SPEAKER_COLOURS,
    format_mmss,
    speaker_colour,
)
from .tables import DURATION_COLUMNS, Names, names_of, resolve_conversation
from .talk_share import plot_talk_share
from .timeline import plot_timeline, timeline_png

__all__ = [
    "DURATION_COLUMNS",
    "FLEET_METRICS",
    "LANE_SEP",
    "OTHER_COLOUR",
    "OVERTALK_COLOUR",
    "SILENCE_COLOUR",
    "SPEAKER_COLOURS",
    "Names",
    "fleet_metric_columns",
    "format_mmss",
    "names_of",
    "plot_compare",
    "plot_fleet",
    "plot_talk_share",
    "plot_timeline",
    "resolve_conversation",
    "speaker_colour",
    "timeline_png",
    "tukey_outliers",
]
