"""Cron and interval schedules: validation, next runs, and a description in words.

Cron expressions read as cronie (Debian's cron) reads them, and their times are
wall-clock times in the job's IANA time zone; `fields` parses, `words` describes
and `engine` computes runs, all from one parsed `CronSpec`. Around daylight
saving time changes:

* A fixed-time job (neither minute nor hour starts with `*`) whose time does not
  exist (the spring-forward gap, e.g. 02:30 in Europe/Berlin on the last Sunday
  of March) runs once, at the first instant after the gap (03:00 local); several
  matches inside one gap still run once. A time that occurs twice (the fall-back
  repeat) runs once, at its first occurrence.
* A wildcard job (minute or hour starts with `*`) runs at every real minute its
  fields match: times in a gap never happen, a repeated hour runs twice.

Interval schedules count seconds of real (UTC) time and ignore DST.

A schedule may also name a business calendar, a jitter and what to do in a
blackout window (`plan`): `following`, the one function the dispatcher, the
previews and the simulator ask for a job's next run, judges each slot with
them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError

from scheduler_jobs.schedules.engine import RunTime, WallClock, next_run
from scheduler_jobs.schedules.fields import MACROS, CronSpec, parse_cron
from scheduler_jobs.schedules.plan import (
    CALENDAR_RULES,
    IN_BLACKOUT,
    NO_JOB,
    NO_OPTIONS,
    NO_RULES,
    JobRef,
    PlanOptions,
    Slot,
    TimeRules,
    first_run,
    jitter_offset,
    judge_due,
    plan_slots,
)
from scheduler_jobs.schedules.words import describe_spec
from scheduler_jobs.spec import MAX_JITTER_SECONDS

__all__ = [
    "MACROS",
    "CronSchedule",
    "CronSpec",
    "IntervalSchedule",
    "JobRef",
    "PlanOptions",
    "RunTime",
    "Schedule",
    "Slot",
    "TimeRules",
    "describe_cron",
    "describe_interval",
    "jitter_offset",
    "parse_cron",
    "parse_schedule",
    "schedule_from_json",
    "validate_timezone",
]


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: Any) -> str:
    if not isinstance(name, str) or name not in _known_zones():
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)")
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc
    return name


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    timezone: str = "UTC"
    options: PlanOptions = NO_OPTIONS
    type = "cron"

    @cached_property
    def tz(self) -> ZoneInfo:
        return _zone(self.timezone)

    @cached_property
    def spec(self) -> CronSpec:
        return parse_cron(self.expression)

    @cached_property
    def _clock(self) -> WallClock:
        return WallClock(self.spec)

    def to_dict(self) -> dict[str, Any]:
        base = {"type": "cron", "cron": self.expression, "timezone": self.timezone}
        return {**base, **self.options.to_dict()}

    def describe(self) -> str:
        words = f"{describe_spec(self.spec)}, {self.timezone}"
        extra = self.options.describe()
        return f"{words}, {extra}" if extra else words

    def next_after(self, after: datetime) -> datetime:
        """The first nominal slot strictly after `after` (no calendar, no jitter)."""
        return self._next(after).at

    def following(
        self,
        slot: datetime,
        now: datetime,
        *,
        rules: TimeRules = NO_RULES,
        job: JobRef = NO_JOB,
    ) -> datetime | None:
        """The first run strictly after `now` and `slot` (the run just due).

        Cron slots are calendar-anchored. None when the calendar allows no day
        within the engine's horizon.
        """
        after = max(slot, now)
        if self.options == NO_OPTIONS and not rules.windows_for(job):
            return self.next_after(after)
        found = first_run(self._next, after=after, **self._plan_args(rules, job))
        return found.at if found else None

    def first_run(
        self, after: datetime, *, rules: TimeRules = NO_RULES, job: JobRef = NO_JOB
    ) -> datetime | None:
        """The first run after `after`: a new or re-enabled job's next_run_at."""
        return self.following(after, after, rules=rules, job=job)

    def plan(
        self,
        after: datetime,
        *,
        rules: TimeRules = NO_RULES,
        job: JobRef = NO_JOB,
    ) -> Iterator[Slot]:
        """Every judged slot after `after`: runs, skipped and deferred ones."""
        return plan_slots(self._next, after=after, **self._plan_args(rules, job))

    def judge_due(
        self, at: datetime, *, rules: TimeRules = NO_RULES, job: JobRef = NO_JOB
    ) -> Slot:
        """A run time computed earlier, judged by the rules of now."""
        return judge_due(at, **self._plan_args(rules, job))

    def _plan_args(self, rules: TimeRules, job: JobRef) -> dict[str, Any]:
        return {"options": self.options, "rules": rules, "job": job, "zone": self.tz}

    def next_runs(self, n: int = 5, after: datetime | None = None) -> list[datetime]:
        return [run.at for run in self.upcoming(n, after)]

    def upcoming(self, n: int = 5, after: datetime | None = None) -> list[RunTime]:
        runs: list[RunTime] = []
        current = after or datetime.now(UTC)
        for _ in range(n):
            run = self._next(current)
            runs.append(run)
            current = run.at
        return runs

    def _next(self, after: datetime) -> RunTime:
        return next_run(self._clock, self.tz, self.spec.wildcard, after)


@dataclass(frozen=True)
class IntervalSchedule:
    every_seconds: int
    options: PlanOptions = NO_OPTIONS
    type = "interval"

    def to_dict(self) -> dict[str, Any]:
        base = {"type": "interval", "every_seconds": self.every_seconds}
        return {**base, **self.options.to_dict()}

    def describe(self) -> str:
        return describe_interval(self.every_seconds)

    def next_after(self, after: datetime) -> datetime:
        return after.astimezone(UTC) + timedelta(seconds=self.every_seconds)

    def following(
        self,
        slot: datetime,
        now: datetime,
        *,
        rules: TimeRules = NO_RULES,
        job: JobRef = NO_JOB,
    ) -> datetime | None:
        """The next run after `now` in phase with `slot`, so ticks do not drift.

        The phase is the due run's nominal slot (its time less the job's
        jitter); after a run deferred to a window's end, the slots count from
        there.
        """
        offset = jitter_offset(job.name, self.options.jitter_seconds)
        if self.options == NO_OPTIONS and not rules.windows_for(job):
            return self._in_phase(slot)(now).at
        found = first_run(
            self._in_phase(slot - offset),
            after=max(slot, now),
            options=self.options,
            rules=rules,
            job=job,
        )
        return found.at if found else None

    def first_run(
        self, after: datetime, *, rules: TimeRules = NO_RULES, job: JobRef = NO_JOB
    ) -> datetime | None:
        """One interval after `after` (plus the job's jitter), past any window."""
        offset = jitter_offset(job.name, self.options.jitter_seconds)
        return self.following(after + offset, after + offset, rules=rules, job=job)

    def plan(
        self,
        after: datetime,
        *,
        rules: TimeRules = NO_RULES,
        job: JobRef = NO_JOB,
        phase: datetime | None = None,
    ) -> Iterator[Slot]:
        """Every judged slot after `after`, counted from `phase` (default: `after`)."""
        offset = jitter_offset(job.name, self.options.jitter_seconds)
        start = after if phase is None else phase
        return plan_slots(
            self._in_phase(start),
            after=after + offset if phase is None else after,
            options=self.options,
            rules=rules,
            job=job,
            rephase=self._in_phase,
        )

    def judge_due(
        self, at: datetime, *, rules: TimeRules = NO_RULES, job: JobRef = NO_JOB
    ) -> Slot:
        """A run time computed earlier, judged by the rules of now."""
        return judge_due(at, options=self.options, rules=rules, job=job)

    def _in_phase(self, phase: datetime):
        """The nominal slots phase + k × every: the first strictly after x."""
        every = self.every_seconds

        def next_nominal(after: datetime) -> RunTime:
            periods = math.floor((after - phase).total_seconds() / every) + 1
            return RunTime(phase + timedelta(seconds=max(periods, 1) * every))

        return next_nominal

    def next_runs(self, n: int = 5, after: datetime | None = None) -> list[datetime]:
        return [run.at for run in self.upcoming(n, after)]

    def upcoming(self, n: int = 5, after: datetime | None = None) -> list[RunTime]:
        start = (after or datetime.now(UTC)).astimezone(UTC)
        step = timedelta(seconds=self.every_seconds)
        return [RunTime(start + step * (i + 1)) for i in range(n)]


Schedule = CronSchedule | IntervalSchedule


def describe_cron(expression: str) -> str:
    """An expression in words, without its time zone."""
    return describe_spec(parse_cron(expression))


def describe_interval(seconds: int) -> str:
    for unit_seconds, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % unit_seconds == 0:
            count = seconds // unit_seconds
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    return f"Every {seconds} seconds"


def parse_schedule(data: Any) -> Schedule:
    """Build a schedule from its JSON form; raises ValidationError keyed by field.

    {"type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"}
    {"type": "interval", "every_seconds": 3600}
    """
    if not isinstance(data, dict):
        raise ValidationError({"__all__": ["Schedule must be a JSON object."]})
    kind = data.get("type")
    if kind == "cron":
        return _parse_cron_schedule(data)
    if kind == "interval":
        return _parse_interval_schedule(data)
    raise ValidationError({"type": ["Schedule type must be 'cron' or 'interval'."]})


def _parse_cron_schedule(data: dict[str, Any]) -> CronSchedule:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(data) - {"type", "cron", "timezone", *PLAN_KEYS})
    for key in unknown:
        errors[key] = ["Unknown schedule field for a cron schedule."]
    options = _parse_options(data, errors, cron=True)
    expression = data.get("cron")
    try:
        spec = parse_cron(expression)
        if WallClock(spec).first_from(datetime(2000, 1, 1)) is None:
            raise ValueError(
                "this expression never matches a real date "
                "(day-of-month does not exist in the chosen months)"
            )
    except ValueError as exc:
        errors["cron"] = [str(exc)]
    tz_name = data.get("timezone", "UTC")
    try:
        validate_timezone(tz_name)
    except ValueError as exc:
        errors["timezone"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    schedule = _cron_schedule(spec.text, tz_name, options)
    _check_runs(schedule)
    return schedule


PLAN_KEYS = ("calendar", "calendar_rule", "jitter_seconds", "in_blackout")


def _parse_options(
    data: dict[str, Any], errors: dict[str, list[str]], *, cron: bool
) -> PlanOptions:
    """The calendar, jitter and blackout keys; errors go under their own key.

    Whether the named calendar exists is the service's check (it needs the
    database); here only its form is.
    """
    calendar = data.get("calendar") or ""
    rule = data.get("calendar_rule") or ""
    jitter = data.get("jitter_seconds", 0)
    in_blackout = data.get("in_blackout") or "skip"
    if not isinstance(calendar, str) or len(calendar) > 64:
        errors["calendar"] = ["Must be the name of a calendar."]
        calendar = ""
    elif calendar and not cron:
        errors["calendar"] = [
            "A calendar needs a cron schedule (its days are counted in the "
            "schedule's time zone): use cron, e.g. */15 * * * * for every 15 minutes."
        ]
    if rule and (not isinstance(rule, str) or rule not in CALENDAR_RULES):
        errors["calendar_rule"] = [f"Must be one of: {', '.join(CALENDAR_RULES)}."]
    elif rule and not calendar and "calendar" not in errors:
        errors["calendar"] = ["Choose the calendar this rule refers to."]
    elif calendar and not rule:
        rule = "business_days"
    maximum = MAX_JITTER_SECONDS
    if (
        isinstance(jitter, bool)
        or not isinstance(jitter, int)
        or not 0 <= jitter <= maximum
    ):
        errors["jitter_seconds"] = [f"Must be a whole number from 0 to {maximum}."]
        jitter = 0
    if not isinstance(in_blackout, str) or in_blackout not in IN_BLACKOUT:
        errors["in_blackout"] = [f"Must be one of: {', '.join(IN_BLACKOUT)}."]
    if any(key in errors for key in PLAN_KEYS):
        return NO_OPTIONS
    return PlanOptions(calendar.lower(), rule, jitter, in_blackout)


def _check_runs(schedule: CronSchedule) -> None:
    """Refuse a wildcard job whose every time falls in a daylight-saving gap.

    Such a job (e.g. `* 2 25-31 3 */7` in Europe/Berlin: Sundays at 02:xx at the
    end of March) matches real dates but never a real time.
    """
    try:
        schedule.next_after(datetime.now(UTC))
    except ValueError as exc:
        raise ValidationError(
            {
                "cron": [
                    f"this expression never runs in {schedule.timezone}: all its "
                    "times fall when the clock jumps forward, and a job whose "
                    "minute or hour starts with * does not run for skipped times"
                ]
            }
        ) from exc


@lru_cache(maxsize=4096)
def _cron_schedule(
    expression: str, tz_name: str, options: PlanOptions = NO_OPTIONS
) -> CronSchedule:
    return CronSchedule(expression, tz_name, options)


def _parse_interval_schedule(data: dict[str, Any]) -> IntervalSchedule:
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - {"type", "every_seconds", *PLAN_KEYS}):
        errors[key] = ["Unknown schedule field for an interval schedule."]
    options = _parse_options(data, errors, cron=False)
    every = data.get("every_seconds")
    minimum = settings.SCHEDULER_MIN_INTERVAL_SECONDS
    if (
        isinstance(every, bool)
        or not isinstance(every, int | float)
        or not math.isfinite(every)
        or every != int(every)
    ):
        errors["every_seconds"] = ["Must be a whole number of seconds."]
    elif every < minimum:
        errors["every_seconds"] = [
            f"Must be at least {minimum} seconds (SCHEDULER_MIN_INTERVAL_SECONDS)."
        ]
    elif every > 366 * 86400:
        errors["every_seconds"] = ["Must be at most one year (31622400 seconds)."]
    if errors:
        raise ValidationError(errors)
    return IntervalSchedule(int(every), options)


def schedule_from_json(data: dict[str, Any]) -> Schedule:
    """Parse a schedule already validated on save; cached for the dispatcher."""
    options = _options_from_json(data)
    if data.get("type") == "cron":
        return _cron_schedule(data["cron"], data.get("timezone", "UTC"), options)
    return IntervalSchedule(int(data["every_seconds"]), options)


def _options_from_json(data: dict[str, Any]) -> PlanOptions:
    if not any(key in data for key in PLAN_KEYS):
        return NO_OPTIONS
    return PlanOptions(
        calendar=(data.get("calendar") or "").lower(),
        calendar_rule=data.get("calendar_rule") or "",
        jitter_seconds=int(data.get("jitter_seconds") or 0),
        in_blackout=data.get("in_blackout") or "skip",
    )
