"""When a cron expression runs: wall-clock matches, then real instants, as cronie.

Runs are whole minutes. Matching wall-clock times are found by skipping through
the month, day, hour and minute sets (never minute by minute), then turned into
UTC instants with cronie's daylight-saving rules:

* A wall-clock time that exists once runs at that instant.
* A time that occurs twice (the clock goes back): a fixed-time job runs at the
  first occurrence only; a wildcard job runs at both, since it runs at every
  real minute its fields match.
* A time that does not exist (the clock jumps forward): a fixed-time job runs
  once at the first instant after the jump, however many of its times fell in
  the gap; a wildcard job does not run for it.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from scheduler_jobs.schedules.fields import CronSpec

MINUTE = timedelta(minutes=1)
# The Gregorian calendar repeats every 400 years: an expression with no match in
# 400 years never matches.
SEARCH_YEARS = 400
# Longer than any clock change that repeats time (Antarctica/Troll's 2 hours).
FOLD_LOOKAHEAD = timedelta(hours=6)


@dataclass(frozen=True)
class RunTime:
    """One upcoming run, with a note when DST moved or merged it."""

    at: datetime  # aware, UTC
    note: str = ""  # "", "dst-gap" or "dst-repeat"


class WallClock:
    """Finds the wall-clock minutes an expression matches, in calendar order."""

    def __init__(self, spec: CronSpec) -> None:
        self.minutes = spec.minute.values
        self.hours = spec.hour.values
        self.months = spec.month.values
        self._doms = frozenset(spec.day.values)
        self._dows = frozenset(spec.weekday.values)
        self._days_and = spec.days_and
        self._days: dict[tuple[int, int], tuple[int, ...]] = {}

    def month_days(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days of one month (cached: dispatch asks for the same ones)."""
        key = (year, month)
        days = self._days.get(key)
        if days is None:
            if len(self._days) > 2048:
                self._days.clear()
            first_weekday, length = calendar.monthrange(year, month)
            days = tuple(
                day
                for day in range(1, length + 1)
                if self._day_matches(day, (first_weekday + day) % 7)
            )
            self._days[key] = days
        return days

    def _day_matches(self, day: int, weekday: int) -> bool:
        # calendar.monthrange counts Monday as 0; cron counts Sunday as 0, so
        # (first_weekday + day) % 7 is already cron's number for `day`.
        in_month, in_week = day in self._doms, weekday in self._dows
        return in_month and in_week if self._days_and else in_month or in_week

    def _time_from(self, hour: int, minute: int) -> tuple[int, int] | None:
        """The first matching (hour, minute) at or after hour:minute that day."""
        hours, minutes = self.hours, self.minutes
        i = bisect_left(hours, hour)
        if i < len(hours) and hours[i] == hour:
            j = bisect_left(minutes, minute)
            if j < len(minutes):
                return hour, minutes[j]
            i += 1
        return (hours[i], minutes[0]) if i < len(hours) else None

    def first_from(self, start: datetime) -> datetime | None:
        """The first matching naive minute at or after `start` (naive, whole minute)."""
        last_year = min(start.year + SEARCH_YEARS, datetime.max.year)
        for year in range(start.year, last_year + 1):
            first_month = start.month if year == start.year else 1
            for month in self.months[bisect_left(self.months, first_month) :]:
                same_month = (year, month) == (start.year, start.month)
                days = self.month_days(year, month)
                for day in days[bisect_left(days, start.day if same_month else 1) :]:
                    same_day = same_month and day == start.day
                    hour, minute = (start.hour, start.minute) if same_day else (0, 0)
                    time = self._time_from(hour, minute)
                    if time is not None:
                        return datetime(year, month, day, *time)
        return None


def _offset(moment: datetime) -> timedelta:
    return moment.utcoffset() or timedelta(0)


def _change(low: datetime, high: datetime, tz: tzinfo, before: timedelta) -> datetime:
    """The instant in (low, high] at which the offset stops being `before`."""
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset(middle.astimezone(tz)) == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _gap_end(naive: datetime, tz: tzinfo, before: timedelta) -> datetime:
    """The instant the clock jumped over `naive`: the first real time after it."""
    after = _offset(naive.replace(tzinfo=tz, fold=1))
    low = (naive - after).replace(tzinfo=UTC)  # still before the jump
    high = (naive - before).replace(tzinfo=UTC)  # already after it
    return _change(low, high, tz, before)


def _gap_end_naive(naive: datetime, tz: tzinfo) -> datetime:
    """The wall-clock time the clock jumped to over `naive`."""
    end = _gap_end(naive, tz, _offset(naive.replace(tzinfo=tz)))
    return end.astimezone(tz).replace(tzinfo=None)


def instants(naive: datetime, tz: tzinfo, wildcard: bool) -> list[RunTime]:
    """The runs one matching wall-clock minute gives, earliest first."""
    first = _offset(naive.replace(tzinfo=tz))
    second = _offset(naive.replace(tzinfo=tz, fold=1))
    if first == second:
        return [RunTime((naive - first).replace(tzinfo=UTC))]
    if first > second:  # the clock went back: this time happens twice
        earlier = (naive - first).replace(tzinfo=UTC)
        if not wildcard:
            return [RunTime(earlier, "dst-repeat")]
        return [RunTime(earlier), RunTime((naive - second).replace(tzinfo=UTC))]
    if wildcard:  # the clock jumped over this time: it never happens
        return []
    return [RunTime(_gap_end(naive, tz, first), "dst-gap")]


def next_run(clock: WallClock, tz: tzinfo, wildcard: bool, after: datetime) -> RunTime:
    """The first run strictly after `after`."""
    after = after.astimezone(UTC)
    local = after.astimezone(tz)
    # Runs fall on whole minutes: the minute `after` is in has already begun.
    start = local.replace(tzinfo=None, second=0, microsecond=0) + MINUTE
    best = _first_run(clock, tz, wildcard, after, local.fold, start)
    if wildcard:
        repeat = _second_pass(clock, tz, after, start)
        if repeat is not None and repeat.at < best.at:
            return repeat
    return best


def _first_run(
    clock: WallClock,
    tz: tzinfo,
    wildcard: bool,
    after: datetime,
    repeating: int,
    naive: datetime,
) -> RunTime:
    """The earliest run of the wall-clock times from `naive` on.

    Wall-clock order is real-time order for each time's first run, so the
    search stops at the first time whose earliest run is after `after`; a later
    time's runs cannot come sooner. `repeating` is 1 when `after` is in the
    second pass of a repeated hour.
    """
    horizon = naive.year + SEARCH_YEARS
    best: RunTime | None = None
    while True:
        found = clock.first_from(naive)
        if found is None or found.year > horizon:
            raise ValueError("this schedule never runs")
        runs = instants(found, tz, wildcard)
        for run in runs:
            if run.at > after and (best is None or run.at < best.at):
                best = run
        if runs and runs[0].at > after:
            return best or runs[0]
        if best is not None and repeating:
            # `after` is in a repeated hour's second pass: the later times of
            # that hour run later still, and the first run of any time after
            # it comes after the whole repeated hour.
            return best
        if not runs or runs[0].note == "dst-gap":
            # Times in a gap run at its end (already past) or not at all.
            naive = _gap_end_naive(found, tz)
        else:
            naive = found + MINUTE


def _second_pass(
    clock: WallClock, tz: tzinfo, after: datetime, start: datetime
) -> RunTime | None:
    """A wildcard job's run in a repeated hour that starts ahead, for a time
    before `start` (its first pass is over; `_first_run` covers the others)."""
    before = _offset(after.astimezone(tz))
    ahead = (after + FOLD_LOOKAHEAD).astimezone(tz)
    if _offset(ahead) >= before:
        return None
    change = _change(after, after + FOLD_LOOKAHEAD, tz, before)
    repeat_from = change.astimezone(tz)
    first = repeat_from.replace(tzinfo=None)
    if first.second or first.microsecond:
        first = first.replace(second=0, microsecond=0) + MINUTE
    found = clock.first_from(first)
    if found is None or found >= start:
        return None
    return RunTime((found - _offset(repeat_from)).replace(tzinfo=UTC))
