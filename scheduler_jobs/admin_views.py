"""Small admin views and display helpers shared by the job and execution admins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from scheduler_jobs.forms import UNIT_SECONDS, service_error_items
from scheduler_jobs.schedules import parse_schedule

DST_NOTES = {
    "dst-gap": "falls in the daylight-saving gap (the clock jumps forward): it runs "
    "when the gap ends",
    "dst-repeat": "falls in the daylight-saving repeat (the clock goes back): it runs "
    "once, at the first occurrence",
}


def schedule_from_query(query: Any) -> dict[str, Any]:
    """The schedule JSON from the builder's fields (schedule_type, cron, …)."""
    if query.get("schedule_type") == "interval":
        unit = query.get("every_unit") or "minutes"
        try:
            every = int(query.get("every") or "")
            seconds: Any = every * UNIT_SECONDS.get(unit, 1)
        except ValueError:
            seconds = query.get("every")
        return {"type": "interval", "every_seconds": seconds}
    return {
        "type": "cron",
        "cron": query.get("cron", ""),
        "timezone": query.get("timezone") or "UTC",
    }


def schedule_preview(request: HttpRequest) -> JsonResponse:
    """The schedule in words and its next five runs, for the wizard's live feedback.

    Always answers 200 with {"valid": false, "errors": {field: [..]}} for bad
    input: the page shows the message beside the field as the user types.
    """
    schedule = schedule_from_query(request.GET)
    try:
        parsed = parse_schedule(schedule)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for key, message in service_error_items(exc):
            field = {"every_seconds": "every", "__all__": "cron"}.get(key, key)
            errors.setdefault(field, []).append(message)
        return JsonResponse({"valid": False, "errors": errors})
    runs, warnings = describe_runs(parsed, schedule.get("timezone") or "UTC")
    return JsonResponse(
        {
            "valid": True,
            "description": parsed.describe(),
            "runs": runs,
            "warnings": warnings,
        }
    )


def describe_runs(
    parsed: Any, tz_name: str, n: int = 5
) -> tuple[list[dict], list[str]]:
    """The next `n` runs in the job's time zone, and a warning per DST-moved run."""
    tz = ZoneInfo(tz_name)
    now = datetime.now(UTC)
    runs = []
    warnings = []
    for run in parsed.upcoming(n, after=now):
        local = run.at.astimezone(tz)
        runs.append(
            {
                "at": run.at.isoformat(),
                "local": local.strftime("%a %d %b %Y, %H:%M %Z"),
                "utc": run.at.strftime("%Y-%m-%d %H:%M UTC"),
                "relative": "in " + timeuntil(run.at, now).replace("\xa0", " "),
                "note": run.note,
            }
        )
        if run.note:
            warnings.append(f"The run on {local:%a %d %b %Y} {DST_NOTES[run.note]}.")
    return runs, warnings


def relative_time(value: datetime | None, *, empty: str = "—") -> str:
    """ "in 5 minutes" / "3 hours ago", with the exact UTC time on hover."""
    if value is None:
        return format_html('<span class="ds-quiet">{}</span>', empty)
    now = timezone.now()
    if abs((value - now).total_seconds()) < 60:
        text = "just now" if value <= now else "in under a minute"
    elif value > now:
        text = "in " + timeuntil(value, now, depth=1)
    else:
        text = timesince(value, now, depth=1) + " ago"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        text.replace("\xa0", " "),
    )


def summary_items(result: Any) -> list[tuple[str, Any, bool]]:
    """(label, value, is_structured) rows that make a result dict readable."""
    if not isinstance(result, dict):
        return []
    rows = []
    for key, value in result.items():
        label = str(key).replace("_", " ").capitalize()
        structured = isinstance(value, dict | list)
        shown = json.dumps(value, indent=2, ensure_ascii=False) if structured else value
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown = f"{value:,}".replace(",", "\u202f")
        rows.append((label, shown, structured))
    return rows
