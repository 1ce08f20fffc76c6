"""Plain words for what the admin shows: keys, codes, values, counts and times.

Templates, services and the database speak in keys ("would_batches",
"retry_pending", "run_once", true, ""), which is right for the API and wrong
for a person reading a review or a result page. This module turns them into
labels in one place, so every page says the same thing the same way. It holds
no rules: it only names what the rest of the project decided.

Times: one format everywhere, "2026-12-01 14:34 UTC" (ISO date, 24-hour clock,
the zone's abbreviation), in the job's time zone where a job has one, so a job
set for 02:30 in Berlin is shown at 02:30 CET, not 01:30 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler_jobs.spec import NotificationEvent

DATETIME_FORMAT = "%Y-%m-%d %H:%M"
DATETIME_SECONDS_FORMAT = "%Y-%m-%d %H:%M:%S"
EMPTY = "—"

# --- counts -------------------------------------------------------------------


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 retry", "2 retries": no "(s)" and no "1 retries"."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"


# --- times --------------------------------------------------------------------


def zone(name: str | None) -> tzinfo:
    """The named zone, or UTC when none or an unknown one is given."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def job_zone_name(job: Any) -> str:
    """The zone a job's times are read in: its cron zone; UTC for intervals."""
    schedule = getattr(job, "schedule", None) or {}
    if isinstance(schedule, dict) and schedule.get("type") == "cron":
        return str(schedule.get("timezone") or "UTC")
    return "UTC"


def zone_abbreviation(value: datetime) -> str:
    """CET, EDT, UTC; "UTC+04" where the zone has no letters for itself."""
    name = value.tzname() or "UTC"
    if name[:1] in "+-":
        return f"UTC{name}"
    return name


def format_datetime(
    value: datetime | None, zone_name: str | None = None, *, seconds: bool = False
) -> str:
    """ "2026-12-01 14:34 UTC": the one date-time format of the admin."""
    if value is None:
        return EMPTY
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone(zone_name))
    pattern = DATETIME_SECONDS_FORMAT if seconds else DATETIME_FORMAT
    return f"{local.strftime(pattern)} {zone_abbreviation(local)}"


def format_log_time(value: str, zone_name: str | None = None) -> str:
    """A log line's ISO timestamp as "14:34:05.123 CET" (the day is the run's)."""
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value or "")
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone(zone_name))
    millis = local.microsecond // 1000
    return f"{local:%H:%M:%S}.{millis:03d} {zone_abbreviation(local)}"


def format_duration(seconds: float | None) -> str:
    """ "350 ms", "4.2 s", "3.5 min"."""
    if seconds is None:
        return EMPTY
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def format_seconds(seconds: Any) -> str:
    """A setting in seconds read as time: "30 minutes", "90 seconds", "2 hours"."""
    try:
        total = int(seconds)
    except (TypeError, ValueError):
        return EMPTY
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if total >= size and total % size == 0:
            return plural(total // size, unit)
    return plural(total, "second")


# --- values -------------------------------------------------------------------


def format_number(value: int | float) -> str:
    """12 345 with a thin space, the grouping that reads the same in every locale."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}".rstrip("0").rstrip(".").replace(",", "\u202f")
    return f"{int(value):,}".replace(",", "\u202f")


def format_bytes(value: Any) -> str:
    """1 536 → "1.5 kB"."""
    try:
        size = float(value)
    except (TypeError, ValueError):
        return plain_value(value)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


ENUM_LABELS = {
    "django_json": "Django JSON dump",
    "pg_dump": "pg_dump (PostgreSQL)",
    "execution_summary": "Execution summary",
    "model_counts": "Rows per table",
    "csv": "CSV",
    "json": "JSON",
    "jsonl": "JSON Lines",
    "html": "HTML",
}


def plain_value(value: Any) -> str:
    """A value as words: Yes/No, "not set", "none", lists joined, no JSON quotes."""
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if value is None or value == "":
        return "not set"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return ENUM_LABELS.get(value, value)
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        if all(not isinstance(item, dict | list) for item in value):
            return ", ".join(plain_value(item) for item in value)
    if isinstance(value, dict) and not value:
        return "none"
    if isinstance(value, dict) and all(
        not isinstance(item, dict | list) for item in value.values()
    ):
        return "; ".join(f"{key}: {plain_value(item)}" for key, item in value.items())
    return json.dumps(value, indent=2, ensure_ascii=False)


def is_structured(value: Any) -> bool:
    """Whether plain_value keeps it as JSON (shown in a <pre>)."""
    return isinstance(value, dict | list) and plain_value(value).startswith(("{", "["))


def humanize_key(key: str) -> str:
    """The last resort for a key with no label: "max_rows" → "Max rows"."""
    return str(key).replace("_", " ").strip().capitalize()


# --- results ------------------------------------------------------------------

RESULT_LABELS = {
    # shared
    "dry_run": "Dry run",
    "collection": "Table",
    "path": "File",
    "bytes": "Size",
    "ext": "File type",
    "format": "Format",
    "job": "Job",
    "summary": "Summary",
    "kind": "Report",
    # database cleanup
    "matched": "Rows matching",
    "deleted": "Rows deleted",
    "batches": "Batches",
    "capped": "Stopped at the row limit",
    "max_rows": "Row limit per run",
    "remaining": "Rows left for the next run",
    "stopped_early": "Stopped early",
    "would_delete": "Rows it would delete",
    "would_batches": "Batches it would take",
    "cascade": "Related rows deleted with them",
    "total_with_cascade": "Rows in all, related rows included",
    "blocked": "Rows kept by protected relations",
    # backup
    "method": "Method",
    "kept": "Backups kept",
    "models": "Tables",
    "tables": "Tables",
    "objects": "Rows saved",
    "restore": "How to restore",
    "rotated": "Old backups removed",
    "would_rotate": "Old backups it would remove",
    "verified": "Checked after writing",
    # data export
    "rows": "Rows",
    "compressed": "Gzip",
    "fields": "Fields",
    # email
    "sent": "Emails sent",
    "would_send": "Emails it would send",
    "subject": "Subject",
    "body_preview": "Message (start)",
    "attachments": "Attachments",
    "message_ids": "Message IDs",
    # heartbeat
    "message": "Message",
    "host": "Worker",
    "time": "Time",
    "slept_seconds": "Waited",
    # webhook
    "url": "URL",
    "final_url": "Final URL",
    "status": "HTTP status",
    "latency_ms": "Response time",
    "redirects": "Redirects followed",
    "content_type": "Response type",
    "headers": "Response headers",
    "body": "Response body",
    "addresses": "Addresses contacted",
    # report
    "emailed": "Emailed to",
    "csv": "CSV",
    "html": "HTML",
    "json": "JSON",
}


def result_label(key: str) -> str:
    return RESULT_LABELS.get(str(key)) or humanize_key(key)


def result_value(key: str, value: Any) -> str:
    """A result value as words, with the unit its key implies."""
    if key == "bytes":
        return format_bytes(value)
    if key == "latency_ms" and isinstance(value, int | float):
        return f"{format_number(round(value))} ms"
    if key == "slept_seconds" and isinstance(value, int | float):
        return format_duration(float(value))
    if key == "time" and isinstance(value, str):
        try:
            return format_datetime(datetime.fromisoformat(value), seconds=True)
        except ValueError:
            return value
    return plain_value(value)


def result_rows(result: Any) -> list[tuple[str, str, bool]]:
    """(label, value, is_structured) rows that make a result dict readable."""
    if not isinstance(result, dict):
        return []
    return [
        (result_label(key), result_value(key, value), is_structured(value))
        for key, value in result.items()
    ]


# --- parameters ---------------------------------------------------------------


def parameter_rows(
    schema: dict[str, Any] | None, parameters: dict[str, Any] | None
) -> list[tuple[str, str, bool]]:
    """(title, value, is_structured) per parameter, titled as the form titles it.

    `parameters` are already masked where secret; an empty secret reads
    "not set".
    """
    properties = (schema or {}).get("properties") or {}
    rows = []
    for key, value in (parameters or {}).items():
        title = (properties.get(key) or {}).get("title") or humanize_key(key)
        rows.append((title, plain_value(value), is_structured(value)))
    return rows


# --- codes of the job and its runs ---------------------------------------------


def choice_label(choices: Any, value: str) -> str:
    """The label of a TextChoices value; the value itself if unknown."""
    return dict(choices.choices).get(value, humanize_key(value) if value else EMPTY)


EVENT_LABELS = dict(NotificationEvent.choices)


def event_labels(events: list[str] | None) -> str:
    return ", ".join(EVENT_LABELS.get(e, humanize_key(e)) for e in events or [])


def execution_title(execution: Any) -> str:
    """ "Run #5 of Nightly cleanup", the name an execution goes by on its page."""
    return f"Run #{execution.pk} of {execution.job_name}"


def execution_subtitle(execution: Any) -> str:
    """ "Retry pending, attempt 2" rather than "(retry_pending, attempt 2)"."""
    status = execution.get_status_display()
    text = f"{status}, attempt {execution.attempt}"
    return f"{text} (dry run)" if execution.dry_run else text
