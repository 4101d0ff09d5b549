"""Talk share per conversation: one 100 % stacked bar per call, a segment per speaker.

``plot_talk_share`` compares many calls at a glance: each speaker's share of the call's
speech (or of its duration, leaving the time nobody speaks in grey), the longest calls
first up to ``top`` plus any the caller insists on (a report's flagged outliers), each
bar labelled by its short id and, when known, its agents' and queue's names.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from .style import (
    LANE_SEP,
    OVERTALK_COLOUR,
    SILENCE_COLOUR,
    _new_ax,
    _ordered_speakers,
    speaker_colour,
)
from .tables import (
    DURATION_COLUMNS,
    Names,
    _duration_column,
    _labels,
    _require,
    _require_table,
    _short_ids,
    names_of,
    resolve_conversation,
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
