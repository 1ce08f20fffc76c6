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
            durations = entry["durations"]
            seen = entry.setdefault("seen", 0) + 1
            entry["seen"] = seen
            if len(durations) < SAMPLE_SIZE:
                durations.append(duration)
            else:
                slot = sampler.randrange(seen)
                if slot < SAMPLE_SIZE:
                    durations[slot] = duration
    table = []
    for job_name in sorted(stats):
        entry = stats[job_name]
        runs = entry["runs"]
        table.append(
            {
                "job": job_name,
                "runs": runs,
                "completed": entry["completed"],
                "failed": entry["failed"],
                "skipped": entry["skipped"],
                "success_rate": round(entry["completed"] / runs * 100, 1)
                if runs
                else None,
                "p50_seconds": _percentile(entry["durations"], 0.50),
                "p95_seconds": _percentile(entry["durations"], 0.95),
            }
        )
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


def model_counts(
    model: type[models.Model],
    group: models.Field,
    day_field: models.Field,
    since,
    now,
) -> dict[str, Any]:
    """Rows of `model` in the window, by `group` value and by day."""
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
    days = [
        (since + timedelta(days=i)).date()
        for i in range((now.date() - since.date()).days + 1)
    ]
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
    day_totals = [sum(per_day[v].get(d, 0) for v in totals) for d in days]
    return {
        "title": f"{model._meta.label} by {group.name} and day",
        "since": since,
        "until": now,
        "columns": ["value", "total", *(d.isoformat() for d in days)],
        "rows": table,
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
