"""The report_generation template: an execution summary or row counts, as a file.

The package is split by stage: ``reports`` queries the database into one report
shape (title, columns, rows, chart, summary), ``renderers`` turns that shape
into HTML (with an inline SVG chart), CSV or JSON, and this module holds the
template itself (parameters, validation, writing the file, emailing it). The
template class stays here so its dotted path in BUILTIN_TEMPLATES is unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import models
from django.utils import timezone

from job_templates.allowlist import (
    allowed_model,
    is_secret_field,
    model_permission,
    with_collection_choices,
)
from job_templates.base import JobTemplate, TemplateError
from job_templates.builtin.email_notification import (
    clean_recipients,
    clean_subject,
    message_id,
)
from job_templates.builtin.report_generation.renderers import RENDERERS, svg_bar_chart
from job_templates.builtin.report_generation.reports import (
    FAILED_STATUSES,
    MAX_GROUPS,
    RUN_STATUSES,
    SAMPLE_SIZE,
    execution_summary,
    model_counts,
)
from job_templates.conditions import concrete_fields
from job_templates.context import ExecutionContext
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
                "title": "Table (Rows per table)",
                "description": "For Rows per table: the table to count, one an "
                "administrator allowed for export.",
                "default": "",
                "maxLength": 200,
            },
            "group_by": {
                "type": "string",
                "title": "Group by (Rows per table)",
                "description": "A field of the table, e.g. status.",
                "default": "",
                "maxLength": 100,
            },
            "date_field": {
                "type": "string",
                "title": "Date field (Rows per table)",
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
        if is_secret_field(model, field):
            # Grouping prints every distinct value: as good as exporting it.
            raise ValidationError(
                {key: [f"{name!r} may hold secrets; it is never reported on."]}
            )
        if key == "date_field" and not isinstance(field, models.DateField):
            raise ValidationError({key: [f"{name!r} is not a date or time field."]})
        if key == "group_by" and isinstance(field, models.JSONField | models.TextField):
            raise ValidationError({key: [f"{name!r} cannot be grouped by."]})
        return field

    def get_schema(self) -> dict[str, Any]:
        return with_collection_choices(super().get_schema(), SETTING, optional=True)

    def required_permissions(self, params: dict[str, Any]) -> list[str]:
        """Viewing the counted model for model_counts, which reads any allowed
        table. The execution summary needs none: it gives per-job counts and
        durations of the scheduler's own runs, never a row's contents."""
        params = params or {}
        if params.get("kind") != "model_counts":
            return []
        return model_permission(params.get("collection"), "view")

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


__all__ = [
    "FAILED_STATUSES",
    "FORMATS",
    "KINDS",
    "MAX_GROUPS",
    "RENDERERS",
    "RUN_STATUSES",
    "SAMPLE_SIZE",
    "SETTING",
    "ReportGenerationTemplate",
    "execution_summary",
    "model_counts",
    "svg_bar_chart",
]
