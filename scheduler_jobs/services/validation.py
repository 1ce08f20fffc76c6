"""One set of rules for every job write (job_clean); forms and job files call it too."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from job_templates import secrets
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs.broker import job_redelivery_errors
from scheduler_jobs.models import NOTIFICATION_EVENTS, DynamicJob, default_retry_policy
from scheduler_jobs.schedules import parse_schedule
from scheduler_jobs.services.masking import NOTIFICATION_SCHEMA, mask_webhook

EDITABLE_FIELDS = (
    "name",
    "description",
    "template_type",
    "parameters",
    "schedule",
    "enabled",
    "timeout_seconds",
    "retry_policy",
    "overlap_policy",
    "misfire_policy",
    "notifications",
    "queue",
)
MAX_TIMEOUT_SECONDS = 24 * 3600
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def strip_control_characters(text: str, *, keep_newlines: bool = False) -> str:
    """Remove control characters; newlines and tabs survive only where allowed."""
    if keep_newlines:
        return _CONTROL.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc").strip()


def job_as_dict(job: DynamicJob) -> dict[str, Any]:
    return {field: getattr(job, field) for field in EDITABLE_FIELDS}


def job_clean(
    data: dict[str, Any], *, instance: DynamicJob | None = None
) -> dict[str, Any]:
    """Validate a whole job (instance values overlaid with `data`).

    Raises ValidationError whose keys are dotted field paths, e.g.
    "schedule.cron" or "parameters.recipients".
    """
    values: dict[str, Any] = job_as_dict(instance) if instance else _defaults()
    values.update({k: v for k, v in data.items() if k in EDITABLE_FIELDS})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}

    def fail(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    name = values.get("name")
    if not isinstance(name, str) or not strip_control_characters(name):
        fail("name", "A job needs a name.")
    else:
        cleaned["name"] = strip_control_characters(name)
        if len(cleaned["name"]) > 200:
            fail("name", "At most 200 characters.")
    description = values.get("description") or ""
    if not isinstance(description, str):
        fail("description", "Must be text.")
    else:
        cleaned["description"] = strip_control_characters(
            description, keep_newlines=True
        ).strip()
        if len(cleaned["description"]) > 5000:
            fail("description", "At most 5000 characters.")

    template = None
    template_type = values.get("template_type")
    try:
        template = registry.get(template_type)
        cleaned["template_type"] = template_type
    except (UnknownTemplate, TypeError):
        fail(
            "template_type",
            f"Unknown template {template_type!r}. "
            f"Available: {', '.join(registry.types())}.",
        )
    if template is not None:
        cleaned_parameters = _clean_parameters(
            template, values.get("parameters"), instance, fail
        )
        if cleaned_parameters is not None:
            cleaned["parameters"] = cleaned_parameters

    try:
        cleaned["schedule"] = parse_schedule(values.get("schedule")).to_dict()
    except ValidationError as exc:
        for key, messages in _error_items(exc):
            for message in messages:
                fail(_join("schedule", key), message)

    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        fail("enabled", "Must be true or false.")
    cleaned["enabled"] = bool(enabled)

    timeout = values.get("timeout_seconds")
    if not _is_int(timeout) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        fail(
            "timeout_seconds",
            f"Must be a whole number from 1 to {MAX_TIMEOUT_SECONDS}.",
        )
    else:
        cleaned["timeout_seconds"] = timeout

    cleaned["retry_policy"] = _clean_retry_policy(values.get("retry_policy"), fail)
    if "timeout_seconds" in cleaned and not any(
        key.startswith(("timeout_seconds", "retry_policy")) for key in errors
    ):
        for key, messages in job_redelivery_errors(
            timeout_seconds=cleaned["timeout_seconds"],
            retry_policy=cleaned["retry_policy"],
        ).items():
            for message in messages:
                fail(key, message)

    for field, choices in (
        ("overlap_policy", DynamicJob.OverlapPolicy.values),
        ("misfire_policy", DynamicJob.MisfirePolicy.values),
    ):
        value = values.get(field)
        if value not in choices:
            fail(field, f"Must be one of: {', '.join(choices)}.")
        cleaned[field] = value

    current_notifications = instance.notifications if instance else {}
    cleaned["notifications"] = _clean_notifications(
        values.get("notifications"), current_notifications, fail
    )

    queue = values.get("queue") or ""
    if queue and (not isinstance(queue, str) or not _QUEUE_NAME.match(queue)):
        fail("queue", "Letters, digits, '.', '_' and '-' only, at most 64 characters.")
    cleaned["queue"] = queue

    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_parameters(
    template: Any, params: Any, instance: DynamicJob | None, fail
) -> dict[str, Any] | None:
    """Validated parameters with their secrets sealed, or None after fail()."""
    same_template = instance is not None and instance.template_type == template.type
    stored = instance.parameters if same_template else {}
    schema = template.parameters_schema
    try:
        params = secrets.merge(
            schema, params, stored, destination=template.secrets_destination
        )
    except ValidationError as exc:
        for key, messages in _error_items(exc):
            for message in messages:
                fail(_join("parameters", key), message)
        return None
    nul_path = _find_nul(params)
    if nul_path is not None:
        # PostgreSQL cannot store U+0000 in JSON; refuse it with its path.
        fail(_join("parameters", nul_path), "Contains a NUL character.")
    try:
        validated = template.validate_params(params)
    except ValidationError as exc:
        for key, messages in _error_items(exc):
            for message in messages:
                fail(_join("parameters", key), message)
        return None
    return secrets.seal(schema, validated, previous=stored)


def _defaults() -> dict[str, Any]:
    return {
        "description": "",
        "parameters": {},
        "enabled": True,
        "timeout_seconds": 1800,
        "retry_policy": default_retry_policy(),
        "overlap_policy": DynamicJob.OverlapPolicy.SKIP,
        "misfire_policy": DynamicJob.MisfirePolicy.RUN_ONCE,
        "notifications": {},
        "queue": "",
    }


def _find_nul(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a NUL character."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        child = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return child
        found = _find_nul(item, child)
        if found is not None:
            return found
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _join(prefix: str, key: str) -> str:
    return prefix if key in ("__all__", "") else f"{prefix}.{key}"


def _error_items(exc: ValidationError) -> list[tuple[str, list[str]]]:
    if hasattr(exc, "error_dict"):
        return [
            (key, [m for e in errs for m in e.messages])
            for key, errs in exc.error_dict.items()
        ]
    return [("__all__", exc.messages)]


def _clean_retry_policy(value: Any, fail) -> dict[str, Any]:
    policy = {**default_retry_policy(), **(value if isinstance(value, dict) else {})}
    if value is not None and not isinstance(value, dict):
        fail(
            "retry_policy",
            "Must be an object with max_retries, delay_seconds, backoff.",
        )
    for key in sorted(set(policy) - {"max_retries", "delay_seconds", "backoff"}):
        fail(f"retry_policy.{key}", "Unknown retry option.")
    if not _is_int(policy["max_retries"]) or not 0 <= policy["max_retries"] <= 10:
        fail("retry_policy.max_retries", "Must be a whole number from 0 to 10.")
    if (
        not _is_int(policy["delay_seconds"])
        or not 0 <= policy["delay_seconds"] <= 86400
    ):
        fail("retry_policy.delay_seconds", "Must be a whole number from 0 to 86400.")
    backoff = policy["backoff"]
    if (
        isinstance(backoff, bool)
        or not isinstance(backoff, int | float)
        or not (1.0 <= backoff <= 10.0)
    ):
        fail("retry_policy.backoff", "Must be a number from 1 to 10.")
    else:
        policy["backoff"] = float(backoff)
    return {k: policy[k] for k in ("max_retries", "delay_seconds", "backoff")}


def _clean_notifications(value: Any, current: dict[str, Any], fail) -> dict[str, Any]:
    value = value if value is not None else {}
    if not isinstance(value, dict):
        fail("notifications", "Must be an object with emails, slack_webhook, on.")
        return {"emails": [], "slack_webhook": "", "on": []}
    for key in sorted(set(value) - {"emails", "slack_webhook", "on"}):
        fail(f"notifications.{key}", "Unknown notification option.")
    emails = value.get("emails") or []
    if not isinstance(emails, list) or len(emails) > 50:
        fail("notifications.emails", "Must be a list of at most 50 addresses.")
        emails = []
    clean_emails = []
    for i, email in enumerate(emails):
        try:
            if not isinstance(email, str) or _CONTROL.search(email):
                raise ValidationError("invalid")
            validate_email(email.strip())
            clean_emails.append(email.strip())
        except ValidationError:
            fail(
                f"notifications.emails.{i}", f"{email!r} is not a valid email address."
            )
    webhook = _slack_webhook(value.get("slack_webhook") or "", current, fail)
    events = value.get("on", ["failure", "exhausted"])
    if not isinstance(events, list) or any(
        e not in NOTIFICATION_EVENTS for e in events
    ):
        fail(
            "notifications.on",
            f"Must be a list of events from: {', '.join(NOTIFICATION_EVENTS)}.",
        )
        events = []
    return {
        "emails": clean_emails,
        "slack_webhook": secrets.seal(
            NOTIFICATION_SCHEMA, {"slack_webhook": webhook}, previous=current
        )["slack_webhook"],
        "on": sorted(set(events), key=NOTIFICATION_EVENTS.index),
    }


def _slack_webhook(webhook: Any, current: dict[str, Any], fail) -> str:
    """The Slack URL in clear: the stored one when its masked form came back."""
    stored = current.get("slack_webhook", "") or ""
    if not isinstance(webhook, str):
        fail("notifications.slack_webhook", "Must be an https URL.")
        return ""
    if webhook and stored and webhook == mask_webhook(stored):
        return secrets.unseal_value(stored)
    if secrets.is_sealed(webhook):
        return secrets.unseal_value(webhook)
    if secrets.SECRET_MASK in webhook:
        fail(
            "notifications.slack_webhook",
            f"The value is masked ({secrets.SECRET_MASK}) but is not the stored "
            "URL's mask. The Slack URL is a secret: enter the whole new URL; the "
            "stored one is kept only when its masked form comes back unchanged.",
        )
        return ""
    if webhook:
        error = webhook_url_error(webhook)
        if error:
            fail("notifications.slack_webhook", error)
    return webhook


def webhook_url_error(url: Any) -> str | None:
    """Why a notification webhook URL is refused, or None.

    https only, except for hosts in SCHEDULER_WEBHOOK_ALLOWED_HOSTS (local
    receivers and tests); and never an internal address (the SSRF guard, checked
    again when sending).
    """
    from job_templates import net

    if not isinstance(url, str) or len(url) > 2000 or _CONTROL.search(url):
        return "Must be an https URL."
    parts = urlsplit(url)
    allowed = parts.hostname in settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS
    if not (parts.scheme == "https" or (parts.scheme == "http" and allowed)):
        return (
            "Must be an https URL (http only for hosts in "
            "SCHEDULER_WEBHOOK_ALLOWED_HOSTS)."
        )
    try:
        net.check_url_for_save(url)
    except net.UnsafeURL as exc:
        return f"Refused: {exc}"
    return None
