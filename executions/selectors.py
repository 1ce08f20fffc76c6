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

from executions import health
from executions.models import JobExecution
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
MISSED_SAMPLE = 200
SLOW_SAMPLE = 50
# A run is slow once it has run this many times the p95 of its job's recent runs.
SLOW_FACTOR = 3.0
SLOW_HISTORY = 20
SLOW_MIN_SECONDS = 10.0


def late_jobs(
    *, now: datetime, limit: int = PANEL_ROWS
) -> tuple[int, list[dict[str, Any]]]:
    """How many jobs are late, and the first `limit` of them, most late first.

    Each row: the job's id and name, its due time and the zone it is read in.
    """
    grace = timedelta(seconds=health.setting("SCHEDULER_LATE_GRACE_SECONDS"))
    ids = health.late_job_ids(now=now, grace=grace)
    jobs = (
        DynamicJob.objects.filter(pk__in=list(ids)[:1000])
        .only("id", "name", "next_run_at", "schedule")
        .order_by("next_run_at", "id")[:limit]
    )
    rows = [
        {
            "id": job.pk,
            "name": job.name,
            # A job whose slot was dispatched waits on a queued run instead.
            "due": job.next_run_at
            if job.next_run_at and job.next_run_at < now - grace
            else None,
            "zone": job_zone_name(job),
        }
        for job in jobs
    ]
    return len(ids), rows


def missed_runs(*, now: datetime, limit: int = PANEL_ROWS) -> list[dict[str, Any]]:
    """Slots skipped in the last 24 h because the scheduler reached them too late.

    The dispatcher records such a slot as a skipped run that says "misfire";
    the latest MISSED_SAMPLE skipped runs (the (status, id) index) are read,
    not every skipped run ever.
    """
    since = now - MISSED_WINDOW
    rows = (
        JobExecution.objects.filter(status=Status.SKIPPED)
        .select_related("job")
        .order_by("-id")
        .only(
            "id",
            "job_id",
            "job_name",
            "scheduled_for",
            "completed_at",
            "result",
            "job__schedule",
        )[:MISSED_SAMPLE]
    )
    missed = [
        {
            "id": row.pk,
            "job_name": row.job_name,
            "slot": row.scheduled_for,
            "zone": job_zone_name(row.job),
        }
        for row in rows
        if isinstance(row.result, dict)
        and row.result.get("skipped") == "misfire"
        and (row.completed_at or row.scheduled_for) >= since
    ]
    return missed[:limit]


def slow_runs(*, now: datetime, limit: int = PANEL_ROWS) -> list[dict[str, Any]]:
    """Runs running past SLOW_FACTOR × the p95 of their job's last completed runs.

    Reads the running runs (a few, by the running partial index) and, for each
    of their jobs, its last SLOW_HISTORY completed runs on the (job, started)
    index: the work follows what runs now, not the size of the history.
    """
    running = list(
        JobExecution.objects.filter(status=Status.RUNNING, job__isnull=False)
        .order_by()
        .only("id", "job_id", "job_name", "started_at", "timeout_seconds")[:SLOW_SAMPLE]
    )
    slow = []
    for execution in running:
        if execution.started_at is None:
            continue
        usual = _usual_duration(execution.job_id)
        elapsed = (now - execution.started_at).total_seconds()
        if usual is None:
            continue
        expected = max(usual * SLOW_FACTOR, SLOW_MIN_SECONDS)
        if elapsed > expected:
            slow.append({"execution": execution, "elapsed": elapsed, "usual": usual})
    slow.sort(key=lambda row: -row["elapsed"])
    return slow[:limit]


def _usual_duration(job_id: int) -> float | None:
    durations = list(
        JobExecution.objects.filter(
            job_id=job_id, status=Status.COMPLETED, duration_seconds__isnull=False
        )
        .order_by("-started_at")
        .values_list("duration_seconds", flat=True)[:SLOW_HISTORY]
    )
    return _percentile(durations, 0.95) if durations else None


def scheduler_state(*, now: datetime) -> dict[str, Any]:
    """Beat's last tick, the oldest queued run and the workers seen lately."""
    state = health.snapshot(now)
    window = timedelta(seconds=health.setting("SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS"))
    return {
        "beat_state": state.beat_state,
        "last_tick_age": state.last_tick_age,
        "queue_stuck": state.queue_stuck,
        "oldest_queued_age": state.oldest_queued_age,
        "problems": health.problems(state),
        "workers": health.workers_seen(now=now, window=window),
        "worker_window": window.total_seconds(),
    }


def wrong_now(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard's first panel lists; `all_good` when nothing is.

    No worker seen is not by itself wrong (nothing may have been due); a queue
    that waits too long for one is, and the scheduler's problems say so.

    Each part is a bounded read on an index (late jobs, the latest skipped
    runs, the running runs, the heartbeats), never a scan of the executions.
    """
    now = now or timezone.now()
    late_count, late = late_jobs(now=now)
    missed = missed_runs(now=now)
    slow = slow_runs(now=now)
    scheduler = scheduler_state(now=now)
    incidents = open_incidents(limit=PANEL_ROWS)
    return {
        "now": now,
        "late_count": late_count,
        "late": late,
        "missed": missed,
        "slow": slow,
        "incidents": incidents,
        "scheduler": scheduler,
        "all_good": not (
            late_count or missed or slow or incidents or scheduler["problems"]
        ),
    }


def open_incidents(*, limit: int = PANEL_ROWS) -> list[Any]:
    """Open incidents, newest first (none until incidents are recorded)."""
    return []


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

    One query for the page: its jobs with a first attempt still queued past the
    grace (the queued partial index). The rest comes from the job rows
    themselves: enabled, next run and last status. A paused job is only
    paused; a late one says so before its last failure, since nothing runs.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=health.setting("SCHEDULER_LATE_GRACE_SECONDS"))
    ids = [job.pk for job in jobs if job.enabled]
    waiting = (
        set(
            JobExecution.objects.filter(
                job_id__in=ids,
                status=Status.QUEUED,
                attempt=1,
                scheduled_for__lt=cutoff,
            )
            .order_by()
            .values_list("job_id", flat=True)
        )
        if ids
        else set()
    )
    failing = failing_job_ids(ids)
    for job in jobs:
        job.health = _health_of(job, cutoff, waiting, failing)


def failing_job_ids(ids: list[int]) -> set[int]:
    """Jobs among `ids` with an open incident (none until incidents are recorded)."""
    return set()


def _health_of(
    job: DynamicJob, cutoff: datetime, waiting: set[int], failing: set[int]
) -> str:
    if not job.enabled:
        return "paused"
    if (job.next_run_at is not None and job.next_run_at < cutoff) or job.pk in waiting:
        return "late"
    if job.pk in failing or job.last_status in FAILURE:
        return "failing"
    if job.last_run_at is None:
        return "never"
    return "ok"
