"""Calendars, blackout windows and the maintenance pause: the audited writes.

Writes are authorised (scheduler_jobs.access) and audited like every other
service. The engine reads the rows through `time_rules()` (timerules), and the
previews and the simulator (simulation) walk the same `following()` as the
dispatcher; their names are importable from here too.

After a calendar or window changes, the enabled jobs it can affect get their
next run computed again (`_reschedule`), so a deleted window or a new business
day takes effect at once; the dispatcher also re-judges every due run against
the rules of that moment, so a change racing with a tick cannot run a slot that
is now excluded.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone

from audit import services as audit
from job_templates.base import CATEGORIES
from job_templates.registry import registry
from scheduler_jobs.access import Action, authorize
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob
from scheduler_jobs.schedules import (
    TimeRules,
    parse_cron,
    schedule_from_json,
    validate_timezone,
)
from scheduler_jobs.schedules.plan import DEFERRED, RUNS, SKIPPED
from scheduler_jobs.services.pause import pause, pause_state, resume
from scheduler_jobs.services.simulation import (
    SimulatedJob,
    Simulation,
    simulate,
    slot_preview,
)
from scheduler_jobs.services.timerules import (
    calendar_rule,
    category_of,
    first_run_for,
    job_ref,
    schedule_clean,
    time_rules,
)

CALENDAR_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# How many jobs' next runs are written per UPDATE after a rule changes.
RESCHEDULE_CHUNK = 500


# Calendars -----------------------------------------------------------------------


def _day_list(value: Any, key: str, errors: dict[str, list[str]]) -> list[dict]:
    """A list of {"date": "YYYY-MM-DD", "name": str}, sorted by date."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors[key] = ['Must be a list of {"date": "YYYY-MM-DD", "name": "…"}.']
        return []
    clean: dict[str, dict] = {}
    for i, entry in enumerate(value):
        day = entry.get("date") if isinstance(entry, dict) else None
        name = entry.get("name", "") if isinstance(entry, dict) else None
        try:
            parsed = date.fromisoformat(day) if isinstance(day, str) else None
        except ValueError:
            parsed = None
        if parsed is None or not isinstance(name, str) or len(name) > 200:
            errors[f"{key}.{i}"] = ["Must be a date (YYYY-MM-DD) with a short name."]
            continue
        clean[parsed.isoformat()] = {"date": parsed.isoformat(), "name": name.strip()}
    return [clean[day] for day in sorted(clean)]


def _clean_region(data: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """Country and subdivision must be ones the holidays package knows."""
    import holidays

    country = str(data.get("country") or "").strip().upper()
    subdivision = str(data.get("subdivision") or "").strip().upper()
    data["country"], data["subdivision"] = country, subdivision
    if not country:
        if subdivision:
            errors["subdivision"] = ["Choose the country first."]
        return
    supported = holidays.list_supported_countries()
    if country not in supported:
        errors["country"] = [
            f"{country!r} is not a country with known public holidays "
            "(an ISO 3166 code such as DE, FR, US)."
        ]
        return
    subdivisions = {s.upper(): s for s in supported[country]}
    if subdivision and subdivision not in subdivisions:
        errors["subdivision"] = [
            f"{country} has no subdivision {subdivision!r}; known: "
            f"{', '.join(sorted(supported[country]))}."
        ]
    elif subdivision:
        data["subdivision"] = subdivisions[subdivision]


def _merged(
    data: dict[str, Any], instance: Any, fields: tuple[str, ...], noun: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The row's current values with `data` over them (a change may send only
    some fields), and an error for each key the row does not have."""
    values = {f: getattr(instance, f) for f in fields} if instance else {}
    values.update({k: v for k, v in data.items() if k in fields})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - set(fields)):
        errors[key] = [f"Unknown {noun} field."]
    return values, errors


CALENDAR_FIELDS = (
    "name",
    "title",
    "description",
    "country",
    "subdivision",
    "workdays",
    "extra_holidays",
    "extra_workdays",
)


def calendar_clean(
    data: dict[str, Any], *, instance: Calendar | None = None
) -> dict[str, Any]:
    """A calendar's fields checked; raises ValidationError keyed by field."""
    values, errors = _merged(data, instance, CALENDAR_FIELDS, "calendar")
    name = str(values.get("name") or "").strip().lower()
    if not CALENDAR_NAME.match(name):
        errors["name"] = [
            "A short key of letters, digits, '-', '_' or '.' (at most 64), e.g. de-by."
        ]
    elif Calendar.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None)):
        errors["name"] = [f"A calendar named {name!r} exists already."]
    values["name"] = name
    for key, longest in (("title", 200), ("description", 5000)):
        text = values.get(key) or ""
        if not isinstance(text, str) or len(text) > longest:
            errors[key] = [f"Must be text of at most {longest} characters."]
        values[key] = text.strip() if isinstance(text, str) else ""
    _clean_region(values, errors)
    workdays = values.get("workdays", [1, 2, 3, 4, 5])
    if (
        not isinstance(workdays, list)
        or not workdays
        or any(isinstance(d, bool) or d not in range(1, 8) for d in workdays)
    ):
        errors["workdays"] = ["Must list at least one weekday, 1 (Monday) to 7."]
    else:
        values["workdays"] = sorted(set(workdays))
    for key in ("extra_holidays", "extra_workdays"):
        values[key] = _day_list(values.get(key), key, errors)
    if errors:
        raise ValidationError(errors)
    return values


def jobs_using(calendar_name: str) -> list[str]:
    """The names of the jobs whose schedule names this calendar."""
    return list(
        DynamicJob.objects.filter(schedule__calendar=calendar_name.lower())
        .order_by("name")
        .values_list("name", flat=True)
    )


def _in_use_error(calendar: Calendar, verb: str) -> ValidationError | None:
    users = jobs_using(calendar.name)
    if not users:
        return None
    shown = ", ".join(users[:10]) + (
        f" and {len(users) - 10} more" if len(users) > 10 else ""
    )
    return ValidationError(
        {"name": [f"Jobs use this calendar, so it cannot be {verb}: {shown}."]}
    )


def calendar_create(
    *, actor: Any, data: dict[str, Any], request: Any = None
) -> Calendar:
    """Create a calendar; audited."""
    authorize(actor, Action.ADD_CALENDAR)
    cleaned = calendar_clean(data)
    with transaction.atomic():
        calendar = Calendar.objects.create(**cleaned, updated_by=_user(actor))
        audit.record(
            actor=actor,
            action="create",
            target=calendar,
            changes={"after": cleaned},
            request=request,
        )
    return calendar


def calendar_update(
    *, actor: Any, calendar: Calendar, data: dict[str, Any], request: Any = None
) -> Calendar:
    """Change a calendar; the jobs on it get their next run computed again.

    Renaming a calendar that jobs use is refused, naming them: their
    schedules refer to it by name.
    """
    authorize(actor, Action.CHANGE_CALENDAR)
    cleaned = calendar_clean(data, instance=calendar)
    if cleaned["name"] != calendar.name:
        error = _in_use_error(calendar, "renamed")
        if error:
            raise error
    before = {f: getattr(calendar, f) for f in CALENDAR_FIELDS}
    changes = audit.diff(before, cleaned)
    with transaction.atomic():
        for key, value in cleaned.items():
            setattr(calendar, key, value)
        calendar.updated_by = _user(actor)
        calendar.save()
        if changes:
            audit.record(
                actor=actor,
                action="update",
                target=calendar,
                changes=changes,
                request=request,
            )
        _reschedule(DynamicJob.objects.filter(schedule__calendar=calendar.name))
    return calendar


def calendar_delete(*, actor: Any, calendar: Calendar, request: Any = None) -> None:
    """Delete a calendar no job uses; refused (naming the jobs) otherwise."""
    authorize(actor, Action.DELETE_CALENDAR)
    error = _in_use_error(calendar, "deleted")
    if error:
        raise error
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="delete",
            target=calendar,
            changes={"before": {f: getattr(calendar, f) for f in CALENDAR_FIELDS}},
            request=request,
        )
        calendar.delete()


def calendar_days(
    calendar: Calendar, start: date, end: date
) -> list[tuple[date, str, str]]:
    """(date, kind, name) of each day in [start, end] that is not a plain
    business day, for a preview: kind is "holiday" (public), "extra_holiday",
    "weekend" (not a workday) or "extra_workday". At most 3 years."""
    if (end - start).days > 3 * 366:
        raise ValidationError({"end": ["Show at most three years at a time."]})
    return calendar_rule(calendar).days(start, end)


# Blackout windows ----------------------------------------------------------------

WINDOW_FIELDS = (
    "name",
    "reason",
    "scope",
    "category",
    "job",
    "starts_at",
    "ends_at",
    "cron",
    "duration_minutes",
    "timezone",
    "enabled",
)


def _clean_window_scope(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    scope = values.get("scope") or BlackoutWindow.Scope.GLOBAL
    if scope not in BlackoutWindow.Scope.values:
        errors["scope"] = [f"Must be one of: {', '.join(BlackoutWindow.Scope.values)}."]
        return
    values["scope"] = scope
    job = values.get("job")
    if isinstance(job, int) and not isinstance(job, bool):
        job = DynamicJob.objects.filter(pk=job).first()
        if job is None:
            errors["job"] = ["No job with this id."]
    if scope == "category" and values.get("category") not in CATEGORIES:
        errors["category"] = [f"Choose a template category: {', '.join(CATEGORIES)}."]
    if scope == "job" and not isinstance(job, DynamicJob) and "job" not in errors:
        errors["job"] = ["Choose the job this window applies to."]
    values["category"] = values.get("category") if scope == "category" else ""
    values["job"] = job if scope == "job" and isinstance(job, DynamicJob) else None


def _clean_window_time(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """One-off (starts_at < ends_at, aware) or recurring (cron, duration, zone)."""
    cron = (values.get("cron") or "").strip()
    starts_at, ends_at = values.get("starts_at"), values.get("ends_at")
    if cron:
        values.update(cron=cron, starts_at=None, ends_at=None)
        try:
            values["cron"] = parse_cron(cron).text
        except ValueError as exc:
            errors["cron"] = [str(exc)]
        minutes = values.get("duration_minutes")
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not (1 <= minutes <= 366 * 24 * 60)
        ):
            errors["duration_minutes"] = [
                "Must be a whole number of minutes, at least 1."
            ]
        try:
            validate_timezone(values.get("timezone") or "UTC")
            values["timezone"] = values.get("timezone") or "UTC"
        except ValueError as exc:
            errors["timezone"] = [str(exc)]
        if not errors:
            _check_window_ends(values, errors)
        return
    values.update(cron="", duration_minutes=None)
    for key, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, datetime) or timezone.is_naive(value):
            errors[key] = [
                "Give a date and time with its zone, or a repeating window "
                "(cron, duration and time zone)."
            ]
    if "starts_at" not in errors and "ends_at" not in errors and ends_at <= starts_at:
        errors["ends_at"] = ["Must be after the start."]


def _check_window_ends(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """Refuse a recurring window that starts again before it ends: it would
    never end. Its starts over the coming year (at most 1000) are compared."""
    starts = schedule_from_json(
        {"type": "cron", "cron": values["cron"], "timezone": values["timezone"]}
    )
    duration = timedelta(minutes=values["duration_minutes"])
    now = timezone.now()
    start = starts.next_after(now)
    for _ in range(1000):
        following = starts.next_after(start)
        if following - start <= duration:
            gap = int((following - start).total_seconds() // 60)
            errors["duration_minutes"] = [
                f"The window starts again {gap} minutes after it starts, so it would "
                f"never end: make it shorter than {gap} minutes."
            ]
            return
        if following - now > timedelta(days=366):
            return
        start = following


def window_clean(
    data: dict[str, Any], *, instance: BlackoutWindow | None = None
) -> dict[str, Any]:
    """A window's fields checked; raises ValidationError keyed by field."""
    values, errors = _merged(data, instance, WINDOW_FIELDS, "blackout window")
    for key, longest in (("name", 200), ("reason", 500)):
        text = values.get(key)
        if not isinstance(text, str) or not text.strip() or len(text) > longest:
            errors[key] = [f"Required: text of at most {longest} characters."]
        else:
            values[key] = text.strip()
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = ["Must be true or false."]
    values["enabled"] = enabled
    _clean_window_scope(values, errors)
    _clean_window_time(values, errors)
    if errors:
        raise ValidationError(errors)
    return values


def _window_view(values: dict[str, Any]) -> dict[str, Any]:
    """A window's fields as the audit log keeps them (JSON)."""
    view = dict(values)
    job = view.get("job")
    view["job"] = str(job) if job is not None else None
    for key in ("starts_at", "ends_at"):
        if isinstance(view.get(key), datetime):
            view[key] = view[key].isoformat()
    return view


def window_create(
    *, actor: Any, data: dict[str, Any], request: Any = None
) -> BlackoutWindow:
    """Create a blackout window; jobs in its scope whose next run it holds get
    their next run again.

    A new one-off window can only hold the next runs that fall inside it, so
    only those rows are read: scheduling a maintenance window costs what it
    covers, not the size of the job table.
    """
    authorize(actor, Action.ADD_WINDOW)
    cleaned = window_clean(data)
    with transaction.atomic():
        window = BlackoutWindow.objects.create(**cleaned, created_by=_user(actor))
        audit.record(
            actor=actor,
            action="create",
            target=window,
            changes={"after": _window_view(cleaned)},
            request=request,
        )
        affected = _jobs_in_scope(window)
        if not window.recurring:
            affected = affected.filter(
                next_run_at__gte=window.starts_at, next_run_at__lt=window.ends_at
            )
        _reschedule(affected)
    return window


def window_update(
    *,
    actor: Any,
    window: BlackoutWindow,
    data: dict[str, Any],
    request: Any = None,
) -> BlackoutWindow:
    """Change a window; jobs in its old and new scope get their next run again."""
    authorize(actor, Action.CHANGE_WINDOW)
    cleaned = window_clean(data, instance=window)
    before = _window_view({f: getattr(window, f) for f in WINDOW_FIELDS})
    old_scope = _jobs_in_scope(window)
    with transaction.atomic():
        for key, value in cleaned.items():
            setattr(window, key, value)
        window.save()
        changes = audit.diff(before, _window_view(cleaned))
        if changes:
            audit.record(
                actor=actor,
                action="update",
                target=window,
                changes=changes,
                request=request,
            )
        _reschedule(old_scope | _jobs_in_scope(window))
    return window


def window_delete(*, actor: Any, window: BlackoutWindow, request: Any = None) -> None:
    """Delete a window; the jobs it held back get their next run again."""
    authorize(actor, Action.DELETE_WINDOW)
    scope = _jobs_in_scope(window)
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="delete",
            target=window,
            changes={
                "before": _window_view({f: getattr(window, f) for f in WINDOW_FIELDS})
            },
            request=request,
        )
        window.delete()
        _reschedule(scope)


def _jobs_in_scope(window: BlackoutWindow):
    """The jobs a window can affect, as a queryset."""
    if window.scope == BlackoutWindow.Scope.JOB:
        return DynamicJob.objects.filter(pk=window.job_id)
    if window.scope == BlackoutWindow.Scope.CATEGORY:
        types = [t for t in registry.types() if category_of(t) == window.category]
        return DynamicJob.objects.filter(template_type__in=types)
    return DynamicJob.objects.all()


# Keeping next runs in step with the rules ----------------------------------------


def _reschedule(jobs) -> int:
    """Compute again the next run of the enabled jobs in `jobs` that are not
    due yet; write the ones that changed (compare-and-set, so a tick that
    claimed a row meanwhile wins). Returns how many moved."""
    now = timezone.now()
    rules = time_rules(now)
    rows = (
        jobs.filter(enabled__in=[True], next_run_at__gt=now)
        .order_by("pk")
        .values("id", "name", "template_type", "schedule", "next_run_at")
    )
    moved, changed = 0, []
    for row in rows.iterator(chunk_size=2000):
        new = _next_run_again(row, now, rules)
        if new != row["next_run_at"]:
            changed.append((row["id"], row["next_run_at"], new))
        if len(changed) >= RESCHEDULE_CHUNK:
            moved += _write_next_runs(changed)
            changed = []
    return moved + _write_next_runs(changed)


def _next_run_again(row: dict[str, Any], now: datetime, rules: TimeRules) -> Any:
    try:
        schedule = schedule_from_json(row["schedule"])
    except (KeyError, TypeError, ValueError):
        return row["next_run_at"]
    job = job_ref(row)
    if schedule.type == "interval":
        # The slot before now in the job's phase, so the rhythm is kept.
        every = timedelta(seconds=schedule.every_seconds)
        periods = math.ceil((row["next_run_at"] - now) / every)
        return schedule.following(
            row["next_run_at"] - periods * every, now, rules=rules, job=job
        )
    return schedule.first_run(now, rules=rules, job=job)


def _write_next_runs(changed: list[tuple[int, datetime, datetime | None]]) -> int:
    if not changed:
        return 0
    return DynamicJob.objects.filter(
        pk__in=[pk for pk, _, _ in changed],
        next_run_at=Case(
            *(When(pk=pk, then=Value(old)) for pk, old, _ in changed),
            output_field=DateTimeField(),
        ),
    ).update(
        next_run_at=Case(
            *(When(pk=pk, then=Value(new)) for pk, _, new in changed),
            output_field=DateTimeField(),
        )
    )


def _user(actor: Any) -> Any:
    """The user row to link, or None for the system or a shell operator."""
    return (
        actor if getattr(actor, "pk", None) and hasattr(actor, "get_username") else None
    )


__all__ = [
    "DEFERRED",
    "RUNS",
    "SKIPPED",
    "SimulatedJob",
    "Simulation",
    "calendar_create",
    "calendar_days",
    "calendar_delete",
    "calendar_update",
    "category_of",
    "first_run_for",
    "job_ref",
    "pause",
    "pause_state",
    "resume",
    "schedule_clean",
    "simulate",
    "slot_preview",
    "time_rules",
    "window_create",
    "window_delete",
    "window_update",
]
