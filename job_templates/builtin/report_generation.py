from __future__ import annotations

import csv
import io
import json
import math
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import escape

from job_templates.allowlist import allowed_model, with_collection_choices
from job_templates.base import JobTemplate, TemplateError
from job_templates.builtin.email_notification import (
    clean_recipients,
    clean_subject,
    message_id,
)
from job_templates.conditions import concrete_fields, is_sensitive_name
from job_templates.context import ExecutionContext
from job_templates.csvsafe import cell
from job_templates.files import (
    UnsafePath,
    check_inside_root,
    check_template_path,
    folder_storage,
    render_path,
    save_to_storage,
    spooled_output,
)

SETTING = "SCHEDULER_EXPORT_MODELS"
KINDS = ("execution_summary", "model_counts")
FORMATS = ("html", "csv", "json")
# Durations kept per job for percentiles; beyond this a uniform sample is kept.
SAMPLE_SIZE = 20_000
MAX_GROUPS = 50
RUN_STATUSES = ("completed", "failed", "timeout", "exhausted")
FAILED_STATUSES = ("failed", "timeout", "exhausted")


class ReportGenerationTemplate(JobTemplate):
    """Builds a small report (HTML with a table and an inline SVG chart, CSV or JSON).

    execution_summary reads the project's own execution history through the
    model label (apps.get_model), so templates still do not import the
    executions app.
    """

    type = "report_generation"
    name = "Report generation"
    description = (
        "Writes an execution summary (runs, success rate, failures, p50/p95 "
        "duration per job) or counts of an allowed table by a field and by day, "
        "as HTML, CSV or JSON, and optionally emails it."
    )
    category = "reports"
    icon = "📊"
    risk_level = "low"
    resource_usage = "low"
    estimated_duration = "seconds"
    guidance = "Create reports?"
    supports_dry_run = True
    parameters_schema = {
        "type": "object",
        "properties": {
            "kind": {
                "type": "string",
                "title": "Report",
                "description": (
                    "execution_summary: per job runs, success rate, failures and "
                    "durations. model_counts: rows of a table by a field and by day."
                ),
                "enum": list(KINDS),
                "default": "execution_summary",
            },
            "window_days": {
                "type": "integer",
                "title": "Window (days)",
                "description": "How many days back the report covers.",
                "default": 7,
                "minimum": 1,
                "maximum": 366,
            },
            "collection": {
                "type": "string",
                "title": "Table (model_counts)",
                "description": "Model label from SCHEDULER_EXPORT_MODELS.",
                "default": "",
                "maxLength": 200,
            },
            "group_by": {
                "type": "string",
                "title": "Group by (model_counts)",
                "description": "A field of the table, e.g. status.",
                "default": "",
                "maxLength": 100,
            },
            "date_field": {
                "type": "string",
                "title": "Date field (model_counts)",
                "description": "The date or time field that places a row in a day.",
                "default": "created_at",
                "maxLength": 100,
            },
            "format": {
                "type": "string",
                "title": "Format",
                "enum": list(FORMATS),
                "default": "html",
            },
            "destination": {
                "type": "string",
                "title": "Destination",
                "description": (
                    "Path under the report folder; placeholders {date}, {time}, "
                    "{datetime}, {timestamp}, {job}, {collection}, {ext}."
                ),
                "default": "{job}/{date}-{time}.{ext}",
                "maxLength": 255,
            },
            "recipients": {
                "type": "array",
                "title": "Email to",
                "description": "Optional: email the report as an attachment.",
                "items": {"type": "string", "maxLength": 254},
                "default": [],
                "maxItems": 100,
            },
            "subject": {
                "type": "string",
                "title": "Email subject",
                "default": "Scheduler report",
                "maxLength": 200,
            },
        },
        "additionalProperties": False,
    }

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        if params["kind"] == "model_counts":
            try:
                model = allowed_model(params["collection"], setting=SETTING)
            except ValidationError as exc:
                errors.update(exc.message_dict)
            else:
                for key in ("group_by", "date_field"):
                    try:
                        self._field(model, params[key], key=key)
                    except ValidationError as exc:
                        errors.update(exc.message_dict)
        for check in (
            lambda: clean_recipients(params["recipients"]),
            lambda: clean_subject(params["subject"]),
        ):
            try:
                check()
            except ValidationError as exc:
                errors.update(exc.message_dict)
        try:
            check_template_path(params["destination"])
        except UnsafePath as exc:
            errors["destination"] = [str(exc)]
        if errors:
            raise ValidationError(errors)
        return params

    @staticmethod
    def _field(model: type[models.Model], name: str, *, key: str) -> models.Field:
        field = concrete_fields(model).get(name)
        if field is None:
            raise ValidationError(
                {key: [f"{model._meta.label} has no field {name!r}."]}
            )
        if is_sensitive_name(field.name):
            raise ValidationError({key: [f"{name!r} looks like a secret."]})
        if key == "date_field" and not isinstance(field, models.DateField):
            raise ValidationError({key: [f"{name!r} is not a date or time field."]})
        if key == "group_by" and isinstance(field, models.JSONField | models.TextField):
            raise ValidationError({key: [f"{name!r} cannot be grouped by."]})
        return field

    def get_schema(self) -> dict[str, Any]:
        return with_collection_choices(super().get_schema(), SETTING, optional=True)

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        now = timezone.now()
        since = now - timedelta(days=params["window_days"])
        if params["kind"] == "execution_summary":
            report = execution_summary(since, now)
        else:
            model = allowed_model(params["collection"], setting=SETTING)
            group = self._field(model, params["group_by"], key="group_by")
            day_field = self._field(model, params["date_field"], key="date_field")
            report = model_counts(model, group, day_field, since, now)
        ctx.logger.info("%s: %s", report["title"], report["summary"])
        fmt = params["format"]
        name = render_path(
            params["destination"],
            values={
                "job": ctx.job_name or params["kind"],
                "collection": params["collection"].lower() or params["kind"],
                "ext": fmt,
            },
            now=now,
        )
        storage = folder_storage("reports")
        try:
            check_inside_root(storage, name)
        except UnsafePath as exc:
            raise TemplateError(f"destination: {exc}") from None
        if ctx.dry_run:
            ctx.logger.info(
                "Dry run: would write %s and email %s recipient(s)",
                name,
                len(params["recipients"]),
            )
            return {"dry_run": True, "path": name, "summary": report["summary"]}
        content = RENDERERS[fmt](report).encode("utf-8")
        with spooled_output() as (tmp, writer):
            writer.write(content)
            written = save_to_storage(storage, name, tmp, writer)
        ctx.logger.info("Wrote %s (%s bytes)", written.name, written.bytes)
        result = {
            "path": written.name,
            "bytes": written.bytes,
            "sha256": written.sha256,
            "summary": report["summary"],
            "emailed": 0,
        }
        if params["recipients"]:
            result["emailed"] = _email(params, ctx, written.name, content, fmt)
        return result


def _email(
    params: dict[str, Any], ctx: ExecutionContext, name: str, content: bytes, fmt: str
) -> int:
    mime = {"html": "text/html", "csv": "text/csv", "json": "application/json"}[fmt]
    messages = [
        EmailMessage(
            subject=params["subject"],
            body=f"The report is attached ({name}).",
            to=[address],
            attachments=[(name.rsplit("/", 1)[-1], content, mime)],
            headers={"Message-ID": message_id(ctx, f"report:{address.lower()}")},
        )
        for address in params["recipients"]
    ]
    timeout = getattr(settings, "SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS", 10)
    with get_connection(timeout=timeout) as connection:
        sent = connection.send_messages(messages) or 0
    ctx.logger.info("Emailed the report to %s recipient(s)", sent)
    if sent < len(messages):
        raise TemplateError(
            f"The report was emailed to only {sent} of {len(messages)}."
        )
    return sent


def _percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of unsorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return round(ordered[rank - 1], 3)


def execution_summary(since, now) -> dict[str, Any]:
    """Per job over the window: runs, success rate, failures, p50/p95 duration."""
    try:
        execution_model = apps.get_model("executions", "JobExecution")
    except LookupError:
        raise TemplateError("The executions app is not installed.") from None
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"runs": 0, "completed": 0, "failed": 0, "skipped": 0, "durations": []}
    )
    sampler = random.Random(0)  # noqa: S311 - sampling, not security
    rows = (
        execution_model._base_manager.filter(created_at__gte=since, created_at__lt=now)
        .order_by()
        .values_list("job_name", "status", "duration_seconds")
    )
    for job_name, status, duration in rows.iterator(chunk_size=5000):
        entry = stats[job_name]
        if status in ("skipped", "cancelled"):
            entry["skipped"] += 1
            continue
        if status not in RUN_STATUSES:
            continue
        entry["runs"] += 1
        if status == "completed":
            entry["completed"] += 1
        else:
            entry["failed"] += 1
        if duration is not None:
            durations = entry["durations"]
            seen = entry.setdefault("seen", 0) + 1
            entry["seen"] = seen
            if len(durations) < SAMPLE_SIZE:
                durations.append(duration)
            else:
                slot = sampler.randrange(seen)
                if slot < SAMPLE_SIZE:
                    durations[slot] = duration
    table = []
    for job_name in sorted(stats):
        entry = stats[job_name]
        runs = entry["runs"]
        table.append(
            {
                "job": job_name,
                "runs": runs,
                "completed": entry["completed"],
                "failed": entry["failed"],
                "skipped": entry["skipped"],
                "success_rate": round(entry["completed"] / runs * 100, 1)
                if runs
                else None,
                "p50_seconds": _percentile(entry["durations"], 0.50),
                "p95_seconds": _percentile(entry["durations"], 0.95),
            }
        )
    runs = sum(r["runs"] for r in table)
    completed = sum(r["completed"] for r in table)
    return {
        "title": "Execution summary",
        "since": since,
        "until": now,
        "columns": [
            "job",
            "runs",
            "completed",
            "failed",
            "skipped",
            "success_rate",
            "p50_seconds",
            "p95_seconds",
        ],
        "rows": table,
        "chart": {
            "labels": [r["job"] for r in table],
            "series": [
                ("completed", "#2e7d32", [r["completed"] for r in table]),
                ("failed", "#c62828", [r["failed"] for r in table]),
            ],
        },
        "summary": {
            "jobs": len(table),
            "runs": runs,
            "completed": completed,
            "failed": runs - completed,
            "success_rate": round(completed / runs * 100, 1) if runs else None,
        },
    }


def model_counts(
    model: type[models.Model],
    group: models.Field,
    day_field: models.Field,
    since,
    now,
) -> dict[str, Any]:
    """Rows of `model` in the window, by `group` value and by day."""
    window = {f"{day_field.attname}__gte": since, f"{day_field.attname}__lt": now}
    if not isinstance(day_field, models.DateTimeField):
        window = {
            f"{day_field.attname}__gte": since.date(),
            f"{day_field.attname}__lte": now.date(),
        }
    day = (
        TruncDate(day_field.attname)
        if isinstance(day_field, models.DateTimeField)
        else models.F(day_field.attname)
    )
    rows = (
        model._base_manager.filter(**window)
        .annotate(report_day=day)
        .values_list(group.attname, "report_day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    totals: dict[Any, int] = defaultdict(int)
    per_day: dict[Any, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for value, when, n in rows.iterator():
        totals[value] += n
        per_day[value][when] += n
    days = [
        (since + timedelta(days=i)).date()
        for i in range((now.date() - since.date()).days + 1)
    ]
    ranked = sorted(totals, key=lambda v: (-totals[v], str(v)))
    shown, rest = ranked[:MAX_GROUPS], ranked[MAX_GROUPS:]
    table = []
    for value in shown:
        row = {"value": value, "total": totals[value]}
        row.update({d.isoformat(): per_day[value].get(d, 0) for d in days})
        table.append(row)
    if rest:
        row = {
            "value": f"({len(rest)} other values)",
            "total": sum(totals[v] for v in rest),
        }
        row.update(
            {d.isoformat(): sum(per_day[v].get(d, 0) for v in rest) for d in days}
        )
        table.append(row)
    day_totals = [sum(per_day[v].get(d, 0) for v in totals) for d in days]
    return {
        "title": f"{model._meta.label} by {group.name} and day",
        "since": since,
        "until": now,
        "columns": ["value", "total", *(d.isoformat() for d in days)],
        "rows": table,
        "chart": {
            "labels": [d.isoformat() for d in days],
            "series": [("rows", "#1565c0", day_totals)],
        },
        "summary": {
            "collection": model._meta.label,
            "group_by": group.name,
            "total": sum(totals.values()),
            "groups": len(totals),
            "days": len(days),
        },
    }


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
