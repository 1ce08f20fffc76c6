"""Where a service's errors are shown on a form.

Service errors come keyed by dotted paths ("schedule.cron",
"parameters.recipients.2", "notifications.emails.0"); `add_service_errors` puts
each next to the form field that produced it.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django_jsonform.widgets import JSONFormWidget

# Where each dotted service key is shown. Longest prefix wins; unknown keys fall
# back to the form's non-field errors so nothing is ever swallowed.
FIELD_FOR_KEY = {
    "name": "name",
    "description": "description",
    "enabled": "enabled",
    "template_type": "template_type",
    "parameters": "parameters",
    "schedule": "schedule_type",
    "schedule.type": "schedule_type",
    "schedule.cron": "cron",
    "schedule.timezone": "timezone",
    "schedule.every_seconds": "every",
    "timeout_seconds": "timeout_seconds",
    "retry_policy": "max_retries",
    "retry_policy.max_retries": "max_retries",
    "retry_policy.delay_seconds": "delay_seconds",
    "retry_policy.backoff": "backoff",
    "overlap_policy": "overlap_policy",
    "misfire_policy": "misfire_policy",
    "queue": "queue",
    "notifications": "notify_emails",
    "notifications.emails": "notify_emails",
    "notifications.slack_webhook": "slack_webhook",
    "notifications.on": "notify_on",
}


def field_for_key(key: str) -> tuple[str | None, str]:
    """(form field, the rest of the path) for a dotted service error key."""
    parts = key.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in FIELD_FOR_KEY:
            return FIELD_FOR_KEY[prefix], ".".join(parts[cut:])
    return None, key


def service_error_items(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted key, message) pairs of a service ValidationError."""
    if hasattr(exc, "error_dict"):
        return [
            (key, message)
            for key, errors in exc.error_dict.items()
            for error in errors
            for message in error.messages
        ]
    return [("__all__", message) for message in exc.messages]


def add_service_errors(
    form: forms.BaseForm, exc: ValidationError, *, only: set[str] | None = None
) -> list[tuple[str, str]]:
    """Show a service ValidationError inline on `form`; returns what it did not place.

    Parameter errors are also handed to the django-jsonform widget so they appear
    next to the parameter itself ("recipients.2" → the third recipient).
    `only` limits placement to some fields (a wizard step); the rest is returned.
    """
    leftovers = []
    for key, message in service_error_items(exc):
        field, rest = field_for_key(key)
        if only is not None and field not in only:
            leftovers.append((key, message))
            continue
        if field is None or field not in form.fields:
            form.add_error(None, f"{key}: {message}" if key != "__all__" else message)
            continue
        if field == "parameters" and rest and rest != "__all__":
            field_obj = form.fields["parameters"]
            if isinstance(field_obj.widget, JSONFormWidget):
                head = rest.split(".")[0]
                # Keys edited as JSON text have no inner widgets to attach to.
                coords = head if head in getattr(field_obj, "json_keys", ()) else rest
                field_obj.widget.add_error({coords.replace(".", "§"): [message]})
            message = f"{rest}: {message}"
        elif rest and field != "notify_emails" and rest != "__all__":
            message = f"{rest}: {message}"
        if form.has_error(field) and message in form.errors[field]:
            continue
        form.add_error(field, message)
    return leftovers


def _prefixed(prefix: str, exc: ValidationError) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for key, message in service_error_items(exc):
        full = prefix if key == "__all__" else f"{prefix}.{key}"
        errors.setdefault(full, []).append(message)
    return ValidationError(errors)
