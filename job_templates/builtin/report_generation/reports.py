"""The two report kinds, each read from the database into the shape renderers take."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Count
from django.db.models.functions import TruncDate

from job_templates.base import TemplateError

# Durations kept per job for percentiles; beyond this a uniform sample is kept.
SAMPLE_SIZE = 20_000
MAX_GROUPS = 50
RUN_STATUSES = ("completed", "failed", "timeout", "exhausted")
FAILED_STATUSES = ("failed", "timeout", "exhausted")


def _percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of unsorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return round(ordered[rank - 1], 3)


def execution_summary(since, now) -> dict[str, Any]:
    """Per job over the window: runs, success rate, failures, p50/p95 duration."""
    try:
        execution_model = apps.get_model("executions", "JobExecution")
    except LookupError:
        raise TemplateError("The executions app is not installed.") from None
    stats = _tally_executions(execution_model, since, now)
    table = [_summary_row(job_name, stats[job_name]) for job_name in sorted(stats)]
    runs = sum(r["runs"] for r in table)
    completed = sum(r["completed"] for r in table)
    return {
        "title": "Execution summary",
        "since": since,
        "until": now,
        "columns": [
            "job",
            "runs",
            "completed",
            "failed",
            "skipped",
            "success_rate",
            "p50_seconds",
            "p95_seconds",
        ],
        "rows": table,
        "chart": {
            "labels": [r["job"] for r in table],
            "series": [
                ("completed", "#2e7d32", [r["completed"] for r in table]),
                ("failed", "#c62828", [r["failed"] for r in table]),
            ],
        },
        "summary": {
            "jobs": len(table),
            "runs": runs,
            "completed": completed,
            "failed": runs - completed,
            "success_rate": round(completed / runs * 100, 1) if runs else None,
        },
    }


def _tally_executions(
    execution_model: type[models.Model], since, now
) -> dict[str, dict[str, Any]]:
    """Counts per job in one streamed pass, so a window of millions of runs never
    sits in memory; durations are kept as a bounded sample for the percentiles."""
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"runs": 0, "completed": 0, "failed": 0, "skipped": 0, "durations": []}
    )
    sampler = random.Random(0)  # noqa: S311 - sampling, not security
    rows = (
        execution_model._base_manager.filter(created_at__gte=since, created_at__lt=now)
        .order_by()
        .values_list("job_name", "status", "duration_seconds")
    )
    for job_name, status, duration in rows.iterator(chunk_size=5000):
        entry = stats[job_name]
        if status in ("skipped", "cancelled"):
            entry["skipped"] += 1
            continue
        if status not in RUN_STATUSES:
            continue
        entry["runs"] += 1
        if status == "completed":
            entry["completed"] += 1
        else:
            entry["failed"] += 1
        if duration is not None:
            _sample_duration(entry, duration, sampler)
    return stats


def _sample_duration(
    entry: dict[str, Any], duration: float, sampler: random.Random
) -> None:
    """Reservoir sampling: past SAMPLE_SIZE every duration still has an equal
    chance to be kept, so the percentiles stay unbiased at a fixed memory cost."""
    durations = entry["durations"]
    seen = entry.setdefault("seen", 0) + 1
    entry["seen"] = seen
    if len(durations) < SAMPLE_SIZE:
        durations.append(duration)
    else:
        slot = sampler.randrange(seen)
        if slot < SAMPLE_SIZE:
            durations[slot] = duration


def _summary_row(job_name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One job's line; a job with only skipped runs has no success rate rather
    than 0%, which would read as all failed."""
    runs = entry["runs"]
    return {
        "job": job_name,
        "runs": runs,
        "completed": entry["completed"],
        "failed": entry["failed"],
        "skipped": entry["skipped"],
        "success_rate": round(entry["completed"] / runs * 100, 1) if runs else None,
        "p50_seconds": _percentile(entry["durations"], 0.50),
        "p95_seconds": _percentile(entry["durations"], 0.95),
    }


def model_counts(
    model: type[models.Model],
    group: models.Field,
    day_field: models.Field,
    since,
    now,
) -> dict[str, Any]:
    """Rows of `model` in the window, by `group` value and by day."""
    totals, per_day = _count_by_value_and_day(model, group, day_field, since, now)
    days = [
        (since + timedelta(days=i)).date()
        for i in range((now.date() - since.date()).days + 1)
    ]
    day_totals = [sum(per_day[v].get(d, 0) for v in totals) for d in days]
    return {
        "title": f"{model._meta.label} by {group.name} and day",
        "since": since,
        "until": now,
        "columns": ["value", "total", *(d.isoformat() for d in days)],
        "rows": _count_rows(totals, per_day, days),
        "chart": {
            "labels": [d.isoformat() for d in days],
            "series": [("rows", "#1565c0", day_totals)],
        },
        "summary": {
            "collection": model._meta.label,
            "group_by": group.name,
            "total": sum(totals.values()),
            "groups": len(totals),
            "days": len(days),
        },
    }


def _count_by_value_and_day(
    model: type[models.Model],
    group: models.Field,
    day_field: models.Field,
    since,
    now,
) -> tuple[dict[Any, int], dict[Any, dict[date, int]]]:
    """Counted by the database, one row per value and day, so the report never
    loads the rows themselves; a date field's window is inclusive of both days,
    as a date has no time to cut at."""
    window = {f"{day_field.attname}__gte": since, f"{day_field.attname}__lt": now}
    if not isinstance(day_field, models.DateTimeField):
        window = {
            f"{day_field.attname}__gte": since.date(),
            f"{day_field.attname}__lte": now.date(),
        }
    day = (
        TruncDate(day_field.attname)
        if isinstance(day_field, models.DateTimeField)
        else models.F(day_field.attname)
    )
    rows = (
        model._base_manager.filter(**window)
        .annotate(report_day=day)
        .values_list(group.attname, "report_day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    totals: dict[Any, int] = defaultdict(int)
    per_day: dict[Any, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for value, when, n in rows.iterator():
        totals[value] += n
        per_day[value][when] += n
    return totals, per_day


def _count_rows(
    totals: dict[Any, int], per_day: dict[Any, dict[date, int]], days: list[date]
) -> list[dict[str, Any]]:
    """The MAX_GROUPS largest values, then one line for the rest, so a field with
    thousands of values still gives a readable table."""
    ranked = sorted(totals, key=lambda v: (-totals[v], str(v)))
    shown, rest = ranked[:MAX_GROUPS], ranked[MAX_GROUPS:]
    table = []
    for value in shown:
        row = {"value": value, "total": totals[value]}
        row.update({d.isoformat(): per_day[value].get(d, 0) for d in days})
        table.append(row)
    if rest:
        row = {
            "value": f"({len(rest)} other values)",
            "total": sum(totals[v] for v in rest),
        }
        row.update(
            {d.isoformat(): sum(per_day[v].get(d, 0) for v in rest) for d in days}
        )
        table.append(row)
    return table
