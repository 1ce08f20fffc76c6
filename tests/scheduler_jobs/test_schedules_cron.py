"""Cron semantics as cronie (Debian's cron) has them: the cases reported in issue 14
and the examples of the README's table. Validation, words and runs must agree."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from scheduler_jobs.schedules import CronSchedule, describe_cron, parse_schedule


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cron(expression: str, tz: str = "UTC") -> CronSchedule:
    return parse_schedule({"type": "cron", "cron": expression, "timezone": tz})


def runs_between(schedule: CronSchedule, start: datetime, end: datetime) -> list:
    runs, at = [], schedule.next_after(start - timedelta(seconds=1))
    while at < end:
        runs.append(at)
        at = schedule.next_after(at)
    return runs


def refusal(expression: str, tz: str = "UTC") -> str:
    with pytest.raises(ValidationError) as excinfo:
        cron(expression, tz)
    return excinfo.value.message_dict["cron"][0]


# --- a-a is one value --------------------------------------------------------------


def test_a_range_of_one_value_is_that_value():
    schedule = cron("5-5 * * * *")
    assert schedule.describe() == "At minute 5 past every hour, UTC"
    assert schedule.next_runs(2, utc(2026, 6, 1, 12)) == [
        utc(2026, 6, 1, 12, 5),
        utc(2026, 6, 1, 13, 5),
    ]


def test_mon_mon_runs_on_mondays_and_1_1_on_the_first():
    mondays = cron("0 9 * * mon-mon").next_runs(2, utc(2026, 6, 1, 12))  # a Monday
    assert mondays == [utc(2026, 6, 8, 9), utc(2026, 6, 15, 9)]
    firsts = cron("0 0 1-1 * *").next_runs(2, utc(2026, 6, 1, 12))
    assert firsts == [utc(2026, 7, 1), utc(2026, 8, 1)]


# --- day-of-month and day-of-week --------------------------------------------------


def test_star_step_in_day_of_month_needs_the_weekday_too():
    # `*/2` starts with `*`: odd-numbered days that are Mondays, not odd days
    # or Mondays.
    schedule = cron("0 0 */2 * 1")
    runs = schedule.next_runs(4, utc(2026, 6, 1))
    assert runs == [
        utc(2026, 6, 15),
        utc(2026, 6, 29),
        utc(2026, 7, 13),
        utc(2026, 7, 27),
    ]
    assert all(run.weekday() == 0 and run.day % 2 == 1 for run in runs)
    assert (
        schedule.describe()
        == "At 00:00, on every 2nd day of the month if it is a Monday, UTC"
    )


def test_star_step_in_day_of_week_keeps_the_day_of_month():
    schedule = cron("0 0 13 * */1")
    assert schedule.next_runs(2, utc(2026, 6, 1)) == [
        utc(2026, 6, 13),
        utc(2026, 7, 13),
    ]
    assert schedule.describe() == "At 00:00, on day 13 of the month, UTC"


def test_two_restricted_day_fields_run_on_either():
    schedule = cron("0 0 1 * mon")
    assert schedule.next_runs(3, utc(2026, 6, 2)) == [
        utc(2026, 6, 8),
        utc(2026, 6, 15),
        utc(2026, 6, 22),
    ]
    assert utc(2026, 7, 1) in schedule.next_runs(6, utc(2026, 6, 2))  # a Wednesday
    assert schedule.describe() == (
        "At 00:00, on day 1 of the month and also on Monday, UTC"
    )


def test_a_day_february_never_has_is_refused_even_with_a_star_step_weekday():
    assert "never matches a real date" in refusal("0 0 30 2 */1")
    assert "never matches a real date" in refusal("0 0 31 4,6 *")
    # Both restricted: Mondays in February still come round.
    assert cron("0 0 30 2 mon").next_runs(1, utc(2026, 1, 1)) == [utc(2026, 2, 2)]


def test_29_february_on_a_sunday_is_found_decades_ahead():
    runs = cron("0 0 29 2 */7").next_runs(3, utc(2026, 1, 1))
    assert runs == [utc(2032, 2, 29), utc(2060, 2, 29), utc(2088, 2, 29)]


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "SUN", "7-7", "*/7"])
def test_sunday_is_0_7_or_sun(sunday):
    assert cron(f"0 0 * * {sunday}").next_runs(1, utc(2026, 6, 1)) == [utc(2026, 6, 7)]


# --- a/s ---------------------------------------------------------------------------


def test_a_single_start_with_a_step_runs_to_the_end_of_the_field():
    schedule = cron("5/15 * * * *")
    assert schedule.next_runs(4, utc(2026, 6, 1, 12)) == [
        utc(2026, 6, 1, 12, minute) for minute in (5, 20, 35, 50)
    ]
    assert schedule.describe().startswith("At every 15th minute from 5 through 50")


def test_day_of_week_a_step_ends_on_saturday_in_runs_and_words():
    friday = cron("0 0 * * 5/2")
    assert friday.describe() == "At 00:00, on Friday, UTC"
    runs = friday.next_runs(3, utc(2026, 6, 1))
    assert runs == [utc(2026, 6, 5), utc(2026, 6, 12), utc(2026, 6, 19)]
    assert describe_cron("0 0 * * 1/2") == "At 00:00, on Monday, Wednesday and Friday"
    assert describe_cron("0 0 * * 7/3") == "At 00:00, on Sunday"
    # An explicit range to 7 does reach Sunday, as in cronie.
    assert describe_cron("0 0 * * 5-7/2") == "At 00:00, on Sunday and Friday"


# --- macros ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("macro", "fields"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_macros_are_their_five_fields(macro, fields):
    assert cron(macro, "Europe/Berlin") == cron(fields, "Europe/Berlin")


def test_an_unknown_macro_names_the_ones_there_are():
    assert "'@reboot' is not a schedule macro; use one of @yearly" in refusal("@reboot")


# --- DST: fixed-time and wildcard jobs ---------------------------------------------


def test_hourly_wildcard_skips_the_gap_instead_of_running_at_its_end():
    # 2026-03-29 in Berlin: 02:00 CET becomes 03:00 CEST.
    runs = cron("2 * * * *", "Europe/Berlin").next_runs(3, utc(2026, 3, 28, 23, 30))
    assert runs == [
        utc(2026, 3, 29, 0, 2),
        utc(2026, 3, 29, 1, 2),
        utc(2026, 3, 29, 2, 2),
    ]
    # 01:02 CET, 03:02 CEST, 04:02 CEST: never 03:00 and 03:02.


def test_a_minute_wildcard_with_a_full_hour_range_runs_in_both_passes():
    # 2026-10-25 in Berlin: 02:00-02:59 happens twice (00:00-01:59 UTC).
    schedule = cron("*/15 0-23 * * *", "Europe/Berlin")
    runs = runs_between(schedule, utc(2026, 10, 25, 0), utc(2026, 10, 25, 2))
    assert len(runs) == 8


def test_a_fixed_time_job_runs_once_in_the_repeated_hour_a_wildcard_twice():
    start, end = utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)
    fixed = runs_between(cron("0 2 * * *", "Europe/Berlin"), start, end)
    assert fixed == [utc(2026, 10, 25, 0)]
    hourly = runs_between(cron("0 * * * *", "Europe/Berlin"), start, end)
    assert utc(2026, 10, 25, 0) in hourly
    assert utc(2026, 10, 25, 1) in hourly  # 02:00 CET, the second pass
    assert len(hourly) == 24  # one a real hour, 02:00 included twice


def test_lord_howe_half_hour_gap_and_repeat():
    # 2026-10-04: 02:00 +10:30 becomes 02:30 +11 (15:30 UTC the day before).
    gap = cron("15 2 * * *", "Australia/Lord_Howe").upcoming(2, utc(2026, 10, 3, 12))
    assert [(run.at, run.note) for run in gap] == [
        (utc(2026, 10, 3, 15, 30), "dst-gap"),
        (utc(2026, 10, 4, 15, 15), ""),
    ]
    assert cron("15 * * * *", "Australia/Lord_Howe").next_runs(
        2, utc(2026, 10, 3, 14, 50)
    ) == [utc(2026, 10, 3, 16, 15), utc(2026, 10, 3, 17, 15)]  # 02:15 never happens
    # 2026-04-05: 02:00 +11 becomes 01:30 +10:30 (15:00 UTC the day before).
    repeat = cron("45 1 * * *", "Australia/Lord_Howe").upcoming(2, utc(2026, 4, 4, 12))
    assert [(run.at, run.note) for run in repeat] == [
        (utc(2026, 4, 4, 14, 45), "dst-repeat"),
        (utc(2026, 4, 5, 15, 15), ""),
    ]
    twice = cron("45 * * * *", "Australia/Lord_Howe").next_runs(3, utc(2026, 4, 4, 14))
    assert twice == [
        utc(2026, 4, 4, 14, 45),
        utc(2026, 4, 4, 15, 15),
        utc(2026, 4, 4, 16, 15),
    ]


def test_a_wildcard_job_that_only_matches_skipped_times_is_refused():
    # Sundays at 02:xx at the end of March: always Berlin's spring-forward gap.
    message = refusal("* 2 25-31 3 */7", "Europe/Berlin")
    assert "never runs in Europe/Berlin" in message
    assert cron("* 2 25-31 3 */7", "UTC").next_runs(1, utc(2026, 1, 1)) == [
        utc(2026, 3, 29, 2)
    ]
    # A fixed-time job at the same times runs when each gap ends.
    assert cron("0 2 25-31 3 */7", "Europe/Berlin").next_runs(1, utc(2026, 1, 1)) == [
        utc(2026, 3, 29, 1)
    ]


def test_next_after_from_inside_the_second_pass():
    schedule = cron("*/30 * * * *", "Europe/Berlin")
    # 01:10 UTC is 02:10 CET, the second 02:10 of the night.
    assert schedule.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 1, 30)
    # 00:40 UTC is 02:40 CEST: 02:00 CET comes before 03:00 CET.
    assert schedule.next_after(utc(2026, 10, 25, 0, 40)) == utc(2026, 10, 25, 1, 0)
