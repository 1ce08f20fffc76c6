"""Full English day and month names in cron fields, any case."""

import re
from datetime import UTC, datetime

import pytest

from scheduler_jobs.schedules import describe_cron, parse_cron, parse_schedule


@pytest.mark.parametrize(
    ("full", "short"),
    [
        ("0 9 * * FRIDAY", "0 9 * * fri"),
        ("0 9 * * monday-Friday", "0 9 * * mon-fri"),
        ("0 9 * * Sunday,saturday", "0 9 * * 0,6"),
        ("0 0 1 January *", "0 0 1 jan *"),
        ("0 0 1 march-MAY *", "0 0 1 3-5 *"),
        ("0 0 1 september,december *", "0 0 1 sep,dec *"),
    ],
)
def test_full_names_mean_what_the_short_ones_do(full, short):
    assert parse_cron(full).weekday.values == parse_cron(short).weekday.values
    assert parse_cron(full).month.values == parse_cron(short).month.values
    assert describe_cron(full) == describe_cron(short)
    after = datetime(2026, 7, 1, tzinfo=UTC)
    runs = parse_schedule({"type": "cron", "cron": full}).next_runs(3, after)
    assert runs == parse_schedule({"type": "cron", "cron": short}).next_runs(3, after)


def test_friday_reads_as_friday():
    assert describe_cron("0 9 * * FRIDAY") == "At 09:00, on Friday"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "0 9 * * fryday",
            "day-of-week field: 'fryday' is not a day: use 0-7 (0 and 7 are Sunday), "
            "sun-sat or sunday-saturday (any case)",
        ),
        (
            "0 0 1 janvier *",
            "month field: 'janvier' is not a month: use 1-12, jan-dec or "
            "january-december (any case)",
        ),
        ("fri * * * *", "minute field: 'fri' is not a number"),
    ],
)
def test_an_unknown_name_lists_the_accepted_forms(expression, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_cron(expression)
