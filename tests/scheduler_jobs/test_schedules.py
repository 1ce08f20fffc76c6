from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from scheduler_jobs.schedules import (
    CronSchedule,
    IntervalSchedule,
    describe_interval,
    parse_schedule,
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cron(expression: str, tz: str = "UTC") -> CronSchedule:
    return parse_schedule({"type": "cron", "cron": expression, "timezone": tz})


# --- validation messages -------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        (
            "* * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week), got 4",
        ),
        ("x * * * *", "minute field: 'x' is not a number"),
        ("30-10 * * * *", "minute field: range 30-10 runs backwards"),
        ("*/0 * * * *", "minute field: step '0' must be a whole number ≥ 1"),
        ("0 0 31 2 *", "never matches a real date"),
        ("", "Cron expression is empty"),
    ],
)
def test_invalid_cron_names_the_field_and_the_problem(expression, message):
    with pytest.raises(ValidationError) as excinfo:
        cron(expression)
    assert message in excinfo.value.message_dict["cron"][0]


def test_unknown_time_zone_is_refused_with_an_example():
    with pytest.raises(ValidationError) as excinfo:
        cron("0 2 * * *", "Mars/Olympus")
    assert (
        "'Mars/Olympus' is not an IANA time zone"
        in excinfo.value.message_dict["timezone"][0]
    )


def test_interval_below_minimum_is_refused(settings):
    settings.SCHEDULER_MIN_INTERVAL_SECONDS = 10
    with pytest.raises(ValidationError) as excinfo:
        parse_schedule({"type": "interval", "every_seconds": 5})
    assert "at least 10 seconds" in excinfo.value.message_dict["every_seconds"][0]


@pytest.mark.parametrize("bad", [None, "60", 1.5, True, []])
def test_interval_needs_whole_seconds(bad):
    with pytest.raises(ValidationError) as excinfo:
        parse_schedule({"type": "interval", "every_seconds": bad})
    assert "every_seconds" in excinfo.value.message_dict


def test_unknown_schedule_type_and_fields_are_refused():
    with pytest.raises(ValidationError) as excinfo:
        parse_schedule({"type": "weekly"})
    assert "type" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        parse_schedule({"type": "interval", "every_seconds": 60, "cron": "* * * * *"})
    assert "cron" in excinfo.value.message_dict


def test_names_and_macros_are_accepted_and_normalised():
    assert cron("0 9 * jan-mar mon-fri").expression == "0 9 * jan-mar mon-fri"
    assert cron("@daily").expression == "0 0 * * *"
    assert cron("  0   2 * * * ").expression == "0 2 * * *"


# --- descriptions ----------------------------------------------------------------


def test_cron_description_reads_like_a_sentence_with_its_zone():
    assert cron("0 2 * * *", "Europe/Berlin").describe() == "At 02:00, Europe/Berlin"
    assert "every 15 minutes" in cron("*/15 * * * *").describe().lower()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "Every minute"),
        (600, "Every 10 minutes"),
        (3600, "Every hour"),
        (7200, "Every 2 hours"),
        (86400, "Every day"),
        (90, "Every 90 seconds"),
    ],
)
def test_interval_description(seconds, text):
    assert describe_interval(seconds) == text


# --- next runs --------------------------------------------------------------------


@time_machine.travel(utc(2026, 6, 1, 12, 0, 30), tick=False)
def test_next_runs_default_to_now_and_are_strictly_increasing():
    runs = cron("*/15 * * * *").next_runs(4)
    assert runs == [
        utc(2026, 6, 1, 12, 15),
        utc(2026, 6, 1, 12, 30),
        utc(2026, 6, 1, 12, 45),
        utc(2026, 6, 1, 13, 0),
    ]


def test_daily_cron_runs_at_local_wall_clock_time():
    berlin = cron("0 2 * * *", "Europe/Berlin")
    # Summer (CEST, UTC+2) and winter (CET, UTC+1).
    assert berlin.next_after(utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 0, 0)
    assert berlin.next_after(utc(2026, 12, 1, 12)) == utc(2026, 12, 2, 1, 0)


@pytest.mark.parametrize(
    ("tz", "after", "expected_first", "expected_second"),
    [
        # 2026-03-29: Berlin skips 02:00-03:00; 02:30 does not exist.
        (
            "Europe/Berlin",
            utc(2026, 3, 28, 12),
            utc(2026, 3, 29, 1, 0),
            utc(2026, 3, 30, 0, 30),
        ),
        # 2026-03-08: New York skips 02:00-03:00.
        (
            "America/New_York",
            utc(2026, 3, 7, 12),
            utc(2026, 3, 8, 7, 0),
            utc(2026, 3, 9, 6, 30),
        ),
    ],
)
def test_spring_forward_gap_runs_once_at_the_end_of_the_gap(
    tz, after, expected_first, expected_second
):
    schedule = cron("30 2 * * *", tz)
    upcoming = schedule.upcoming(2, after)
    assert [run.at for run in upcoming] == [expected_first, expected_second]
    assert upcoming[0].note == "dst-gap"
    assert upcoming[1].note == ""


def test_several_matches_inside_one_gap_run_only_once():
    runs = cron("0,20,40 2 * * *", "Europe/Berlin").next_runs(3, utc(2026, 3, 28, 12))
    assert runs == [
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 0),
        utc(2026, 3, 30, 0, 20),
    ]


def test_a_wildcard_job_does_not_run_for_times_in_the_gap():
    # The minute field starts with *: 02:00, 02:20 and 02:40 simply do not exist.
    runs = cron("*/20 2 * * *", "Europe/Berlin").next_runs(3, utc(2026, 3, 28, 12))
    assert runs == [
        utc(2026, 3, 30, 0, 0),
        utc(2026, 3, 30, 0, 20),
        utc(2026, 3, 30, 0, 40),
    ]


@pytest.mark.parametrize(
    ("tz", "after", "first_occurrence", "next_day"),
    [
        # 2026-10-25: Berlin repeats 02:00-03:00 (CEST then CET).
        (
            "Europe/Berlin",
            utc(2026, 10, 24, 12),
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 26, 1, 30),
        ),
        # 2026-11-01: New York repeats 01:00-02:00 (EDT then EST).
        (
            "America/New_York",
            utc(2026, 10, 31, 12),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 2, 6, 30),
        ),
    ],
)
def test_fall_back_repeated_time_runs_once_at_its_first_occurrence(
    tz, after, first_occurrence, next_day
):
    hour = "2" if tz == "Europe/Berlin" else "1"
    upcoming = cron(f"30 {hour} * * *", tz).upcoming(2, after)
    assert [run.at for run in upcoming] == [first_occurrence, next_day]
    assert upcoming[0].note == "dst-repeat"


def test_wildcard_hour_keeps_its_cadence_through_the_repeated_hour():
    runs = cron("*/30 * * * *", "Europe/Berlin").next_runs(6, utc(2026, 10, 25, 0, 10))
    # 02:30 CEST, 02:00 CET, 02:30 CET, 03:00 CET … every 30 real minutes.
    assert runs == [
        utc(2026, 10, 25, 0, 30) + timedelta(minutes=30 * i) for i in range(6)
    ]


@time_machine.travel(utc(2026, 3, 29, 0, 59, 59), tick=False)
def test_frozen_clock_just_before_spring_forward():
    assert cron("30 2 * * *", "Europe/Berlin").next_runs(1) == [utc(2026, 3, 29, 1, 0)]


# --- intervals ----------------------------------------------------------------------


def test_interval_following_keeps_phase_and_skips_missed_slots():
    schedule = IntervalSchedule(60)
    slot = utc(2026, 1, 1, 0, 0)
    assert schedule.following(slot, utc(2026, 1, 1, 0, 0, 0, 400000)) == utc(
        2026, 1, 1, 0, 1
    )
    # Beat was down for 5 slots: next one is the first after now, in phase.
    assert schedule.following(slot, utc(2026, 1, 1, 0, 5, 30)) == utc(2026, 1, 1, 0, 6)
    assert schedule.following(slot, utc(2026, 1, 1, 0, 5)) == utc(2026, 1, 1, 0, 6)


def test_interval_next_runs():
    assert IntervalSchedule(3600).next_runs(2, utc(2026, 1, 1)) == [
        utc(2026, 1, 1, 1),
        utc(2026, 1, 1, 2),
    ]
