"""Small admin views and display helpers shared by the job and execution admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from scheduler_jobs.forms import UNIT_SECONDS, service_error_items
from scheduler_jobs.forms.schedule import time_plan_data
from scheduler_jobs.labels import format_datetime, result_rows, zone
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
        schedule = {"type": "interval", "every_seconds": seconds}
    else:
        schedule = {
            "type": "cron",
            "cron": query.get("cron", ""),
            "timezone": query.get("timezone") or "UTC",
        }
    plan = {key: query.get(key) for key in PLAN_KEYS}
    jitter = plan.get("jitter_seconds")
    if jitter:
        # A number when it is one; the service names the field when it is not.
        plan["jitter_seconds"] = int(jitter) if str(jitter).isdigit() else jitter
    return {**schedule, **time_plan_data(plan)}


PLAN_KEYS = ("calendar", "calendar_rule", "jitter_seconds", "in_blackout")


def schedule_preview(request: HttpRequest) -> JsonResponse:
    """The schedule in words and its next five slots, for the live feedback.

    The slots come from the time engine as the dispatcher will see them:
    calendars, blackout windows and the job's jitter applied, skipped slots
    listed with their reason. Always answers 200 with {"valid": false,
    "errors": {field: [..]}} for bad input: the page shows the message beside
    the field as the user types.
    """
    schedule = schedule_from_query(request.GET)
    try:
        parsed = parse_schedule(schedule)
        runs, warnings = describe_slots(
            schedule,
            job_name=request.GET.get("job_name") or "",
            template_category=request.GET.get("category") or "",
            job_id=_job_id(request.GET.get("job_id")),
        )
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for key, message in service_error_items(exc):
            field = {"every_seconds": "every", "__all__": "cron"}.get(key, key)
            errors.setdefault(field, []).append(message)
        return JsonResponse({"valid": False, "errors": errors})
    return JsonResponse(
        {
            "valid": True,
            "description": parsed.describe(),
            "runs": runs,
            "warnings": warnings,
        }
    )


def _job_id(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


def describe_slots(
    schedule: dict[str, Any],
    *,
    job_name: str,
    template_category: str = "",
    job_id: int | None = None,
    n: int = 5,
) -> tuple[list[dict], list[str]]:
    """The next `n` slots in the job's time zone, and a warning per DST-moved run.

    Each slot says whether it runs, is skipped or deferred and why, and when
    the job's jitter moves it, the planned time it comes from. "local" reads
    like every other time in the admin (labels.format_datetime), with the
    weekday in front: a schedule is chosen by the day it falls on.
    """
    from scheduler_jobs.services.timeplan import slot_preview

    tz_name = schedule.get("timezone") or "UTC"
    tz = zone(tz_name)
    now = datetime.now(UTC)
    slots = slot_preview(
        schedule,
        job_name=job_name,
        template_category=template_category,
        job_id=job_id,
        n=n,
        after=now,
    )
    runs = []
    warnings = []
    for slot in slots:
        local = slot.at.astimezone(tz)
        seconds = slot.at.second != 0  # a jittered time is shown to the second
        runs.append(
            {
                "at": slot.at.isoformat(),
                "local": f"{local:%a} "
                + format_datetime(slot.at, tz_name, seconds=seconds),
                "utc": format_datetime(slot.at, seconds=seconds),
                "relative": "in " + timeuntil(slot.at, now).replace("\xa0", " "),
                "note": slot.note,
                "outcome": slot.outcome,
                "reason": slot.reason,
                "planned": format_datetime(slot.nominal, tz_name)
                if slot.at != slot.nominal
                else "",
            }
        )
        if slot.note and slot.outcome != "skipped":
            warnings.append(f"The run on {local:%a %Y-%m-%d} {DST_NOTES[slot.note]}.")
    return runs, warnings


def relative_time(
    value: datetime | None, *, empty: str = "—", zone_name: str | None = None
) -> str:
    """ "in 5 minutes" / "3 hours ago", with the exact time on hover.

    The exact time is in `zone_name` (the job's zone) when given, else UTC, in
    the admin's one date-time format.
    """
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
        format_datetime(value, zone_name),
        text.replace("\xa0", " "),
    )


def summary_items(result: Any) -> list[tuple[str, Any, bool]]:
    """(label, value, is_structured) rows that make a result dict readable.

    Labels and values in plain words (scheduler_jobs.labels): "Batches it would
    take", "No", "none", never the raw key or a Python literal.
    """
    return result_rows(result)
