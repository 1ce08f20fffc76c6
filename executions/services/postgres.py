"""The executor's start and finish as one statement each, on PostgreSQL.

Why: a py-spy profile of a worker running heartbeats showed almost all of a
run's time waiting on the database, over eleven round trips (read the
execution, BEGIN, claim it, mark its job running, COMMIT, read the job, BEGIN,
record the outcome, the job's last status, COMMIT). PostgreSQL's data-modifying
CTEs let each half be one statement, which is also one transaction, so the
compare-and-set guarantees are unchanged: the claim only matches a queued row
and the finish only a running one.

executions.services.running uses these on PostgreSQL and keeps the ORM form everywhere
else (SQLite has no data-modifying CTEs); both paths run the same test suite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from executions.models import JobExecution
from scheduler_jobs.models import DynamicJob

Status = JobExecution.Status

_CLAIM = """
WITH claimed AS (
    UPDATE job_executions
       SET status = %(running)s,
           started_at = %(now)s,
           execution_host = %(host)s,
           deadline_at = %(now)s + make_interval(secs => timeout_seconds + %(extra)s)
     WHERE id = %(id)s AND status = %(queued)s
 RETURNING *
), job AS (
    UPDATE dynamic_jobs AS j
       SET last_run_at = %(now)s, last_status = %(running)s
      FROM claimed
     WHERE j.id = claimed.job_id
 RETURNING j.id AS snapshot_id,
           j.name AS snapshot_name,
           j.timeout_seconds AS snapshot_timeout_seconds,
           j.retry_policy::text AS snapshot_retry_policy,
           j.notifications::text AS snapshot_notifications,
           j.overlap_policy AS snapshot_overlap_policy,
           j.watch::text AS snapshot_watch,
           EXISTS (
               SELECT 1 FROM job_incidents AS i
                WHERE i.job_id = j.id AND i.resolved_at IS NULL
           ) AS snapshot_open_incident
)
SELECT claimed.*, job.* FROM claimed LEFT JOIN job ON TRUE
"""

_FINISH = """
WITH done AS (
    UPDATE job_executions
       SET status = %(status)s,
           completed_at = %(now)s,
           duration_seconds = %(duration)s,
           result = %(result)s,
           error = %(error)s,
           logs = %(logs)s,
           logs_dropped = %(logs_dropped)s
     WHERE id = %(id)s AND status = %(running)s
 RETURNING job_id
), job AS (
    UPDATE dynamic_jobs AS j
       SET last_status = %(status)s
      FROM done
     WHERE j.id = done.job_id
 RETURNING j.id
)
SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM job)
"""


def enabled() -> bool:
    return connection.vendor == "postgresql"


def claim(
    *, execution_id: int, now: datetime, host: str, hard_limit_extra: int
) -> tuple[JobExecution, DynamicJob | None] | None:
    """Queued → running, the job marked running; None if the row was not queued.

    Returns the execution as it is now and the job's fields the finish needs
    (name, timeout, retry policy, notifications, overlap policy, the watch
    options for executions.watch, and whether it has an open incident for
    executions.incidents), read in the same statement; None for the job when it
    has been deleted.
    """
    rows = list(
        JobExecution.objects.raw(
            _CLAIM,
            {
                "id": execution_id,
                "now": now,
                "host": host,
                "extra": hard_limit_extra,
                "running": Status.RUNNING,
                "queued": Status.QUEUED,
            },
        )
    )
    if not rows:
        return None
    execution = rows[0]
    job = None
    if execution.snapshot_id is not None:
        job = DynamicJob(
            id=execution.snapshot_id,
            name=execution.snapshot_name,
            timeout_seconds=execution.snapshot_timeout_seconds,
            retry_policy=json.loads(execution.snapshot_retry_policy),
            notifications=json.loads(execution.snapshot_notifications),
            overlap_policy=execution.snapshot_overlap_policy,
            watch=json.loads(execution.snapshot_watch),
        )
        # Whether a success must close an incident (executions.incidents).
        job.open_incident = execution.snapshot_open_incident
    return execution, job


@dataclass(frozen=True)
class Finished:
    execution_updated: bool
    job_updated: bool


def finish(
    *,
    execution: JobExecution,
    status: str,
    now: datetime,
    duration: float,
    result: object,
    error: str,
    logs: list[dict],
    logs_dropped: int,
) -> Finished:
    """Running → status, and the job's last status, in one statement."""
    fields = JobExecution._meta
    with connection.cursor() as cursor:
        cursor.execute(
            _FINISH,
            {
                "id": execution.pk,
                "status": status,
                "running": Status.RUNNING,
                "now": now,
                "duration": duration,
                "result": fields.get_field("result").get_db_prep_save(
                    result, connection
                ),
                "error": error,
                "logs": fields.get_field("logs").get_db_prep_save(logs, connection),
                "logs_dropped": logs_dropped,
            },
        )
        execution_rows, job_rows = cursor.fetchone()
    return Finished(execution_updated=bool(execution_rows), job_updated=bool(job_rows))
