"""Cron and interval schedules: validation, next runs, and a description in words.

Cron times are wall-clock times in the job's IANA time zone. Around daylight
saving time changes the rule is:

* A time that does not exist (the spring-forward gap, e.g. 02:30 in Europe/Berlin
  on the last Sunday of March) runs once, at the first instant after the gap
  (03:00 local). Several matches inside one gap still run only once.
* A time that occurs twice (the fall-back repeat, e.g. 02:30 on the last Sunday
  of October) runs once, at its first occurrence. Expressions whose hour field is
  `*` keep their cadence through both occurrences, as Debian's cron does, since
  "every 15 minutes" should not pause for an hour.

Interval schedules count seconds of real (UTC) time and ignore DST.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun")
MONTHS += ("jul", "aug", "sep", "oct", "nov", "dec")
MONTH_NAMES = {name: i for i, name in enumerate(MONTHS, start=1)}
DAY_NAMES = {
    name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
FIELDS = (
    # (name, low, high, names)
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, MONTH_NAMES),
    ("day-of-week", 0, 7, DAY_NAMES),
)
_ITEM = re.compile(r"^(?P<range>\*|[^/]+)(?:/(?P<step>.*))?$")
_DIGITS = re.compile(r"^[0-9]{1,4}$")


def _parse_value(text: str, name: str, low: int, high: int, names: dict) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    # ASCII only: str.isdigit() also accepts digits such as "٣" that cron
    # implementations do not.
    if not _DIGITS.match(text):
        raise ValueError(f"{name} field: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name} field: {value} is out of range {low}-{high}")
    return value


def _parse_field(text: str, name: str, low: int, high: int, names: dict) -> set[int]:
    values: set[int] = set()
    if not text:
        raise ValueError(f"{name} field is empty")
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match or not item:
            raise ValueError(f"{name} field: {item!r} is not valid")
        part, step_text = match.group("range"), match.group("step")
        step = 1
        if step_text is not None:
            if not _DIGITS.match(step_text) or int(step_text) < 1:
                raise ValueError(
                    f"{name} field: step {step_text!r} must be a whole number ≥ 1"
                )
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            left, _, right = part.partition("-")
            start = _parse_value(left, name, low, high, names)
            end = _parse_value(right, name, low, high, names)
            if start > end:
                raise ValueError(f"{name} field: range {part} runs backwards")
        else:
            start = _parse_value(part, name, low, high, names)
            # "5/15" means from 5 to the end in steps of 15, as in Vixie cron.
            end = high if step_text is not None else start
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expression: str) -> tuple[str, list[set[int]]]:
    """Validate a five-field cron expression; returns (normalised text, field sets).

    Raises ValueError with a message that names the field at fault.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError("Cron expression is empty")
    text = " ".join(expression.split())
    text = MACROS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise ValueError(
            "expected 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    sets = [
        _parse_field(part, name, low, high, names)
        for part, (name, low, high, names) in zip(parts, FIELDS, strict=True)
    ]
    return text, sets


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
class RunTime:
    """One upcoming run, with a note when DST moved or merged it."""

    at: datetime  # aware, UTC
    note: str = ""  # "", "dst-gap" or "dst-repeat"


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    timezone: str = "UTC"
    type = "cron"

    @cached_property
    def tz(self) -> ZoneInfo:
        return _zone(self.timezone)

    @cached_property
    def _hour_is_wildcard(self) -> bool:
        return self.expression.split(" ")[1] == "*"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "cron", "cron": self.expression, "timezone": self.timezone}

    def describe(self) -> str:
        return f"{describe_cron(self.expression)}, {self.timezone}"

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
        from croniter import croniter

        tz = self.tz
        after = after.astimezone(UTC)
        start = after.astimezone(tz).replace(tzinfo=None)
        # If the clock falls back within the next hours, the repeated wall-clock
        # times lie *behind* the current local time; start early enough to see them.
        ahead = after + timedelta(hours=3)
        drop = after.astimezone(tz).utcoffset() - ahead.astimezone(tz).utcoffset()
        if drop > timedelta(0):
            start -= drop
        # croniter needs a start strictly before the first candidate.
        cursor = croniter(self.expression, start - timedelta(seconds=1))
        best: RunTime | None = None
        for _ in range(100_000):
            naive = cursor.get_next(datetime)
            earliest, note, later = self._instants(naive)
            if best is not None and earliest >= best.at:
                break
            for instant in (earliest, later):
                beats_best = best is None or (instant is not None and instant < best.at)
                if instant is not None and instant > after and beats_best:
                    best = RunTime(instant, note)
            if best is not None and best.at == earliest:
                break
        if best is None:  # pragma: no cover - parse_cron rejects impossible dates
            raise ValueError("schedule never runs")
        return best

    def _instants(self, naive: datetime) -> tuple[datetime, str, datetime | None]:
        """UTC instants for a naive local time: (earliest, note, second occurrence)."""
        tz = self.tz
        first = naive.replace(tzinfo=tz, fold=0)
        second = naive.replace(tzinfo=tz, fold=1)
        off0, off1 = first.utcoffset(), second.utcoffset()
        if off0 == off1:
            return first.astimezone(UTC), "", None
        if off0 > off1:  # repeated (fall-back): naive time happens twice
            later = second.astimezone(UTC) if self._hour_is_wildcard else None
            return first.astimezone(UTC), "dst-repeat", later
        # Gap (spring-forward): run at the instant the gap ends.
        low, high = second.astimezone(UTC), first.astimezone(UTC)
        while (high - low) > timedelta(seconds=1):
            mid = low + (high - low) / 2
            if mid.astimezone(tz).utcoffset() == off1:
                high = mid
            else:
                low = mid
        return high.replace(microsecond=0), "dst-gap", None


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
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    options.day_of_week_start_index_zero = True
    options.verbose = False
    try:
        return get_description(expression, options)
    except Exception:  # a describer bug must not hide a valid schedule
        return expression


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
        expression, sets = parse_cron(expression)
        if not _can_match(expression, sets):
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
    return _cron_schedule(expression, tz_name)


@lru_cache(maxsize=4096)
def _cron_schedule(expression: str, tz_name: str) -> CronSchedule:
    return CronSchedule(expression, tz_name)


def _can_match(expression: str, sets: list[set[int]]) -> bool:
    """False for expressions like "0 0 30 2 *" that no calendar date satisfies."""
    if expression.split(" ")[4] != "*":
        # A restricted day-of-week always comes round (and cron ORs it with
        # day-of-month when both are restricted).
        return True
    _, _, days, months, _ = sets
    longest = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31}
    longest.update({8: 31, 9: 30, 10: 31, 11: 30, 12: 31})
    return any(min(days) <= longest[m] for m in months)


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
