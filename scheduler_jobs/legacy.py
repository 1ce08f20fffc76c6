"""Migrating hard-coded ("legacy") Celery jobs into dynamic jobs.

Three sources of legacy jobs are read:

* ``settings``: ``CELERY_BEAT_SCHEDULE`` (task, ``schedule`` as a ``crontab``,
  ``timedelta`` or seconds, ``args``, ``kwargs``, ``options``);
* ``beat``: django-celery-beat ``PeriodicTask`` rows;
* ``file``: a JSON or YAML file of definitions, for schedulers that are neither.

django-celery-beat's ``DatabaseScheduler`` (which this project's beat extends)
copies every ``CELERY_BEAT_SCHEDULE`` entry into a ``PeriodicTask`` row of the same
name at start-up and never touches that row's ``enabled`` flag again. Such a row
is treated as the switch of its settings entry: disabling it stops the settings
job under that scheduler, and it survives beat restarts.

A table of rules (built-ins below, overridden by ``SCHEDULER_LEGACY_RULES``) maps
a legacy job to a template and parameters. Rules match the job's name first, then
its task path. A job no rule maps is reported with the reason, never guessed.
Every write goes through ``scheduler_jobs.services``, so the new jobs are
validated exactly like the API's and audited.
"""

from __future__ import annotations

import copy
import getpass
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.module_loading import import_string

from audit import services as audit
from scheduler_jobs import services
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import parse_schedule

SOURCES = ("settings", "beat", "file")
DEFAULT_SOURCES = ("settings", "beat")
TICKETS_DAYS_DEFAULT = 30
# The job options a rule may set besides template, parameters and schedule.
RULE_OPTIONS = (
    "description",
    "timeout_seconds",
    "retry_policy",
    "overlap_policy",
    "misfire_policy",
    "notifications",
    "queue",
)
RULE_KEYS = frozenset(
    {
        "template",
        "parameters",
        "kwargs",
        "args",
        "ignore",
        "name",
        "schedule",
        "options",
        "unmappable",
        "mapper",
    }
)
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
FILE_KEYS = frozenset(
    {
        "name",
        "task",
        "schedule",
        "timezone",
        "args",
        "kwargs",
        "options",
        "enabled",
        "description",
    }
)
PERIOD_SECONDS = {
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
    "microseconds": 1e-6,
}


class LegacyError(Exception):
    """A problem the operator must fix (bad file, unknown name); shown as is."""


class Unmappable(Exception):
    """A rule cannot turn this legacy job into a dynamic job; the message says why."""


@dataclass
class LegacyJob:
    """One hard-coded job as read from its source, before any mapping."""

    name: str
    task: str
    source: str
    origin: str
    schedule_text: str
    schedule: dict[str, Any] | None = None
    schedule_error: str = ""
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # None: the source has no switch (a settings entry without a beat row).
    enabled: bool | None = None
    periodic_task_id: int | None = None
    description: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The source in words, for the new job's description."""
        if self.source == "settings":
            return "CELERY_BEAT_SCHEDULE"
        if self.source == "beat":
            return "django-celery-beat"
        return self.origin.split(" jobs[")[0]

    @property
    def can_be_disabled(self) -> bool:
        return self.periodic_task_id is not None

    @property
    def runs(self) -> bool:
        """Whether the legacy scheduler still runs this job."""
        return self.enabled is not False

    @property
    def state(self) -> str:
        if self.source == "settings" and self.periodic_task_id is None:
            return "runs from CELERY_BEAT_SCHEDULE"
        if self.source == "file":
            return "enabled in file" if self.runs else "disabled in file"
        return "enabled" if self.enabled else "disabled"


@dataclass
class PlanEntry:
    """What migrating one legacy job would do, or why it cannot."""

    legacy: LegacyJob
    rule: str = ""
    data: dict[str, Any] | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    job: DynamicJob | None = None

    @property
    def mappable(self) -> bool:
        return self.data is not None and not self.reason

    @property
    def status(self) -> str:
        if self.job is not None:
            return "migrated"
        return "ready" if self.mappable else "unmappable"

    @property
    def schedule_description(self) -> str:
        if self.data is None:
            return ""
        return parse_schedule(self.data["schedule"]).describe()


@dataclass
class Outcome:
    """What one migrate or rollback did (or, in a dry run, would do)."""

    name: str
    lines: list[str] = field(default_factory=list)
    changed: bool = False
    failed: bool = False
    job: DynamicJob | None = None


def operator_name(command: str) -> str:
    """The audit actor for a management command: the OS user and the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return f"{user} via {command}"


# Sources ---------------------------------------------------------------------


def load_legacy_jobs(
    sources: Iterable[str] | None = None, *, path: str | Path | None = None
) -> list[LegacyJob]:
    """Legacy jobs from the given sources (default: settings and beat), by name.

    A settings entry and the PeriodicTask row DatabaseScheduler made of it are one
    job: the row becomes the entry's switch and is not listed twice.
    """
    chosen = tuple(sources or DEFAULT_SOURCES)
    for source in chosen:
        if source not in SOURCES:
            raise LegacyError(
                f"Unknown source {source!r}; choose from {', '.join(SOURCES)}."
            )
    jobs: dict[str, LegacyJob] = {}
    beat_rows = _beat_jobs() if {"settings", "beat"} & set(chosen) else {}
    if "settings" in chosen:
        for job in _settings_jobs():
            row = beat_rows.pop(job.name, None)
            if row is not None:
                job.periodic_task_id = row.periodic_task_id
                job.enabled = row.enabled
                job.origin += f", beat row #{row.periodic_task_id}"
            jobs[job.name] = job
    if "beat" in chosen:
        for job in beat_rows.values():
            jobs.setdefault(job.name, job)
    if "file" in chosen:
        if path is None:
            raise LegacyError("The file source needs a path: --source file PATH.")
        for job in load_file_jobs(path):
            if job.name in jobs:
                raise LegacyError(
                    f"{job.origin}: {job.name!r} is also defined in "
                    f"{jobs[job.name].origin}; legacy job names must be unique."
                )
            jobs[job.name] = job
    return sorted(jobs.values(), key=lambda j: j.name)


def _settings_jobs() -> list[LegacyJob]:
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None) or {}
    if not isinstance(schedule, dict):
        raise LegacyError("CELERY_BEAT_SCHEDULE must be a dict of entries.")
    jobs = []
    for name, entry in schedule.items():
        origin = f"CELERY_BEAT_SCHEDULE[{name!r}]"
        if not isinstance(entry, dict):
            jobs.append(
                LegacyJob(
                    name=str(name),
                    task="",
                    source="settings",
                    origin=origin,
                    schedule_text="?",
                    problems=["the entry is not a dict"],
                )
            )
            continue
        job = LegacyJob(
            name=str(name),
            task=str(entry.get("task", "")),
            source="settings",
            origin=origin,
            schedule_text="",
            options=dict(entry.get("options") or {}),
        )
        job.args, job.kwargs = _args_kwargs(entry.get("args"), entry.get("kwargs"), job)
        tz = getattr(settings, "CELERY_TIMEZONE", None) or "UTC"
        _set_schedule(job, *celery_schedule(entry.get("schedule"), default_tz=tz))
        if not job.task:
            job.problems.append("the entry has no task")
        if entry.get("relative"):
            job.problems.append("relative=True schedules have no equivalent")
        jobs.append(job)
    return jobs


def _beat_jobs() -> dict[str, LegacyJob]:
    from django_celery_beat.models import PeriodicTask

    rows = PeriodicTask.objects.select_related(
        "interval", "crontab", "solar", "clocked"
    ).order_by("name")
    jobs = {}
    for task in rows:
        if task.name.startswith("celery."):
            continue  # Celery's own housekeeping (backend_cleanup), not a job
        job = LegacyJob(
            name=task.name,
            task=task.task,
            source="beat",
            origin=f"beat row #{task.pk}",
            schedule_text="",
            enabled=task.enabled,
            periodic_task_id=task.pk,
            description=task.description,
        )
        job.args, job.kwargs = _args_kwargs(
            _json_text(task.args, "args", job, []),
            _json_text(task.kwargs, "kwargs", job, {}),
            job,
        )
        if task.queue:
            job.options["queue"] = task.queue
        if task.expire_seconds or task.expires:
            job.options["expires"] = task.expire_seconds or task.expires.isoformat()
        _set_schedule(job, *_periodic_task_schedule(task))
        if task.one_off and not task.clocked_id:  # clocked says it better
            job.problems.append(
                "one_off task: runs once, and dynamic jobs are recurring"
            )
        jobs[task.name] = job
    return jobs


def _json_text(text: str, label: str, job: LegacyJob, default: Any) -> Any:
    try:
        return json.loads(text or json.dumps(default))
    except ValueError:
        job.problems.append(f"{label} is not valid JSON: {text[:60]!r}")
        return default


def _args_kwargs(args: Any, kwargs: Any, job: LegacyJob) -> tuple[list, dict]:
    if args is None:
        args = []
    if kwargs is None:
        kwargs = {}
    if not isinstance(args, list | tuple):
        job.problems.append("args must be a list")
        args = []
    if not isinstance(kwargs, dict):
        job.problems.append("kwargs must be an object")
        kwargs = {}
    return list(args), dict(kwargs)


def _set_schedule(job: LegacyJob, schedule: dict | None, text: str, error: str) -> None:
    job.schedule, job.schedule_text, job.schedule_error = schedule, text, error


def celery_schedule(value: Any, *, default_tz: str) -> tuple[dict | None, str, str]:
    """(dynamic schedule, legacy schedule in words, why it cannot be mapped)."""
    from celery.schedules import crontab, schedule, solar
    from django_celery_beat.tzcrontab import TzAwareCrontab

    if isinstance(value, crontab):
        # A plain crontab runs in Celery's time zone; django-celery-beat's
        # TzAwareCrontab carries its own.
        zone = str(value.tz) if isinstance(value, TzAwareCrontab) else default_tz
        fields = [_cron_field(getattr(value, f"_orig_{name}")) for name in CRON_FIELDS]
        return _cron(fields, zone)
    if isinstance(value, solar):
        return None, f"solar({value.event})", _SOLAR
    if isinstance(value, schedule):
        return _interval(value.run_every.total_seconds())
    if isinstance(value, timedelta):
        return _interval(value.total_seconds())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _interval(float(value))
    return None, repr(value)[:60], f"unsupported schedule {repr(value)[:60]}"


_SOLAR = "solar schedules (sunrise, sunset) have no equivalent; use a cron schedule"


def _cron_field(value: Any) -> str:
    if isinstance(value, str):
        return value.strip() or "*"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Iterable):
        return ",".join(str(v) for v in sorted(value))
    return str(value)


def _cron(fields: list[str], zone: str) -> tuple[dict | None, str, str]:
    # celery and django-celery-beat order: minute hour day_of_month month day_of_week
    expression = " ".join(fields)
    text = f"crontab({expression}, {zone})"
    schedule = {"type": "cron", "cron": expression, "timezone": zone}
    try:
        return parse_schedule(schedule).to_dict(), text, ""
    except ValidationError as exc:
        return None, text, "schedule: " + validation_text(exc)


def _interval(seconds: float) -> tuple[dict | None, str, str]:
    text = f"every {_number(seconds)}s"
    minimum = settings.SCHEDULER_MIN_INTERVAL_SECONDS
    if seconds != math.floor(seconds):
        return None, text, f"schedule: every {_number(seconds)} seconds is not whole"
    if seconds < minimum:
        return (
            None,
            text,
            f"schedule: every {_number(seconds)} seconds is shorter than the minimum "
            f"of {minimum} seconds (SCHEDULER_MIN_INTERVAL_SECONDS)",
        )
    schedule = {"type": "interval", "every_seconds": int(seconds)}
    try:
        return parse_schedule(schedule).to_dict(), text, ""
    except ValidationError as exc:
        return None, text, "schedule: " + validation_text(exc)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _periodic_task_schedule(task: Any) -> tuple[dict | None, str, str]:
    if task.crontab_id:
        c = task.crontab
        fields = [
            c.minute,
            c.hour,
            c.day_of_month,
            c.month_of_year,
            c.day_of_week,
        ]
        return _cron([_cron_field(f) for f in fields], str(c.timezone))
    if task.interval_id:
        every, period = task.interval.every, task.interval.period
        if period not in PERIOD_SECONDS:
            return (
                None,
                f"every {every} {period}",
                f"unknown interval period {period!r}",
            )
        dynamic, _text, error = _interval(every * PERIOD_SECONDS[period])
        return dynamic, f"every {every} {period}", error
    if task.clocked_id:
        return (
            None,
            f"clocked({task.clocked.clocked_time.isoformat()})",
            "clocked schedules run once at a set time; dynamic jobs are recurring",
        )
    if task.solar_id:
        return None, f"solar({task.solar.event})", _SOLAR
    return None, "none", "the PeriodicTask has no schedule"


# The file source ----------------------------------------------------------------


def read_structured_file(path: str | Path) -> Any:
    """Parse a JSON or YAML file (by extension; YAML otherwise, a JSON superset).

    Raises LegacyError naming the file and, where the parser knows it, the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LegacyError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LegacyError(f"{path}: cannot be read: {exc}") from None
    return parse_structured_text(text, name=str(path))


def parse_structured_text(text: str, *, name: str) -> Any:
    if name.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise LegacyError(
                f"{name}: line {exc.lineno}, column {exc.colno}: "
                f"not valid JSON: {exc.msg}."
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise LegacyError(f"{name}: {where}not valid YAML: {problem}.") from None


def load_file_jobs(path: str | Path) -> list[LegacyJob]:
    """Legacy jobs from a file: a list of entries, or {"jobs": [...]}, or a
    beat_schedule-like mapping of name -> entry.

    Each entry has name, task, schedule and optionally timezone, args, kwargs,
    options, enabled, description. `schedule` is a cron string ("0 3 * * *",
    "@daily"), a number of seconds, or an object: {"cron", "timezone"},
    {"every_seconds"}, {"every", "period"} (django-celery-beat's interval) or
    crontab fields {"minute", "hour", "day_of_month", "month_of_year",
    "day_of_week"}. A malformed file fails as a whole, naming entry and field.
    """
    data = read_structured_file(path)
    name = Path(path).name
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if isinstance(data, dict):
        data = [
            {"name": key, **value} if isinstance(value, dict) else value
            for key, value in data.items()
        ]
    if not isinstance(data, list):
        raise LegacyError(f"{name}: expected a list of jobs (or {{'jobs': [...]}}).")
    errors: list[str] = []
    jobs: list[LegacyJob] = []
    seen: set[str] = set()
    for index, entry in enumerate(data):
        entry_errors = _file_entry(entry, index, name, seen, jobs)
        errors.extend(entry_errors)
    if errors:
        raise LegacyError("\n".join(errors))
    return jobs


def _file_entry(
    entry: Any, index: int, name: str, seen: set[str], jobs: list[LegacyJob]
) -> list[str]:
    """Check one file entry; appends the job to `jobs` and returns its errors."""
    errors: list[str] = []
    where = f"{name}: jobs[{index}]"
    if not isinstance(entry, dict):
        return [f"{where}: must be an object with name, task, schedule."]
    label = entry.get("name")
    if isinstance(label, str) and label:
        where += f" ({label})"
    for key in sorted(set(entry) - FILE_KEYS, key=str):
        errors.append(
            f"{where}: {key}: unknown field; allowed: {', '.join(sorted(FILE_KEYS))}."
        )
    for key in ("name", "task"):
        if not isinstance(entry.get(key), str) or not entry.get(key, "").strip():
            errors.append(f"{where}: {key}: required, a non-empty string.")
    if "schedule" not in entry:
        errors.append(f"{where}: schedule: required.")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(f"{where}: enabled: must be true or false.")
    if isinstance(label, str) and label:
        if label in seen:
            errors.append(f"{where}: name: {label!r} appears twice in the file.")
        seen.add(label)
    if errors:
        return errors
    job = LegacyJob(
        name=label.strip(),
        task=entry["task"].strip(),
        source="file",
        origin=f"{name} jobs[{index}]",
        schedule_text="",
        options=entry.get("options") or {},
        enabled=enabled,
        description=str(entry.get("description") or ""),
    )
    job.args, job.kwargs = _args_kwargs(entry.get("args"), entry.get("kwargs"), job)
    if not isinstance(job.options, dict):
        errors.append(f"{where}: options: must be an object.")
    for problem in job.problems:  # "args must be a list" -> field, message
        field_name, _, message = problem.partition(" ")
        errors.append(f"{where}: {field_name}: {message}.")
    tz = entry.get("timezone") or getattr(settings, "CELERY_TIMEZONE", "UTC")
    try:
        _set_schedule(job, *_file_schedule(entry["schedule"], tz))
    except LegacyError as exc:
        errors.append(f"{where}: schedule: {exc}")
    jobs.append(job)
    return errors


def _file_schedule(value: Any, tz: str) -> tuple[dict | None, str, str]:
    if isinstance(value, str):
        return _cron_text(value, tz)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _interval(float(value))
    if not isinstance(value, dict):
        raise LegacyError("must be a cron string, a number of seconds or an object.")
    if "cron" in value:
        return _cron_text(str(value["cron"]), value.get("timezone", tz))
    if "every_seconds" in value:
        return _number_interval(value["every_seconds"], 1)
    if "every" in value:
        period = value.get("period", "seconds")
        if period not in PERIOD_SECONDS:
            raise LegacyError(
                f"period {period!r} is not one of {', '.join(PERIOD_SECONDS)}."
            )
        dynamic, _text, error = _number_interval(value["every"], PERIOD_SECONDS[period])
        return dynamic, f"every {value['every']} {period}", error
    if set(value) & set(CRON_FIELDS):
        unknown = set(value) - set(CRON_FIELDS) - {"timezone"}
        if unknown:
            raise LegacyError(
                f"unknown crontab field(s): {', '.join(sorted(unknown))}."
            )
        fields = [_cron_field(value.get(name, "*")) for name in CRON_FIELDS]
        return _cron(fields, value.get("timezone", tz))
    if "clocked" in value:
        return None, "clocked", "clocked schedules run once; dynamic jobs are recurring"
    if "solar" in value:
        return None, "solar", _SOLAR
    raise LegacyError(
        "an object needs cron, every_seconds, every/period or crontab fields."
    )


def _number_interval(value: Any, unit: float) -> tuple[dict | None, str, str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LegacyError(f"{value!r} is not a number.")
    return _interval(float(value) * unit)


def _cron_text(text: str, tz: Any) -> tuple[dict | None, str, str]:
    fields = text.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        return _cron_macro(fields[0], tz)
    if len(fields) != 5:
        return (
            None,
            text,
            f"schedule: expected 5 cron fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}",
        )
    return _cron(fields, str(tz))


def _cron_macro(text: str, tz: Any) -> tuple[dict | None, str, str]:
    schedule = {"type": "cron", "cron": text, "timezone": str(tz)}
    try:
        return parse_schedule(schedule).to_dict(), f"{text} ({tz})", ""
    except ValidationError as exc:
        return None, text, "schedule: " + validation_text(exc)


# Rules ---------------------------------------------------------------------------

Rule = dict[str, Any] | str | Callable[["LegacyJob"], dict[str, Any]]


def _only_kwargs(job: LegacyJob, allowed: set[str], *, args: int = 0) -> None:
    unknown = sorted(set(job.kwargs) - allowed)
    if unknown:
        raise Unmappable(
            f"legacy kwargs {', '.join(unknown)} have no mapping in the rule; "
            "add a SCHEDULER_LEGACY_RULES entry that maps or ignores them"
        )
    if len(job.args) > args:
        raise Unmappable(
            f"legacy positional args {job.args!r} have no mapping in the rule; "
            "add a SCHEDULER_LEGACY_RULES entry that maps them"
        )


def _positive_days(job: LegacyJob, default: int | None) -> int:
    values = [job.kwargs[k] for k in ("days", "older_than_days") if k in job.kwargs]
    if job.args:
        values.append(job.args[0])
    if not values:
        if default is None:
            raise Unmappable("the legacy kwargs give no age ('days')")
        return default
    if len(values) > 1:
        raise Unmappable("the age is given twice (days, older_than_days or args[0])")
    days = values[0]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise Unmappable(f"days must be a whole number of days ≥ 1, not {days!r}")
    return days


def map_test_scheduler(job: LegacyJob) -> dict[str, Any]:
    """test_scheduler -> heartbeat: it only ever proved the scheduler lives."""
    _only_kwargs(job, {"message"})
    parameters = {}
    if "message" in job.kwargs:
        parameters["message"] = job.kwargs["message"]
    return {
        "template": "heartbeat",
        "parameters": parameters,
        # A heartbeat every minute: the next run is its retry, and a stuck one
        # should not hold the slot for the default half hour.
        "options": {
            "timeout_seconds": 60,
            "retry_policy": {"max_retries": 0, "delay_seconds": 60, "backoff": 2.0},
        },
    }


def map_data_cleanup(job: LegacyJob) -> dict[str, Any]:
    """data_cleanup -> database_cleanup of `model` rows older than `days`.

    Legacy kwargs: model (or collection, a model label from
    SCHEDULER_CLEANUP_MODELS), days (or older_than_days, default 90), date_field
    (default created_at). Created as a dry run, like every built-in cleanup.
    """
    _only_kwargs(
        job,
        {"model", "collection", "days", "older_than_days", "date_field"},
        args=1,
    )
    model = job.kwargs.get("model") or job.kwargs.get("collection")
    if not model:
        raise Unmappable(
            "the legacy kwargs name no model ('model' or 'collection'); add a "
            "SCHEDULER_LEGACY_RULES entry for data_cleanup"
        )
    days = _positive_days(job, 90)
    date_field = job.kwargs.get("date_field", "created_at")
    return {
        "template": "database_cleanup",
        "parameters": {
            "collection": model,
            "condition": {f"{date_field}__lt": {"ago": f"{days}d"}},
            "dry_run": True,
        },
        "notes": [_DRY_RUN_NOTE],
    }


def map_auto_delete_resolved_tickets(job: LegacyJob) -> dict[str, Any]:
    """auto_delete_resolved_tickets -> database_cleanup on the tickets model.

    Deletes tickets with status "resolved" resolved more than N days ago (N from
    the legacy kwargs `days`/`older_than_days` or args[0], default 30).
    """
    model = getattr(settings, "SCHEDULER_LEGACY_TICKETS_MODEL", "")
    if not model:
        raise Unmappable(
            "SCHEDULER_LEGACY_TICKETS_MODEL is empty: set it to the tickets "
            "model's label (e.g. support.Ticket) and list that model in "
            "SCHEDULER_CLEANUP_MODELS"
        )
    _only_kwargs(job, {"days", "older_than_days"}, args=1)
    days = _positive_days(job, TICKETS_DAYS_DEFAULT)
    return {
        "template": "database_cleanup",
        "parameters": {
            "collection": model,
            "condition": {
                "status": "resolved",
                "resolved_at__lt": {"ago": f"{days}d"},
            },
            "dry_run": True,
        },
        "notes": [_DRY_RUN_NOTE],
    }


_DRY_RUN_NOTE = (
    "dry_run is true: the new job only counts what it would delete while it runs "
    "beside the legacy job; migrate with --live to let it delete"
)

BUILTIN_RULES: dict[str, Rule] = {
    "test_scheduler": map_test_scheduler,
    "data_cleanup": map_data_cleanup,
    "auto_delete_resolved_tickets": map_auto_delete_resolved_tickets,
}


def legacy_rules() -> dict[str, Rule]:
    """The built-in rules with SCHEDULER_LEGACY_RULES merged over them.

    A setting value of None removes a built-in rule.
    """
    custom = getattr(settings, "SCHEDULER_LEGACY_RULES", {}) or {}
    if not isinstance(custom, dict):
        raise LegacyError("SCHEDULER_LEGACY_RULES must be a dict.")
    rules = {**BUILTIN_RULES, **custom}
    return {key: rule for key, rule in rules.items() if rule is not None}


def find_rule(job: LegacyJob, rules: dict[str, Rule]) -> tuple[str, Rule] | None:
    """The rule for a job: by its name first, then by its task path."""
    for kind, key in (("name", job.name), ("task", job.task)):
        if key and key in rules:
            origin = (
                "built-in"
                if rules[key] is BUILTIN_RULES.get(key)
                else ("SCHEDULER_LEGACY_RULES")
            )
            return f"{kind} {key!r} ({origin})", rules[key]
    return None


def apply_rule(rule: Rule, job: LegacyJob, *, label: str) -> dict[str, Any]:
    """Run a rule: returns {template, parameters, [name, schedule, options, notes]}."""
    if callable(rule):
        result = rule(job)
    elif isinstance(rule, str):
        try:
            mapper = import_string(rule)
        except ImportError as exc:
            raise Unmappable(f"{label}: cannot import {rule!r}: {exc}") from None
        result = mapper(job)
    elif isinstance(rule, dict):
        result = _declarative(rule, job, label=label)
    else:
        raise Unmappable(f"{label}: a rule must be a dict, a dotted path or None")
    if not isinstance(result, dict) or not result.get("template"):
        raise Unmappable(f"{label}: the rule gave no template")
    return result


def _declarative(rule: dict[str, Any], job: LegacyJob, *, label: str) -> dict:
    unknown = sorted(set(rule) - RULE_KEYS)
    if unknown:
        raise Unmappable(
            f"{label}: unknown rule key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(RULE_KEYS))}"
        )
    if rule.get("unmappable"):
        raise Unmappable(str(rule["unmappable"]))
    if rule.get("mapper"):
        return apply_rule(str(rule["mapper"]), job, label=label)
    if not rule.get("template"):
        raise Unmappable(f"{label}: the rule names no template")
    parameters = copy.deepcopy(rule.get("parameters") or {})
    kwarg_map = rule.get("kwargs") or {}
    arg_names = list(rule.get("args") or [])
    ignore = set(rule.get("ignore") or [])
    if not isinstance(kwarg_map, dict):
        raise Unmappable(f"{label}: 'kwargs' must map legacy kwarg -> parameter")
    unmapped = sorted(set(job.kwargs) - set(kwarg_map) - ignore)
    if unmapped:
        raise Unmappable(
            f"legacy kwargs {', '.join(unmapped)} have no mapping in {label}; "
            "map them under 'kwargs' or list them under 'ignore'"
        )
    if len(job.args) > len(arg_names):
        raise Unmappable(
            f"legacy positional args {job.args!r} have no mapping in {label}; "
            "name their parameters under 'args'"
        )
    for legacy_key, parameter in kwarg_map.items():
        if legacy_key in job.kwargs:
            parameters[parameter] = job.kwargs[legacy_key]
    for parameter, value in zip(arg_names, job.args, strict=False):
        parameters[parameter] = value
    return {
        "template": rule["template"],
        "parameters": parameters,
        "name": rule.get("name"),
        "schedule": rule.get("schedule"),
        "options": rule.get("options") or {},
    }


# Plan ------------------------------------------------------------------------------


def build_plan(jobs: list[LegacyJob]) -> list[PlanEntry]:
    """Map each legacy job; the data is validated exactly as job_create would."""
    rules = legacy_rules()
    migrated = _migrated_jobs([job.name for job in jobs])
    return [_plan_one(job, rules, migrated.get(job.name)) for job in jobs]


def _migrated_jobs(names: list[str]) -> dict[str, DynamicJob]:
    found: dict[str, DynamicJob] = {}
    for job in DynamicJob.objects.filter(legacy_name__in=names).order_by("pk"):
        found.setdefault(job.legacy_name, job)
    return found


def _plan_one(job: LegacyJob, rules: dict[str, Rule], existing) -> PlanEntry:
    entry = PlanEntry(legacy=job, job=existing)
    problems = [*job.problems, *([job.schedule_error] if job.schedule_error else [])]
    if problems:
        entry.reason = "; ".join(problems)
        return entry
    found = find_rule(job, rules)
    if found is None:
        entry.reason = (
            f"no mapping rule for name {job.name!r} or task {job.task!r}; "
            "add one to SCHEDULER_LEGACY_RULES"
        )
        return entry
    entry.rule, rule = found
    try:
        mapped = apply_rule(rule, job, label=f"the rule for {entry.rule}")
    except Unmappable as exc:
        entry.reason = str(exc)
        return entry
    options = mapped.get("options") or {}
    bad = sorted(set(options) - set(RULE_OPTIONS))
    if bad:
        entry.reason = f"the rule sets unknown job option(s): {', '.join(bad)}"
        return entry
    data = {
        "name": mapped.get("name") or job.name,
        "description": options.get("description") or _description(job),
        "template_type": mapped["template"],
        "parameters": mapped.get("parameters") or {},
        "schedule": mapped.get("schedule") or job.schedule,
        "enabled": False,
        **{k: v for k, v in options.items() if k != "description"},
    }
    try:
        entry.data = services.job_clean(data)
    except ValidationError as exc:
        entry.reason = "the mapped job is invalid: " + validation_text(exc)
        return entry
    if existing is None:
        clash = DynamicJob.objects.filter(name=entry.data["name"]).first()
        if clash is not None:
            entry.data = None
            entry.reason = (
                f"a dynamic job named {clash.name!r} (#{clash.pk}) already exists "
                "and was not migrated from this legacy job; rename one of them"
            )
            return entry
    else:
        drift = [
            key
            for key in ("template_type", "parameters", "schedule")
            if getattr(existing, key) != entry.data[key]
        ]
        if drift:
            entry.notes.append(
                f"the dynamic job differs from this mapping in {', '.join(drift)} "
                "(changed since, or --live); migrate never overwrites it"
            )
    if existing is None:
        entry.notes.extend(mapped.get("notes") or [])
    ignored = {k: v for k, v in job.options.items() if v not in (None, "", {}, [])}
    if ignored:
        entry.notes.append(
            "legacy options not carried over: "
            + ", ".join(f"{k}={v}" for k, v in sorted(ignored.items()))
        )
    if job.enabled is False:
        entry.notes.append("the legacy job is disabled")
    return entry


def _description(job: LegacyJob) -> str:
    note = f"Migrated from legacy job {job.name} (task {job.task}, {job.where})."
    return f"{job.description.strip()}\n\n{note}" if job.description.strip() else note


def validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{key}: {' '.join(m for e in errors for m in e.messages)}"
            if key != "__all__"
            else " ".join(m for e in errors for m in e.messages)
            for key, errors in exc.error_dict.items()
        )
    return " ".join(exc.messages)


def select(plan: list[PlanEntry], names: list[str]) -> list[PlanEntry]:
    by_name = {entry.legacy.name: entry for entry in plan}
    missing = [name for name in names if name not in by_name]
    if missing:
        known = ", ".join(sorted(by_name)) or "none"
        raise LegacyError(
            f"No legacy job named {', '.join(repr(n) for n in missing)} "
            f"in the chosen source(s). Known: {known}."
        )
    return [by_name[name] for name in names]


# Migrate, status, rollback ---------------------------------------------------------


def migrate_entry(
    entry: PlanEntry,
    *,
    actor: str,
    enable: bool = False,
    disable_legacy: bool = False,
    live: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Create (or bring up to the flags) the dynamic job for one mappable entry.

    One transaction per legacy job: the job, its audit entries and the legacy
    switch change together. Running it again with the same flags changes nothing.
    """
    legacy = entry.legacy
    outcome = Outcome(name=legacy.name, job=entry.job)
    if entry.job is None and not entry.mappable:
        outcome.failed = True
        outcome.lines.append(f"{legacy.name}: cannot be migrated: {entry.reason}")
        return outcome
    actions: list[str] = []
    with transaction.atomic():
        job = entry.job
        if job is None:
            data = dict(entry.data, enabled=enable)
            if live:
                data["parameters"] = _live_parameters(data["parameters"])
            if not dry_run:
                job = services.job_create(
                    user=actor, data=data, source="command", legacy_name=legacy.name
                )
            state = "enabled" if enable else "disabled"
            mode = _mode(data)
            actions.append("created")
            ident = f" (#{job.pk})" if job else ""
            outcome.lines.append(
                f"{legacy.name}: {_verb(dry_run, 'create', 'created')}"
                f"dynamic job {data['name']!r}{ident}: "
                f"{data['template_type']}, {entry.schedule_description}, "
                f"{state}{mode}."
            )
        else:
            job = DynamicJob.objects.get(pk=job.pk)
            if enable and not job.enabled:
                if not dry_run:
                    job = services.job_set_enabled(
                        job=job, user=actor, enabled=True, source="command"
                    )
                actions.append("enabled")
                outcome.lines.append(
                    f"{legacy.name}: {_verb(dry_run, 'enable', 'enabled')}"
                    f"dynamic job "
                    f"{job.name!r} (#{job.pk})."
                )
            if live and job.parameters.get("dry_run") is True:
                if not dry_run:
                    job = services.job_update(
                        job=job,
                        user=actor,
                        data={"parameters": _live_parameters(job.parameters)},
                        expected_version=job.version,
                        source="command",
                    )
                actions.append("dry_run false")
                outcome.lines.append(
                    f"{legacy.name}: {_verb(dry_run, 'set', 'set')}"
                    f"dry_run false on {job.name!r}: "
                    "it deletes from now on."
                )
        if disable_legacy:
            outcome.lines.extend(_disable_legacy(legacy, actions, dry_run=dry_run))
        if actions and not dry_run:
            audit.record(
                actor=actor,
                action="migrate",
                target=job,
                changes={"legacy": _legacy_view(legacy), "actions": actions},
                source="command",
            )
    outcome.job = job
    outcome.changed = bool(actions)
    if not actions:
        state = "enabled" if job.enabled else "disabled"
        outcome.lines.insert(
            0,
            f"{legacy.name}: already migrated to {job.name!r} (#{job.pk}, {state}); "
            "nothing to change.",
        )
    if job is not None and job.enabled and legacy.runs:
        outcome.lines.append(
            f"{legacy.name}: WARNING: the legacy job is still enabled, so it runs on "
            "both sides (double runs)."
        )
    if job is not None and (job.parameters or {}).get("dry_run") is True:
        outcome.lines.append(
            f"{legacy.name}: note: the dynamic job is a dry run (counts, deletes "
            "nothing); migrate again with --live to let it delete."
        )
    return outcome


def _verb(dry_run: bool, present: str, past: str) -> str:
    """The verb for an outcome line, with a trailing space."""
    return f"would {present} " if dry_run else f"{past} "


def _mode(data: dict[str, Any]) -> str:
    dry = (data.get("parameters") or {}).get("dry_run")
    if dry is True:
        return ", dry run"
    if dry is False:
        return ", live (deletes)"
    return ""


def _live_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    if parameters.get("dry_run") is True:
        return {**parameters, "dry_run": False}
    return parameters


def _legacy_view(legacy: LegacyJob) -> dict[str, Any]:
    return {
        "name": legacy.name,
        "task": legacy.task,
        "source": legacy.source,
        "origin": legacy.origin,
        "schedule": legacy.schedule_text,
        "periodic_task_id": legacy.periodic_task_id,
    }


def _periodic_task(legacy: LegacyJob):
    from django_celery_beat.models import PeriodicTask

    return (
        PeriodicTask.objects.select_for_update()
        .filter(pk=legacy.periodic_task_id)
        .first()
    )


def _disable_legacy(
    legacy: LegacyJob, actions: list[str], *, dry_run: bool
) -> list[str]:
    if legacy.source == "file":
        return [
            f"{legacy.name}: the file source has no switch: disable {legacy.name!r} "
            "in the scheduler that runs it."
        ]
    if not legacy.can_be_disabled:
        return [
            f"{legacy.name}: it is defined in CELERY_BEAT_SCHEDULE and cannot be "
            "disabled from a command: remove it from settings and restart beat."
        ]
    task = _periodic_task(legacy)
    if task is None:
        return [f"{legacy.name}: its PeriodicTask row is gone; nothing to disable."]
    lines = []
    if task.enabled:
        if not dry_run:
            # save(), not update(): PeriodicTask.save bumps PeriodicTasks so a
            # running beat notices the change on its next sync.
            task.enabled = False
            task.save()
        legacy.enabled = False
        actions.append("legacy disabled")
        lines.append(
            f"{legacy.name}: {_verb(dry_run, 'disable', 'disabled')}"
            f"legacy PeriodicTask #{task.pk}."
        )
    if legacy.source == "settings":
        lines.append(
            f"{legacy.name}: it stays in CELERY_BEAT_SCHEDULE; DatabaseScheduler "
            "keeps the row disabled across restarts. Remove the entry from "
            "settings when the migration is over."
        )
    return lines


def rollback(
    legacy_name: str, *, jobs: list[LegacyJob], actor: str, dry_run: bool = False
) -> Outcome:
    """Disable the dynamic job and re-enable the legacy task; audited."""
    job = DynamicJob.objects.filter(legacy_name=legacy_name).order_by("pk").first()
    if job is None:
        raise LegacyError(
            f"No dynamic job was migrated from legacy job {legacy_name!r}."
        )
    legacy = next((j for j in jobs if j.name == legacy_name), None)
    outcome = Outcome(name=legacy_name, job=job)
    actions: list[str] = []
    with transaction.atomic():
        if job.enabled:
            if not dry_run:
                job = services.job_set_enabled(
                    job=job, user=actor, enabled=False, source="command"
                )
            actions.append("dynamic job disabled")
            outcome.lines.append(
                f"{legacy_name}: {_verb(dry_run, 'disable', 'disabled')}"
                f"dynamic job {job.name!r} (#{job.pk})."
            )
        if legacy is None:
            outcome.lines.append(
                f"{legacy_name}: not found in the chosen legacy source(s); re-create "
                "it there if it was removed."
            )
        elif legacy.can_be_disabled:
            task = _periodic_task(legacy)
            if task is None:
                outcome.lines.append(
                    f"{legacy_name}: its PeriodicTask row is gone; nothing to "
                    "re-enable."
                )
            elif not task.enabled:
                if not dry_run:
                    task.enabled = True
                    task.save()
                legacy.enabled = True
                actions.append("legacy enabled")
                outcome.lines.append(
                    f"{legacy_name}: {_verb(dry_run, 're-enable', 're-enabled')}"
                    f"legacy PeriodicTask #{task.pk}."
                )
        elif legacy.source == "settings":
            outcome.lines.append(
                f"{legacy_name}: it runs from CELERY_BEAT_SCHEDULE as long as the "
                "entry is in settings; nothing to re-enable."
            )
        else:
            outcome.lines.append(
                f"{legacy_name}: the file source has no switch: enable it in the "
                "scheduler that runs it."
            )
        if actions and not dry_run:
            audit.record(
                actor=actor,
                action="rollback",
                target=job,
                changes={
                    "legacy": _legacy_view(legacy) if legacy else {"name": legacy_name},
                    "actions": actions,
                },
                source="command",
            )
    outcome.job = job
    outcome.changed = bool(actions)
    if not actions:
        outcome.lines.append(f"{legacy_name}: already rolled back; nothing to change.")
    return outcome


@dataclass
class StatusRow:
    name: str
    source: str
    legacy_state: str
    job: DynamicJob | None
    legacy_runs: bool

    @property
    def dynamic_state(self) -> str:
        if self.job is None:
            return "not migrated"
        mode = _mode({"parameters": self.job.parameters})
        return f"#{self.job.pk} {'enabled' if self.job.enabled else 'disabled'}{mode}"

    @property
    def running_on(self) -> str:
        dynamic = self.job is not None and self.job.enabled
        if dynamic and self.legacy_runs:
            return "BOTH"
        if dynamic:
            return "dynamic"
        if self.legacy_runs:
            return "legacy"
        return "neither"


def legacy_status(
    jobs: list[LegacyJob], *, all_sources: bool = True
) -> list[StatusRow]:
    """One row per legacy job and per dynamic job migrated from one.

    A migrated job whose legacy job is in none of the sources read is "removed"
    when settings and beat were both read, else only "not in source".
    """
    migrated: dict[str, DynamicJob] = {}
    for job in DynamicJob.objects.exclude(legacy_name="").order_by("pk"):
        migrated.setdefault(job.legacy_name, job)
    rows = []
    for legacy in jobs:
        rows.append(
            StatusRow(
                name=legacy.name,
                source=legacy.source,
                legacy_state=legacy.state,
                job=migrated.pop(legacy.name, None),
                legacy_runs=legacy.runs,
            )
        )
    for name, job in migrated.items():
        rows.append(
            StatusRow(
                name=name,
                source="-",
                legacy_state="removed" if all_sources else "not in source",
                job=job,
                legacy_runs=False,
            )
        )
    return sorted(rows, key=lambda row: row.name)
