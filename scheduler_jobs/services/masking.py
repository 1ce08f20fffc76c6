"""Keeps secrets (webhook paths, secret parameters) out of the API, admin and audit."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from job_templates.base import SECRET_MASK, mask_parameters
from job_templates.registry import registry
from scheduler_jobs.models import DynamicJob


def mask_webhook(url: str) -> str:
    """Show where a webhook goes but not its secret path."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{SECRET_MASK}"


def masked_notifications(notifications: dict[str, Any]) -> dict[str, Any]:
    masked = dict(notifications or {})
    masked["slack_webhook"] = mask_webhook(masked.get("slack_webhook", ""))
    return masked


def masked_job_parameters(job: DynamicJob) -> dict[str, Any]:
    template = (
        registry.get(job.template_type) if job.template_type in registry else None
    )
    return mask_parameters(template, job.parameters)


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    """Job values as the audit log may store them: secrets masked."""
    view = dict(values)
    template_type = view.get("template_type")
    if template_type in registry:
        view["parameters"] = mask_parameters(
            registry.get(template_type), view.get("parameters") or {}
        )
    if isinstance(view.get("notifications"), dict):
        view["notifications"] = masked_notifications(view["notifications"])
    return view
