"""Reads over executions that are more than a filter: the dashboard's figures."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from executions.models import JobExecution
from scheduler_jobs.models import DynamicJob

Status = JobExecution.Status
WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
_WINDOW = re.compile(r"^(\d{1,4})([hd])$")
SUCCESS = (Status.COMPLETED,)
FAILURE = (Status.FAILED, Status.TIMEOUT, Status.EXHAUSTED)


def parse_window(text: str | None) -> timedelta:
    """'24h', '7d', '30d' (or any N h/d up to 90 days); raises ValueError."""
    text = (text or "24h").strip().lower()
    if text in WINDOWS:
        return WINDOWS[text]
    match = _WINDOW.match(text)
    if not match:
        raise ValueError("window must look like 24h, 7d or 30d")
    amount, unit = int(match.group(1)), match.group(2)
    span = timedelta(hours=amount) if unit == "h" else timedelta(days=amount)
    if not timedelta(hours=1) <= span <= timedelta(days=90):
        raise ValueError("window must be between 1h and 90d")
    return span


def with_retried(queryset: QuerySet[JobExecution]) -> QuerySet[JobExecution]:
    """Annotate `retried`: a later attempt of the same run exists.

    A failed attempt that was retried is not an outcome: the run goes on, and its
    last attempt says how it ended. Counting every attempt made one failure
    retried three times count four times. The lookup uses the first_attempt
    index, one probe per finished row.
    """
    later = JobExecution.objects.filter(
        first_attempt_id=Coalesce(OuterRef("first_attempt_id"), OuterRef("pk")),
        attempt=OuterRef("attempt") + 1,
    )
    return queryset.annotate(retried=Exists(later))


def dashboard_metrics(*, window: timedelta, top: int = 10) -> dict[str, Any]:
    """The dashboard figures over runs that finished in the window.

    A run counts once, by its last attempt: a run retried until it succeeded is
    one success, one retried until it gave up is one failure (its earlier failed
    attempts are not counted again). Rates weigh completed against failed, timed
    out or exhausted runs; skipped and cancelled runs are shown in totals per
    status but not in the rates. The average duration is over attempts, since
    each attempt took that time.
    """
    since = timezone.now() - window
    attempts = with_retried(JobExecution.objects.filter(completed_at__gte=since))
    finished = attempts.filter(retried=False)
    agg = _last_attempt_totals(attempts)
    judged = agg["ok"] + agg["bad"]
    live = _live_counts()
    top_jobs = list(
        finished.exclude(job__isnull=True)
        .values("job_id", "job_name")
        .annotate(runs=Count("id"))
        .order_by("-runs", "job_name")[:top]
    )
    recent_failures = _recent_failures(finished, top)
    return {
        "window_seconds": int(window.total_seconds()),
        "total_runs": agg["total"],
        "completed": agg["ok"],
        "failed": agg["bad"],
        "skipped": agg["skipped"],
        "cancelled": agg["cancelled"],
        "success_rate": round(agg["ok"] / judged, 4) if judged else None,
        "failure_rate": round(agg["bad"] / judged, 4) if judged else None,
        "avg_duration_seconds": (
            round(agg["avg_duration"], 3) if agg["avg_duration"] is not None else None
        ),
        "active_jobs": DynamicJob.objects.filter(enabled=True).count(),
        "running_jobs": live.get(Status.RUNNING, 0),
        "queue_depth": live.get(Status.QUEUED, 0),
        "retry_pending": live.get(Status.RETRY_PENDING, 0),
        "top_jobs": top_jobs,
        "recent_failures": recent_failures,
    }


def _last_attempt_totals(attempts: QuerySet[JobExecution]) -> dict[str, Any]:
    """Totals per outcome by last attempt, and the average over every attempt.

    One aggregate query: each total filters on `retried`, the average does not.
    """
    last = Q(retried=False)
    return attempts.aggregate(
        total=Count("id", filter=last),
        ok=Count("id", filter=last & Q(status__in=SUCCESS)),
        bad=Count("id", filter=last & Q(status__in=FAILURE)),
        skipped=Count("id", filter=last & Q(status=Status.SKIPPED)),
        cancelled=Count("id", filter=last & Q(status=Status.CANCELLED)),
        avg_duration=Avg("duration_seconds", filter=Q(status__in=SUCCESS + FAILURE)),
    )


def _live_counts() -> dict[str, int]:
    """Runs not finished, per status, whatever the window: they are happening now."""
    return dict(
        JobExecution.objects.filter(
            status__in=(Status.RUNNING, Status.QUEUED, Status.RETRY_PENDING)
        )
        .values_list("status")
        .annotate(n=Count("id"))
    )


def _recent_failures(
    finished: QuerySet[JobExecution], top: int
) -> list[dict[str, Any]]:
    """The latest failed runs, each error cut to its first line for the table."""
    return [
        {
            "id": e.id,
            "job_id": e.job_id,
            "job_name": e.job_name,
            "status": e.status,
            "error": (e.error or "").splitlines()[0][:200] if e.error else "",
            "completed_at": e.completed_at,
        }
        for e in finished.filter(status__in=FAILURE)
        .only("id", "job_id", "job_name", "status", "error", "completed_at")
        .order_by("-completed_at")[:top]
    ]


# --- Chart series for the admin dashboard -----------------------------------------

CHART_STATUSES = (
    Status.COMPLETED,
    Status.FAILED,
    Status.TIMEOUT,
    Status.EXHAUSTED,
    Status.SKIPPED,
    Status.CANCELLED,
)
PERCENTILE_SAMPLE = 20_000


def bucket_size(window: timedelta) -> timedelta:
    """Bars per chart stay between 24 and 168: hourly up to two days, then coarser."""
    if window <= timedelta(days=2):
        return timedelta(hours=1)
    if window <= timedelta(days=7):
        return timedelta(hours=6)
    return timedelta(days=1)


def runs_per_bucket(
    *, window: timedelta, now: datetime | None = None
) -> tuple[timedelta, list[dict[str, Any]]]:
    """Finished runs per time bucket and status, oldest bucket first.

    A run counts once, by its last attempt, as in dashboard_metrics.

    Returns (bucket size, [{"start": aware datetime, "counts": {status: n}}]).
    Grouping is by hour in the database (a few hundred rows at most), then
    folded into the bucket size here, which works the same on SQLite and
    PostgreSQL.
    """
    from django.db.models.functions import TruncHour

    now = now or timezone.now()
    size = bucket_size(window)
    since = now - window
    hour = timedelta(hours=1)
    first = _floor(since, size)
    count = int((now - first) / size) + 1
    buckets = [
        {"start": first + size * i, "counts": dict.fromkeys(CHART_STATUSES, 0)}
        for i in range(count)
    ]
    rows = (
        with_retried(
            JobExecution.objects.filter(
                completed_at__gte=since, status__in=CHART_STATUSES
            )
        )
        .filter(retried=False)
        .annotate(hour=TruncHour("completed_at"))
        .values("hour", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        at = row["hour"]
        if at is None:
            continue
        index = int((_floor(at, hour) - first) / size)
        if 0 <= index < count:
            buckets[index]["counts"][row["status"]] += row["n"]
    return size, buckets


def _floor(at: datetime, size: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((at - epoch) // size) * size


def duration_percentiles_by_template(
    *, window: timedelta, sample: int = PERCENTILE_SAMPLE
) -> list[dict[str, Any]]:
    """p50 and p95 run duration per template over finished runs in the window.

    Computed in Python over the latest `sample` runs (SQLite has no percentile
    function); that bounds the work on a table of millions.
    """
    since = timezone.now() - window
    durations: dict[str, list[float]] = defaultdict(list)
    rows = (
        JobExecution.objects.filter(
            completed_at__gte=since,
            status__in=SUCCESS + FAILURE,
            duration_seconds__isnull=False,
        )
        .order_by("-id")
        .values_list("template_type", "duration_seconds")[:sample]
    )
    for template_type, seconds in rows:
        durations[template_type].append(seconds)
    result = [
        {
            "template_type": template_type,
            "runs": len(values),
            "p50": _percentile(values, 0.50),
            "p95": _percentile(values, 0.95),
        }
        for template_type, values in durations.items()
    ]
    return sorted(result, key=lambda r: (-r["p95"], r["template_type"]))


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation): always a duration that happened."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1], 3)
