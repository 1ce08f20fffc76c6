"""One set of rules for every job write (job_clean); forms and job files call it too.

The rules come from the job spec (scheduler_jobs.spec): a field's type and
bounds are checked the same way for every field, and a field that needs more
(a name, the template's parameters, a schedule, email addresses, a secret URL)
names one of the cleaners below. Errors are keyed by the option's dotted name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from job_templates import secrets
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs.broker import job_redelivery_errors
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.masking import mask_webhook, template_for
from scheduler_jobs.services.timerules import schedule_clean
from scheduler_jobs.spec import JOB_SPEC, Option, error_items, join_key

# The fields a job's definition holds, as the spec had them at start-up.
EDITABLE_FIELDS = JOB_SPEC.fields()
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
WEBHOOK_SECRET_MIN_CHARS = 16
_QUEUE_NAME = re.compile(rf"^[A-Za-z0-9_.\-]{{1,{JOB_SPEC['queue'].max_length}}}$")


def strip_control_characters(text: str, *, keep_newlines: bool = False) -> str:
    """Remove control characters; newlines and tabs survive only where allowed."""
    if keep_newlines:
        return _CONTROL.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc").strip()


def job_as_dict(job: DynamicJob) -> dict[str, Any]:
    return {name: getattr(job, name) for name in JOB_SPEC.fields()}


@dataclass
class JobValues:
    """What a cleaner may look at besides its own value: the options cleaned
    before it (the template, for the parameters) and the saved job."""

    instance: DynamicJob | None
    cleaned: dict[str, Any] = field(default_factory=dict)
    # The incoming value of the group being cleaned, for a member whose rule
    # reads another (a signing secret stays bound to its webhook's server).
    group: dict[str, Any] = field(default_factory=dict)

    def stored(self, name: str) -> Any:
        """The saved job's value at a dotted name; None for a new job."""
        value: Any = self.instance
        for part in name.split("."):
            if value is None:
                return None
            value = value.get(part) if isinstance(value, dict) else getattr(value, part)
        return value


def job_clean(
    data: dict[str, Any], *, instance: DynamicJob | None = None
) -> dict[str, Any]:
    """Validate a whole job (instance values overlaid with `data`).

    Raises ValidationError whose keys are dotted field paths, e.g.
    "schedule.cron" or "parameters.recipients".
    """
    values = job_as_dict(instance) if instance else JOB_SPEC.defaults()
    fields = JOB_SPEC.fields()
    values.update({k: v for k, v in data.items() if k in fields})
    job = JobValues(instance)
    errors: dict[str, list[str]] = {}
    for option in JOB_SPEC.top():
        try:
            job.cleaned[option.name] = clean_option(
                option, values.get(option.name), job
            )
        except ValidationError as exc:
            _add_errors(errors, option.name, exc)
    if "timeout_seconds" in job.cleaned and not any(
        key.startswith(("timeout_seconds", "retry_policy")) for key in errors
    ):
        # A rule across two options: the broker would hand a long run to a
        # second worker.
        for key, messages in job_redelivery_errors(
            timeout_seconds=job.cleaned["timeout_seconds"],
            retry_policy=job.cleaned["retry_policy"],
        ).items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return job.cleaned


def _add_errors(
    errors: dict[str, list[str]], prefix: str, exc: ValidationError
) -> None:
    for key, message in error_items(exc):
        errors.setdefault(join_key(prefix, key), []).append(message)


def clean_option(option: Option, value: Any, job: JobValues) -> Any:
    """The clean value of one option, or ValidationError keyed inside it."""
    cleaner = option.cleaner
    if cleaner is not None:
        return cleaner(option, value, job)
    if option.is_group:
        return clean_group(option, value, job)
    return clean_value(option, value)


def clean_group(option: Option, value: Any, job: JobValues) -> dict[str, Any]:
    """A nested object: its known keys, each cleaned, missing ones defaulted.

    Secret members are sealed; one that did not change keeps its stored token.
    """
    children = JOB_SPEC.children(option.name)
    value = {} if value is None else value
    if not isinstance(value, dict):
        keys = ", ".join(child.key for child in children)
        raise ValidationError(f"Must be an object with {keys}.")
    known = {child.key for child in children}
    errors = {
        key: [f"Unknown {option.noun} option."] for key in sorted(set(value) - known)
    }
    cleaned: dict[str, Any] = {}
    job.group = value
    for child in children:
        given = value[child.key] if child.key in value else JOB_SPEC.default(child.name)
        try:
            cleaned[child.key] = clean_option(child, given, job)
        except ValidationError as exc:
            _add_errors(errors, child.key, exc)
    if errors:
        raise ValidationError(errors)
    if any(child.secret for child in children):
        cleaned = secrets.seal(
            JOB_SPEC.secret_schema(option.name),
            cleaned,
            previous=job.stored(option.name) or {},
        )
    return cleaned


def clean_value(option: Option, value: Any) -> Any:
    """A scalar checked against its kind, choices and bounds."""
    if option.kind is str and option.choices is None:
        return clean_text(option, value)
    if option.choices is not None:
        valid = value in option.choices.values
    elif option.kind is bool:
        valid = isinstance(value, bool)
    elif option.kind is int:
        valid = _is_int(value) and _within(option, value)
    elif option.kind is float:
        valid = _is_number(value) and _within(option, value)
        value = float(value) if valid else value
    else:
        valid = False
    if not valid:
        raise ValidationError(option.refusal())
    return value


def clean_text(option: Option, value: Any) -> str:
    """Text without control characters (newlines kept where it is multiline)."""
    value = value or ""
    if not isinstance(value, str):
        raise ValidationError(option.refusal())
    text = strip_control_characters(value, keep_newlines=option.multiline).strip()
    if option.max_length is not None and len(text) > option.max_length:
        raise ValidationError(f"At most {option.max_length} characters.")
    return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _within(option: Option, value: int | float) -> bool:
    low = option.minimum if option.minimum is not None else value
    high = option.maximum if option.maximum is not None else value
    return low <= value <= high


# The cleaners options name (Option.clean) ----------------------------------------


def clean_name(option: Option, value: Any, job: JobValues) -> str:
    if not isinstance(value, str) or not strip_control_characters(value):
        raise ValidationError("A job needs a name.")
    return clean_text(option, value)


def clean_template_type(option: Option, value: Any, job: JobValues) -> str:
    try:
        registry.get(value)
    except (UnknownTemplate, TypeError):
        raise ValidationError(
            f"Unknown template {value!r}. Available: {', '.join(registry.types())}."
        ) from None
    return value


def clean_parameters(option: Option, value: Any, job: JobValues) -> Any:
    """Validated parameters with their secrets sealed.

    None when the template is unknown: that is the template's error, reported
    on template_type.
    """
    template = template_for(job.cleaned.get("template_type"))
    if template is None:
        return None
    instance = job.instance
    same_template = instance is not None and instance.template_type == template.type
    stored = instance.parameters if same_template else {}
    schema = template.parameters_schema
    params = secrets.merge(
        schema, value, stored, destination=template.secrets_destination
    )
    errors: dict[str, list[str]] = {}
    nul_path = _find_nul(params)
    if nul_path is not None:
        # PostgreSQL cannot store U+0000 in JSON; refuse it with its path.
        errors[nul_path] = ["Contains a NUL character."]
    try:
        validated = template.validate_params(params)
    except ValidationError as exc:
        _add_errors(errors, "", exc)
    if errors:
        raise ValidationError(errors)
    return secrets.seal(schema, validated, previous=stored)


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


def clean_schedule(option: Option, value: Any, job: JobValues) -> dict[str, Any]:
    """The schedule's form, and that the calendar it names exists."""
    return schedule_clean(value).to_dict()


def clean_queue(option: Option, value: Any, job: JobValues) -> str:
    queue = value or ""
    if queue and (not isinstance(queue, str) or not _QUEUE_NAME.match(queue)):
        raise ValidationError(option.refusal())
    return queue


def clean_emails(option: Option, value: Any, job: JobValues) -> list[str]:
    emails = value or []
    if not isinstance(emails, list) or len(emails) > option.max_length:
        raise ValidationError(option.refusal())
    clean: list[str] = []
    errors: dict[str, list[str]] = {}
    for i, email in enumerate(emails):
        try:
            if not isinstance(email, str) or _CONTROL.search(email):
                raise ValidationError("invalid")
            validate_email(email.strip())
            clean.append(email.strip())
        except ValidationError:
            errors[str(i)] = [f"{email!r} is not a valid email address."]
    if errors:
        raise ValidationError(errors)
    return clean


def clean_events(option: Option, value: Any, job: JobValues) -> list[str]:
    events = option.choices.values
    if not isinstance(value, list) or any(e not in events for e in value):
        raise ValidationError(option.refusal())
    return sorted(set(value), key=events.index)


def clean_slack_webhook(option: Option, value: Any, job: JobValues) -> str:
    """The Slack URL in clear: the stored one when its masked form came back."""
    return clean_secret_url(option, value, job, name="The Slack URL")


def clean_webhook_url(option: Option, value: Any, job: JobValues) -> str:
    """The notification webhook's URL, checked like the Slack URL."""
    return clean_secret_url(option, value, job, name="The webhook URL")


def clean_secret_url(option: Option, value: Any, job: JobValues, *, name: str) -> str:
    """A URL that is a secret, in clear: the stored one when its mask came back.

    https only (http for allowed local hosts) and never an internal address.
    """
    webhook = value or ""
    stored = job.stored(option.name) or ""
    if not isinstance(webhook, str):
        raise ValidationError("Must be an https URL.")
    if webhook and stored and webhook == mask_webhook(stored):
        return secrets.unseal_value(stored)
    if secrets.is_sealed(webhook):
        return secrets.unseal_value(webhook)
    if secrets.SECRET_MASK in webhook:
        raise ValidationError(
            f"The value is masked ({secrets.SECRET_MASK}) but is not the stored "
            f"URL's mask. {name} is a secret: enter the whole new URL; the "
            "stored one is kept only when its masked form comes back unchanged."
        )
    error = webhook_url_error(webhook) if webhook else None
    if error:
        raise ValidationError(error)
    return webhook


def clean_webhook_secret(option: Option, value: Any, job: JobValues) -> str:
    """The webhook's signing secret in clear; the mask keeps the stored one.

    A kept secret stays with the server it was given for: when the webhook URL
    moves to another origin (scheme, host, port), the secret must be given
    again (or cleared), as a webhook job's signing secret must.
    """
    secret = value or ""
    if not isinstance(secret, str):
        raise ValidationError(option.refusal())
    stored = secrets.unseal_value(job.stored(option.name) or "")
    if secret == secrets.SECRET_MASK or secrets.is_sealed(secret):
        kept = stored if secret == secrets.SECRET_MASK else secrets.unseal_value(secret)
        if not kept:
            raise ValidationError(
                f"The value is masked ({secrets.SECRET_MASK}) but no secret is "
                "stored here to keep; enter the real value or leave it empty."
            )
        if _webhook_moved(job):
            raise ValidationError(
                "The webhook now points to another server; enter this secret "
                "again (or clear it) so the stored one is not sent there."
            )
        return kept
    secret = secret.strip()
    if _CONTROL.search(secret) or len(secret) > option.max_length:
        raise ValidationError(
            f"At most {option.max_length} characters, without control characters."
        )
    if secret and len(secret) < WEBHOOK_SECRET_MIN_CHARS:
        raise ValidationError(
            f"At least {WEBHOOK_SECRET_MIN_CHARS} characters, so it cannot be guessed."
        )
    return secret


def _webhook_moved(job: JobValues) -> bool:
    """Whether the incoming webhook URL goes to another origin than the stored."""
    stored = secrets.unseal_value(job.stored("notifications.webhook_url") or "")
    incoming = job.group.get("webhook_url", stored) if job.group else stored
    if secrets.is_sealed(incoming):
        incoming = secrets.unseal_value(incoming)
    moved = secrets.origin(incoming) != secrets.origin(stored)
    return bool(stored) and bool(incoming) and moved


def webhook_url_error(url: Any) -> str | None:
    """Why a notification webhook URL is refused, or None.

    https only, except for hosts in SCHEDULER_WEBHOOK_ALLOWED_HOSTS (local
    receivers and tests); and never an internal address (the SSRF guard, checked
    again when sending).
    """
    from job_templates import net

    longest = JOB_SPEC["notifications.slack_webhook"].max_length
    if not isinstance(url, str) or len(url) > longest or _CONTROL.search(url):
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
