"""A cron expression in words, from the same parsed fields that compute its runs.

The words follow the values cron runs, not the text typed: `5-5` reads as minute
5, `0 0 13 * */1` as day 13 only, `5/2` in day-of-week as Friday.
"""

from __future__ import annotations

from collections.abc import Callable

from scheduler_jobs.schedules.fields import CronField, CronSpec, Item

DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
DAY_WORDS += ("Saturday",)
MONTH_WORDS = ("January", "February", "March", "April", "May", "June", "July")
MONTH_WORDS += ("August", "September", "October", "November", "December")
# Up to this many times a day are listed as clock times ("At 09:00 and 17:30").
CLOCK_TIMES = 6


def describe_spec(spec: CronSpec) -> str:
    """ "At 02:00", "Every 15 minutes past hours 9 through 17, on Monday through
    Friday", "At 00:00, on every 2nd day of the month if it is a Monday"."""
    parts = [_time_words(spec.minute, spec.hour)]
    days = _day_words(spec)
    if days:
        parts.append(days)
    if not spec.month.full:
        parts.append("in " + _months(spec.month.values))
    return ", ".join(parts)


def _join(words: list[str], last: str = "and") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def _ordinal(number: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}th" if 10 <= number % 100 <= 20 else f"{number}{suffix}"


def _runs(values: tuple[int, ...]) -> list[tuple[int, int]]:
    """Consecutive values grouped: (1, 2, 3, 5) -> [(1, 3), (5, 5)]."""
    groups: list[tuple[int, int]] = []
    for value in values:
        if groups and groups[-1][1] == value - 1:
            groups[-1] = (groups[-1][0], value)
        else:
            groups.append((value, value))
    return groups


def _values(
    values: tuple[int, ...], render: Callable[[int], str] = str, last: str = "and"
) -> str:
    """Three or more consecutive values read as a range: "1 through 5 and 9"."""
    parts: list[str] = []
    for low, high in _runs(values):
        if high - low >= 2:
            parts.append(f"{render(low)} through {render(high)}")
        else:
            parts.extend(render(value) for value in range(low, high + 1))
    return _join(parts, last)


def _weekdays(values: tuple[int, ...], last: str = "and") -> str:
    return _values(values, DAY_WORDS.__getitem__, last)


def _months(values: tuple[int, ...]) -> str:
    return _values(values, lambda month: MONTH_WORDS[month - 1])


def _item_words(item: Item, unit: str) -> str:
    values = list(item.values)
    if len(values) == 1:
        return str(values[0])
    if item.step == 1:
        return f"{item.start} through {item.end}"
    every = f"every {_ordinal(item.step)} {unit}"
    return every if item.star else f"{every} from {item.start} through {values[-1]}"


def _field_words(field: CronField, unit: str) -> str:
    """ "minute 5", "minutes 0, 15 and 45", "hours 9 through 17", "every 2nd
    hour from 1 through 23": the unit comes first unless the words start with
    "every"."""
    if all(item.step == 1 or len(item.values) == 1 for item in field.items):
        words = _values(field.values)
    else:
        words = _join([_item_words(item, unit) for item in field.items])
    if words.startswith("every"):
        return words
    return f"{unit if len(field.values) == 1 else unit + 's'} {words}"


def _time_words(minute: CronField, hour: CronField) -> str:
    if len(minute.values) * len(hour.values) <= CLOCK_TIMES:
        times = [f"{h:02d}:{m:02d}" for h in hour.values for m in minute.values]
        return "At " + _join(times)
    if minute.full:
        head = "Every minute"
    elif minute.star and len(minute.items) == 1 and 60 % minute.items[0].step == 0:
        # Only a step that divides the hour keeps an even cadence: */7 runs at
        # :56 and again at :00.
        head = f"Every {minute.items[0].step} minutes"
    else:
        head = f"At {_field_words(minute, 'minute')}"
    if not hour.full:
        return f"{head} past {_field_words(hour, 'hour')}"
    return head if head.startswith("Every") else f"{head} past every hour"


def _day_words(spec: CronSpec) -> str:
    day, weekday = spec.day, spec.weekday
    month_days = "" if day.full else f"on {_field_words(day, 'day')} of the month"
    if spec.days_and:
        if weekday.full:
            return month_days
        if not month_days:
            return "on " + _weekdays(weekday.values)
        return f"{month_days} if it is a {_weekdays(weekday.values, last='or')}"
    if day.full or weekday.full:  # either one matches every day
        return ""
    return f"{month_days} and also on {_weekdays(weekday.values)}"
