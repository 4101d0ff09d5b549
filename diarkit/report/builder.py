"""HTML report builder: collects sections, renders them into one self-contained HTML file."""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd

from diarkit import __version__


def figure_data_uri(fig: Any, fmt: str = "png", dpi: int = 110) -> str:
    """Render a matplotlib Figure (or an Axes' figure) to a ``data:`` URI (PNG or SVG).

    Args:
        fig: a ``matplotlib.figure.Figure``, or an Axes / array of Axes (their figure is used).
        fmt: ``"png"`` or ``"svg"``.
        dpi: resolution of PNG output, dots per inch.

    Returns:
        ``data:image/png;base64,...`` or ``data:image/svg+xml;base64,...``.
    """
    if fmt not in ("png", "svg"):
        raise ValueError(f"figure format must be 'png' or 'svg', not {fmt!r}")
    figure = _as_figure(fig)
    buf = io.BytesIO()
    figure.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white")
    mime = "image/png" if fmt == "png" else "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _as_figure(obj: Any) -> Any:
    if hasattr(obj, "savefig"):
        return obj
    if hasattr(obj, "figure") and hasattr(obj.figure, "savefig"):
        return obj.figure
    try:
        first = next(iter(obj.flat if hasattr(obj, "flat") else obj))
    except (TypeError, StopIteration):
        raise TypeError(f"expected a matplotlib Figure or Axes, got {type(obj).__name__}") from None
    return _as_figure(first)


def _format_cell(value: Any, column: str) -> str:
    if value is None or (not isinstance(value, str | list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        if {"share", "ratio"} & set(column.lower().split("_")):
            return f"{value:.1%}"
        if column.endswith("_s"):  # seconds: sub-second values keep milliseconds
            return f"{value:,.1f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            return str(value)
        stamp: str = value.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f")
        return stamp[:-3] + " UTC"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table_html(df: pd.DataFrame, max_rows: int = 50, index: bool = False) -> str:
    """Render a DataFrame as an HTML table (escaped, numbers formatted by column suffix).

    Columns with a ``share``/``ratio`` word show as percentages, ``_s`` as seconds with one
    decimal; at most ``max_rows`` rows are shown, with a note of how many were left out.
    """
    frame = df.reset_index() if index else df
    shown = frame.head(max_rows)
    cols = [str(c) for c in shown.columns]
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns]
    opens = ["<td>" if num else '<td class="t">' for num in numeric]
    head = "".join(
        f'<th{"" if num else " class=t"}>{html.escape(c)}</th>'
        for c, num in zip(cols, numeric, strict=True)
    )
    rows = []
    for rec in shown.itertuples(index=False, name=None):
        cells = "".join(
            f"{o}{html.escape(_format_cell(v, c))}</td>"
            for v, c, o in zip(rec, cols, opens, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    more = len(frame) - len(shown)
    note = f'<p class="note">{more:,} more rows not shown.</p>' if more > 0 else ""
    return (
        f'<div class="tablewrap"><table class="dk"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


@dataclass
class Report:
    """An HTML report assembled section by section and written as one self-contained file.

    Example:
        >>> r = Report("Fleet report", subtitle="42 calls")
        >>> r.section("Overview").metrics({"calls": "42"}).table(stats).figure(ax)
        >>> r.write("out/report.html")
    """

    title: str
    subtitle: str = ""
    _parts: list[str] = field(default_factory=list, repr=False)
    _open: bool = field(default=False, repr=False)

    def section(self, heading: str, note: str = "") -> Report:
        """Start a new boxed section with a heading and an optional explanatory note."""
        self._close()
        self._parts.append(f"<section><h2>{html.escape(heading)}</h2>")
        if note:
            self._parts.append(f'<p class="note">{html.escape(note)}</p>')
        self._open = True
        return self

    def subheading(self, text: str) -> Report:
        """Add a smaller heading inside the current section."""
        self._ensure_open()
        self._parts.append(f"<h3>{html.escape(text)}</h3>")
        return self

    def text(self, text: str) -> Report:
        """Add a paragraph of plain text (escaped)."""
        self._ensure_open()
        self._parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def metrics(self, values: dict[str, Any], warn: tuple[str, ...] = ()) -> Report:
        """Add KPI tiles, one per ``label: value``; labels in ``warn`` are drawn in orange."""
        self._ensure_open()
        tiles = "".join(
            f'<div class="tile{" warn" if k in warn else ""}"><div class="v">'
            f'{html.escape(str(v))}</div><div class="k">{html.escape(k)}</div></div>'
            for k, v in values.items()
        )
        self._parts.append(f'<div class="tiles">{tiles}</div>')
        return self

    def table(self, df: pd.DataFrame, caption: str = "", max_rows: int = 50,
              index: bool = False) -> Report:
        """Add a table (see ``table_html``) with an optional caption above it."""
        self._ensure_open()
        if caption:
            self._parts.append(f'<p class="note">{html.escape(caption)}</p>')
        self._parts.append(table_html(df, max_rows=max_rows, index=index))
        return self

    def figure(self, fig: Any, caption: str = "", fmt: str = "png", dpi: int = 110,
               alt: str = "") -> Report:
        """Add a matplotlib figure (or Axes) inlined as a PNG or SVG ``data:`` URI."""
        self._ensure_open()
        uri = figure_data_uri(fig, fmt=fmt, dpi=dpi)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(alt or caption or "figure")}">{cap}'
            "</figure>"
        )
        return self

    def to_html(self) -> str:
        """The whole report as one HTML document (no external resources)."""
        body = "\n".join([*self._parts, "</section>" if self._open else ""])
        template = Template(resources.files("diarkit.report").joinpath("template.html")
                            .read_text(encoding="utf-8"))
        return template.substitute(
            title=html.escape(self.title),
            subtitle=html.escape(self.subtitle),
            body=body,
            version=__version__,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )

    def _repr_html_(self) -> str:
        """The report in a notebook: the whole document in a sandboxed iframe."""
        doc = html.escape(self.to_html(), quote=True)
        return (f'<iframe srcdoc="{doc}" sandbox="" style="width:100%;height:640px;'
                f'border:1px solid #ddd" title="{html.escape(self.title)}"></iframe>')

    def write(self, path: str | Path) -> Path:
        """Write the report atomically (temporary name, then rename) and return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(self.to_html(), encoding="utf-8")
        os.replace(tmp, target)
        return target

    def _ensure_open(self) -> None:
        if not self._open:
            self.section(self.title)

    def _close(self) -> None:
        if self._open:
            self._parts.append("</section>")
            self._open = False
