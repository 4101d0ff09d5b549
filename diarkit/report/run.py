"""``diarkit report``: an HTML fleet report (and ``talk_stats.csv``) of a dataset of your own.

``build_report(dataset, "report.html", ...)`` loads the dataset's segments (optionally only
some conversations, a time window, or the calls of given queues or agents), analyses them
with one analysis profile (``diarkit.report.analyse``: the rows ``diarkit stats`` gives)
and writes the report and the statistics. Existing files are replaced only when diarkit
can prove it wrote them (``diarkit.report.ownership``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .analyse import Analysis, analyse_dataset
from .ownership import check_writable, write_owned

#: What the report and its CSV are written by (kept in the folder's manifest).
WRITER = "diarkit report"


class NotADatasetError(ValueError):
    """The path is not a dataset folder (``diarkit capture``/``convert`` output)."""


class NoConversationsError(ValueError):
    """The filters left no conversation to report on; ``filters`` says which were given."""

    def __init__(self, message: str, filters: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.filters = dict(filters)


@dataclass(frozen=True)
class ReportResult:
    """What ``build_report`` wrote (absolute paths) and what it analysed."""

    report: Path
    stats_csv: Path | None
    conversations: int
    profile: str
    analysis: Analysis = field(repr=False)


def conversation_handlers(dataset: str | os.PathLike[str],
                          conversations: Iterable[str] | None = None) -> pd.DataFrame:
    """Which agents (user ids) and queues took part in each conversation of ``dataset``.

    From the conversation model (``diarkit.io.load.load_participants``: the queue and user
    ``conversations.calls`` events stored in ``raw/``): one row per ``agent`` or ``acd``
    participant with ``conversation_id``, ``agent_id``/``agent_name`` (agents) and
    ``queue_id``/``queue_name``; empty when the dataset holds no call events (e.g.
    converted transcripts only).
    """
    from diarkit.io.load import load_participants

    cols = ["conversation_id", "agent_id", "agent_name", "queue_id", "queue_name"]
    parts = load_participants(Path(dataset))
    if conversations is not None:
        keep = {str(c) for c in conversations}
        parts = parts[parts["conversation_id"].astype(str).isin(keep)]
    parts = parts[parts["purpose"].astype("string").isin(["agent", "acd"])]
    agent = parts["purpose"].astype("string") == "agent"
    frame = pd.DataFrame({
        "conversation_id": parts["conversation_id"].astype("string"),
        "agent_id": parts["user_id"].astype("string").where(agent),
        "agent_name": parts["user_name"].astype("string").where(agent),
        "queue_id": parts["queue_id"].astype("string"),
        "queue_name": parts["queue_name"].astype("string"),
    })[cols]
    if (Path(dataset) / "dims").is_dir():  # names `diarkit names` resolved fill the gaps
        from diarkit.io.dims import load_names

        for kind, col in (("users", "agent"), ("queues", "queue")):
            names = load_names(str(dataset), kind)
            resolved = frame[f"{col}_id"].map(names).astype("string")
            frame[f"{col}_name"] = frame[f"{col}_name"].fillna(resolved)
    return frame.drop_duplicates().sort_values(cols[:4], na_position="last").reset_index(
        drop=True)


def _select(handlers: pd.DataFrame, column: str, wanted: list[str]) -> set[str]:
    """Conversations whose ``column`` id starts with, or whose name equals, a wanted value."""
    ids = handlers[f"{column}_id"].astype("string")
    names = handlers[f"{column}_name"].astype("string").str.casefold()
    hit = pd.Series(False, index=handlers.index)
    for w in wanted:
        hit |= ids.str.startswith(w).fillna(False) | names.eq(w.casefold()).fillna(False)
    return set(handlers.loc[hit, "conversation_id"].astype(str))


def build_report(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str] = "report.html",
    *,
    stats_csv: str | os.PathLike[str] | bool = True,
    profile: Any = None,
    start: Any = None,
    end: Any = None,
    conversations: Iterable[str] | None = None,
    queues: Iterable[str] = (),
    agents: Iterable[str] = (),
    title: str | None = None,
    timelines: int = 3,
    overwrite: bool = False,
    complete_only: bool = False,
    coverage: bool | None = None,
) -> ReportResult:
    """Write an HTML fleet report of ``dataset`` (and its ``talk_stats`` rows as CSV).

    Args:
        dataset: a dataset folder (``diarkit capture`` / ``diarkit convert`` output).
        out: the report file to write.
        stats_csv: where the ``talk_stats`` rows go (CSV, canonical order by
            conversation and speaker, as ``diarkit stats --format csv`` writes them);
            True: ``talk_stats.csv`` next to the report; False: none.
        profile: analysis profile name (``"default"``, ``"genesys"``, ...) or object.
        start: keep segments at or after this time (UTC; a date, ISO text or Timestamp).
        end: keep segments before this time (UTC, exclusive).
        conversations: keep only these conversation ids.
        queues: keep only calls routed through one of these queues (an id, the start of
            one, or a queue name when the events carry names).
        agents: keep only calls handled by one of these agents (user id, its start, or
            the user's name when known).
        title: report title (default names the dataset).
        timelines: how many call timelines to draw (flagged calls first).
        overwrite: replace files diarkit cannot prove it wrote.
        complete_only: fleet figures (tiles, distributions, charts, flagged calls, the
            fleet table) from complete calls only (``call_complete``: every second of the
            call covered by live capture or back-fill); the report says so, and its
            "Every call" table still lists every call with its coverage. Implies
            ``coverage``.
        coverage: show each call's coverage (``diarkit.capture.backfill.coverage_table``:
            shares of the call time seen live, back-filled, unknown; complete) in the
            "Every call" table and a Coverage section; True (or ``complete_only``) also
            adds the ``call_coverage_*``/``call_complete`` columns to the CSV, as
            ``diarkit stats --coverage`` does. Default (None): shown when back-fill ran
            (``DATASET/backfill/``) or the capture had gaps, the CSV unchanged.

    Returns:
        A ``ReportResult`` with the paths written and the analysis.

    Raises:
        FileExistsError: ``out`` or the CSV exists and is not diarkit's (before any work).
        FileNotFoundError: ``dataset`` does not exist.
        NotADatasetError: ``dataset`` is a folder of files, not a dataset.
        NoConversationsError: the filters leave nothing to report on, or
            ``complete_only`` and no call is complete.
    """
    from diarkit.analysis import fleet_stats
    from diarkit.io.load import load_gaps
    from diarkit.scale.fleet import canonical

    from .fleet import fleet_report

    report_path = Path(out).resolve()
    csv_path: Path | None
    if stats_csv is True:
        csv_path = report_path.with_name("talk_stats.csv")
    elif stats_csv is False:
        csv_path = None
    else:
        csv_path = Path(stats_csv).resolve()
    targets = [report_path] + ([csv_path] if csv_path is not None else [])
    check_writable(targets, overwrite=overwrite)
    root = Path(dataset)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such dataset")
    from diarkit.io.dataset import is_dataset

    if not is_dataset(root):
        raise NotADatasetError(
            f"{root} is not a diarkit dataset (no raw/ or segments/ parts): convert it "
            f"first, e.g. diarkit convert {root} -o dataset/")

    filters: dict[str, Any] = {}
    wanted = list(conversations) if conversations is not None else None
    if wanted is not None:
        filters["conversations"] = wanted
    queue_ids, agent_ids = list(queues), list(agents)
    if queue_ids or agent_ids:
        handlers = conversation_handlers(root, wanted)
        keep = set(handlers["conversation_id"].astype(str))
        if queue_ids:
            filters["queues"] = queue_ids
            keep &= _select(handlers, "queue", queue_ids)
        if agent_ids:
            filters["agents"] = agent_ids
            keep &= _select(handlers, "agent", agent_ids)
        wanted = sorted(keep)
    if start is not None:
        filters["start"] = start
    if end is not None:
        filters["end"] = end
    analysis = analyse_dataset(root, profile, conversations=wanted, start=start, end=end)
    if analysis.segments.empty:
        given = ", ".join(f"{k}={v}" for k, v in filters.items()) or "none"
        raise NoConversationsError(f"no conversation to report on in {root} (filters: "
                                   f"{given})", filters)
    stats = canonical(analysis.stats)
    names = None
    if (root / "dims").is_dir():  # `diarkit names` resolved ids: label agents by name
        from diarkit.io.dims import add_names
        from diarkit.plot import names_of

        stats = add_names(stats, str(root))
        names = names_of(root)
    gaps = load_gaps(root) if (root / "gaps").is_dir() else None
    # asked for: the CSV gets the coverage columns too (as `diarkit stats --coverage`);
    # shown by default (back-fill ran or the capture lost time): the report only, so the
    # CSV stays the rows plain `diarkit stats` writes
    asked = bool(coverage) or complete_only
    if coverage is None:
        coverage = complete_only or (root / "backfill").is_dir() or (
            gaps is not None and not gaps.empty)
    plain = stats
    if complete_only and not coverage:
        raise ValueError("build_report(complete_only=True) needs the coverage "
                         "(coverage=False given)")
    cov = None
    if coverage:
        from diarkit.analysis.reconcile import with_coverage
        from diarkit.capture.backfill import coverage_table

        cov = coverage_table(root)
        reported = set(stats["conversation_id"].astype(str))
        cov = cov[cov["conversation_id"].astype(str).isin(reported)]
        stats = with_coverage(stats, cov)
    n_calls = int(stats["conversation_id"].nunique())
    if complete_only:
        filters["complete_only"] = True
        n_complete = int(stats.loc[stats["call_complete"].to_numpy(dtype=bool),
                                   "conversation_id"].nunique())
        if not n_complete:
            raise NoConversationsError(
                f"no complete call to report on in {root}: none of the {n_calls} calls is "
                "completely covered (see diarkit backfill; or leave out complete-only)",
                filters)
    shown = ", ".join(f"{k} {v}" for k, v in filters.items() if k != "complete_only")
    if complete_only:
        shown += (" · " if shown else "") + (
            f"fleet figures from the {n_complete} complete calls only")
    report = fleet_report(
        stats, analysis.segments,
        title=title or f"Conversation report: {root.name}",
        subtitle=f"{n_calls} calls from {root.resolve()} · analysis profile "
        f"{analysis.profile!r}" + (f" · {shown}" if shown else ""),
        gaps=gaps, unfinished=len(analysis.unfinished),
        fleet=fleet_stats(stats, by=(), complete_only=complete_only), timelines=timelines,
        profile=profile, low_confidence=analysis.low_confidence, phases=analysis.phases,
        complete_only=complete_only, names=names, without_speech=analysis.without_speech,
    )
    if cov is not None:
        from .reconcile import add_coverage_section

        add_coverage_section(report, cov)
    write_owned(report_path, report.to_html(), writer=WRITER, overwrite=overwrite)
    if csv_path is not None:
        rows = stats if asked else plain
        write_owned(csv_path, rows.to_csv(index=False), writer=WRITER, overwrite=overwrite)
    return ReportResult(report_path, csv_path, n_calls, analysis.profile, analysis)


__all__ = ["NoConversationsError", "NotADatasetError", "ReportResult", "build_report",
           "conversation_handlers"]
