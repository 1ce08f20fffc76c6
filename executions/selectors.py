"""Reads over executions that are more than a filter: the dashboard's figures."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Exists, Min, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from executions import health, watch
from executions.models import Incident, JobExecution, WatchEvent
from scheduler_jobs.access import Action, authorize
from scheduler_jobs.labels import (
    format_datetime,
    format_duration,
    format_log_time,
    job_zone_name,
)
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


# --- The execution page's live log ------------------------------------------------

LOG_TAIL_MAX_LINES = 500


def execution_duration(
    execution: JobExecution, *, now: datetime | None = None
) -> float | None:
    """The recorded duration; for a run cancelled or still running, from its start.

    A cancelled run has no recorded duration (its worker never reported back),
    yet it ran from its start to the cancellation; a running one has run until now.
    """
    if execution.duration_seconds is not None:
        return execution.duration_seconds
    if execution.started_at is None:
        return None
    end = execution.completed_at or (
        None if execution.is_finished else (now or timezone.now())
    )
    if end is None:
        return None
    return round(max(0.0, (end - execution.started_at).total_seconds()), 3)


def execution_log_tail(
    *, user: Any, execution_id: int, offset: int = 0, dropped: int = 0
) -> dict[str, Any] | None:
    """The log lines after the first `offset`, with the run's status and duration.

    What the execution page polls while a run runs; None if the execution does
    not exist. Once the worker's size cap drops lines (`dropped` differs from
    the caller's) the kept lines shift, so every line is sent again with
    `reset`. The answer holds no parameters: only what the page shows of the
    run's progress. At most LOG_TAIL_MAX_LINES lines per answer; `more` says
    whether the caller should ask again at once.
    """
    authorize(user, Action.VIEW_EXECUTIONS)
    execution = (
        JobExecution.objects.select_related("job")
        .only(
            "id",
            "status",
            "started_at",
            "completed_at",
            "duration_seconds",
            "logs",
            "logs_dropped",
            "job__schedule",
        )
        .filter(pk=execution_id)
        .first()
    )
    if execution is None:
        return None
    logs = execution.logs or []
    reset = execution.logs_dropped != dropped or offset > len(logs)
    start = 0 if reset else max(0, offset)
    chunk = logs[start : start + LOG_TAIL_MAX_LINES]
    zone_name = job_zone_name(execution.job)
    seconds = execution_duration(execution)
    return {
        "status": execution.status,
        "status_label": execution.get_status_display(),
        "finished": execution.is_finished,
        "duration_seconds": seconds,
        "duration": format_duration(seconds),
        "finished_at": format_datetime(execution.completed_at, zone_name, seconds=True),
        "reset": reset,
        "offset": start,
        "count": start + len(chunk),
        "dropped": execution.logs_dropped,
        "more": start + len(chunk) < len(logs),
        "lines": [
            {
                "time": format_log_time(entry.get("ts", ""), zone_name),
                "ts": entry.get("ts", ""),
                "level": entry.get("level", "INFO"),
                "message": entry.get("message", ""),
            }
            for entry in chunk
        ],
    }


# --- What is wrong right now (the dashboard's first panel) ------------------------

PANEL_ROWS = 10
MISSED_WINDOW = timedelta(hours=24)
# Watch events read for the missed list: the latest by id, not the whole table.
MISSED_SAMPLE = 200
LATE_CANDIDATES = 1000


def late_jobs(
    *, now: datetime, limit: int = PANEL_ROWS
) -> tuple[int, list[dict[str, Any]]]:
    """How many jobs are late now, and the first `limit`, most late first.

    Late by each job's own grace: the candidates are read with the shortest
    grace any job may have (two index ranges that hold only late rows), then
    judged by their own. Each row: id, name, the slot that is late, its zone.
    """
    candidates = list(
        health.late_job_ids(now=now, grace=watch.min_grace(), limit=LATE_CANDIDATES)
    )
    if not candidates:
        return 0, []
    queued = dict(
        JobExecution.objects.filter(
            job_id__in=candidates,
            status=Status.QUEUED,
            attempt=1,
            triggered_by=JobExecution.Trigger.SCHEDULER,
        )
        .order_by()
        .values_list("job_id")
        .annotate(slot=Min("scheduled_for"))
    )
    rows = []
    for job in DynamicJob.objects.filter(pk__in=candidates).only(
        "id", "name", "enabled", "next_run_at", "schedule", "watch"
    ):
        slot = _late_slot(job, queued.get(job.pk), now)
        if slot is not None:
            rows.append(
                {
                    "id": job.pk,
                    "name": job.name,
                    "due": slot,
                    "zone": job_zone_name(job),
                }
            )
    rows.sort(key=lambda row: (row["due"], row["id"]))
    return len(rows), rows[:limit]


def _late_slot(
    job: DynamicJob, queued_slot: datetime | None, now: datetime
) -> datetime | None:
    """The job's oldest slot not started within its grace, or None."""
    cutoff = now - watch.grace(job.watch)
    slots = [
        slot
        for slot in (job.next_run_at if job.enabled else None, queued_slot)
        if slot is not None and slot < cutoff
    ]
    return min(slots, default=None)


def missed_runs(*, now: datetime, limit: int = PANEL_ROWS) -> list[dict[str, Any]]:
    """Slots recorded as missed in the last 24 h, newest first.

    The latest MISSED_SAMPLE watch events by id (the primary key), so the read
    stays small however long the history is.
    """
    since = now - MISSED_WINDOW
    events = (
        WatchEvent.objects.select_related("job")
        .order_by("-id")
        .only(
            "id", "kind", "slot", "job_id", "execution_id", "job__name", "job__schedule"
        )[:MISSED_SAMPLE]
    )
    return [
        {
            "job_id": event.job_id,
            "job_name": event.job.name,
            "execution_id": event.execution_id,
            "slot": event.slot,
            "zone": job_zone_name(event.job),
        }
        for event in events
        if event.kind == WatchEvent.Kind.MISSED and event.slot >= since
    ][:limit]


def slow_runs(*, now: datetime, limit: int = PANEL_ROWS) -> list[dict[str, Any]]:
    """Runs running now that the watch found slow, or that are past their slow mark.

    One read of the running runs (the running partial indexes), joined to their
    slow watch events by execution.
    """
    running = (
        JobExecution.objects.filter(status=Status.RUNNING, job__isnull=False)
        .filter(
            Q(slow_at__lte=now)
            | Q(
                Exists(
                    WatchEvent.objects.filter(
                        execution_id=OuterRef("pk"), kind=WatchEvent.Kind.SLOW
                    )
                )
            )
        )
        .order_by("started_at")
        .only("id", "job_id", "job_name", "started_at", "timeout_seconds")[:limit]
    )
    return [
        {
            "execution": execution,
            "elapsed": (now - execution.started_at).total_seconds()
            if execution.started_at
            else None,
        }
        for execution in running
    ]


def open_incidents(*, limit: int = PANEL_ROWS) -> tuple[int, list[Incident]]:
    """How many incidents are open, and the newest `limit`, each with its job's zone."""
    open_ones = Incident.objects.filter(resolved_at__isnull=True)
    count = open_ones.order_by().count()
    if not count:
        return 0, []
    incidents = list(
        open_ones.select_related("job")
        .only(
            "id",
            "job_id",
            "job__name",
            "job__schedule",
            "kind",
            "opened_at",
            "failures",
            "acknowledged_at",
            "resolved_at",
        )
        .order_by("-opened_at", "-id")[:limit]
    )
    for incident in incidents:
        incident.zone = job_zone_name(incident.job)
    return count, incidents


def scheduler_state(*, now: datetime) -> dict[str, Any]:
    """Beat's last tick, the oldest queued run and the workers seen lately."""
    state = health.snapshot(now)
    window = timedelta(seconds=health.setting("SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS"))
    return {
        "beat_state": state.beat_state,
        "last_tick_age": state.last_tick_age,
        "problems": health.problems(state),
        "workers": health.workers_seen(now=now, window=window),
        "worker_window": window.total_seconds(),
    }


def wrong_now(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard's first panel lists; `all_good` when nothing is.

    No worker seen is not by itself wrong (nothing may have been due); a queue
    that waits too long for one is, and the scheduler's problems say so. Each
    part is a bounded read on an index, never a scan of the executions.
    """
    now = now or timezone.now()
    late_count, late = late_jobs(now=now)
    missed = missed_runs(now=now)
    slow = slow_runs(now=now)
    incident_count, incidents = open_incidents()
    scheduler = scheduler_state(now=now)
    return {
        "now": now,
        "late_count": late_count,
        "late": late,
        "missed": missed,
        "slow": slow,
        "incident_count": incident_count,
        "incidents": incidents,
        "scheduler": scheduler,
        "all_good": not (
            late_count or missed or slow or incident_count or scheduler["problems"]
        ),
    }


# --- The job list's health column -------------------------------------------------

HEALTH_LABELS = {
    "ok": "OK",
    "late": "Late",
    "failing": "Failing",
    "paused": "Paused",
    "never": "Never run",
}


def attach_health(jobs: list[DynamicJob], *, now: datetime | None = None) -> None:
    """Set `health` ("ok", "late", "failing", "paused", "never") on a page of jobs.

    Two queries for the page: its jobs' oldest first attempts still queued past
    the shortest grace (the queued partial index), and its jobs with an open
    incident (the one-open-incident index). The rest comes from the job rows:
    enabled, next run, last status and the job's own grace. A paused job is
    only paused; a late one says so before its failures, since nothing runs.
    """
    now = now or timezone.now()
    ids = [job.pk for job in jobs if job.enabled]
    queued: dict[int, datetime] = {}
    failing: set[int] = set()
    if ids:
        queued = dict(
            JobExecution.objects.filter(
                job_id__in=ids,
                status=Status.QUEUED,
                attempt=1,
                triggered_by=JobExecution.Trigger.SCHEDULER,
                scheduled_for__lt=now - watch.min_grace(),
            )
            .order_by()
            .values_list("job_id")
            .annotate(slot=Min("scheduled_for"))
        )
        failing = set(
            Incident.objects.filter(
                job_id__in=ids,
                resolved_at__isnull=True,
                kind=Incident.Kind.FAILURE_STREAK,
            )
            .order_by()
            .values_list("job_id", flat=True)
        )
    for job in jobs:
        job.health = _health_of(job, queued.get(job.pk), failing, now)


def _health_of(
    job: DynamicJob, queued_slot: datetime | None, failing: set[int], now: datetime
) -> str:
    if not job.enabled:
        return "paused"
    if _late_slot(job, queued_slot, now) is not None:
        return "late"
    if job.pk in failing or job.last_status in FAILURE:
        return "failing"
    if job.last_run_at is None:
        return "never"
    return "ok"
