"""The per-call speaker timeline: who speaks when, overtalk, silence and call phases.

``plot_timeline`` draws one conversation as rows of speech per speaker (one lane per
agent when names are known), an overtalk row, a silence row and the conversation
model's non-talk phases, on an mm:ss axis of call time; ``timeline_png`` renders it to
PNG bytes without pyplot for notebook reprs and widgets. It is the picture an analyst
checks a single call's statistics against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba

from .intervals import _clip, _gaps, _overlap, _union
from .style import (
    LANE_SEP,
    OVERTALK_COLOUR,
    SILENCE_COLOUR,
    _base,
    _new_ax,
    _ordered_speakers,
    _time_axis,
    format_mmss,
    speaker_colour,
)
from .tables import Names, _labels, _require_table, _short_id, names_of, resolve_conversation

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
