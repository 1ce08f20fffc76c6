"""What may be shown of a job: its secrets masked for the API, admin, files and audit.

The notification Slack URL is a secret like a template's writeOnly parameters;
NOTIFICATION_SCHEMA (the job spec's secret marks) lets the same sealing and
masking functions serve both.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from job_templates import secrets
from job_templates.base import JobTemplate, mask_parameters
from job_templates.registry import registry
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.spec import JOB_SPEC

NOTIFICATION_SCHEMA: dict[str, Any] = JOB_SPEC.secret_schema("notifications")
# The notification secrets that are URLs: shown as scheme://host/••••••••, so a
# reader can tell where they point.
SECRET_URLS = ("slack_webhook", "webhook_url")


def template_for(template_type: Any) -> JobTemplate | None:
    """The installed template of this type, or None (its code is gone)."""
    return registry.get(template_type) if template_type in registry else None


def mask_webhook(url: str) -> str:
    """Where a webhook goes (scheme and host) but not its secret path."""
    if not url:
        return ""
    try:
        url = secrets.unseal_value(url)
    except secrets.SecretKeyError:
        return secrets.SECRET_MASK
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{secrets.SECRET_MASK}"


def masked_notifications(notifications: dict[str, Any]) -> dict[str, Any]:
    """Every notification secret masked; a URL keeps its scheme and host."""
    masked = secrets.mask(NOTIFICATION_SCHEMA, dict(notifications or {}))
    for key in SECRET_URLS:
        masked[key] = mask_webhook((notifications or {}).get(key, ""))
    return masked


def masked_job_parameters(job: DynamicJob) -> dict[str, Any]:
    return mask_parameters(template_for(job.template_type), job.parameters)


def secret_state(job: DynamicJob) -> dict[str, bool]:
    """Which of the job's secrets are set: what a form shows instead of values."""
    template = template_for(job.template_type)
    state = {
        f"parameters.{path}": is_set
        for path, is_set in secrets.secret_state(
            template.parameters_schema if template else None, job.parameters
        ).items()
    }
    state.update(
        {
            f"notifications.{path}": is_set
            for path, is_set in secrets.secret_state(
                NOTIFICATION_SCHEMA, job.notifications or {}
            ).items()
        }
    )
    return state


def masked_view(values: dict[str, Any]) -> dict[str, Any]:
    """Job values as they may be shown or audited: secrets masked."""
    view = dict(values)
    if isinstance(view.get("parameters"), dict):
        view["parameters"] = mask_parameters(
            template_for(view.get("template_type")), view["parameters"]
        )
    if isinstance(view.get("notifications"), dict):
        view["notifications"] = masked_notifications(view["notifications"])
    return view


def changed_secrets(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Dotted names of the secrets an edit changed (for the audit entry)."""
    template = template_for(after.get("template_type"))
    schema = template.parameters_schema if template else None
    names = [
        f"parameters.{path}"
        for path in secrets.changed_secrets(
            schema, before.get("parameters") or {}, after.get("parameters") or {}
        )
    ]
    names += [
        f"notifications.{path}"
        for path in secrets.changed_secrets(
            NOTIFICATION_SCHEMA,
            before.get("notifications") or {},
            after.get("notifications") or {},
        )
    ]
    return names
