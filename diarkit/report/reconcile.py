"""HTML report sections for back-fill coverage and reconciliation with Genesys's figures.

Presentation only: the numbers come from ``diarkit.analysis.reconcile`` (``Comparison``,
``coverage``) and ``diarkit.capture.analytics.reconcile_dataset``; these functions only
lay them out in a ``diarkit.report.builder.Report``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from diarkit.analysis.reconcile import Comparison

from .builder import Report

#: How each compared metric is labelled in the report.
METRIC_LABELS = {
    "duration_s": "call duration",
    "agent_s": "agent talking alone",
    "customer_s": "customer talking alone",
    "overtalk_s": "overtalk",
    "silence_s": "silence",
    "hold_s": "hold",
}


def add_reconcile_section(report: Report, comparison: Comparison, *,
                          max_rows: int = 30) -> Report:
    """Add "diarkit vs Genesys": fleet bias/MAD per metric and the calls that disagree.

    Args:
        report: the report to add to.
        comparison: ``compare_metrics`` / ``reconcile_dataset(...).comparison``.
        max_rows: rows of the disagreeing-calls table shown.

    Returns:
        ``report``, for chaining.
    """
    fleet = comparison.fleet.copy()
    fleet.insert(1, "what", fleet["metric"].map(METRIC_LABELS).fillna(fleet["metric"]))
    per = comparison.per_call
    bad = per[per["beyond"]].sort_values("diff", key=lambda s: s.abs(), ascending=False)
    report.section(
        "diarkit vs Genesys",
        f"Per call, diarkit's figure minus Genesys's (analytics details and Speech and Text "
        f"Analytics metrics), in seconds. Bias is the mean difference, MAD the mean absolute "
        f"difference; a call disagrees when |difference| > {comparison.threshold_s:g} s. "
        "Definitions: docs/backfill.md.")
    report.metrics({
        "calls compared": f"{per['conversation_id'].nunique():,}",
        "calls disagreeing": f"{len(comparison.disagreeing):,}",
        "threshold": f"{comparison.threshold_s:g} s",
    }, warn=("calls disagreeing",) if comparison.disagreeing else ())
    report.table(fleet, caption="Fleet: bias and mean absolute difference per metric (s).")
    if len(bad):
        report.table(bad, caption="Calls beyond the threshold, largest difference first.",
                     max_rows=max_rows)
    else:
        report.text("No call differs beyond the threshold.")
    return report


def add_coverage_section(report: Report, coverage: pd.DataFrame, *,
                         max_rows: int = 30) -> Report:
    """Add "Coverage": how much of each call live capture, back-fill and nobody saw.

    Args:
        report: the report to add to.
        coverage: ``diarkit.capture.backfill.coverage_table`` output.
        max_rows: rows of the incomplete-calls table shown.
    """
    n = len(coverage)
    complete = int(coverage["complete"].sum()) if n else 0
    dur = coverage["duration_s"].fillna(0).sum()

    def share(col: str) -> float:
        return float(coverage[col].fillna(0).sum() / dur) if dur > 0 else float("nan")

    report.section(
        "Coverage",
        "Share of call time covered by live capture, by back-filled post-call transcripts "
        "only, and by neither (unknown). Fleet figures can be restricted to complete calls.")
    tiles: dict[str, Any] = {
        "calls": f"{n:,}", "complete": f"{complete:,}",
        "live": f"{share('live_s'):.1%}", "back-fill": f"{share('backfill_s'):.1%}",
        "unknown": f"{share('unknown_s'):.1%}",
    }
    report.metrics(tiles, warn=("unknown",) if complete < n else ())
    gaps = coverage[~coverage["complete"]]
    if len(gaps):
        report.table(gaps, caption="Calls not completely covered.", max_rows=max_rows)
    return report


__all__ = ["METRIC_LABELS", "add_coverage_section", "add_reconcile_section"]
