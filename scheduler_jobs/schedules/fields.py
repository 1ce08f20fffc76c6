"""Cron expressions read once into field sets, as cronie (Debian's cron) reads them.

The same `CronSpec` validates an expression, puts it into words and computes its
runs, so the three can never disagree about what an expression means.

Reading rules (cronie's, with one extension):

* `a-a` is the single value a; `*` is the whole field; `a-b/s` and `*/s` step
  through the range; names (`jan`, `mon`, and the full English names
  `january`, `friday`, any case) work in values and ranges; `7` and `0` are
  both Sunday; `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
  `@midnight` and `@hourly` stand for their five fields.
* A field "starts with `*`" when its first character is `*` (`*`, `*/2`, `*,5`).
  Day-of-month and day-of-week must both match when either of them starts with
  `*`; otherwise a day matches when either does.
* A job whose minute or hour field starts with `*` is a wildcard job; others are
  fixed-time jobs. The two are treated differently around DST changes.
* Extension: `a/s` (a single start with a step) means from a to the field's last
  value: `5/15` in minutes is `5-59/15`. In day-of-week the week ends on
  Saturday, so `5/2` is Friday only (`7/s` is Sunday). cronie refuses `a/s` and
  older Vixie crons drop the step; this reading keeps expressions saved before
  that rule was written running as they did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("january", "february", "march", "april", "may", "june", "july")
MONTHS += ("august", "september", "october", "november", "december")
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday")
DAYS += ("saturday",)
# Three-letter names as cron has them, and the full English names, any case.
MONTH_NAMES = {name[:3]: i for i, name in enumerate(MONTHS, start=1)}
MONTH_NAMES |= {name: i for i, name in enumerate(MONTHS, start=1)}
DAY_NAMES = {name[:3]: i for i, name in enumerate(DAYS)}
DAY_NAMES |= {name: i for i, name in enumerate(DAYS)}
NAME_FORMS = {
    "month": "month: use 1-12, jan-dec or january-december (any case)",
    "day-of-week": "day: use 0-7 (0 and 7 are Sunday), sun-sat or sunday-saturday "
    "(any case)",
}
_ITEM = re.compile(r"^(?P<range>\*|[^/]+)(?:/(?P<step>.*))?$")
_DIGITS = re.compile(r"^[0-9]{1,4}$")


@dataclass(frozen=True)
class FieldKind:
    """A field's name, its accepted values, and where `a/s` stops."""

    name: str
    low: int
    high: int
    names: dict[str, int]
    step_end: int


KINDS = (
    FieldKind("minute", 0, 59, {}, 59),
    FieldKind("hour", 0, 23, {}, 23),
    FieldKind("day-of-month", 1, 31, {}, 31),
    FieldKind("month", 1, 12, MONTH_NAMES, 12),
    FieldKind("day-of-week", 0, 7, DAY_NAMES, 6),
)


@dataclass(frozen=True)
class Item:
    """One comma-separated part of a field, kept for the words."""

    start: int
    end: int
    step: int
    star: bool

    @property
    def values(self) -> range:
        return range(self.start, self.end + 1, self.step)


@dataclass(frozen=True)
class CronField:
    """One parsed field: its items as written and the values they select."""

    kind: FieldKind
    text: str
    items: tuple[Item, ...]
    values: tuple[int, ...]  # sorted, day-of-week 7 folded into 0

    @property
    def star(self) -> bool:
        """cronie's *_STAR flag: the field's first character is `*`."""
        return self.text.startswith("*")

    @property
    def full(self) -> bool:
        """Every value of the field is selected, however it is written."""
        top = 6 if self.kind.name == "day-of-week" else self.kind.high
        return len(self.values) == top - self.kind.low + 1


@dataclass(frozen=True)
class CronSpec:
    """A validated five-field expression; `text` is its normalised form."""

    text: str
    minute: CronField
    hour: CronField
    day: CronField
    month: CronField
    weekday: CronField

    @property
    def wildcard(self) -> bool:
        """cronie's wildcard job: minute or hour starts with `*`."""
        return self.minute.star or self.hour.star

    @property
    def days_and(self) -> bool:
        """Both day fields must match (either starts with `*`); else either."""
        return self.day.star or self.weekday.star


def _parse_value(text: str, kind: FieldKind) -> int:
    lowered = text.lower()
    if lowered in kind.names:
        return kind.names[lowered]
    # ASCII only: str.isdigit() also accepts digits such as "٣" that cron
    # implementations do not.
    if not _DIGITS.match(text):
        if kind.names and text.isalpha():
            raise ValueError(
                f"{kind.name} field: {text!r} is not a {NAME_FORMS[kind.name]}"
            )
        raise ValueError(f"{kind.name} field: {text!r} is not a number")
    value = int(text)
    if not kind.low <= value <= kind.high:
        raise ValueError(
            f"{kind.name} field: {value} is out of range {kind.low}-{kind.high}"
        )
    return value


def _parse_step(text: str | None, kind: FieldKind) -> int:
    if text is None:
        return 1
    if not _DIGITS.match(text) or int(text) < 1:
        raise ValueError(f"{kind.name} field: step {text!r} must be a whole number ≥ 1")
    return int(text)


def _parse_item(item: str, kind: FieldKind) -> Item:
    match = _ITEM.match(item)
    if not item or not match:
        raise ValueError(f"{kind.name} field: {item!r} is not valid")
    part, step_text = match.group("range"), match.group("step")
    step = _parse_step(step_text, kind)
    if part == "*":
        top = 6 if kind.name == "day-of-week" else kind.high
        return Item(kind.low, top, step, star=True)
    if "-" in part:
        left, _, right = part.partition("-")
        start, end = _parse_value(left, kind), _parse_value(right, kind)
        if start > end:
            raise ValueError(f"{kind.name} field: range {part} runs backwards")
        return Item(start, end, step, star=False)
    start = _parse_value(part, kind)
    end = max(start, kind.step_end) if step_text is not None else start
    return Item(start, end, step, star=False)


def parse_field(text: str, kind: FieldKind) -> CronField:
    """One field; raises ValueError naming the field and the problem."""
    if not text:
        raise ValueError(f"{kind.name} field is empty")
    items = tuple(_parse_item(item, kind) for item in text.split(","))
    values = {value for item in items for value in item.values}
    if kind.name == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return CronField(kind, text, items, tuple(sorted(values)))


def parse_cron(expression: str) -> CronSpec:
    """Validate a five-field cron expression or macro.

    Raises ValueError with a message that names the field at fault.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError("Cron expression is empty")
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in MACROS:
            known = ", ".join(MACROS)
            raise ValueError(f"{text!r} is not a schedule macro; use one of {known}")
        text = MACROS[text.lower()]
    parts = text.split(" ")
    if len(parts) != 5:
        raise ValueError(
            "expected 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    fields = [parse_field(part, kind) for part, kind in zip(parts, KINDS, strict=True)]
    return CronSpec(text, *fields)
