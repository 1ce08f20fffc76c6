"""Turns a report into HTML, CSV or JSON, apart from the queries that build it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import escape

from job_templates.csvsafe import cell


def _render_json(report: dict[str, Any]) -> str:
    data = {k: v for k, v in report.items() if k != "chart"}
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"


def _render_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(report["columns"])
    for row in report["rows"]:
        writer.writerow([cell(row.get(c)) for c in report["columns"]])
    return buffer.getvalue()


def svg_bar_chart(labels: list[str], series: list[tuple[str, str, list[int]]]) -> str:
    """A stacked bar chart as inline SVG: no scripts, no external assets."""
    width, height, left, bottom, top = 760, 260, 48, 60, 16
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    step = plot_w / max(1, len(labels))
    bar = max(2.0, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="chart">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" '
        f'font-size="11">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" '
        'font-size="11">0</text>',
    ]
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        for name, color, values in series:
            h = values[i] / peak * plot_h
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {values[i]} {escape(name)}'
                "</title></rect>"
            )
        short = escape(str(label)[:14])
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
            f'text-anchor="end" transform="rotate(-35 {x + bar / 2:.1f} '
            f'{top + plot_h + 14})">{short}</text>'
        )
    legend_x = left
    for name, color, _ in series:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10" '
            f'fill="{color}"/><text x="{legend_x + 14}" y="{height - 5}" '
            f'font-size="11">{escape(name)}</text>'
        )
        legend_x += 90
    parts.append("</svg>")
    return "".join(parts)


def _render_html(report: dict[str, Any]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in report["columns"])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape('' if row.get(c) is None else row.get(c))}</td>"
            for c in report["columns"]
        )
        + "</tr>"
        for row in report["rows"]
    )
    if not report["rows"]:
        span = len(report["columns"])
        body = f'<tr><td colspan="{span}">No data in this window.</td></tr>'
    summary = "".join(
        f"<li><b>{escape(k)}</b>: {escape('—' if v is None else v)}</li>"
        for k, v in report["summary"].items()
    )
    chart = svg_bar_chart(report["chart"]["labels"], report["chart"]["series"])
    title = escape(report["title"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}}
table{{border-collapse:collapse;width:100%;font-size:14px}}
th,td{{border:1px solid #ddd;padding:4px 8px;text-align:right}}
th:first-child,td:first-child{{text-align:left}}
th{{background:#f4f4f4}} tr:nth-child(even) td{{background:#fafafa}}
.meta{{color:#666}}
</style></head><body>
<h1>{title}</h1>
<p class="meta">From {escape(report["since"].strftime("%Y-%m-%d %H:%M"))} to
{escape(report["until"].strftime("%Y-%m-%d %H:%M"))} UTC</p>
<ul>{summary}</ul>
{chart}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""


RENDERERS = {"html": _render_html, "csv": _render_csv, "json": _render_json}
