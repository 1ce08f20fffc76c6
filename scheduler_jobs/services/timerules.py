"""The calendars and blackout windows as the time engine reads them.

One place turns the rows into the engine's `TimeRules`, so the dispatcher, the
previews, the simulator and job validation judge a schedule alike.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from job_templates.registry import registry
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob
from scheduler_jobs.schedules import (
    JobRef,
    Schedule,
    TimeRules,
    parse_schedule,
    schedule_from_json,
)
from scheduler_jobs.schedules.plan import CalendarRule, WindowRule


def category_of(template_type: str) -> str:
    """The template's category ("maintenance", …), or "" for an unknown one."""
    if template_type in registry:
        return registry.get(template_type).category
    return ""


def job_ref(job: DynamicJob | dict[str, Any]) -> JobRef:
    """What the engine needs of a job (a model row or a dispatcher's values row)."""
    if isinstance(job, dict):
        return JobRef(job["name"], job["id"], category_of(job["template_type"]))
    return JobRef(job.name, job.pk, category_of(job.template_type))


def _dates(entries: Any) -> dict[date, str]:
    return {date.fromisoformat(e["date"]): e.get("name", "") for e in entries or []}


def calendar_rule(calendar: Calendar) -> CalendarRule:
    return CalendarRule(
        name=calendar.name,
        country=calendar.country,
        subdivision=calendar.subdivision,
        workdays=frozenset(calendar.workdays or []),
        extra_holidays=_dates(calendar.extra_holidays),
        extra_workdays=_dates(calendar.extra_workdays),
    )


def window_rule(window: BlackoutWindow) -> WindowRule:
    starts = None
    if window.cron:
        starts = schedule_from_json(
            {"type": "cron", "cron": window.cron, "timezone": window.timezone}
        )
    return WindowRule(
        name=window.name,
        reason=window.reason,
        scope=window.scope,
        category=window.category,
        job_id=window.job_id,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        starts=starts,
        duration=timedelta(minutes=window.duration_minutes or 0),
    )


def time_rules(now: datetime | None = None) -> TimeRules:
    """Every calendar and every enabled window that has not ended: two queries.

    The dispatcher asks once per tick that has due rows; holidays are memoised
    per (country, subdivision, year) by the engine.
    """
    now = now or timezone.now()
    calendars = {c.name.lower(): calendar_rule(c) for c in Calendar.objects.all()}
    windows = BlackoutWindow.objects.filter(enabled=True).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    return TimeRules(calendars, tuple(window_rule(w) for w in windows.order_by("id")))


def schedule_clean(data: Any) -> Schedule:
    """A schedule checked in full: its form (parse_schedule) and its calendar.

    Raises ValidationError keyed inside the schedule ("cron", "calendar").
    """
    schedule = parse_schedule(data)
    name = schedule.options.calendar
    if name and not Calendar.objects.filter(name=name).exists():
        known = ", ".join(Calendar.objects.values_list("name", flat=True)) or "none yet"
        raise ValidationError(
            {"calendar": [f"Unknown calendar {name!r}. Calendars: {known}."]}
        )
    return schedule


def first_run_for(
    schedule: dict[str, Any],
    *,
    job_name: str,
    template_type: str = "",
    job_id: int | None = None,
    now: datetime | None = None,
) -> datetime | None:
    """A new or re-enabled job's first run: the schedule judged by today's rules."""
    job = JobRef(job_name, job_id, category_of(template_type))
    now = now or timezone.now()
    return schedule_from_json(schedule).first_run(now, rules=time_rules(now), job=job)
