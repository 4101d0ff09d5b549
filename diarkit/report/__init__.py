"""A self-contained HTML report: tables, KPI tiles and matplotlib figures inlined as PNG/SVG.

The builder only formats what it is given; it computes nothing. One file, no external
assets, so it can be mailed or opened from disk.
"""

from __future__ import annotations

from .builder import Report, figure_data_uri, table_html
from .fleet import flag_calls, fleet_report, per_call_table

__all__ = [
    "Report",
    "figure_data_uri",
    "flag_calls",
    "fleet_report",
    "per_call_table",
    "table_html",
]
