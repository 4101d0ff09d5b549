"""Matplotlib figures of conversations and fleets; times on the axes are mm:ss of call time.

Every function takes ``ax=`` (or creates a figure when it is ``None``), draws, and returns
the Axes; none calls ``plt.show()``, so all of them work on the Agg backend. Inputs are
tables of the contracts in ``diarkit.schema`` (``SEGMENTS``, ``TURNS``, ``STATS``); nothing
here computes statistics that ``diarkit.analysis`` owns beyond what drawing needs (the union,
overlap and gaps of one call's intervals).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

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
# Matplotlib 3.10 replaced boxplot(vert=False) by orientation="horizontal"
_HORIZONTAL: dict[str, Any] = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)
_TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]


def speaker_colour(speaker: str) -> str:
    """The fixed colour of a speaker name (case-insensitive); unknown names get grey.

    A per-agent lane (``"agent · Ana Lopez"``) has its speaker's colour.
    """
    name = str(speaker).lower()
    return SPEAKER_COLOURS.get(name, SPEAKER_COLOURS.get(_base(name), OTHER_COLOUR))


#: Separator of a speaker and the agent's name in per-agent lanes (``"agent · Ana"``).
LANE_SEP = " · "

#: Names for ids: an ``{id: name}`` mapping (user and queue ids), or a dataset folder
#: whose ``dims/`` tables ``diarkit names`` wrote.
Names: TypeAlias = "Mapping[str, str] | str | os.PathLike[str] | None"


def _base(lane: str) -> str:
    """The speaker of a lane name (``"agent · Ana"`` -> ``"agent"``)."""
    return lane.split(LANE_SEP, 1)[0]


def names_of(names: Names) -> dict[str, str]:
    """``{id: name}`` from a mapping, or from a dataset's ``dims/`` (users and queues).

    Returns an empty dict for None or a dataset without resolved names.
    """
    if names is None:
        return {}
    if isinstance(names, Mapping):
        return {str(k): str(v) for k, v in names.items() if v is not None}
    from diarkit.io.dims import load_names

    out: dict[str, str] = {}
    for kind in ("users", "queues"):
        out.update(load_names(os.fspath(names), kind))
    return out


def _labels(frame: pd.DataFrame, id_col: str, name_col: str,
            names: Mapping[str, str]) -> pd.Series | None:
    """Per-row display label of an id column: the name column's value, else the id's
    name in ``names``, else the (short) id; None when no names are available at all
    (no name column and no ``names``), so plots stay as they were without names."""
    has_id, has_name = id_col in frame.columns, name_col in frame.columns
    if not has_name and not (has_id and names):
        return None
    empty = pd.Series(pd.NA, index=frame.index, dtype="string")
    ids = frame[id_col].astype("string") if has_id else empty
    label = frame[name_col].astype("string") if has_name else empty
    same = (label == ids).fillna(False).to_numpy(dtype=bool)
    label = label.mask(same)  # add_names keeps the id as the name of an unknown id
    label = label.fillna(ids.map(names).astype("string"))
    return label.fillna(ids.map(lambda v: _short_id(v) if isinstance(v, str) else v)
                        .astype("string"))


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


# -- interval helpers (seconds, half-open [start, end)) -------------------------------------


def _union(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Merge intervals (seconds) into a sorted array of disjoint ``[start, end)`` rows."""
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        return np.empty((0, 2))
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    group = np.cumsum(new) - 1
    out_s = s[new]
    out_e = np.zeros(len(out_s))
    np.maximum.at(out_e, group, e)
    return np.column_stack([out_s, out_e])


def _overlap(unions: Sequence[np.ndarray]) -> np.ndarray:
    """Intervals (seconds) covered by two or more of the given disjoint interval sets."""
    if len(unions) < 2:
        return np.empty((0, 2))
    edges = np.concatenate([np.column_stack([u[:, 0], np.ones(len(u))]) for u in unions] +
                           [np.column_stack([u[:, 1], -np.ones(len(u))]) for u in unions])
    if len(edges) == 0:
        return np.empty((0, 2))
    # ends sort before starts at the same instant: half-open intervals that touch do not overlap
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    t, d = edges[order, 0], edges[order, 1]
    depth = np.cumsum(d)
    multi = depth >= 2
    out: list[tuple[float, float]] = []
    for i in np.flatnonzero(multi[:-1]):
        if t[i + 1] > t[i]:
            out.append((t[i], t[i + 1]))
    if not out:
        return np.empty((0, 2))
    arr = np.array(out)
    return _union(arr[:, 0], arr[:, 1])


def _gaps(union: np.ndarray, start_s: float, end_s: float, min_s: float) -> np.ndarray:
    """Stretches (seconds) inside ``start_s..end_s`` covered by no interval, longer than ``min_s``.

    Strictly longer, as ``talk_stats`` counts silences (a gap of exactly ``min_s`` is not one).
    """
    if len(union) == 0:
        return np.array([[start_s, end_s]]) if end_s - start_s > min_s else np.empty((0, 2))
    gs = np.concatenate([[start_s], union[:, 1]])
    ge = np.concatenate([union[:, 0], [end_s]])
    keep = (ge - gs) > min_s
    return np.column_stack([gs[keep], ge[keep]])


# -- timeline ---------------------------------------------------------------------------------


def _require_table(obj: object, where: str, loader: str) -> pd.DataFrame:
    """``obj`` itself when it is a DataFrame; a clear error when it is a path or anything else."""
    if isinstance(obj, pd.DataFrame):
        return obj
    import os

    if isinstance(obj, str | os.PathLike):
        raise TypeError(
            f"{where} takes a table (pandas DataFrame), not a path ({os.fspath(obj)!r}); "
            f"load it first, e.g. {loader}"
        )
    raise TypeError(f"{where} takes a pandas DataFrame, not {type(obj).__name__}")


def resolve_conversation(ids: Iterable[object], conversation_id: str, where: str) -> str:
    """The full conversation id for ``conversation_id``: itself, or the one id it starts.

    Plots and reports show ids shortened to their first 8+ characters; any unambiguous
    prefix of an id is accepted. An ambiguous or unknown prefix raises ``ValueError``.
    """
    known = [str(i) for i in ids]
    wanted = str(conversation_id)
    if wanted in known:
        return wanted
    matches = sorted({i for i in known if i.startswith(wanted)}) if wanted else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"{where}: {wanted!r} is the start of {len(matches)} conversation ids "
                         f"({', '.join(matches[:5])}); give more characters")
    raise ValueError(f"{where}: conversation {wanted!r} is not in the table")


#: Fill colours of non-talk phases on a timeline's ``phases`` row.
_PHASE_COLOURS = {"ivr": "#BFE5D9", "queue": "#E5E5E5", "hold": "#F3D9B1",
                  "secure_pause": "#E8D5E5", "acw": "#D5E1EE", "unknown": "#F2C4C4"}


def _phase_spans(phases: pd.DataFrame | None, frame: pd.DataFrame,
                 conversation_id: str | None) -> list[tuple[float, float, str]]:
    """(start_s, end_s, kind) of the conversation's phases, in time order (seconds)."""
    if phases is None or phases.empty:
        return []
    missing = [c for c in ("conversation_id", "phase", "start_s", "end_s")
               if c not in phases.columns]
    if missing:
        raise ValueError(f"plot_timeline: phases have no column(s) {missing} (need PHASES)")
    cid = str(frame["conversation_id"].iloc[0]) if len(frame) else str(conversation_id)
    mine = phases[phases["conversation_id"].astype("string") == cid]
    mine = mine.dropna(subset=["start_s", "end_s"]).sort_values("start_s")
    return [(float(a), float(b), str(k)) for a, b, k in
            zip(mine["start_s"], mine["end_s"], mine["phase"], strict=True) if b > a]


def _clip(intervals: np.ndarray, within: np.ndarray) -> np.ndarray:
    """The parts of ``intervals`` (n x 2, seconds) that lie inside ``within`` (m x 2)."""
    out = [(max(a, c), min(b, d)) for a, b in intervals for c, d in within
           if min(b, d) > max(a, c)]
    return np.array(out, dtype=float).reshape(-1, 2)


def _pick_conversation(frame: pd.DataFrame, conversation_id: str | None) -> pd.DataFrame:
    frame = _require_table(frame, "plot_timeline", "diarkit.load_segments(path)")
    for col in ("conversation_id", "speaker", "start_s", "end_s"):
        if col not in frame.columns:
            raise ValueError(f"plot_timeline: table has no column {col!r} (need SEGMENTS or TURNS)")
    ids = pd.unique(frame["conversation_id"].astype("string").dropna())
    if conversation_id is None:
        if len(ids) > 1:
            shown = ", ".join(map(str, ids[:5])) + (" ..." if len(ids) > 5 else "")
            raise ValueError(
                f"plot_timeline: table holds {len(ids)} conversations ({shown}); "
                "pass conversation_id="
            )
        return frame
    full = resolve_conversation(ids, str(conversation_id), "plot_timeline")
    return frame[frame["conversation_id"].astype("string") == full]


def _ordered_speakers(names: Iterable[str], speakers: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(str(n) for n in names))
    if speakers is not None:
        return list(speakers) + [s for s in present if s not in speakers]
    rank = {s: i for i, s in enumerate(_SPEAKER_ORDER)}
    known = sorted((s for s in present if _base(s) in rank),
                   key=lambda s: (rank[_base(s)], s != _base(s), s))
    return known + sorted(s for s in present if _base(s) not in rank)


def plot_timeline(
    segments: pd.DataFrame,
    conversation_id: str | None = None,
    *,
    ax: Axes | None = None,
    confidence: bool = False,
    speakers: Sequence[str] | None = None,
    silence_min_s: float | None = None,
    label_silence_s: float = 10.0,
    show_overtalk: bool = True,
    show_silence: bool = True,
    title: str | None = None,
    phases: pd.DataFrame | None = None,
    silence_phases: Sequence[str] = ("talk",),
    shares: dict[str, float] | None = None,
    shares_label: str = "talk share",
    names: Names = None,
) -> Axes:
    """Draw one conversation as a speaker timeline; the x axis is call time in mm:ss.

    One row per speaker (agent, customer, then IVR/other) in its fixed colour
    (``SPEAKER_COLOURS``); below them an ``overtalk`` row (time two or more speakers
    talk at once, also shaded across the speaker rows) and a ``silence`` row (stretches
    nobody speaks longer than ``silence_min_s`` seconds, the definition ``talk_stats``
    uses for ``call_silence_s``; those of ``label_silence_s`` seconds or more are
    labelled with their length).

    Args:
        segments: a ``SEGMENTS`` or ``TURNS`` table (``conversation_id``, ``speaker``,
            ``start_s``, ``end_s`` in seconds; ``confidence`` 0-1 when ``confidence=True``).
        conversation_id: which conversation (the full id or the short id plots and
            reports show: any unambiguous start of it); may be omitted when the table
            holds one conversation.
        ax: Axes to draw on; a new 12x3.2 inch figure when None.
        confidence: shade each interval by its confidence (pale = low).
        speakers: row order (top first); speakers not listed follow.
        silence_min_s: gaps longer than this (seconds) are drawn as silence; default
            ``diarkit.analysis.stats.MIN_SILENCE_S`` (3 s, as ``talk_stats``).
        label_silence_s: gaps (seconds) at least this long get a text label.
        show_overtalk: draw the overtalk row and shading.
        show_silence: draw the silence row.
        title: axes title; default names the conversation and its length.
        phases: the conversation model's ``PHASES`` rows (``phase``, ``start_s``,
            ``end_s``; ``load_phases``): silence is then only counted inside
            ``silence_phases``, as ``talk_stats`` counts it, and the other phases (hold,
            queue, IVR, after-call work, unknown) are drawn on a ``phases`` row.
        silence_phases: phase kinds inside which a gap can be silence.
        shares: talk share per speaker (0-1) to print above the plot instead of the
            plot's own (speaker time over first speech to last speech), e.g. the
            ``talk_share_call`` of ``talk_stats`` so a report shows one figure.
        shares_label: what ``shares`` are, printed before them (keyed by speaker;
            per-agent lanes use their speaker's figure).
        names: names of user and queue ids (an ``{id: name}`` mapping, or a dataset
            folder with ``dims/`` from ``diarkit names``). When names are available
            (this, or a ``user_name`` column) and the segments carry ``user_id``
            (attributed segments), each agent gets a lane labelled ``agent · <name>``
            (the short id where a name is unknown); a ``queue_name``/``queue_id``
            column names the queue in the default title.

    Returns:
        The Axes drawn on.

    Raises:
        ValueError: a required column is missing, or the conversation is ambiguous/absent.
        TypeError: ``segments`` is a path (or anything but a DataFrame).
    """
    if silence_min_s is None:
        from diarkit.analysis.stats import MIN_SILENCE_S

        silence_min_s = MIN_SILENCE_S
    frame = _pick_conversation(segments, conversation_id)
    ax = _new_ax(ax, (12, 3.2))
    starts = frame["start_s"].to_numpy(dtype=float, na_value=np.nan)
    ends = frame["end_s"].to_numpy(dtype=float, na_value=np.nan)
    valid = np.isfinite(starts) & np.isfinite(ends)
    frame, starts, ends = frame[valid], starts[valid], ends[valid]
    spk = frame["speaker"].astype("string").fillna("unknown").to_numpy(dtype=object)
    known = names_of(names)
    agent_labels = _labels(frame, "user_id", "user_name", known)
    if agent_labels is not None:  # one lane per agent, labelled by name
        lab = agent_labels.to_numpy(dtype=object, na_value=None)
        for i in np.flatnonzero((spk == "agent") & np.array([x is not None for x in lab],
                                                           dtype=bool)):
            spk[i] = f"agent{LANE_SEP}{lab[i]}"
    order = _ordered_speakers(spk, speakers)
    lanes = list(order)
    spans = _phase_spans(phases, frame, conversation_id)
    other = [(a, b, k) for a, b, k in spans if k not in silence_phases]
    if other:
        lanes.append("phases")
    if show_overtalk:
        lanes.append("overtalk")
    if show_silence:
        lanes.append("silence")
    y_of = {name: len(lanes) - 1 - i for i, name in enumerate(lanes)}
    height = 0.72
    t0 = min(0.0, float(starts.min())) if len(starts) else 0.0
    t1 = float(ends.max()) if len(ends) else 60.0
    conf = (
        frame["confidence"].to_numpy(dtype=float, na_value=np.nan)
        if confidence and "confidence" in frame.columns
        else None
    )
    unions: list[np.ndarray] = []
    for name in order:
        mask = spk == name
        colour = speaker_colour(name)
        u = _union(starts[mask], ends[mask])
        unions.append(u)
        y = y_of[name] - height / 2
        if conf is not None:
            c = np.nan_to_num(conf[mask], nan=1.0).clip(0, 1)
            faces = [to_rgba(colour, 0.15 + 0.85 * v) for v in c]
            bars = list(zip(starts[mask], ends[mask] - starts[mask], strict=True))
            ax.broken_barh(bars, (y, height), facecolors=faces, edgecolor="none")
        else:
            bars = [(a, b - a) for a, b in u]
            ax.broken_barh(bars, (y, height), facecolors=colour, edgecolor="none")
    # events shorter than ~0.25 % of the call are widened so they stay visible on long calls
    min_w = (t1 - t0) * 0.0025
    ot = _overlap(unions)
    if show_overtalk:
        ybase = y_of["overtalk"] - height / 2
        ax.broken_barh(
            [(a, max(b - a, min_w)) for a, b in ot], (ybase, height), facecolors=OVERTALK_COLOUR
        )
        top = y_of[order[0]] + 0.5 if order else 0.5
        bottom = y_of[order[-1]] - 0.5 if order else 0.5
        ymin = (bottom + 0.5) / len(lanes)
        ymax = (top + 0.5) / len(lanes)
        for a, b in ot:
            ax.axvspan(a, max(b, a + min_w), ymin=ymin, ymax=ymax, color=OVERTALK_COLOUR,
                       alpha=0.18, lw=0)
    everyone = np.concatenate(unions) if unions else np.empty((0, 2))
    all_union = _union(everyone[:, 0], everyone[:, 1]) if len(everyone) else everyone
    call_start = float(all_union[0, 0]) if len(all_union) else t0
    if spans:
        talk = np.array([(a, b) for a, b, k in spans if k in silence_phases], dtype=float)
        raw_gaps = _gaps(all_union, call_start, t1, 0.0)
        pieces = _clip(raw_gaps, talk.reshape(-1, 2))
        gaps = pieces[(pieces[:, 1] - pieces[:, 0]) > silence_min_s] if len(pieces) else pieces
        ybase = y_of["phases"] - height / 2 if other else 0.0
        for a, b, kind in other:
            ax.broken_barh([(a, b - a)], (ybase, height), facecolors=_PHASE_COLOURS.get(
                kind, "#DDDDDD"), edgecolor="none")
            if b - a >= (t1 - t0) * 0.04:
                ax.text((a + b) / 2, y_of["phases"], kind, ha="center", va="center",
                        fontsize=7, color="#333333")
    else:
        gaps = _gaps(all_union, call_start, t1, silence_min_s)
    if show_silence:
        ybase = y_of["silence"] - height / 2
        ax.broken_barh(
            [(a, b - a) for a, b in gaps], (ybase, height), facecolors=SILENCE_COLOUR,
            edgecolor="#888888", hatch="///", linewidth=0.4,
        )
        for a, b in gaps:
            if b - a >= label_silence_s:
                ax.annotate(
                    f"{b - a:.0f} s", ((a + b) / 2, y_of["silence"]), ha="center", va="center",
                    fontsize=7, color="#333333",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                )
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.set_yticks([y_of[n] for n in lanes], lanes)
    for tick, name in zip(ax.get_yticklabels(), lanes, strict=True):
        if name == "overtalk":
            tick.set_color(OVERTALK_COLOUR)
        elif name in ("silence", "phases"):
            tick.set_color("#666666")
        else:
            tick.set_color(speaker_colour(name))
            tick.set_fontweight("bold")
    pad = (t1 - t0) * 0.01
    ax.set_xlim(t0 - pad, t1 + pad)
    _time_axis(ax, t0, t1)
    ax.set_xlabel("call time (mm:ss from session start)")
    ax.grid(axis="x", color="#DDDDDD", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if title is None:
        cid = str(frame["conversation_id"].iloc[0]) if len(frame) else str(conversation_id)
        title = f"Conversation {_short_id(cid)} · {format_mmss(t1 - t0)}"
        queue = _labels(frame, "queue_id", "queue_name", known)
        if queue is None and "queue_id" in frame.columns:
            queue = frame["queue_id"].astype("string").map(
                lambda v: _short_id(v) if isinstance(v, str) else v).astype("string")
        if queue is not None and queue.notna().any():
            title += f" · queue {queue.dropna().iloc[0]}"
    ax.set_title(title, loc="left", fontsize=11, pad=15)
    call = max(t1 - call_start, 1e-9)
    if shares is not None:  # the caller's figures (e.g. talk_stats' talk_share_call)
        keys = dict.fromkeys(name if name in shares else _base(name) for name in order)
        parts = [f"{name} {float(shares[name]):.0%}" for name in keys if name in shares]
        head = f"{shares_label}: "
    else:
        parts = [
            f"{name} {float((u[:, 1] - u[:, 0]).sum()) / call:.0%}"
            for name, u in zip(order, unions, strict=True)
        ]
        head = "talk share of call: "
    parts.append(f"overtalk {format_mmss(float((ot[:, 1] - ot[:, 0]).sum()))}")
    parts.append(f"silence {format_mmss(float((gaps[:, 1] - gaps[:, 0]).sum()))}")
    summary = head + " · ".join(parts)
    if conf is not None:
        summary += "   |   shade = confidence (pale = low)"
    ax.annotate(summary, (0.0, 1.0), xycoords="axes fraction", xytext=(0, 3),
                textcoords="offset points", ha="left", va="bottom", fontsize=8, color="#555555")
    return ax


def timeline_png(segments: pd.DataFrame, conversation_id: str | None = None,
                 dpi: int = 70) -> bytes:
    """``plot_timeline`` of one conversation rendered to PNG bytes (no pyplot; thread-safe)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 2.4), layout="constrained")
    plot_timeline(segments, conversation_id, ax=fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


# -- talk share -------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, cols: Sequence[str], where: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: table has no column(s) {missing} (got {list(frame.columns)})")


def _short_id(value: object, n: int = 8) -> str:
    """Ids up to 14 characters unchanged; longer ones (UUIDs) cut to their first ``n``."""
    text = str(value)
    return text if len(text) <= 14 else text[:n]


def _short_ids(values: Iterable[object]) -> list[str]:
    """Short labels for ids, lengthened until distinct ids get distinct labels."""
    texts = [str(v) for v in values]
    for n in (8, 12, 16, 24):
        short = [_short_id(t, n) for t in texts]
        if len(set(short)) == len(set(texts)):
            return short
    return texts


#: Columns that may hold a conversation's length in seconds, first match wins.
DURATION_COLUMNS = ("call_duration_s", "duration_s", "conversation_duration_s", "span_s")


def _duration_column(frame: pd.DataFrame) -> str | None:
    """The first of ``DURATION_COLUMNS`` present in ``frame`` with any non-null value."""
    return next(
        (c for c in DURATION_COLUMNS if c in frame.columns and frame[c].notna().any()), None
    )


def plot_talk_share(
    stats: pd.DataFrame,
    *,
    ax: Axes | None = None,
    denominator: str = "speech",
    top: int = 25,
    sort_by: str = "agent",
    include: Iterable[object] = (),
    names: Names = None,
) -> Axes:
    """Draw each conversation's talk share per speaker as a 100 % stacked horizontal bar.

    With ``denominator="call"`` the grey remainder is the time **nobody speaks**:
    ``1 - call_speech_s / call_duration_s`` when the stats carry ``call_speech_s`` (every
    pause, however short; not the ``call_silence_s`` definition, which counts only gaps
    longer than a threshold), else 1 minus the sum of the shares. Overlapping speech
    counts for every speaker talking, so with overtalk a bar can reach past 100 %.

    Args:
        stats: ``STATS`` rows (``conversation_id``, ``speaker``, ``talk_time_s`` in seconds),
            one per conversation and speaker, as ``diarkit.analysis.talk_stats`` returns.
        ax: Axes to draw on; a new figure when None.
        denominator: ``"speech"`` divides by the conversation's total talk time (pyannote's
            ``percent=True``); ``"call"`` divides by the call duration (Genesys, AWS,
            Google) from a duration column (``DURATION_COLUMNS``), leaving the rest as
            silence.
        top: conversations drawn besides ``include``: the longest (by call duration,
            else by talk time) up to ``top`` bars in all.
        sort_by: speaker whose share orders the bars (largest on top).
        include: conversation ids always drawn, whatever ``top`` (e.g. the calls a
            report flags as outliers); their labels are orange and marked ``*``.
        names: names of user and queue ids (an ``{id: name}`` mapping, or a dataset
            folder with ``dims/`` from ``diarkit names``). When names are available
            (this, or ``user_name``/``queue_name`` columns as ``add_names`` and
            ``with_queues`` add them), each bar's label names the call's agents and its
            queue after the conversation id: ``"273b8334 · Ana Lopez · Sales"`` (the
            short id where a name is unknown).

    Returns:
        The Axes drawn on.

    Raises:
        ValueError: missing columns, unknown denominator, or no duration for ``"call"``.
        TypeError: ``stats`` is a path (or anything but a DataFrame).
    """
    stats = _require_table(stats, "plot_talk_share", "diarkit.talk_stats(segments)")
    _require(stats, ["conversation_id", "speaker", "talk_time_s"], "plot_talk_share")
    if denominator not in ("speech", "call"):
        raise ValueError(f"plot_talk_share: denominator must be 'speech' or 'call', "
                         f"not {denominator!r}")
    frame = stats.assign(
        conversation_id=stats["conversation_id"].astype("string"),
        speaker=stats["speaker"].astype("string").fillna("unknown"),
    )
    wide = frame.pivot_table(
        index="conversation_id", columns="speaker", values="talk_time_s", aggfunc="sum",
        fill_value=0.0, observed=True,
    )
    wide.columns = [str(c) for c in wide.columns]
    speech = wide.sum(axis=1)
    length = speech
    nobody: pd.Series | None = None
    if denominator == "call":
        dcol = _duration_column(frame)
        if dcol is None:
            raise ValueError(
                "plot_talk_share: denominator='call' needs a call duration column "
                f"(one of {list(DURATION_COLUMNS)})"
            )
        total = frame.groupby("conversation_id")[dcol].max().reindex(wide.index)
        total = np.maximum(total.astype(float), speech)
        length = total
        if "call_speech_s" in frame.columns and frame["call_speech_s"].notna().any():
            union = frame.groupby("conversation_id")["call_speech_s"].max().reindex(wide.index)
            nobody = (1.0 - union.astype(float) / total.replace(0, np.nan)).clip(lower=0)
    else:
        total = speech
    shares = wide.div(total.replace(0, np.nan), axis=0).fillna(0.0)
    ids = [str(i) for i in wide.index]
    forced = [resolve_conversation(ids, str(c), "plot_talk_share") for c in include]
    forced = list(dict.fromkeys(forced))
    rest = [c for c in length.sort_values(ascending=False, kind="stable").index
            if c not in set(forced)]
    keep = forced + rest[: max(0, top - len(forced))]
    shares = shares.loc[keep]
    order = _ordered_speakers(shares.columns, None)
    shares = shares[order]
    if sort_by in shares.columns:
        shares = shares.sort_values(sort_by, ascending=True)
    if denominator == "call":
        remainder = (1.0 - shares.sum(axis=1)).clip(lower=0)
        if nobody is not None:
            remainder = nobody.reindex(shares.index).fillna(remainder)
        shares["nobody speaking"] = remainder
    height = max(1.6, 0.32 * len(shares) + 1.0)
    ax = _new_ax(ax, (9, height))
    y = np.arange(len(shares))
    left = np.zeros(len(shares))
    for name in shares.columns:
        vals = shares[name].to_numpy(dtype=float)
        colour = SILENCE_COLOUR if name == "nobody speaking" else speaker_colour(name)
        ax.barh(y, vals, left=left, color=colour, label=name, height=0.72, edgecolor="white",
                linewidth=0.5)
        for yi, (lv, v) in enumerate(zip(left, vals, strict=True)):
            if v >= 0.07:
                ax.text(lv + v / 2, yi, f"{v:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if name in ("agent", "ivr") else "#222222")
        left += vals
    marked = set(forced)
    known = names_of(names)
    extra: list[pd.Series] = []
    agent_labels = _labels(frame, "user_id", "user_name", known)
    if agent_labels is not None:
        mine = agent_labels.notna() & (frame["speaker"] == "agent")
        extra.append(agent_labels[mine].groupby(frame.loc[mine, "conversation_id"],
                                                observed=True)
                     .agg(lambda v: ", ".join(dict.fromkeys(v))))
    queue_labels = _labels(frame, "queue_id", "queue_name", known)
    if queue_labels is not None:
        extra.append(queue_labels.dropna().groupby(
            frame.loc[queue_labels.notna(), "conversation_id"], observed=True).first())
    shorts = [LANE_SEP.join([s, *(str(e[c]) for e in extra if c in e.index)])
              for c, s in zip(shares.index, _short_ids(shares.index), strict=True)]
    labels = [f"*{s}" if c in marked else s
              for c, s in zip(shares.index, shorts, strict=True)]
    ax.set_yticks(y, labels, fontsize=8, family="monospace")
    for tick, cid in zip(ax.get_yticklabels(), shares.index, strict=True):
        if cid in marked:
            tick.set_color(OVERTALK_COLOUR)
    ax.set_xlim(0, max(1.0, float(left.max()) if len(left) else 1.0))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    what = "total speech" if denominator == "speech" else "call duration"
    ax.set_xlabel(f"share of {what}")
    ax.legend(ncols=len(shares.columns), loc="lower left", bbox_to_anchor=(0, 1.0),
              frameon=False, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    more = speech.size - len(shares)
    if more > 0:
        ax.text(1.0, -0.12 if len(shares) > 6 else -0.3, f"+{more} more conversations not shown",
                transform=ax.transAxes, ha="right", fontsize=7, color="#666666")
    return ax


# -- fleet ------------------------------------------------------------------------------------

#: Fleet metrics: key -> (candidate column names, axis label, is a 0-1 share).
FLEET_METRICS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "talk_ratio": (
        ("agent_talk_ratio", "agent_talk_share", "talk_ratio", "agent_share", "agent_ratio"),
        "agent talk ratio (agent / all speech)", True,
    ),
    "overtalk": (
        ("overtalk_share", "overtalk_ratio", "call_overtalk_s", "overtalk_s"),
        "overtalk (share of call)", True,
    ),
    "silence": (
        ("silence_share", "silence_ratio", "call_silence_s", "silence_s"),
        "silence (share of call)", True,
    ),
    "interruptions": (
        ("interruptions_per_min", "interruptions", "interruption_count", "n_interruptions"),
        "interruptions", False,
    ),
}


def _fleet_table(stats: pd.DataFrame, speaker: str = "agent",
                 where: str = "plot_fleet") -> pd.DataFrame:
    """One row per conversation, with derived shares of the call where the inputs allow.

    Wide per-conversation stats are used as given; long per-speaker ``STATS`` rows are
    reduced: ``call_*`` columns (the same on every row of a call) are taken once,
    ``interruptions`` summed over speakers, the agent talk ratio taken from the agent
    row's ``talk_share_speech`` (or computed from ``talk_time_s``), and every other
    numeric per-speaker column (``words_per_minute``, ``talk_share_call``, ...) taken
    from the row of ``speaker``.
    """
    stats = _require_table(stats, where, "diarkit.talk_stats(segments)")
    _require(stats, ["conversation_id"], where)
    frame = stats.assign(conversation_id=stats["conversation_id"].astype("string"))
    if "speaker" not in frame.columns:
        table = frame.drop_duplicates("conversation_id").set_index("conversation_id")
    else:
        by = frame.groupby("conversation_id", observed=True, sort=False)
        numeric = frame.select_dtypes("number").columns
        call_cols = [c for c in numeric if c.startswith("call_") or c == "duration_s"]
        table = by[call_cols].max() if call_cols else pd.DataFrame(index=by.size().index)
        if "interruptions" in frame.columns:
            table["interruptions"] = by["interruptions"].sum()
        agent = frame[frame["speaker"].astype("string") == "agent"]
        own = frame[frame["speaker"].astype("string") == speaker]
        per_speaker = [c for c in numeric if c not in call_cols and c not in table.columns]
        if per_speaker:
            mine = own.groupby("conversation_id", observed=True)[per_speaker].sum(min_count=1)
            for col in per_speaker:
                table[col] = mine[col].reindex(table.index)
        if "talk_time_s" in frame.columns:
            talk = by["talk_time_s"].sum()
            agent_talk = agent.groupby("conversation_id", observed=True)["talk_time_s"].sum()
            table["agent_talk_ratio"] = (
                agent_talk.reindex(talk.index).fillna(0.0) / talk.replace(0, np.nan)
            ).reindex(table.index)
    duration = _duration_column(table)
    if duration is not None:
        dur = table[duration].astype(float).replace(0, np.nan)
        for what in ("overtalk", "silence"):
            col = f"call_{what}_s" if f"call_{what}_s" in table.columns else f"{what}_s"
            if col in table.columns and f"{what}_share" not in table.columns:
                table[f"{what}_share"] = table[col].astype(float) / dur
    return table


def fleet_metric_columns(stats: pd.DataFrame, speaker: str = "agent") -> dict[str, str]:
    """Which column of ``stats`` feeds each ``FLEET_METRICS`` panel (only those present)."""
    table = _fleet_table(stats, speaker)
    found = {}
    for key, (candidates, _label, _share) in FLEET_METRICS.items():
        col = next((c for c in candidates if c in table.columns), None)
        if col is not None:
            found[key] = col
    return found


def tukey_outliers(values: pd.Series) -> pd.Series:
    """Values outside Tukey's fences (1.5 IQR beyond the quartiles), most extreme first."""
    values = values.dropna().astype(float)
    if len(values) < 4:
        return values.iloc[:0]
    q1, q3 = values.quantile([0.25, 0.75])
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    out = values[(values < lo) | (values > hi)]
    med = values.median()
    return out.reindex((out - med).abs().sort_values(ascending=False).index)


def _draw_metric(ax: Axes, values: pd.Series, label: str, unit: str, label_outliers: int) -> None:
    vals = values.dropna().astype(float)
    rng = np.random.default_rng(0)
    ax.boxplot(vals.to_numpy(), **_HORIZONTAL, widths=0.5, showfliers=False, patch_artist=True,
               boxprops={"facecolor": "#E8EEF4", "edgecolor": "#4A6A8A"},
               medianprops={"color": "#0072B2", "lw": 2},
               whiskerprops={"color": "#4A6A8A"}, capprops={"color": "#4A6A8A"})
    jitter = rng.uniform(-0.18, 0.18, len(vals))
    out = tukey_outliers(vals)
    is_out = vals.index.isin(out.index)
    ax.scatter(vals[~is_out], 1 + jitter[~is_out], s=12, color="#0072B2", alpha=0.6, lw=0,
               zorder=3)
    ax.scatter(vals[is_out], 1 + jitter[is_out], s=26, color=OVERTALK_COLOUR, lw=0, zorder=3,
               label="outlier (1.5 IQR)")
    labels = dict(zip(vals.index, _short_ids(vals.index), strict=True))
    for i, (cid, v) in enumerate(out.iloc[:label_outliers].items()):
        yj = 1 + jitter[vals.index.get_loc(cid)]
        ax.annotate(labels[cid], (v, yj), xytext=(0, (14, -16, 26, -28)[i % 4]),
                    textcoords="offset points", ha="center", fontsize=7, color=OVERTALK_COLOUR,
                    arrowprops={"arrowstyle": "-", "color": OVERTALK_COLOUR, "lw": 0.6})
    med = float(vals.median()) if len(vals) else float("nan")
    med_txt = f"{med:.0%}" if unit == "%" else (f"{med:.1f} s" if unit == "s" else f"{med:.2g}")
    ax.set_title(f"{label} — median {med_txt}, n={len(vals)}", loc="left", fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(0.5, 1.5)
    if unit == "%":
        span = float(vals.max() - vals.min()) if len(vals) else 1.0
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if span >= 0.05 else 1))
    elif unit == "s":
        ax.xaxis.set_major_formatter(FuncFormatter(format_mmss))
        ax.set_xlabel("mm:ss")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#EEEEEE")
    ax.set_axisbelow(True)


def plot_fleet(
    stats: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    label_outliers: int = 5,
    speaker: str = "agent",
    labels: dict[str, str] | None = None,
) -> Axes | np.ndarray:
    """Draw the distribution of per-call metrics across a fleet, outliers labelled by id.

    Each metric gets one panel: a box plot (quartiles, whiskers at 1.5 IQR), one dot per
    conversation, and the ``label_outliers`` most extreme outliers (outside Tukey's fences)
    labelled with their short conversation id.

    Args:
        stats: per-conversation statistics (one row per ``conversation_id``, as
            ``talk_stats`` rows reduced by hand) or the long per-speaker ``STATS`` rows of
            ``diarkit.analysis.talk_stats``
            (the agent talk ratio is then derived from ``talk_time_s``).
        metrics: keys of ``FLEET_METRICS`` (``talk_ratio``, ``overtalk``, ``silence``,
            ``interruptions``) or any numeric ``STATS`` column (``words_per_minute``,
            ``call_duration_s``, ...); default: every key whose column exists.
        ax: one Axes (exactly one metric), a sequence of Axes (one per metric), or None
            for a new figure with one panel per metric.
        label_outliers: how many outliers per panel get a text label.
        speaker: whose row a per-speaker column is read from (long ``STATS`` rows).
        labels: panel titles by metric key or column (e.g. the definition's name).

    Returns:
        The Axes (one metric) or a numpy array of Axes (one per metric).

    Raises:
        ValueError: no metric column found, or ``ax`` does not match the metrics.
        TypeError: ``stats`` is a path (or anything but a DataFrame).
    """
    table = _fleet_table(stats, speaker)
    present = fleet_metric_columns(stats, speaker)
    keys = list(metrics) if metrics is not None else list(present)
    panels: list[tuple[str, str, str]] = []  # column, label, unit
    for key in keys:
        try:
            col, label, unit = _metric_column(table, present, key, _speaker_of(stats, speaker))
        except ValueError as exc:
            raise ValueError(f"plot_fleet: {exc}") from None
        if unit == "" and key in FLEET_METRICS:
            label = f"{label} per minute" if col.endswith("_per_min") else f"{label} per call"
        if labels and key in labels:
            label = labels[key]
        panels.append((col, label, unit))
    if not panels:
        raise ValueError("plot_fleet: stats have none of the fleet metric columns "
                         f"{[c for v in FLEET_METRICS.values() for c in v[0]]}")
    if ax is None:
        n = len(panels)
        _fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n + 0.3), layout="constrained")
        axes_arr = np.atleast_1d(axes)
    elif isinstance(ax, Axes):
        if len(panels) != 1:
            raise ValueError(f"plot_fleet: one Axes given for {len(panels)} metrics; pass "
                             "metrics=[one] or a sequence of Axes")
        axes_arr = np.array([ax], dtype=object)
    else:
        axes_arr = np.asarray(list(ax), dtype=object)
        if len(axes_arr) != len(panels):
            raise ValueError(f"plot_fleet: {len(axes_arr)} Axes given for {len(panels)} metrics")
    for a, (col, label, unit) in zip(axes_arr, panels, strict=True):
        _draw_metric(a, table[col], label, unit, label_outliers)
    if isinstance(ax, Axes):
        return ax
    return axes_arr


def _speaker_of(stats: pd.DataFrame, speaker: str) -> str | None:
    """``speaker`` when ``stats`` are long per-speaker rows (labels say whose value), else None."""
    return speaker if "speaker" in stats.columns else None


def _metric_column(table: pd.DataFrame, present: dict[str, str], metric: str,
                   speaker: str | None = None) -> tuple[str, str, str]:
    """Resolve a fleet metric key or column name to (column, label, unit)."""
    if metric in FLEET_METRICS:
        if metric not in present:
            raise ValueError(f"no column for metric {metric!r} "
                             f"(looked for {list(FLEET_METRICS[metric][0])})")
        col = present[metric]
        label, share = FLEET_METRICS[metric][1], FLEET_METRICS[metric][2]
    elif metric in table.columns:
        if not pd.api.types.is_numeric_dtype(table[metric]):
            raise ValueError(f"metric {metric!r} is not numeric ({table[metric].dtype})")
        col, share = metric, False
        per_call = metric.startswith("call_") or speaker is None
        label = metric if per_call else f"{metric} ({speaker})"
    else:
        raise ValueError(f"unknown metric {metric!r}; known: {list(FLEET_METRICS)} or a "
                         f"numeric column of {list(table.columns)}")
    if col.endswith("_s"):
        return col, f"{label} (m:ss per call)", "s"
    if share or col.endswith(("_share", "_ratio")):
        return col, label, "%"
    return col, label, ""


def plot_compare(
    stats: pd.DataFrame,
    by: str = "agent_id",
    metric: str = "talk_ratio",
    *,
    ax: Axes | None = None,
    min_calls: int = 1,
    speaker: str = "agent",
) -> Axes:
    """Compare one per-call metric across groups (agents, queues): a box and dots per group.

    Groups are sorted by their median; each label shows the group's call count; the dashed
    line is the fleet median.

    Args:
        stats: ``talk_stats`` rows (long, per speaker) or per-conversation rows, with a
            ``by`` column (e.g. ``agent_id`` joined on by conversation).
        by: the grouping column.
        metric: a ``FLEET_METRICS`` key (``talk_ratio``, ``overtalk``, ``silence``,
            ``interruptions``) or any numeric ``STATS`` column (per-speaker columns are
            read from the row of ``speaker``).
        ax: Axes to draw on; a new figure when None.
        min_calls: groups with fewer calls are left out.
        speaker: whose row a per-speaker column is read from (long ``STATS`` rows).

    Returns:
        The Axes drawn on.

    Raises:
        ValueError: ``by`` or the metric is missing.
        TypeError: ``stats`` is a path (or anything but a DataFrame).
    """
    stats = _require_table(stats, "plot_compare", "diarkit.talk_stats(segments)")
    _require(stats, ["conversation_id", by], "plot_compare")
    table = _fleet_table(stats, speaker, "plot_compare")
    groups = (stats.assign(conversation_id=stats["conversation_id"].astype("string"))
              .groupby("conversation_id", observed=True)[by].first().astype("string"))
    col, label, unit = _metric_column(table, fleet_metric_columns(stats, speaker), metric,
                                      _speaker_of(stats, speaker))
    data = pd.DataFrame({"group": groups.reindex(table.index), "value": table[col].astype(float)})
    data = data.dropna()
    counts = data["group"].value_counts()
    data = data[data["group"].isin(counts[counts >= min_calls].index)]
    order = data.groupby("group")["value"].median().sort_values().index.tolist()
    ax = _new_ax(ax, (9, max(2.0, 0.45 * len(order) + 1.0)))
    rng = np.random.default_rng(0)
    boxes = [data.loc[data["group"] == g, "value"].to_numpy() for g in order]
    if boxes:
        ax.boxplot(boxes, **_HORIZONTAL, widths=0.55, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "#E8EEF4", "edgecolor": "#4A6A8A"},
                   medianprops={"color": "#0072B2", "lw": 2},
                   whiskerprops={"color": "#4A6A8A"}, capprops={"color": "#4A6A8A"})
    for i, vals in enumerate(boxes, start=1):
        ax.scatter(vals, i + rng.uniform(-0.15, 0.15, len(vals)), s=12, color="#0072B2",
                   alpha=0.6, lw=0, zorder=3)
    if len(data):
        ax.axvline(float(data["value"].median()), color=OVERTALK_COLOUR, ls="--", lw=1,
                   label="fleet median")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    short = dict(zip(order, _short_ids(order), strict=True))
    ax.set_yticks(range(1, len(order) + 1),
                  [f"{short[g]} ({counts[g]})" for g in order], fontsize=8, family="monospace")
    ax.set_ylabel(f"{by} (calls)")
    ax.set_title(f"{label} by {by}", loc="left", fontsize=10)
    if unit == "%":
        span = float(data["value"].max() - data["value"].min()) if len(data) else 1.0
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if span >= 0.05 else 1))
    elif unit == "s":
        ax.xaxis.set_major_formatter(FuncFormatter(format_mmss))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#EEEEEE")
    ax.set_axisbelow(True)
    return ax
