from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.core.validators import validate_email
from django.template import TemplateSyntaxError
from django.utils import timezone

from job_templates.base import JobTemplate, TemplateError
from job_templates.context import ExecutionContext
from job_templates.files import (
    UnsafePath,
    check_inside_root,
    check_template_path,
    folder_storage,
    render_path,
)
from job_templates.sandbox import (
    LimitExceeded,
    RenderBudget,
    SandboxEngine,
    SandboxTemplate,
    TemplateRefused,
)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Sandboxed: allowlisted tags and filters only, rendered under caps, because
# the wizard's preview renders these templates inside a web request.
TEXT_ENGINE = SandboxEngine(label="email templates", autoescape=False)
HTML_ENGINE = SandboxEngine(label="email templates", autoescape=True)
# (parameter, is HTML) of the parts rendered from templates, in sending order.
TEMPLATE_PARTS = (("subject", False), ("body", False), ("html_body", True))


def compile_template(source: str, *, key: str, html: bool = False) -> SandboxTemplate:
    """A sandboxed template from a user's text; ValidationError keyed `key`."""
    engine = HTML_ENGINE if html else TEXT_ENGINE
    try:
        return engine.from_string(source)
    except TemplateRefused as exc:
        raise ValidationError({key: [str(exc)]}) from None
    except TemplateSyntaxError as exc:
        raise ValidationError({key: [f"Template error: {exc}"]}) from None


def render_parts(params: dict[str, Any], context: dict[str, Any]) -> dict[str, str]:
    """Every non-empty template part rendered under one budget.

    A part that cannot compile or goes over a cap raises TemplateError naming
    the part, so a job saved before a rule existed fails its run cleanly.
    """
    budget = RenderBudget()
    rendered: dict[str, str] = {}
    for key, html in TEMPLATE_PARTS:
        source = params.get(key) or ""
        if not source:
            rendered[key] = ""
            continue
        try:
            template = compile_template(source, key=key, html=html)
        except ValidationError as exc:
            raise TemplateError(f"{key}: {exc.message_dict[key][0]}") from None
        try:
            rendered[key] = budget.render(template, context)
        except LimitExceeded as exc:
            raise LimitExceeded(f"{key}: {exc}") from None
    return rendered


def sample_context(window_hours: int) -> dict[str, Any]:
    """Stand-in values for a trial render when parameters are saved.

    Fixed numbers rather than the real history, so validating stays cheap and
    does not depend on the database; the digest branches that report failures
    are the ones rendered.
    """
    counts = {"completed": 12, "failed": 2, "timeout": 1}
    return {
        "job": {"id": 1, "name": "Sample job"},
        "now": timezone.now(),
        "window_hours": window_hours,
        "counts": counts,
        "digest": {
            "total": sum(counts.values()),
            "completed": counts["completed"],
            "failed": counts["failed"] + counts["timeout"],
            "by_status": counts,
        },
    }


def execution_counts(window_hours: int) -> dict[str, int]:
    """Executions by status over the last `window_hours`, for digests.

    Reads the project's own execution history through the model label, so this
    template does not import the executions app (templates know nothing of
    jobs or executions); without that app the counts are empty.
    """
    from django.apps import apps

    try:
        execution_model = apps.get_model("executions", "JobExecution")
    except LookupError:
        return {}
    from django.db.models import Count

    since = timezone.now() - timedelta(hours=window_hours)
    rows = (
        execution_model._base_manager.filter(created_at__gte=since)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {status: n for status, n in rows}
    return counts


def template_context(ctx: ExecutionContext, window_hours: int) -> dict[str, Any]:
    """The small fixed context of email bodies: job, now, and digest counts.

    `counts` is computed only if the template uses it.
    """

    @functools.cache
    def counts() -> dict[str, int]:
        return execution_counts(window_hours)

    @functools.cache
    def digest() -> dict[str, Any]:
        values = counts()
        failed = sum(values.get(s, 0) for s in ("failed", "timeout", "exhausted"))
        return {
            "total": sum(values.values()),
            "completed": values.get("completed", 0),
            "failed": failed,
            "by_status": values,
        }

    return {
        "job": {"id": ctx.job_id, "name": ctx.job_name},
        "now": timezone.now(),
        "window_hours": window_hours,
        "counts": counts,
        "digest": digest,
    }


def message_id(ctx: ExecutionContext, part: str) -> str:
    """Stable over every attempt of one slot, so receivers can drop repeats."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "dynamic-scheduler"
    if not ctx.idempotency_key:
        return make_msgid(domain=domain)
    tag = hashlib.sha256(part.encode()).hexdigest()[:12]
    return f"<{ctx.idempotency_key}.{tag}@{domain}>"


def clean_recipients(recipients: list[str], *, key: str = "recipients") -> list[str]:
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, address in enumerate(recipients):
        try:
            validate_email(address)
        except ValidationError:
            errors[f"{key}.{index}"] = [f"{address!r} is not a valid email address."]
            continue
        if address.lower() in seen:
            errors[f"{key}.{index}"] = [f"{address!r} is listed twice."]
        seen.add(address.lower())
    if errors:
        raise ValidationError(errors)
    return recipients


def clean_subject(subject: str, *, key: str = "subject") -> str:
    if "\r" in subject or "\n" in subject:
        raise ValidationError({key: ["The subject must be one line (no CR or LF)."]})
    return subject


def attachment_file(item: dict[str, str], *, key: str) -> tuple[str, str]:
    """(real path, file name) of an attachment from the export or report folder."""
    storage = folder_storage(item["folder"])
    name = render_path(item["path"])
    try:
        check_inside_root(storage, name)
    except UnsafePath as exc:
        raise TemplateError(f"{key}: {exc}") from None
    if not storage.exists(name):
        raise TemplateError(f"{key}: {item['folder']}/{name} does not exist.")
    path = storage.path(name)
    if not os.path.isfile(path):
        raise TemplateError(f"{key}: {item['folder']}/{name} is not a file.")
    return path, os.path.basename(name)


class EmailNotificationTemplate(JobTemplate):
    """Sends an email rendered from small Django templates, one message per recipient.

    One message each keeps the recipient list private. Message-IDs come from
    the execution's idempotency key, so a retried slot sends the same ids.
    """

    type = "email_notification"
    name = "Email notification"
    description = (
        "Sends an email (plain text and optional HTML) to up to 100 recipients, "
        "optionally with a digest of recent executions and attachments from the "
        "export or report folders."
    )
    category = "notifications"
    icon = "📧"
    risk_level = "low"
    resource_usage = "low"
    estimated_duration = "seconds"
    guidance = "Send messages?"
    supports_dry_run = True
    parameters_schema = {
        "type": "object",
        "properties": {
            "recipients": {
                "type": "array",
                "title": "Recipients",
                "description": "Email addresses; each gets their own message.",
                "items": {"type": "string", "maxLength": 254},
                "minItems": 1,
                "maxItems": 100,
            },
            "subject": {
                "type": "string",
                "title": "Subject",
                "description": (
                    "One line; may use {{ job.name }} and {{ now|date:'Y-m-d' }}."
                ),
                "minLength": 1,
                "maxLength": 200,
            },
            "body": {
                "type": "string",
                "title": "Body (plain text)",
                "description": (
                    "A Django template. Context: job.name, job.id, now, window_hours, "
                    "counts (executions by status over the window), digest.total, "
                    "digest.completed, digest.failed. Common tags and filters only "
                    "(no load, include or lorem); each part may render up to "
                    "200000 characters, with 10000 loop iterations and 2 s in all."
                ),
                "widget": "textarea",
                "maxLength": 100_000,
            },
            "html_body": {
                "type": "string",
                "title": "Body (HTML, optional)",
                "description": "Same context as the body; values are HTML-escaped.",
                "widget": "textarea",
                "default": "",
                "maxLength": 200_000,
            },
            "window_hours": {
                "type": "integer",
                "title": "Digest window (hours)",
                "description": "How far back the execution counts go.",
                "default": 24,
                "minimum": 1,
                "maximum": 24 * 90,
            },
            "attachments": {
                "type": "array",
                "title": "Attachments",
                "description": (
                    "Files from the export or report folder; paths may use {date}."
                ),
                "default": [],
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "properties": {
                        "folder": {
                            "type": "string",
                            "title": "Folder",
                            "enum": ["exports", "reports"],
                            "default": "exports",
                        },
                        "path": {
                            "type": "string",
                            "title": "Path",
                            "description": "e.g. tickets/{date}.csv",
                            "maxLength": 255,
                        },
                    },
                    "required": ["folder", "path"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["recipients", "subject", "body"],
        "additionalProperties": False,
    }

    def high_risk_reason(self, params: dict[str, Any]) -> str | None:
        if (params or {}).get("attachments"):
            return "it mails files (exports, reports, backups) to its recipients"
        return super().high_risk_reason(params)

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        checks = (
            lambda: clean_recipients(params["recipients"]),
            lambda: clean_subject(params["subject"]),
            lambda: self.clean_templates(params),
        )
        for check in checks:
            try:
                check()
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    errors.setdefault(key, messages)
        for index, item in enumerate(params["attachments"]):
            try:
                check_template_path(item["path"])
            except UnsafePath as exc:
                errors[f"attachments.{index}.path"] = [str(exc)]
        if errors:
            raise ValidationError(errors)
        return params

    @staticmethod
    def clean_templates(params: dict[str, Any]) -> None:
        """Compiles every part, then renders it once with sample values.

        The trial render catches templates that only go over a cap when run
        (nested loops, slow filters) at save time rather than at 2 a.m.
        """
        errors: dict[str, list[str]] = {}
        templates: dict[str, SandboxTemplate] = {}
        for key, html in TEMPLATE_PARTS:
            try:
                templates[key] = compile_template(params[key], key=key, html=html)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        budget = RenderBudget()
        context = sample_context(params["window_hours"])
        for key, template in templates.items():
            try:
                budget.render(template, context)
            except LimitExceeded as exc:
                errors[key] = [f"{exc} (in a trial render with sample values)"]
            except Exception as exc:  # the same error would fail every run
                errors[key] = [
                    "Template error in a trial render with sample values: "
                    f"{type(exc).__name__}: {exc}"
                ]
        if errors:
            raise ValidationError(errors)

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        parts = render_parts(params, template_context(ctx, params["window_hours"]))
        subject = " ".join(parts["subject"].split())[:200]
        body, html = parts["body"], parts["html_body"]
        files = []
        total = 0
        for index, item in enumerate(params["attachments"]):
            path, filename = attachment_file(item, key=f"attachments.{index}")
            total += os.path.getsize(path)
            files.append((path, filename))
        if total > MAX_ATTACHMENT_BYTES:
            raise TemplateError(
                f"attachments: {total} bytes in total; "
                f"the limit is {MAX_ATTACHMENT_BYTES}."
            )
        recipients = params["recipients"]
        if ctx.dry_run:
            ctx.logger.info(
                "Dry run: would send %r to %s recipient(s) with %s attachment(s)",
                subject,
                len(recipients),
                len(files),
            )
            return {
                "dry_run": True,
                "would_send": len(recipients),
                "subject": subject,
                "attachments": [name for _, name in files],
                "body_preview": body[:500],
            }
        messages = []
        for address in recipients:
            message = EmailMultiAlternatives(
                subject=subject,
                body=body,
                to=[address],
                headers={"Message-ID": message_id(ctx, address.lower())},
            )
            if html:
                message.attach_alternative(html, "text/html")
            for path, filename in files:
                with open(path, "rb") as handle:
                    content_type = mimetypes.guess_type(filename)[0]
                    message.attach(filename, handle.read(), content_type)
            messages.append(message)
        timeout = getattr(settings, "SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS", 10)
        with get_connection(timeout=timeout) as connection:
            sent = connection.send_messages(messages) or 0
        ids = [m.extra_headers["Message-ID"] for m in messages]
        ctx.logger.info(
            "Sent %r to %s of %s recipient(s)", subject, sent, len(recipients)
        )
        if sent < len(messages):
            raise TemplateError(f"Only {sent} of {len(messages)} messages were sent.")
        return {
            "sent": sent,
            "message_ids": ids,
            "subject": subject,
            "attachments": [name for _, name in files],
        }
