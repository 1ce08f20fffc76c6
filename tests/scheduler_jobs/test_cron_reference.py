"""The schedule engine against a small model of cronie, on random expressions.

The model is written from cronie's source, not from the engine: entry.c's field
parser (bit sets, the *_STAR flags taken from a field's first character, Sunday
as 0 and 7) and cron.c's minute loop, which steps through real minutes and,
when the local clock jumps forward by more than five minutes, runs wildcard jobs
for the new minute and fixed-time jobs for every skipped minute, and when it
goes back runs only wildcard jobs until the clock has caught up. It shares no
code with scheduler_jobs.schedules and looks at every UTC minute of its windows.

The windows are the hours around each daylight-saving change of 2026 and 2027
in eight zones (Lord Howe's 30-minute and Troll's 2-hour shifts, Chatham's
changes at 02:45, Santiago's at midnight, Casablanca's backwards summer time
among them), plus ordinary hours; a second test runs four-day windows to
exercise the day fields, a third compares far-off runs date by date, and a
fourth asks croniter about the expressions it reads as cron does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import product
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from scheduler_jobs.schedules import CronSchedule, parse_schedule

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
WARM_UP = timedelta(hours=3)
ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Antarctica/Troll",
    "America/St_Johns",
    "Africa/Casablanca",
)
YEARS = (2026, 2027)
EXPRESSIONS = 2000  # each in ZONES_EACH of the zones
ZONES_EACH = 3
DAY_EXPRESSIONS = 100
FAR_EXPRESSIONS = 300
CRONITER_EXPRESSIONS = 500


# --- the model ------------------------------------------------------------------

MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun"]
MONTH_NAMES += ["jul", "aug", "sep", "oct", "nov", "dec"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _number(text: str, names: list[str], first: int) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + first
    return int(text)


def _bits(text: str, low: int, high: int, names: list[str], single_end: int) -> set:
    """entry.c's get_list: ranges and steps set bits; `a/s` runs to single_end."""
    first = 1 if names is MONTH_NAMES else 0
    bits: set[int] = set()
    for part in text.split(","):
        span, slash, step = part.partition("/")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (_number(x, names, first) for x in span.split("-"))
        else:
            start = _number(span, names, first)
            end = max(start, single_end) if slash else start
        bits.update(range(start, end + 1, int(step) if slash else 1))
    return bits


@dataclass(frozen=True)
class Job:
    minutes: frozenset
    hours: frozenset
    doms: frozenset
    months: frozenset
    dows: frozenset
    wildcard: bool  # MIN_STAR or HR_STAR
    day_and: bool  # DOM_STAR or DOW_STAR

    def matches(self, local: datetime) -> bool:
        return self.matches_fields(fields(local))

    def matches_fields(self, fields: tuple[int, int, int, int, int]) -> bool:
        minute, hour, dom, month, dow = fields
        in_month, in_week = dom in self.doms, dow in self.dows
        return (
            minute in self.minutes
            and hour in self.hours
            and month in self.months
            and (in_month and in_week if self.day_and else in_month or in_week)
        )

    def day_matches(self, day: date) -> bool:
        midnight = datetime(day.year, day.month, day.day)
        minute, hour = min(self.minutes), min(self.hours)
        return self.matches(midnight.replace(hour=hour, minute=minute))


def fields(local: datetime) -> tuple[int, int, int, int, int]:
    """cron.c's maketime: minute, hour, day, month, day of week (Sunday 0)."""
    return local.minute, local.hour, local.day, local.month, local.isoweekday() % 7


MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *"}
MACROS |= {"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *"}
MACROS |= {"@hourly": "0 * * * *"}


def model(expression: str) -> Job:
    fields = MACROS.get(expression, expression).split()
    minute, hour, dom, month, dow = fields
    dows = _bits(dow, 0, 7, DAY_NAMES, 6)
    if dows & {0, 7}:  # "make sundays equivalent"
        dows |= {0, 7}
    return Job(
        frozenset(_bits(minute, 0, 59, [], 59)),
        frozenset(_bits(hour, 0, 23, [], 23)),
        frozenset(_bits(dom, 1, 31, [], 31)),
        frozenset(_bits(month, 1, 12, MONTH_NAMES, 12)),
        frozenset(dows),
        wildcard=minute.startswith("*") or hour.startswith("*"),
        day_and=dom.startswith("*") or dow.startswith("*"),
    )


def model_runs(job: Job, timeline: tuple) -> list[datetime]:
    """cron.c's main loop; `timeline` holds each UTC minute with its local
    wall-clock minute, that minute's fields, and the local clock in minutes."""
    runs = []
    virtual = None
    for at, local, now, clock in timeline:
        diff = 1 if virtual is None else clock - virtual
        if diff == 1 or abs(diff) > 180:  # on time, or the clock jumped a lot
            ran = job.matches_fields(now)
            virtual = clock
        elif diff > 5:  # DST began: wildcard now, fixed-time for each skipped minute
            skipped = (local - MINUTE * k for k in range(diff))
            ran = (
                job.matches_fields(now)
                if job.wildcard
                else any(map(job.matches, skipped))
            )
            virtual = clock
        elif diff > 0:  # woke up late: every job for each missed minute
            ran = any(job.matches(local - MINUTE * k) for k in range(diff))
            virtual = clock
        else:  # DST ended: wildcard jobs only, virtual time waits
            ran = job.wildcard and job.matches_fields(now)
        if ran:
            runs.append(at)
    return runs


# --- windows ----------------------------------------------------------------------


def _offset(at: datetime, tz: ZoneInfo) -> timedelta:
    return at.astimezone(tz).utcoffset()


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """Instants the zone's offset changes in YEARS, found hour by hour."""
    tz = ZoneInfo(zone)
    found = []
    at = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    end = datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC)
    while at < end:
        if _offset(at, tz) != _offset(at + timedelta(hours=1), tz):
            change = at
            while _offset(change, tz) == _offset(at, tz):
                change += MINUTE
            found.append(change)
        at += timedelta(hours=1)
    return tuple(found)


@cache
def timeline(zone: str, start: datetime, end: datetime) -> tuple:
    tz = ZoneInfo(zone)
    epoch = datetime(1970, 1, 1)
    minutes = []
    for i in range((end - start) // MINUTE):
        at = start + MINUTE * i
        local = at.astimezone(tz).replace(tzinfo=None)
        minutes.append((at, local, fields(local), (local - epoch) // MINUTE))
    return tuple(minutes)


@cache
def windows(zone: str) -> tuple[tuple[datetime, datetime], ...]:
    """2½ hours either side of each change (Troll repeats two hours), and two
    ordinary spans."""
    around = timedelta(hours=2, minutes=30)
    spans = [(change - around, change + around) for change in transitions(zone)]
    for day in (date(2026, 1, 15), date(2026, 7, 1)):
        start = datetime(day.year, day.month, day.day, 22, tzinfo=UTC)
        spans.append((start, start + 2 * around))
    return tuple(spans)


def engine_runs(schedule: CronSchedule, start: datetime, end: datetime) -> list:
    runs = []
    at = schedule.next_after(start - timedelta(seconds=1))
    while at < end:
        runs.append(at)
        at = schedule.next_after(at)
    return runs


# --- random expressions -----------------------------------------------------------


def _value(rng: random.Random, low: int, high: int, names: list[str] | None) -> str:
    value = rng.randint(low, high)
    if names and rng.random() < 0.3:
        first = 1 if names is MONTH_NAMES else 0
        if value - first < len(names):
            return names[value - first]
    return str(value)


def _part(rng: random.Random, low, high, names=None, hot=()) -> str:
    """One comma-separated part in any of cron's forms; `hot` values are likelier."""

    def pick() -> str:
        if hot and rng.random() < 0.5:
            return str(rng.choice(hot))
        return _value(rng, low, high, names)

    form = rng.randrange(8)
    a = pick()
    if form == 0:
        return "*"
    if form == 1:
        return f"*/{rng.randint(1, high - low + 1)}"
    if form in (2, 3):
        return a
    if form == 4:
        return f"{a}-{a}"
    b, c = sorted(
        (
            _number(a, names or [], 1 if names is MONTH_NAMES else 0),
            rng.randint(low, high),
        )
    )
    if form == 5:
        return f"{b}-{c}"
    if form == 6:
        return f"{b}-{c}/{rng.randint(1, 8)}"
    return f"{a}/{rng.randint(1, 9)}"


def _field(rng: random.Random, low, high, names=None, hot=(), star=0.0) -> str:
    if rng.random() < star:
        return "*"
    return ",".join(
        _part(rng, low, high, names, hot) for _ in range(rng.choice((1, 1, 2, 3)))
    )


HOT_MINUTES = (0, 1, 2, 15, 29, 30, 44, 45, 59)
HOT_HOURS = (0, 1, 2, 3, 4, 23)


def random_expression(rng: random.Random, *, days: float, sparse: bool) -> str:
    """Five random fields; `days` is the chance of `*` in each day field, and
    `sparse` keeps minute and hour to a single part (a few runs a day)."""
    if rng.random() < 0.03:
        return rng.choice(list(MACROS))
    if sparse:
        minute = str(rng.choice((*HOT_MINUTES, rng.randint(0, 59))))
        hour = rng.choice(
            ("*/6", "*/8", "1-3", "2", "0", "23", f"{rng.randint(0, 23)}")
        )
    else:
        minute = _field(rng, 0, 59, hot=HOT_MINUTES, star=0.1)
        hour = _field(rng, 0, 23, hot=HOT_HOURS, star=0.15)
    return " ".join(
        (
            minute,
            hour,
            _field(rng, 1, 31, star=days),
            _field(rng, 1, 12, MONTH_NAMES, star=days),
            _field(rng, 0, 7, DAY_NAMES, star=days),
        )
    )


def _refusal(expression: str, zone: str) -> str:
    try:
        parse_schedule({"type": "cron", "cron": expression, "timezone": zone})
    except ValidationError as exc:
        return str(exc)
    return ""


def schedules(
    rng: random.Random, count: int, *, days: float = 0.85, sparse: bool = False
) -> list[tuple[str, str]]:
    """`count` expressions the engine accepts, each in ZONES_EACH random zones.

    The only refusals allowed are expressions that never run (a day the chosen
    months do not have, or only times a DST gap skips).
    """
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(seen) < count:
        expression = random_expression(rng, days=days, sparse=sparse)
        if expression in seen:
            continue
        for zone in rng.sample(ZONES, ZONES_EACH):
            refusal = _refusal(expression, zone)
            assert not refusal or "never" in refusal, (expression, refusal)
            if not refusal:
                pairs.append((expression, zone))
                seen.add(expression)
    return pairs


# --- the tests ----------------------------------------------------------------------


def test_the_windows_hold_every_kind_of_change():
    shifts = set()
    for zone in ZONES:
        tz = ZoneInfo(zone)
        assert len(transitions(zone)) >= 4, zone
        for change in transitions(zone):
            shifts.add(_offset(change, tz) - _offset(change - MINUTE, tz))
    minutes = sorted(shift // MINUTE for shift in shifts)
    assert minutes == [-120, -60, -30, 30, 60, 120]


@pytest.fixture(autouse=True)
def _forget_timelines() -> Iterator[None]:
    """Timelines are shared within a test, not kept for the rest of the run."""
    yield
    timeline.cache_clear()


def _compare(expression: str, zone: str, span: tuple, rng: random.Random) -> None:
    start, end = span
    schedule = CronSchedule(expression, zone)
    # The model starts three hours early: cron's virtual clock must have seen
    # a change's first pass before it can skip the second.
    warm = model_runs(model(expression), timeline(zone, start - WARM_UP, end))
    expected = [run for run in warm if run >= start]
    assert engine_runs(schedule, start, end) == expected, (expression, zone, start)
    # next_after from any instant, not only from a run.
    after = start + timedelta(seconds=rng.randrange((end - start) // SECOND))
    later = [run for run in expected if run > after]
    if later:
        assert schedule.next_after(after) == later[0], (expression, zone, after)


def test_runs_match_the_cronie_model_around_every_dst_change():
    rng = random.Random(14)  # noqa: S311 - seeded so that a failure reproduces
    pairs = schedules(rng, EXPRESSIONS)
    for expression, zone in pairs:
        _compare(expression, zone, rng.choice(windows(zone)), rng)
    assert len({expression for expression, _ in pairs}) == EXPRESSIONS
    assert {zone for _, zone in pairs} == set(ZONES)


@cache
def day_windows(zone: str) -> tuple[tuple[datetime, datetime], ...]:
    """Four days around each change of the first year: every weekday of a week
    is too many minutes, four dates on both sides of a change are enough."""
    return tuple(
        (change - timedelta(days=2), change + timedelta(days=2))
        for change in transitions(zone)
        if change.year == YEARS[0]
    )


def test_day_fields_match_the_cronie_model_over_several_days():
    rng = random.Random(1414)  # noqa: S311 - seeded so that a failure reproduces
    for expression, zone in schedules(rng, DAY_EXPRESSIONS, days=0.2, sparse=True):
        _compare(expression, zone, rng.choice(day_windows(zone)), rng)


def far_model_runs(job: Job, zone: str, after: datetime, count: int) -> list:
    """The next runs in a zone without DST, date by date: cron's matching rule
    needs no minute loop where every wall-clock time exists exactly once."""
    offset = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone)).utcoffset()
    local_after = (after + offset).replace(tzinfo=None)
    day, runs = local_after.date(), []
    while len(runs) < count and day.year < local_after.year + 500:
        if job.day_matches(day):
            for hour, minute in product(sorted(job.hours), sorted(job.minutes)):
                local = datetime(day.year, day.month, day.day, hour, minute)
                if local > local_after and len(runs) < count:
                    runs.append((local - offset).replace(tzinfo=UTC))
        day += timedelta(days=1)
    return runs


def test_far_runs_match_the_model_date_by_date():
    """Rare days (29 February on a Sunday comes every 28 to 40 years), in
    zones without DST whose offsets are not whole hours."""
    rng = random.Random(141414)  # noqa: S311 - seeded so that a failure reproduces
    for i in range(FAR_EXPRESSIONS):
        expression = random_expression(rng, days=0.3, sparse=True)
        zone = ("UTC", "Asia/Kolkata", "Asia/Kathmandu")[i % 3]
        refusal = _refusal(expression, zone)
        assert not refusal or "never matches a real date" in refusal, refusal
        if refusal:
            continue
        after = datetime(2026, 1, 1, tzinfo=UTC) + SECOND * rng.randrange(10**8)
        expected = far_model_runs(model(expression), zone, after, 5)
        actual = CronSchedule(expression, zone).next_runs(5, after)
        assert actual == expected, (expression, zone, after)


def test_croniter_agrees_where_it_reads_cron_as_cron():
    """croniter, as a second opinion, on the expressions it reads as cronie does:
    no `a-a` (it reads the whole field) and day fields that are `*` or contain
    no `*` (it decides AND/OR on other grounds)."""
    croniter = pytest.importorskip("croniter").croniter
    rng = random.Random(1)  # noqa: S311 - seeded so that a failure reproduces
    checked = 0
    while checked < CRONITER_EXPRESSIONS:
        expression = random_expression(rng, days=0.5, sparse=False)
        fields = expression.split()
        if (
            len(fields) != 5
            or re.search(r"(^|,)(\w+)-\2(/|,|$)", ",".join(fields))
            or any(day != "*" and "*" in day for day in (fields[2], fields[4]))
            or "/" in fields[4]
            or _refusal(expression, "UTC")
        ):
            continue
        after = datetime(2026, 1, 1, tzinfo=UTC) + SECOND * rng.randrange(10**7)
        theirs = croniter(expression, after)
        expected = [theirs.get_next(datetime) for _ in range(5)]
        assert CronSchedule(expression).next_runs(5, after) == expected, expression
        checked += 1
