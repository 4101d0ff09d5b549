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

#: Per-call coverage columns (``per_call_table`` of stats with ``with_coverage`` columns):
#: shares 0-1 of the call time seen live, only back-filled, by nobody; complete or not.
COVERAGE_COLUMNS = ("coverage_live", "coverage_backfill", "coverage_unknown", "complete")

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


def share_column(profile: Any = None) -> str:
    """The ``talk_stats`` column holding the profile's talk share (one definition)."""
    from .analyse import _profile

    prof = _profile(profile)
    return "talk_share_speech" if getattr(prof, "denominator", "call") == "speech" \
        else "talk_share_call"


def per_call_table(stats: pd.DataFrame, profile: Any = None) -> pd.DataFrame:
    """One row per call from ``talk_stats`` rows: duration, shares (0-1), silence, counts.

    ``agent_share``/``customer_share`` are the profile's talk share (``share_column``:
    ``talk_share_call``, talk time over the call duration, unless the profile divides by
    speech); ``overtalk_share``/``silence_share`` are ``call_overtalk_s`` and
    ``call_silence_s`` over ``call_duration_s``; ``duration_s`` and ``longest_silence_s``
    are seconds; ``duration`` is ``m:ss`` text. When ``stats`` has ``user_name`` (names
    resolved by ``diarkit names``, ``add_names``) or ``user_id``, ``agents`` lists the
    call's agents by that label. When it has the coverage columns
    (``diarkit.analysis.reconcile.with_coverage``), ``COVERAGE_COLUMNS`` give each call's
    coverage: ``coverage_live``/``_backfill``/``_unknown`` (fractions 0-1 of the call
    time) and ``complete``.
    """
    frame = stats.assign(
        conversation_id=stats["conversation_id"].astype("string"),
        speaker=stats["speaker"].astype("string"),
    )
    by = frame.groupby("conversation_id", sort=True, observed=True)
    out = by[["call_duration_s", "call_overtalk_s", "call_silence_s", "call_silence_max_s"]].max()
    share = frame.pivot_table(index="conversation_id", columns="speaker",
                              values=share_column(profile), aggfunc="sum", observed=True)
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
    label = "user_name" if "user_name" in frame.columns else (
        "user_id" if "user_id" in frame.columns else None)
    if label is not None:  # who answered: agent names (``diarkit names``), else user ids
        who = frame[label].astype("string")
        agents = who[who.notna()].groupby(frame.loc[who.notna(), "conversation_id"],
                                          observed=True).agg(lambda v: ", ".join(sorted(set(v))))
        table["agents"] = agents.reindex(out.index).fillna("").to_numpy()
    if "call_coverage_live" in frame.columns:  # coverage per call (with_coverage)
        first = by[["call_coverage_live", "call_coverage_backfill", "call_coverage_unknown",
                    "call_complete"]].first().reindex(out.index)
        for col in COVERAGE_COLUMNS:
            src = "call_complete" if col == "complete" else f"call_{col}"
            table[col] = first[src].to_numpy()
        table["complete"] = table["complete"].astype(bool)
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
        for cid in calls.sort_values("duration_s", ascending=False)["conversation_id"]:
            picks.append((str(cid), "next longest call"))
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
    "coverage_live": "seen live",
    "coverage_backfill": "back-filled",
    "coverage_unknown": "unknown",
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
    for col in ("coverage_live", "coverage_backfill", "coverage_unknown"):
        if col in out.columns:
            out[col] = ["–" if pd.isna(v) else f"{v:.1%}" for v in out[col]]
    if "complete" in out.columns:
        out["complete"] = ["yes" if v else "no" for v in out["complete"]]
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
    profile: Any = None,
    low_confidence: pd.DataFrame | None = None,
    phases: pd.DataFrame | None = None,
    complete_only: bool = False,
    names: Mapping[str, str] | None = None,
    without_speech: pd.DataFrame | None = None,
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
        profile: the analysis profile the stats were computed with (name or object);
            its rules are the definitions printed on the page (``definitions``).
        low_confidence: the audit of final utterances below the profile's confidence
            threshold (their text is unreliable; they still count as speech).
        phases: the conversation model's ``PHASES`` rows: timelines then count silence
            only inside the profile's silence phases and draw hold, queue and IVR.
        complete_only: compute the fleet figures (tiles, distributions, talk-share chart,
            flagged calls, timelines) from complete calls only (``call_complete``: every
            second covered by live capture or back-fill), and say so; the "Every call"
            table still lists every call with its coverage. Pass ``fleet`` computed the
            same way (``fleet_stats(..., complete_only=True)``).
        names: ``{id: name}`` of users and queues (``diarkit names``): the talk-share
            chart and the timelines label agents (and queues) by name
            (``diarkit.plot``'s ``names=``); names in ``stats`` columns (``user_name``)
            are used too.
        without_speech: the model's ``conversations`` rows of calls with no transcribed
            speech in the data (``calls_without_speech``): counted in a tile and in the
            overview, as they are in no figure.

    Returns:
        A ``Report``; call ``.write(path)``.

    Raises:
        ValueError: ``complete_only`` on stats without ``call_complete``, or with no
            complete call.
    """
    from diarkit.plot import plot_fleet, plot_talk_share, plot_timeline

    from .analyse import definitions, profile_name

    defs = definitions(profile)
    name = profile_name(profile)
    share_col = share_column(profile)
    every = per_call_table(stats, profile)
    scope = ""
    if complete_only:
        if "call_complete" not in stats.columns:
            raise ValueError("fleet_report(complete_only=True): stats has no call_complete "
                             "column (diarkit.analysis.reconcile.with_coverage)")
        stats = stats[stats["call_complete"].fillna(False).to_numpy(dtype=bool)]
        calls = every[every["complete"].to_numpy(dtype=bool)].reset_index(drop=True)
        if calls.empty:
            raise ValueError(f"no complete call among the {len(every)} calls: nothing for "
                             "complete-only fleet figures")
        scope = (f" Fleet figures count complete calls only: {len(calls):,} of "
                 f"{len(every):,} (every second of the call seen live or back-filled; "
                 "'Every call' lists all of them with their coverage).")
    else:
        calls = every
    flagged = flag_calls(calls)
    silent = 0 if without_speech is None else len(without_speech)
    if without_speech is not None and silent:
        abandoned = int(without_speech["abandoned"].fillna(False).astype(bool).sum())
        scope += (f" {silent:,} more call(s) have call events but no transcribed speech "
                  f"({abandoned:,} abandoned before an agent answered; a live capture may "
                  "also have joined a call too late): they are in no figure.")
    report = Report(title, subtitle=subtitle)
    total_talk = float(stats["talk_time_s"].sum())
    report.section(
        "Overview",
        note=f"Medians across calls, analysis profile {name!r}. Talk share: "
        f"{defs['talk_share'].formula}. Silence: {defs['silence'].formula}. Every figure "
        "uses the definitions listed under 'Definitions' at the end." + scope,
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
            **({"calls without speech": f"{silent:,}"} if silent else {}),
        },
        warn=("calls flagged",) if len(flagged) else (),
    )

    report.section(
        "Across the fleet",
        note="One dot per call; boxes span the middle half, whiskers 1.5 IQR; calls outside "
        "them (orange) are labelled with the start of their conversation id.",
    )
    panels = {
        "agent_share": f"agent {defs['talk_share'].name} ({share_col})",
        "overtalk_share": "overtalk (call_overtalk_s / call_duration_s)",
        "silence_share": f"silence (call_silence_s / call_duration_s, gaps "
        f"{'>=' if 'at least' in defs['silence'].formula else '>'} "
        f"{float(getattr(_prof_obj(profile), 'min_silence_s', 3.0)):g} s)",
        "interruptions": "interruptions per call",
    }
    _embed(report, plot_fleet(calls, metrics=list(panels), labels=panels),
           caption=f"Distributions per call: agent {defs['talk_share'].name} "
           f"({share_col}), overtalk, silence ({defs['silence'].formula}), interruptions",
           alt="fleet distributions")
    flagged_ids = [str(c) for c in flagged["conversation_id"]]
    top = max(25, len(flagged_ids) + 5)
    denominator = "speech" if share_col == "talk_share_speech" else "call"
    _embed(report, plot_talk_share(stats, denominator=denominator, top=top,
                                   include=flagged_ids, names=names),
           caption=f"Who talks: {defs['talk_share'].name} per call ({share_col}); grey: "
           f"{defs['nobody_speaking'].name} ({defs['nobody_speaking'].formula}). Every "
           f"flagged call is drawn (orange, marked *: {len(flagged_ids)}), then the "
           "longest calls.",
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
            note="One row per speaker; orange: overtalk; hatched grey: "
            f"{defs['silence'].name} ({defs['silence'].formula}; labelled from 10 s); "
            "shade: recognition confidence.",
        )
        for cid, why in picks:
            one = segments[segments["conversation_id"].astype("string") == cid]
            if one.empty:
                continue
            silence_s = float(getattr(_prof_obj(profile), "min_silence_s", 3.0))
            prof = _prof_obj(profile)
            mine = stats[stats["conversation_id"].astype("string") == cid]
            shares = (mine.assign(speaker=mine["speaker"].astype(str))
                      .groupby("speaker")[share_col].sum().astype(float).to_dict())
            _embed(report, plot_timeline(one, cid, confidence=True, title=f"{cid} — {why}",
                                         silence_min_s=silence_s, phases=phases,
                                         silence_phases=tuple(getattr(
                                             prof, "silence_phases", ("talk",))),
                                         shares=shares, shares_label=f"talk share "
                                         f"({share_col})", names=names),
                   alt=f"timeline of {cid}")

    covered = all(c in every.columns for c in COVERAGE_COLUMNS)
    report.section("Every call", note=f"agent/customer talk: {defs['talk_share'].name} "
                   f"({share_col}); overtalk and silence: shares of the call duration; "
                   "longest silence in seconds." + (
                       " Coverage: share of the call time seen live, only in the back-filled "
                       "post-call transcript, and by nobody (unknown); complete: nothing "
                       "unknown and the call's end known." if covered else ""))
    shown = [*PER_CALL_COLUMNS[:1], *(["agents"] if "agents" in every.columns else []),
             *PER_CALL_COLUMNS[1:], *(COVERAGE_COLUMNS if covered else ())]
    report.table(_display(every[shown]), max_rows=200)
    if fleet is not None and not fleet.empty:
        report.subheading("Distribution per metric (diarkit.analysis.fleet_stats"
                          + (", complete calls only)" if complete_only else ")"))
        keep = fleet[fleet["metric"].isin([
            "talk_time_s", share_col, "turn_mean_s", "words_per_minute",
            "interruptions", "patience_s", "call_duration_s", "call_overtalk_s",
            "call_silence_s", "call_silence_max_s",
        ])]
        report.table(keep, max_rows=60)

    report.section(
        "Capture health",
        note="Events are not replayed after a disconnection: gaps are time in which events "
        "were lost. Low-confidence text is listed, never silently dropped.",
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
    if low_confidence is not None:
        report.subheading(f"Low-confidence text ({len(low_confidence):,} utterances)")
        report.text(defs["low_confidence"].formula + ". Talk time, turns and silence "
                    "include them; word counts in exports leave their text out.")
        if not low_confidence.empty:
            counts = low_confidence["reason"].astype("string").value_counts()
            report.table(counts.rename_axis("reason").reset_index(name="segments"))
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
    report.section("Definitions", note=f"Analysis profile {name!r}: one definition per "
                   "figure, used everywhere on this page.")
    report.table(pd.DataFrame(
        [{"figure": d.name, "definition": d.formula, "source": d.source}
         for d in defs.values()]), max_rows=20)
    if notes:
        report.section("Method").text(notes)
    return report


def _prof_obj(profile: Any) -> Any:
    from .analyse import _profile

    return _profile(profile)
