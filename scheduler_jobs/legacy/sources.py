"""Reading legacy jobs from their sources, and converting their schedules.

Three sources are read: ``settings`` (``CELERY_BEAT_SCHEDULE``), ``beat``
(django-celery-beat ``PeriodicTask`` rows) and ``file`` (a JSON or YAML file of
definitions, for schedulers that are neither).

django-celery-beat's ``DatabaseScheduler`` (which this project's beat extends)
copies every ``CELERY_BEAT_SCHEDULE`` entry into a ``PeriodicTask`` row of the same
name at start-up and never touches that row's ``enabled`` flag again. Such a row
is treated as the switch of its settings entry, so the two are read as one job.

Schedules are converted to dynamic ones as they are read: one that no dynamic job
can express (solar, clocked, too short an interval) becomes the job's
``schedule_error``, which the plan reports instead of guessing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError

from scheduler_jobs.legacy.base import LegacyError, LegacyJob, validation_text
from scheduler_jobs.schedules import parse_schedule

SOURCES = ("settings", "beat", "file")
DEFAULT_SOURCES = ("settings", "beat")
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


# This project's own periodic tasks (housekeeping in CELERY_BEAT_SCHEDULE, and the
# executor task) are not legacy jobs to migrate.
PROJECT_TASKS = frozenset({"executions.housekeeping", "executions.run_execution"})


def _is_project_task(task: object) -> bool:
    return isinstance(task, str) and (
        task in PROJECT_TASKS or task.startswith("celery.")
    )


def _settings_jobs() -> list[LegacyJob]:
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None) or {}
    if not isinstance(schedule, dict):
        raise LegacyError("CELERY_BEAT_SCHEDULE must be a dict of entries.")
    jobs = []
    for name, entry in schedule.items():
        if isinstance(entry, dict) and _is_project_task(entry.get("task")):
            continue
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
        if task.name.startswith("celery.") or _is_project_task(task.task):
            continue  # Celery's and this project's own housekeeping, not jobs
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
    dynamic, error = _validated(schedule)
    return dynamic, text, error


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
    dynamic, error = _validated(schedule)
    return dynamic, text, error


def _validated(schedule: dict[str, Any]) -> tuple[dict | None, str]:
    """The schedule as a dynamic job stores it, or why parse_schedule refuses it."""
    try:
        return parse_schedule(schedule).to_dict(), ""
    except ValidationError as exc:
        return None, "schedule: " + validation_text(exc)


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
    tz = str(
        entry.get("timezone") or getattr(settings, "CELERY_TIMEZONE", None) or "UTC"
    )
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
        return _cron_text(str(value["cron"]), str(value.get("timezone") or tz))
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
    dynamic, error = _validated(schedule)
    return dynamic, text if error else f"{text} ({tz})", error
