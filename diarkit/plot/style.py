"""Colours, speaker order and the mm:ss time axis shared by every diarkit figure.

Each speaker has one fixed colour (colour-blind safe Okabe-Ito hues) and one place in the
row order, so the same call looks the same on a timeline, a talk-share bar and a report;
times on the axes are call time in seconds, labelled ``m:ss``. The per-agent lanes of a
timeline (``"agent · Ana Lopez"``) take their speaker's colour and place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MultipleLocator

#: Fixed colour per speaker (colour-blind safe Okabe-Ito hues); others use ``OTHER_COLOUR``.
SPEAKER_COLOURS: dict[str, str] = {
    "agent": "#0072B2",
    "customer": "#E69F00",
    "ivr": "#009E73",
    "bot": "#009E73",
    "system": "#009E73",
    "both": "#CC79A7",
    "unknown": "#999999",
}
OTHER_COLOUR = "#7F7F7F"
OVERTALK_COLOUR = "#D55E00"
SILENCE_COLOUR = "#BBBBBB"
_SPEAKER_ORDER = ["agent", "customer", "ivr", "bot", "system", "both", "unknown"]
_TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]


def speaker_colour(speaker: str) -> str:
    """The fixed colour of a speaker name (case-insensitive); unknown names get grey.

    A per-agent lane (``"agent · Ana Lopez"``) has its speaker's colour.
    """
    name = str(speaker).lower()
    return SPEAKER_COLOURS.get(name, SPEAKER_COLOURS.get(_base(name), OTHER_COLOUR))


#: Separator of a speaker and the agent's name in per-agent lanes (``"agent · Ana"``).
LANE_SEP = " · "


def _base(lane: str) -> str:
    """The speaker of a lane name (``"agent · Ana"`` -> ``"agent"``)."""
    return lane.split(LANE_SEP, 1)[0]


def _ordered_speakers(names: Iterable[str], speakers: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(str(n) for n in names))
    if speakers is not None:
        return list(speakers) + [s for s in present if s not in speakers]
    rank = {s: i for i, s in enumerate(_SPEAKER_ORDER)}
    known = sorted((s for s in present if _base(s) in rank),
                   key=lambda s: (rank[_base(s)], s != _base(s), s))
    return known + sorted(s for s in present if _base(s) not in rank)


def format_mmss(seconds: float, _pos: object = None) -> str:
    """Format seconds as ``m:ss`` (or ``h:mm:ss`` from one hour); negative values get a sign."""
    sign = "-" if seconds < 0 else ""
    total = round(abs(float(seconds)))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"


def _time_axis(ax: Axes, start_s: float, end_s: float, axis: str = "x") -> None:
    """Put ~6-12 round mm:ss ticks on a time axis spanning ``start_s``..``end_s`` seconds."""
    span = max(end_s - start_s, 1.0)
    step = next((s for s in _TICK_STEPS_S if span / s <= 12), _TICK_STEPS_S[-1])
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(MultipleLocator(step))
    target.set_major_formatter(FuncFormatter(format_mmss))


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _fig, new = plt.subplots(figsize=figsize, layout="constrained")
    return new
