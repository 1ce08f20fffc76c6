"""Where a service's errors are shown on a form.

Service errors come keyed by dotted paths ("schedule.cron",
"parameters.recipients.2", "notifications.emails.0"); `add_service_errors` puts
each next to the form field that produced it.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django_jsonform.widgets import JSONFormWidget

from scheduler_jobs.spec import JOB_SPEC, error_items


def field_for_key(key: str) -> tuple[str | None, str]:
    """(form field, the rest of the path) for a dotted service error key.

    The job spec says which form field edits each option; the longest known
    prefix wins ("parameters.recipients.2" is the parameters field's
    "recipients.2"). An unknown key has no field, so it ends up among the
    form's non-field errors and is never swallowed.
    """
    parts = key.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in JOB_SPEC:
            field = JOB_SPEC.form_field_for(prefix)
            return field or None, ".".join(parts[cut:])
    return None, key


# A service ValidationError as (dotted key, message) pairs.
service_error_items = error_items


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
