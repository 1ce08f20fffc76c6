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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError

from scheduler_jobs.schedules.engine import RunTime, WallClock, next_run
from scheduler_jobs.schedules.fields import MACROS, CronSpec, parse_cron
from scheduler_jobs.schedules.words import describe_spec

__all__ = [
    "MACROS",
    "CronSchedule",
    "CronSpec",
    "IntervalSchedule",
    "RunTime",
    "Schedule",
    "describe_cron",
    "describe_interval",
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
        return {"type": "cron", "cron": self.expression, "timezone": self.timezone}

    def describe(self) -> str:
        return f"{describe_spec(self.spec)}, {self.timezone}"

    def next_after(self, after: datetime) -> datetime:
        return self._next(after).at

    def following(self, slot: datetime, now: datetime) -> datetime:
        """The first run strictly after `now` (cron slots are calendar-anchored)."""
        return self.next_after(max(slot, now))

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
    type = "interval"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "interval", "every_seconds": self.every_seconds}

    def describe(self) -> str:
        return describe_interval(self.every_seconds)

    def next_after(self, after: datetime) -> datetime:
        return after.astimezone(UTC) + timedelta(seconds=self.every_seconds)

    def following(self, slot: datetime, now: datetime) -> datetime:
        """The next slot after `now` in phase with `slot`, so ticks do not drift."""
        if now < slot:
            return slot + timedelta(seconds=self.every_seconds)
        periods = math.floor((now - slot).total_seconds() / self.every_seconds) + 1
        return slot + timedelta(seconds=periods * self.every_seconds)

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
    unknown = sorted(set(data) - {"type", "cron", "timezone"})
    for key in unknown:
        errors[key] = ["Unknown schedule field for a cron schedule."]
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
    schedule = _cron_schedule(spec.text, tz_name)
    _check_runs(schedule)
    return schedule


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
def _cron_schedule(expression: str, tz_name: str) -> CronSchedule:
    return CronSchedule(expression, tz_name)


def _parse_interval_schedule(data: dict[str, Any]) -> IntervalSchedule:
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - {"type", "every_seconds"}):
        errors[key] = ["Unknown schedule field for an interval schedule."]
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
    return IntervalSchedule(int(every))


def schedule_from_json(data: dict[str, Any]) -> Schedule:
    """Parse a schedule already validated on save; cached for the dispatcher."""
    if data.get("type") == "cron":
        return _cron_schedule(data["cron"], data.get("timezone", "UTC"))
    return IntervalSchedule(int(data["every_seconds"]))
