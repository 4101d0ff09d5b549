"""Self-contained HTML reports: tables, KPI tiles and matplotlib figures inlined as PNG/SVG.

``build_report(dataset, "report.html")`` is ``diarkit report``: a fleet report of your own
data with one analysis profile; ``fleet_report`` lays one out from statistics you computed;
``Report`` is the builder (it formats what it is given and computes nothing). One file, no
external assets, so it can be mailed or opened from disk.
"""

from __future__ import annotations

from .analyse import Analysis, analyse, definitions
from .builder import Report, figure_data_uri, table_html
from .fleet import flag_calls, fleet_report, per_call_table
from .run import NoConversationsError, ReportResult, build_report, conversation_handlers

__all__ = [
    "Analysis",
    "NoConversationsError",
    "Report",
    "ReportResult",
    "analyse",
    "build_report",
    "conversation_handlers",
    "definitions",
    "figure_data_uri",
    "flag_calls",
    "fleet_report",
    "per_call_table",
    "table_html",
]
