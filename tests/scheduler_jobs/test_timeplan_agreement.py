"""Previews, the simulator and the dispatcher never disagree about a job's runs.

Random schedules, calendars, windows and jitters: the runs a preview lists
(`plan`) are exactly those the dispatcher reaches by calling `following()`
after each run, and each of them passes the dispatcher's re-check at the time
it falls due (`judge_due`).
"""

from datetime import UTC, date, datetime, timedelta
from itertools import islice

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler_jobs.schedules import JobRef, TimeRules, parse_schedule
from scheduler_jobs.schedules.plan import CalendarRule, WindowRule, jitter_offset

T0 = datetime(2026, 3, 20, 7, 13, tzinfo=UTC)
CRONS = ("*/7 * * * *", "0 9,17 * * *", "30 2 * * *", "*/20 2 * * *", "0 0 1 * *")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe")
# Each recurring window's cron and the longest duration the service accepts.
WINDOW_CRONS = (
    ("0 * * * *", 59),
    ("0 2 * * *", 1439),
    ("*/45 * * * *", 14),
    ("30 1 * * mon-fri", 1439),
)


def calendar() -> CalendarRule:
    return CalendarRule(
        name="c",
        country="DE",
        subdivision="BY",
        extra_holidays={date(2026, 3, 25): "Stocktake"},
        extra_workdays={date(2026, 3, 28): "Open Saturday"},
    )


@st.composite
def windows(draw) -> tuple[WindowRule, ...]:
    found = []
    for i in range(draw(st.integers(0, 3))):
        scope = draw(st.sampled_from(("global", "category", "job")))
        common = {
            "name": f"w{i}",
            "reason": "r",
            "scope": scope,
            "category": "diagnostics",
            "job_id": draw(st.sampled_from((1, 2))),
        }
        if draw(st.booleans()):
            start = T0 + timedelta(minutes=draw(st.integers(0, 20000)))
            length = timedelta(minutes=draw(st.integers(1, 3000)))
            found.append(WindowRule(**common, starts_at=start, ends_at=start + length))
        else:
            cron, longest = draw(st.sampled_from(WINDOW_CRONS))
            starts = parse_schedule(
                {"type": "cron", "cron": cron, "timezone": draw(st.sampled_from(ZONES))}
            )
            # At most half the time between starts, so most jobs still run.
            minutes = draw(st.integers(1, min(longest // 2, 180)))
            found.append(
                WindowRule(**common, starts=starts, duration=timedelta(minutes=minutes))
            )
    return tuple(found)


@st.composite
def schedules(draw) -> dict:
    extra = {
        "jitter_seconds": draw(st.sampled_from((0, 0, 59, 600, 3600))),
        "in_blackout": draw(st.sampled_from(("skip", "defer"))),
    }
    if draw(st.booleans()):
        return {
            "type": "interval",
            "every_seconds": draw(st.sampled_from((60, 600, 3600, 86400))),
            **extra,
        }
    rule = draw(st.sampled_from(("", "business_days", "never", "last_business_day")))
    if rule:
        extra |= {"calendar": "c", "calendar_rule": rule}
    return {
        "type": "cron",
        "cron": draw(st.sampled_from(CRONS)),
        "timezone": draw(st.sampled_from(ZONES)),
        **extra,
    }


@settings(max_examples=300, deadline=None)
@given(data=schedules(), held=windows())
def test_the_plans_runs_are_the_dispatchers_runs(data, held):
    schedule = parse_schedule(data)
    rules = TimeRules({"c": calendar()}, held)
    job = JobRef("job one", 1, "diagnostics")

    planned = [
        slot.at
        for slot in islice(schedule.plan(T0, rules=rules, job=job), 300)
        if slot.runs
    ][:25]
    walked = []
    at = schedule.first_run(T0, rules=rules, job=job)
    while at is not None and len(walked) < len(planned):
        walked.append(at)
        at = schedule.following(at, at, rules=rules, job=job)
    assert walked == planned

    offset = jitter_offset(job.name, data["jitter_seconds"])
    for at in planned:
        assert schedule.judge_due(at, rules=rules, job=job).outcome == "runs"
        for window in rules.windows_for(job):
            assert window.covering(at) is None
        assert at - offset >= T0 - timedelta(seconds=1) or data["type"] == "cron"
