"""The fleet report: what a contact-center manager reads after a capture (one HTML file).

``per_call_table`` and ``flag_calls`` only reshape ``talk_stats`` rows for display; every
number comes from ``diarkit.analysis``. ``fleet_report`` lays out tiles, plots, tables,
timelines and the capture's own health (counters, gaps, filtered rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .builder import Report

#: Per-call columns shown in the report, with the talk_stats source they come from.
PER_CALL_COLUMNS = (
    "conversation_id",
    "duration",
    "agent_share",
    "customer_share",
    "overtalk_share",
    "silence_share",
    "longest_silence_s",
    "interruptions",
    "turns",
)


def _mmss(seconds: float) -> str:
    from diarkit.plot import format_mmss

    return "" if pd.isna(seconds) else format_mmss(float(seconds))


def per_call_table(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per call from ``talk_stats`` rows: duration, shares (0-1), silence, counts.

    ``agent_share``/``customer_share`` are shares of total speech (they sum to 1 with any
    other speaker); ``overtalk_share``/``silence_share`` are shares of the call duration;
    ``duration_s`` and ``longest_silence_s`` are seconds; ``duration`` is ``m:ss`` text.
    """
    frame = stats.assign(
        conversation_id=stats["conversation_id"].astype("string"),
        speaker=stats["speaker"].astype("string"),
    )
    by = frame.groupby("conversation_id", sort=True, observed=True)
    out = by[["call_duration_s", "call_overtalk_s", "call_silence_s", "call_silence_max_s"]].max()
    share = frame.pivot_table(index="conversation_id", columns="speaker",
                              values="talk_share_speech", aggfunc="sum", observed=True)
    dur = out["call_duration_s"].replace(0, np.nan)
    table = pd.DataFrame(
        {
            "conversation_id": out.index,
            "duration_s": out["call_duration_s"].to_numpy(),
            "duration": [_mmss(v) for v in out["call_duration_s"]],
            "agent_share": share.get("agent", pd.Series(np.nan, index=out.index))
            .reindex(out.index).fillna(0.0).to_numpy(),
            "customer_share": share.get("customer", pd.Series(np.nan, index=out.index))
            .reindex(out.index).fillna(0.0).to_numpy(),
            "overtalk_share": (out["call_overtalk_s"] / dur).to_numpy(),
            "silence_share": (out["call_silence_s"] / dur).to_numpy(),
            "longest_silence_s": out["call_silence_max_s"].to_numpy(),
            "interruptions": by["interruptions"].sum().reindex(out.index).to_numpy(),
            "turns": by["turn_count"].sum().reindex(out.index).to_numpy(),
        }
    )
    return table.reset_index(drop=True)


#: Metrics checked for outliers: column -> how to say it in a sentence.
FLAG_METRICS = {
    "agent_share": "agent talk share",
    "overtalk_share": "overtalk",
    "silence_share": "silence",
    "interruptions": "interruptions",
}


def flag_calls(calls: pd.DataFrame) -> pd.DataFrame:
    """Calls with at least one metric outside Tukey's fences, with the reasons in words."""
    from diarkit.plot import tukey_outliers

    indexed = calls.set_index("conversation_id")
    reasons: dict[str, list[str]] = {}
    for col, words in FLAG_METRICS.items():
        values = indexed[col]
        median = values.median()
        for cid, v in tukey_outliers(values).items():
            side = "high" if v > median else "low"
            shown = f"{v:.0%}" if col.endswith("share") else f"{v:g}"
            reasons.setdefault(str(cid), []).append(f"{side} {words} ({shown})")
    if not reasons:
        return calls.iloc[:0].assign(why=pd.Series(dtype="string"))
    flagged = calls[calls["conversation_id"].astype("string").isin(list(reasons))].copy()
    flagged["why"] = [", ".join(reasons[str(c)]) for c in flagged["conversation_id"]]
    flagged["_n"] = flagged["why"].str.count(",")
    flagged = flagged.sort_values(["_n", "overtalk_share"], ascending=False)
    return flagged.drop(columns="_n").reset_index(drop=True)


def pick_timelines(calls: pd.DataFrame, flagged: pd.DataFrame, n: int) -> list[tuple[str, str]]:
    """Up to ``n`` calls worth a timeline, each with why: flagged ones first, then the longest."""
    picks: list[tuple[str, str]] = []
    for cid, why in zip(flagged["conversation_id"], flagged["why"], strict=True):
        picks.append((str(cid), f"flagged: {why}"))
    if len(calls):
        picks.append((str(calls.loc[calls["overtalk_share"].idxmax(), "conversation_id"]),
                      "most overtalk"))
        picks.append((str(calls.loc[calls["duration_s"].idxmax(), "conversation_id"]),
                      "longest call"))
        picks.append((str(calls.loc[calls["overtalk_share"].idxmin(), "conversation_id"]),
                      "least overtalk"))
    seen: dict[str, str] = {}
    for cid, why in picks:
        seen.setdefault(cid, why)
    return list(seen.items())[:n]


#: Short headers for the per-call columns in the report (formatting keys on the old names).
_HEADERS = {
    "agent_share": "agent talk",
    "customer_share": "customer talk",
    "overtalk_share": "overtalk",
    "silence_share": "silence",
    "longest_silence_s": "longest silence (s)",
}


def _display(calls: pd.DataFrame) -> pd.DataFrame:
    """Per-call rows formatted for reading: shares as percentages, short headers."""
    out = calls.copy()
    for col in ("agent_share", "customer_share", "overtalk_share", "silence_share"):
        if col in out.columns:
            out[col] = [_fmt_pct(v) if col in ("agent_share", "customer_share") else
                        ("–" if pd.isna(v) else f"{v:.1%}") for v in out[col]]
    if "longest_silence_s" in out.columns:
        out["longest_silence_s"] = out["longest_silence_s"].round(1)
    return out.rename(columns=_HEADERS)


def _embed(report: Report, drawn: Any, **kwargs: Any) -> None:
    """Add the figure of drawn Axes (or an array of Axes) to the report, then close it."""
    import matplotlib.pyplot as plt

    fig = drawn.flat[0].figure if isinstance(drawn, np.ndarray) else drawn.figure
    report.figure(fig, **kwargs)
    plt.close(fig)


def _fmt_pct(v: float) -> str:
    return "–" if pd.isna(v) else f"{v:.0%}"


def fleet_report(
    stats: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    title: str = "Conversation analytics report",
    subtitle: str = "",
    capture: Mapping[str, Any] | None = None,
    gaps: pd.DataFrame | None = None,
    audit: pd.DataFrame | None = None,
    unfinished: int | None = None,
    fleet: pd.DataFrame | None = None,
    timelines: int = 3,
    notes: str = "",
) -> Report:
    """Lay out a fleet report: KPI tiles, fleet plots, flagged calls, timelines, capture health.

    Args:
        stats: ``talk_stats`` rows (one per conversation and speaker; seconds).
        segments: the finalized, filtered segments the stats came from (for timelines).
        title: report title.
        subtitle: line under the title (what was captured, when).
        capture: capture counters to show (label -> value), e.g. from ``CaptureStats``.
        gaps: the capture's ``GAPS`` table (disconnections); None when not captured live.
        audit: the ``filter_confidence`` audit (dropped rows with ``reason``).
        unfinished: utterances that never became final (``finalize(...).unfinished``).
        fleet: the ``fleet_stats`` table (distribution per metric) to show as a table.
        timelines: how many call timelines to draw.
        notes: a closing paragraph (method, parameters).

    Returns:
        A ``Report``; call ``.write(path)``.
    """
    from diarkit.plot import plot_fleet, plot_talk_share, plot_timeline

    calls = per_call_table(stats)
    flagged = flag_calls(calls)
    report = Report(title, subtitle=subtitle)
    total_talk = float(stats["talk_time_s"].sum())
    report.section(
        "Overview",
        note="Medians across calls. Talk shares are of total speech; overtalk and silence "
        "are shares of the call (first to last word).",
    ).metrics(
        {
            "calls analysed": f"{len(calls):,}",
            "speech analysed": _mmss(total_talk),
            "median call length": _mmss(calls["duration_s"].median()),
            "agent talk share": _fmt_pct(calls["agent_share"].median()),
            "overtalk": _fmt_pct(calls["overtalk_share"].median()),
            "silence": _fmt_pct(calls["silence_share"].median()),
            "interruptions / call": f"{calls['interruptions'].median():g}",
            "calls flagged": f"{len(flagged):,}",
        },
        warn=("calls flagged",) if len(flagged) else (),
    )

    report.section(
        "Across the fleet",
        note="One dot per call; boxes span the middle half, whiskers 1.5 IQR; calls outside "
        "them (orange) are labelled with the start of their conversation id.",
    )
    _embed(report, plot_fleet(stats), caption="Distributions per call",
           alt="fleet distributions")
    _embed(report, plot_talk_share(stats, denominator="call", top=25),
           caption="Who talks: share of each call's duration (grey: silence)",
           alt="talk share per call")

    report.section(
        "Calls that need a look",
        note="Calls with a value outside Tukey's fences (more than 1.5 IQR beyond the middle "
        "half of the fleet).",
    )
    if flagged.empty:
        report.text("No call stands out on talk share, overtalk, silence or interruptions.")
    else:
        report.table(_display(flagged[["conversation_id", "why", *PER_CALL_COLUMNS[1:]]]),
                     max_rows=30)

    picks = pick_timelines(calls, flagged, timelines)
    if picks:
        report.section(
            "Call timelines",
            note="One row per speaker; orange: overtalk; hatched grey: silences of 2 s or "
            "more (labelled from 10 s); shade: recognition confidence.",
        )
        for cid, why in picks:
            one = segments[segments["conversation_id"].astype("string") == cid]
            if one.empty:
                continue
            _embed(report, plot_timeline(one, cid, confidence=True, title=f"{cid} — {why}"),
                   alt=f"timeline of {cid}")

    report.section("Every call", note="Talk shares are of speech; overtalk and silence of "
                   "the call; longest silence in seconds.")
    report.table(_display(calls[list(PER_CALL_COLUMNS)]), max_rows=200)
    if fleet is not None and not fleet.empty:
        report.subheading("Distribution per metric (diarkit.analysis.fleet_stats)")
        keep = fleet[fleet["metric"].isin([
            "talk_time_s", "talk_share_speech", "turn_mean_s", "words_per_minute",
            "interruptions", "patience_s", "call_duration_s", "call_overtalk_s",
            "call_silence_s", "call_silence_max_s",
        ])]
        report.table(keep, max_rows=60)

    report.section(
        "Capture health",
        note="Events are not replayed after a disconnection: gaps are time in which events "
        "were lost. Filtered rows are kept in the audit, never silently dropped.",
    )
    if capture:
        report.metrics({k: (f"{v:,}" if isinstance(v, int) else str(v))
                        for k, v in capture.items()},
                       warn=tuple(k for k, v in capture.items()
                                  if k in ("gaps", "reconnects") and v))
    if gaps is not None:
        if gaps.empty:
            report.text("No gaps: the WebSocket never dropped during the capture.")
        else:
            report.subheading(f"Gaps ({len(gaps)})")
            shown = gaps.copy()
            if "conversations" in shown.columns:  # the ids are in the dataset; count here
                shown["conversations"] = [
                    len(v) if isinstance(v, list | tuple | np.ndarray) else v
                    for v in shown["conversations"]
                ]
            report.table(shown, max_rows=50)
    if audit is not None:
        if audit.empty:
            report.text("The confidence filter dropped no segment.")
        else:
            counts = audit["reason"].astype("string").value_counts().rename_axis("reason")
            report.subheading(f"Segments dropped by the confidence filter ({len(audit):,})")
            report.table(counts.reset_index(name="segments"))
    if unfinished:
        report.text(f"{unfinished:,} utterances never became final (kept out of the statistics, "
                    "listed by finalize().unfinished).")
    if notes:
        report.section("Method").text(notes)
    return report
