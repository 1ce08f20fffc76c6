"""Which of a schedule's slots run: calendars, blackout windows and jitter.

A schedule's cron or interval maths gives its *nominal* slots. This module
judges each one, the same way for the dispatcher, the previews and the
simulator (they all call `plan_slots` or `following` through the schedule):

* **Calendar** (cron schedules): the nominal slot's local date, in the
  schedule's zone, must be allowed by the calendar's rule ("only" on holidays,
  "never" on holidays, "business_days", "first_business_day",
  "last_business_day" of the month). Excluded dates are jumped over: one
  skipped slot is listed per excluded stretch, and the next slot is the first
  one on an allowed date.
* **Jitter**: the job runs at nominal + a fixed offset in [0, jitter_seconds],
  from a hash of the job's name (like Jenkins' `H`): the same on every machine
  and after a restart; renaming the job moves it.
* **Blackout windows**: a run time inside a window that applies to the job
  (global, its template's category, or the job itself) is skipped, or deferred
  to the window's end plus the job's offset (`in_blackout: defer`); the slots
  inside one window give one deferred run however many there were.

Everything here is pure: the rows (calendars, windows) come in as `TimeRules`,
built by `scheduler_jobs.services.timeplan.time_rules()`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Protocol

CALENDAR_RULES = {
    "business_days": "on business days",
    "only": "only on holidays",
    "never": "never on holidays",
    "first_business_day": "on the first business day of the month",
    "last_business_day": "on the last business day of the month",
}
IN_BLACKOUT = ("skip", "defer")
# Rules whose excluded days come in short stretches (weekends, holidays): each
# excluded day lists its own skipped slot. The others jump straight to the
# next allowed day, listing one skipped slot for the whole stretch.
DAY_BY_DAY = frozenset({"business_days", "never"})
RUNS, SKIPPED, DEFERRED = "runs", "skipped", "deferred"
ISO_DAY_WORDS = ("", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
ISO_DAY_WORDS += ("Saturday", "Sunday")
# How far ahead an allowed day or a slot outside the windows is looked for: a
# rule that allows no day in this long never runs.
HORIZON_DAYS = 3 * 366
# A window's occurrences that touch or overlap are one window; this many at most
# (saved windows never overlap themselves: the service refuses a duration as
# long as the time between two starts).
MAX_CHAINED_OCCURRENCES = 100
# Slots a walk judges at most, and how far ahead it looks (HORIZON_DAYS): a job
# whose every slot is held (a window covering each of its times) stops there.
MAX_SCAN = 5000
EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class PlanOptions:
    """The schedule's optional keys that decide which slots run."""

    calendar: str = ""
    calendar_rule: str = ""
    jitter_seconds: int = 0
    in_blackout: str = "skip"

    def to_dict(self) -> dict[str, Any]:
        """Only the keys that differ from the defaults, so plain schedules stay so."""
        data: dict[str, Any] = {}
        if self.calendar:
            data["calendar"] = self.calendar
            data["calendar_rule"] = self.calendar_rule
        if self.jitter_seconds:
            data["jitter_seconds"] = self.jitter_seconds
        if self.in_blackout != "skip":
            data["in_blackout"] = self.in_blackout
        return data

    def describe(self) -> str:
        """ "on business days (de-by)", or "" without a calendar."""
        if not self.calendar:
            return ""
        return f"{CALENDAR_RULES[self.calendar_rule]} ({self.calendar})"


NO_OPTIONS = PlanOptions()


def jitter_offset(job_name: str, jitter_seconds: int) -> timedelta:
    """The job's stable delay in [0, jitter_seconds], from a hash of its name.

    SHA-256 rather than hash(): Python salts str hashes per process, and every
    beat, web process and machine must agree on the offset.
    """
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(job_name.encode("utf-8")).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % (jitter_seconds + 1))


@dataclass(frozen=True)
class JobRef:
    """What judging a job's slots needs to know about the job."""

    name: str = ""
    id: int | None = None
    category: str = ""


NO_JOB = JobRef()


@dataclass(frozen=True)
class Slot:
    """One nominal slot of a schedule and what happens to it.

    `at` is when the job runs (UTC; nominal + jitter, or a window's end when
    deferred); `nominal` is the cron or interval slot; `outcome` is "runs",
    "skipped" or "deferred"; `reason` says why in plain words; `note` is the
    DST note of the nominal slot ("dst-gap", "dst-repeat" or "").
    """

    at: datetime
    nominal: datetime
    outcome: str = RUNS
    reason: str = ""
    note: str = ""

    @property
    def runs(self) -> bool:
        """It leads to a run: at its time, or at the end of a window."""
        return self.outcome != SKIPPED


# Calendars ---------------------------------------------------------------------


@lru_cache(maxsize=512)
def public_holidays(country: str, subdivision: str, year: int) -> dict[date, str]:
    """The public holidays of a country (and subdivision) in one year.

    Memoised per (country, subdivision, year): the `holidays` package computes
    them (Easter and all), which costs far more than a dictionary lookup.
    """
    if not country:
        return {}
    import holidays

    found = holidays.country_holidays(
        country, subdiv=subdivision or None, years=year, language="en_US"
    )
    return {day: str(name) for day, name in found.items()}


@dataclass(frozen=True)
class CalendarRule:
    """A calendar as the engine reads it (from a Calendar row)."""

    name: str
    country: str = ""
    subdivision: str = ""
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    extra_holidays: dict[date, str] = field(default_factory=dict, hash=False)
    extra_workdays: dict[date, str] = field(default_factory=dict, hash=False)

    @property
    def region(self) -> str:
        if not self.country:
            return ""
        return (
            f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        )

    def holiday(self, day: date) -> str:
        """Why `day` is a holiday ("Public holiday: Christmas Day (DE-BY)"), or "".

        A day listed as an extra business day is never a holiday.
        """
        if day in self.extra_workdays:
            return ""
        if day in self.extra_holidays:
            return f"Holiday: {self.extra_holidays[day]} (calendar {self.name})"
        name = public_holidays(self.country, self.subdivision, day.year).get(day)
        return f"Public holiday: {name} ({self.region})" if name else ""

    def day_off(self, day: date) -> str:
        """Why `day` is not a business day, or "" when it is one."""
        if day in self.extra_workdays:
            return ""
        holiday = self.holiday(day)
        if holiday:
            return holiday
        if day.isoweekday() not in self.workdays:
            weekday = ISO_DAY_WORDS[day.isoweekday()]
            return f"Not a business day: {weekday} (calendar {self.name})"
        return ""

    def is_business_day(self, day: date) -> bool:
        return not self.day_off(day)

    def _month_business_days(self, day: date) -> list[date]:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        count = (following - first).days
        days = (first + timedelta(days=i) for i in range(count))
        return [d for d in days if self.is_business_day(d)]

    def refusal(self, rule: str, day: date) -> str:
        """Why `rule` excludes `day`, in plain words; "" when it allows it."""
        if rule == "only":
            if self.holiday(day):
                return ""
            return f"Not a holiday in calendar {self.name} (runs only on holidays)"
        if rule == "never":
            return self.holiday(day)
        if rule == "business_days":
            return self.day_off(day)
        business = self._month_business_days(day)
        if not business:
            return f"No business day this month in calendar {self.name}"
        wanted = business[0] if rule == "first_business_day" else business[-1]
        if day == wanted:
            return ""
        which = "first" if rule == "first_business_day" else "last"
        return (
            f"Not the {which} business day of the month in calendar {self.name} "
            f"(that is {wanted:%a %Y-%m-%d})"
        )

    def next_allowed(self, rule: str, day: date) -> date | None:
        """The first day on or after `day` that `rule` allows, within the horizon."""
        for i in range(HORIZON_DAYS):
            candidate = day + timedelta(days=i)
            if not self.refusal(rule, candidate):
                return candidate
        return None

    def days(self, start: date, end: date) -> list[tuple[date, str, str]]:
        """(date, kind, name) of each day in [start, end] that is not a plain
        business day: kind "holiday", "extra_holiday", "weekend" or "extra_workday"."""
        found: list[tuple[date, str, str]] = []
        day = start
        while day <= end:
            found.extend(self._day_entry(day))
            day += timedelta(days=1)
        return found

    def _day_entry(self, day: date) -> list[tuple[date, str, str]]:
        if day in self.extra_workdays:
            return [(day, "extra_workday", self.extra_workdays[day])]
        if day in self.extra_holidays:
            return [(day, "extra_holiday", self.extra_holidays[day])]
        name = public_holidays(self.country, self.subdivision, day.year).get(day)
        if name:
            return [(day, "holiday", name)]
        if day.isoweekday() not in self.workdays:
            return [(day, "weekend", ISO_DAY_WORDS[day.isoweekday()])]
        return []


# Blackout windows --------------------------------------------------------------


class _Starts(Protocol):
    def next_after(self, after: datetime) -> datetime: ...


@dataclass(frozen=True)
class WindowRule:
    """A blackout window as the engine reads it (from a BlackoutWindow row).

    One-off windows have `starts_at` and `ends_at`; recurring ones a schedule of
    start times (`starts`, a cron schedule in the window's zone) and a length.
    A window covers [start, end): a run exactly at its end runs.
    """

    name: str
    reason: str
    scope: str = "global"
    category: str = ""
    job_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    starts: _Starts | None = field(default=None, compare=False)
    duration: timedelta = timedelta(0)

    def applies_to(self, job: JobRef) -> bool:
        if self.scope == "job":
            return job.id is not None and job.id == self.job_id
        if self.scope == "category":
            return bool(job.category) and job.category == self.category
        return True

    def covering(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) of this window's occurrence that contains `at`.

        Occurrences that overlap or touch count as one, so a slot deferred
        to the end of one is not inside the next.
        """
        if self.starts is None:
            if self.starts_at is not None and self.starts_at <= at < self.ends_at:
                return self.starts_at, self.ends_at
            return None
        start = self.starts.next_after(at - self.duration)
        if start > at:
            return None
        end = start + self.duration
        for _ in range(MAX_CHAINED_OCCURRENCES):
            following = self.starts.next_after(start)
            if following > end:
                break
            start, end = following, max(end, following + self.duration)
        return start, end

    def words(self) -> str:
        return f"Blackout window '{self.name}': {self.reason}"


@dataclass(frozen=True)
class TimeRules:
    """The calendars (by lower-case name) and enabled windows slots are judged by."""

    calendars: dict[str, CalendarRule] = field(default_factory=dict)
    windows: tuple[WindowRule, ...] = ()

    def calendar(self, name: str) -> CalendarRule | None:
        return self.calendars.get(name.lower()) if name else None

    def windows_for(self, job: JobRef) -> tuple[WindowRule, ...]:
        return tuple(w for w in self.windows if w.applies_to(job))


NO_RULES = TimeRules()


# Judging slots -----------------------------------------------------------------


class Nominal(Protocol):
    """A nominal slot: a RunTime of the cron engine, or an interval slot."""

    at: datetime
    note: str


NextNominal = Callable[[datetime], Nominal]


@dataclass
class _Judge:
    """Judges one job's slots against the rules; built once per walk."""

    options: PlanOptions
    rules: TimeRules
    job: JobRef
    zone: tzinfo

    def __post_init__(self) -> None:
        self.offset = jitter_offset(self.job.name, self.options.jitter_seconds)
        self.calendar = self.rules.calendar(self.options.calendar)
        self.windows = self.rules.windows_for(self.job)

    @property
    def trivial(self) -> bool:
        """Nothing to judge: every slot runs at nominal + offset."""
        return self.calendar is None and not self.windows

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def calendar_refusal(self, nominal: datetime) -> str:
        if self.calendar is None:
            return ""
        return self.calendar.refusal(
            self.options.calendar_rule, self.local_day(nominal)
        )

    def window_at(self, at: datetime) -> tuple[WindowRule, datetime] | None:
        """The first window covering `at`, with the end of its occurrence."""
        for window in self.windows:
            cover = window.covering(at)
            if cover is not None:
                return window, cover[1]
        return None

    def deferred_to(self, end: datetime) -> datetime:
        """A window's end plus the job's offset, past any window covering that."""
        at = end + self.offset
        for _ in range(MAX_CHAINED_OCCURRENCES):
            found = self.window_at(at)
            if found is None:
                return at
            at = found[1] + self.offset
        return at

    def judge(self, nominal: datetime, note: str = "") -> Slot:
        """What happens to one nominal slot (without looking at other slots)."""
        at = nominal + self.offset
        refusal = self.calendar_refusal(nominal)
        if refusal:
            return Slot(at, nominal, SKIPPED, refusal, note)
        found = self.window_at(at)
        if found is None:
            return Slot(at, nominal, RUNS, "", note)
        window, end = found
        if self.options.in_blackout != "defer":
            return Slot(at, nominal, SKIPPED, window.words(), note)
        later = self.deferred_to(end)
        refusal = self.calendar_refusal(later - self.offset)
        if refusal:
            reason = f"{window.words()}; it ends on an excluded day ({refusal})"
            return Slot(at, nominal, SKIPPED, reason, note)
        return Slot(later, nominal, DEFERRED, window.words(), note)

    def jump(self, slot: Slot) -> datetime:
        """Where the walk resumes (as a nominal cursor) after a judged slot.

        Past the excluded days, the window's end or the deferred run, so a
        blacked-out stretch costs one step, not one per slot inside it.
        """
        if slot.outcome == DEFERRED:
            return slot.at - self.offset
        if slot.outcome == RUNS:
            return slot.nominal
        if self.calendar is not None and self.calendar_refusal(slot.nominal):
            day = self.local_day(slot.nominal) + timedelta(days=1)
            if self.options.calendar_rule in DAY_BY_DAY:
                return max(slot.nominal, day_start(day, self.zone) - EPSILON)
            allowed = self.calendar.next_allowed(self.options.calendar_rule, day)
            if allowed is None:
                raise NeverRuns(f"calendar {self.calendar.name} allows no day")
            return max(slot.nominal, day_start(allowed, self.zone) - EPSILON)
        found = self.window_at(slot.at)
        if found is None:  # skipped because a deferral ended on an excluded day
            return slot.nominal
        return max(slot.nominal, found[1] - self.offset - EPSILON)


class NeverRuns(ValueError):
    """No slot within the horizon runs."""


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of a local date in `zone` (UTC), even when midnight is
    skipped or repeated by a clock change."""
    naive = datetime.combine(day, time(0))
    early, late = sorted(
        naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)
    )
    return early if early.astimezone(zone).date() == day else late


def plan_slots(
    next_nominal: NextNominal,
    *,
    after: datetime,
    options: PlanOptions = NO_OPTIONS,
    rules: TimeRules = NO_RULES,
    job: JobRef = NO_JOB,
    zone: tzinfo = UTC,
    rephase: Callable[[datetime], NextNominal] | None = None,
) -> Iterator[Slot]:
    """The judged slots whose run time is after `after`, in order, up to the
    horizon (HORIZON_DAYS) or MAX_SCAN slots.

    `next_nominal(x)` is the schedule's first nominal slot strictly after x.
    An excluded stretch (days a calendar excludes, a window's skipped slots)
    yields one skipped slot; a deferred slot is followed by the first slot
    after its run. `rephase(at)` gives an interval schedule's slots counted
    from a deferred run, as the dispatcher will count them.
    """
    judge = _Judge(options, rules, job, zone)
    cursor = after.astimezone(UTC) - judge.offset
    horizon = cursor + timedelta(days=HORIZON_DAYS)
    for _ in range(MAX_SCAN):
        nominal = next_nominal(cursor)
        if nominal.at > horizon:
            return
        slot = judge.judge(nominal.at, nominal.note)
        yield slot
        if slot.outcome == DEFERRED and rephase is not None:
            next_nominal = rephase(slot.at - judge.offset)
        cursor = judge.jump(slot)
        if cursor < nominal.at:
            cursor = nominal.at


def first_run(
    next_nominal: NextNominal,
    *,
    after: datetime,
    options: PlanOptions = NO_OPTIONS,
    rules: TimeRules = NO_RULES,
    job: JobRef = NO_JOB,
    zone: tzinfo = UTC,
) -> Slot | None:
    """The first slot after `after` that leads to a run, or None within the scan."""
    try:
        for slot in plan_slots(
            next_nominal, after=after, options=options, rules=rules, job=job, zone=zone
        ):
            if slot.runs:
                return slot
    except NeverRuns:
        return None
    return None


def judge_due(
    at: datetime,
    *,
    options: PlanOptions = NO_OPTIONS,
    rules: TimeRules = NO_RULES,
    job: JobRef = NO_JOB,
    zone: tzinfo = UTC,
) -> Slot:
    """Judge a run time that was computed earlier, with the rules of now.

    The dispatcher asks this of each due row, so a window or calendar changed
    after `next_run_at` was computed still skips (or defers) the run. The
    nominal slot is the run time less the job's offset.
    """
    judge = _Judge(options, rules, job, zone)
    return judge.judge(at - judge.offset)
