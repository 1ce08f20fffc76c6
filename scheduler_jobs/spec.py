"""The shape of a job, declared once: JOB_SPEC.

Each field of a job is an Option: its JSON type, default, bounds, the form field
that shows it, whether it is a secret, and whether changing it on a high-risk
job waits for a second person. Everything else reads the spec instead of
restating it: the service's validator (``services.validation.job_clean``), the
API serializer's fields and JSON Schema, the admin forms' fields, initial values
and the field each error is shown next to, the jobs file's fields, the legacy
rules' options and the model's defaults. They read it when they run, so an
option registered while the process runs shows everywhere at once.

Nested values (the retry policy, the notifications) are groups: an Option of
kind ``dict`` whose children are named ``"<group>.<key>"``. A service error is a
Django ValidationError keyed by these dotted names ("retry_policy.backoff",
"notifications.emails.2", "parameters.recipients"); ``error_items`` and
``prefixed`` are the one way to read and build such errors.

CONTRIBUTING.md shows how to add an option.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.module_loading import import_string

MAX_TIMEOUT_SECONDS = 24 * 3600
MAX_INTERVAL_SECONDS = 366 * 86400
# The longest stable per-job delay a schedule may ask for (schedule.jitter_seconds).
MAX_JITTER_SECONDS = 3600
CLEANERS = "scheduler_jobs.services.validation"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip the new run while one is running"
    QUEUE = "queue", "Queue one run to start when the current one ends"
    ALLOW = "allow", "Allow runs to overlap"


class MisfirePolicy(models.TextChoices):
    RUN_ONCE = "run_once", "Run once to catch up, however many slots were missed"
    SKIP = "skip", "Skip missed slots"


class NotificationEvent(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    TIMEOUT = "timeout", "Timeout"
    EXHAUSTED = "exhausted", "Retries exhausted"
    # Events about the job rather than one run (executions.alerts sends them).
    LATE = "late", "Late start (not started within its grace)"
    MISSED = "missed", "Missed run (not started by its next slot)"
    SLOW = "slow", "Slow run (still running well past its usual duration)"
    TOO_FAST = "too_fast", "Suspiciously fast run"
    INCIDENT = "incident", "Failure streak (incident opened, and reminders)"
    RECOVERED = "recovered", "Recovered (first success after an incident)"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class AlreadyRegistered(Exception):
    """An option of this name is in the spec already."""


@dataclass(frozen=True)
class Option:
    """One field of a job.

    ``kind`` is the JSON type (int, float, bool, str, list or dict). A ``dict``
    without its own ``clean`` is a group: its children are the options named
    ``"<name>.<key>"`` and it refuses other keys. ``clean`` names a function of
    ``services.validation`` for a value no generic rule describes (a schedule,
    the template's parameters, email addresses); without it, the kind and the
    bounds are the rule. ``message`` replaces the generic refusal. ``help`` may
    name ``{minimum}`` and ``{maximum}``.
    """

    name: str
    kind: type
    default: Any = REQUIRED
    minimum: int | float | None = None
    maximum: int | float | None = None
    # Characters of a string, items of a list.
    max_length: int | None = None
    choices: type[models.TextChoices] | None = None
    label: str = ""
    help: str = ""
    # The form field that edits it and shows its errors: by default its key;
    # "" when no form does.
    form_field: str | None = None
    # Its section of the admin's options forms ("running", "notifications");
    # a group's children are in the group's.
    section: str = ""
    multiline: bool = False
    # Stored sealed, shown masked (job_templates.secrets).
    secret: bool = False
    # What the two-person rule compares (services.approvals.approval_reason): a
    # change to it on a high-risk job waits for a second person's approval.
    high_risk: bool = False
    # Part of the REST API's job object.
    api: bool = True
    clean: str = ""
    message: str = ""
    # What "Unknown … option." calls a group's keys ("retry").
    noun: str = ""
    # More JSON Schema for the API (a description, an item format).
    schema: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.form_field is None:
            object.__setattr__(self, "form_field", self.key)

    @property
    def key(self) -> str:
        """The name inside its group ("max_retries" of "retry_policy.max_retries")."""
        return self.name.rpartition(".")[2]

    @property
    def parent(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def is_group(self) -> bool:
        return self.kind is dict and not self.clean

    @property
    def bounds(self) -> tuple[int | float | None, int | float | None]:
        return self.minimum, self.maximum

    @property
    def help_text(self) -> str:
        return self.help.format(minimum=self.minimum, maximum=self.maximum)

    @property
    def cleaner(self) -> Any:
        """The option's own cleaning function, or None."""
        return import_string(f"{CLEANERS}.{self.clean}") if self.clean else None

    def refusal(self) -> str:
        """The message for a value of the wrong type or out of bounds."""
        if self.message:
            return self.message
        if self.choices is not None:
            return f"Must be one of: {', '.join(self.choices.values)}."
        if self.kind is bool:
            return "Must be true or false."
        noun = {int: "a whole number", float: "a number"}.get(self.kind)
        if noun is None:
            return "Must be text."
        if None in self.bounds:
            return f"Must be {noun}."
        low, high = (f"{b:g}" if isinstance(b, float) else b for b in self.bounds)
        return f"Must be {noun} from {low} to {high}."


class JobSpec:
    """A job's options in order; a name may be registered once.

    Groups come before their children, and a child's group must exist.
    """

    def __init__(self, options: list[Option]) -> None:
        self._options: dict[str, Option] = {}
        for option in options:
            self.register(option)

    def register(self, option: Option) -> None:
        if option.name in self._options:
            raise AlreadyRegistered(f"The job spec has an option {option.name!r}.")
        if option.parent and option.parent not in self._options:
            raise KeyError(f"{option.name!r} needs the group {option.parent!r}.")
        if option.parent and not option.section:
            option = replace(option, section=self._options[option.parent].section)
        self._options[option.name] = option

    def unregister(self, name: str) -> None:
        """Remove an option and, for a group, its children."""
        for other in list(self._options):
            if other == name or other.startswith(f"{name}."):
                del self._options[other]

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    def __contains__(self, name: object) -> bool:
        return name in self._options

    def __iter__(self) -> Iterator[Option]:
        return iter(list(self._options.values()))

    def top(self) -> list[Option]:
        """The job's own fields, in the order forms, files and the API use."""
        return [option for option in self if not option.parent]

    def fields(self) -> tuple[str, ...]:
        """The names of the fields a job's definition holds (the editable ones)."""
        return tuple(option.name for option in self.top())

    def children(self, name: str) -> list[Option]:
        return [option for option in self if option.parent == name]

    def default(self, name: str) -> Any:
        """A fresh copy of an option's default; a group's is its children's."""
        option = self[name]
        if option.is_group:
            return {
                child.key: self.default(child.name) for child in self.children(name)
            }
        return copy.deepcopy(option.default)

    def defaults(self) -> dict[str, Any]:
        """The value of every field that has a default, for a new job."""
        return {
            option.name: self.default(option.name)
            for option in self.top()
            if not option.required
        }

    def in_sections(self, *sections: str) -> list[Option]:
        """Options edited by a form field in these sections of the options forms."""
        return [o for o in self if o.section in sections and o.form_field]

    def form_field_for(self, name: str) -> str:
        """The form field that shows errors on an option; a group's first child's."""
        option = self[name]
        if option.form_field or not option.is_group:
            return option.form_field
        return next((c.form_field for c in self.children(name) if c.form_field), "")

    def secret_schema(self, group: str) -> dict[str, Any]:
        """A group's secrets marked as job_templates.secrets reads them."""
        return {
            "type": "object",
            "properties": {
                child.key: {"type": "string", "writeOnly": True}
                for child in self.children(group)
                if child.secret
            },
        }


JOB_SPEC = JobSpec(
    [
        Option(
            "name",
            str,
            max_length=200,
            label="Job name",
            help="Unique; shown in lists, logs and notifications.",
            clean="clean_name",
        ),
        Option(
            "description",
            str,
            default="",
            max_length=5000,
            label="Description",
            multiline=True,
        ),
        Option(
            "template_type",
            str,
            max_length=64,
            label="Template",
            high_risk=True,
            clean="clean_template_type",
            schema={"description": "A template type from GET /api/v1/job-templates/."},
        ),
        Option(
            "parameters",
            dict,
            default={},
            label="Parameters",
            high_risk=True,
            clean="clean_parameters",
        ),
        Option(
            "schedule",
            dict,
            label="Schedule",
            form_field="schedule_type",
            clean="clean_schedule",
        ),
        # The schedule's own keys, for placing its errors; clean_schedule checks them.
        Option("schedule.type", str, form_field="schedule_type"),
        Option("schedule.cron", str),
        Option("schedule.timezone", str),
        Option(
            "schedule.every_seconds",
            int,
            maximum=MAX_INTERVAL_SECONDS,
            form_field="every",
        ),
        # When the schedule's times may run (scheduler_jobs.schedules.plan).
        Option("schedule.calendar", str, default="", max_length=64),
        Option("schedule.calendar_rule", str, default=""),
        Option(
            "schedule.jitter_seconds",
            int,
            default=0,
            minimum=0,
            maximum=MAX_JITTER_SECONDS,
        ),
        Option("schedule.in_blackout", str, default="skip"),
        Option(
            "enabled",
            bool,
            default=True,
            label="Enabled",
            help="Disabled jobs do not run on schedule but can still be run by hand.",
        ),
        Option(
            "timeout_seconds",
            int,
            default=1800,
            minimum=1,
            maximum=MAX_TIMEOUT_SECONDS,
            label="Timeout (seconds)",
            help="A run still going after this is stopped and marked timed out.",
            section="running",
        ),
        # A group's default is its children's.
        Option(
            "retry_policy",
            dict,
            default={},
            form_field="",
            section="running",
            noun="retry",
        ),
        Option(
            "retry_policy.max_retries",
            int,
            default=3,
            minimum=0,
            maximum=10,
            label="Retries",
            help="How many times a failed run is retried ({minimum} to {maximum}).",
        ),
        Option(
            "retry_policy.delay_seconds",
            int,
            default=60,
            minimum=0,
            maximum=86400,
            label="Retry delay (seconds)",
            help="Wait before the first retry.",
        ),
        Option(
            "retry_policy.backoff",
            float,
            default=2.0,
            minimum=1,
            maximum=10,
            label="Backoff factor",
            help="Each further retry waits this many times longer (1 = constant).",
        ),
        Option(
            "overlap_policy",
            str,
            default=OverlapPolicy.SKIP.value,
            choices=OverlapPolicy,
            label="If the previous run is still going",
            section="running",
        ),
        Option(
            "misfire_policy",
            str,
            default=MisfirePolicy.RUN_ONCE.value,
            choices=MisfirePolicy,
            label="If runs were missed (scheduler down)",
            section="running",
        ),
        Option(
            "queue",
            str,
            default="",
            max_length=64,
            label="Celery queue",
            help="Leave empty for the queue set for the template's resource usage.",
            section="running",
            api=False,
            clean="clean_queue",
            message="Letters, digits, '.', '_' and '-' only, at most 64 characters.",
        ),
        Option(
            "notifications",
            dict,
            default={},
            form_field="",
            section="notifications",
            noun="notification",
        ),
        Option(
            "notifications.emails",
            list,
            default=[],
            max_length=50,
            label="Email",
            help="Addresses to notify, one per line or separated by commas.",
            form_field="notify_emails",
            clean="clean_emails",
            message="Must be a list of at most 50 addresses.",
            schema={"items": {"type": "string", "format": "email"}},
        ),
        Option(
            "notifications.slack_webhook",
            str,
            default="",
            max_length=2000,
            label="Slack webhook",
            help="An incoming-webhook URL (https). Stored secret; shown masked.",
            secret=True,
            clean="clean_slack_webhook",
            schema={
                "description": "https URL; a secret: stored encrypted, shown masked "
                "(scheme and host only), send the mask back to keep it."
            },
        ),
        Option(
            "notifications.webhook_url",
            str,
            default="",
            max_length=2000,
            label="Webhook",
            help="An https URL that receives each notification as signed JSON. "
            "Stored secret; shown masked.",
            secret=True,
            clean="clean_webhook_url",
            schema={
                "description": "https URL receiving a signed JSON POST per "
                "notification; a secret: stored encrypted, shown masked (scheme and "
                "host only), send the mask back to keep it."
            },
        ),
        Option(
            "notifications.webhook_secret",
            str,
            default="",
            max_length=200,
            label="Webhook signing secret",
            help="Signs each webhook request, so the receiver can check that it "
            "came from this scheduler. Leave empty to send unsigned. Stored "
            "secret; shown masked.",
            secret=True,
            clean="clean_webhook_secret",
            schema={
                "description": "HMAC-SHA256 key for X-Scheduler-Signature; a secret: "
                "stored encrypted, shown masked, send the mask back to keep it."
            },
        ),
        Option(
            "notifications.on",
            list,
            default=[
                NotificationEvent.FAILURE.value,
                NotificationEvent.EXHAUSTED.value,
            ],
            choices=NotificationEvent,
            label="Notify on",
            form_field="notify_on",
            clean="clean_events",
            message="Must be a list of events from: "
            f"{', '.join(NotificationEvent.values)}.",
        ),
        # Watching: when a run counts as late, slow or too fast, and when a run
        # of failures opens an incident (executions.watch reads these).
        Option(
            "watch",
            dict,
            default={},
            form_field="",
            section="watch",
            noun="watch",
        ),
        Option(
            "watch.grace_seconds",
            int,
            default=0,
            minimum=0,
            maximum=86400,
            label="Late after (seconds)",
            help="A run not started this long after its planned time is reported "
            "late. 0 uses the site's default; at least 5 seconds.",
        ),
        Option(
            "watch.expected_duration_seconds",
            int,
            default=0,
            minimum=0,
            maximum=MAX_TIMEOUT_SECONDS,
            label="Usual duration (seconds)",
            help="How long a run normally takes. 0 learns it from the last 20 "
            "successful runs (once there are at least 5).",
        ),
        Option(
            "watch.slow_factor",
            float,
            default=3.0,
            minimum=1.5,
            maximum=100,
            label="Slow after (times the usual duration)",
            help="A run still going after this many times its usual duration is "
            "reported slow, once, while it runs.",
        ),
        Option(
            "watch.min_duration_seconds",
            int,
            default=0,
            minimum=0,
            maximum=MAX_TIMEOUT_SECONDS,
            label="Too fast under (seconds)",
            help="A successful run shorter than this is reported as suspiciously "
            "fast. 0 turns the check off.",
        ),
        Option(
            "watch.failure_threshold",
            int,
            default=3,
            minimum=1,
            maximum=100,
            label="Incident after (failures in a row)",
            help="This many failed runs in a row open an incident "
            "({minimum} to {maximum}).",
        ),
        Option(
            "watch.realert_minutes",
            int,
            default=60,
            minimum=0,
            maximum=10080,
            label="Remind every (minutes)",
            help="While an incident stays open, remind this often. 0 sends no "
            "reminders.",
        ),
    ]
)


def interval_bounds() -> tuple[int, int]:
    """The shortest interval (a setting) and the longest a schedule may have."""
    return settings.SCHEDULER_MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS


# Errors -----------------------------------------------------------------------------


def error_items(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted key, message) pairs of a ValidationError; "__all__" for the whole."""
    if hasattr(exc, "error_dict"):
        return [
            (key, message)
            for key, errors in exc.error_dict.items()
            for error in errors
            for message in error.messages
        ]
    return [("__all__", message) for message in exc.messages]


def join_key(prefix: str, key: str) -> str:
    """`key` inside `prefix`: "schedule" + "cron" is "schedule.cron"."""
    if key in ("__all__", ""):
        return prefix or "__all__"
    return f"{prefix}.{key}" if prefix else key


def prefixed(prefix: str, exc: ValidationError) -> ValidationError:
    """The same errors, each key moved inside `prefix`."""
    errors: dict[str, list[str]] = {}
    for key, message in error_items(exc):
        errors.setdefault(join_key(prefix, key), []).append(message)
    return ValidationError(errors)
