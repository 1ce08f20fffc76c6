"""Beat's side: claim due jobs and due retries, and create their executions."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone

from executions import watch
from executions.models import JobExecution
from executions.services import sending
from job_templates.registry import registry
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import Slot, TimeRules, schedule_from_json
from scheduler_jobs.services import timeplan

logger = logging.getLogger(__name__)
Status = JobExecution.Status
Trigger = JobExecution.Trigger

_DUE_FIELDS = (
    "id",
    "name",
    "definition_version",
    "template_type",
    "parameters",
    "schedule",
    "next_run_at",
    "timeout_seconds",
    "overlap_policy",
    "misfire_policy",
    "queue",
)


@dataclass
class DispatchReport:
    due: int = 0
    claimed: int = 0
    queued: int = 0
    held: int = 0
    skipped: int = 0
    retries: int = 0
    deferred: int = 0
    # The maintenance pause held every due row back (nothing was claimed).
    paused: bool = False


def queue_for(*, job_queue: str, template_type: str) -> str:
    """The Celery queue: the job's own, else the one for the template's usage."""
    if job_queue:
        return job_queue
    usage = (
        registry.get(template_type).resource_usage if template_type in registry else ""
    )
    return settings.SCHEDULER_QUEUES.get(usage) or settings.CELERY_TASK_DEFAULT_QUEUE


def effective_dry_run(parameters: dict[str, Any], override: bool | None) -> bool:
    if override is not None:
        return bool(override)
    return bool((parameters or {}).get("dry_run", False))


def dispatch_due(
    *, now: datetime | None = None, limit: int | None = None
) -> DispatchReport:
    """Claim due jobs and create their executions; send them after commit.

    A tick costs the same few queries however many jobs the table holds and
    however many of them are due (up to `limit`; tests/bench pins the counts):
    one indexed probe, which is all an idle tick does; then, in one transaction,
    the due rows read again and locked, one compare-and-set UPDATE moving every
    claimed `next_run_at` forward, one read of the runs still active and one
    bulk INSERT of the executions. Messages go out after commit.

    Two beats never run one slot twice: on PostgreSQL the rows are locked with
    FOR UPDATE SKIP LOCKED, so a second beat takes other rows (or none) instead
    of waiting; SQLite runs one write transaction at a time. The UPDATE also
    checks each row's old `next_run_at`; if any row moved under it anyway, the
    whole batch is rolled back and left to the next tick.
    """
    now = now or timezone.now()
    limit = limit or settings.SCHEDULER_DISPATCH_BATCH
    report = DispatchReport()
    # `enabled__in=[True]`, not `enabled=True`: SQLite cannot use the (enabled,
    # next_run_at) index for the bare `WHERE "enabled"` Django writes for the
    # latter, and scanned the whole table on every tick.
    due_jobs = DynamicJob.objects.filter(enabled__in=[True], next_run_at__lte=now)
    if not due_jobs.exists():
        return report
    rules = _time_rules_unless_paused(now)
    if rules is None:
        report.paused = True
        return report
    with transaction.atomic():
        due = list(
            due_jobs.select_for_update(skip_locked=True)
            .order_by("next_run_at")
            .values(*_DUE_FIELDS)[:limit]
        )
        report.due = len(due)
        won, following = _following_slots(due, now, rules)
        verdicts = _judge_due(won, rules)
        won = _without_deferred(won, verdicts, following, report)
        if not _claim(due, following):
            transaction.set_rollback(True)
            return DispatchReport(due=report.due)
        report.claimed = len(won) + report.deferred
        if not won:
            return report
        created = _create_executions(won, now, report, verdicts)
        # Skipped and folded slots are missed: recorded with the claim.
        watch.note_dispatch(won, following, created, now, rules)
    return report


def _following_slots(
    due: list[dict[str, Any]], now: datetime, rules: TimeRules
) -> tuple[list[dict[str, Any]], dict[int, datetime | None]]:
    """Each due row's next run, and the rows that have a readable schedule.

    The next run is the schedule's `following()` judged by the calendars and
    windows of now, the one the previews and the simulator show. A row whose
    schedule cannot be read gets no next slot (`None`): the claim clears its
    `next_run_at`, so it stops coming back every tick.
    """
    won, following = [], {}
    for row in due:
        try:
            schedule = schedule_from_json(row["schedule"])
            following[row["id"]] = schedule.following(
                row["next_run_at"], now, rules=rules, job=timeplan.job_ref(row)
            )
            won.append(row)
        except (KeyError, TypeError, ValueError) as exc:
            # Only a row written around the services can get here; it must
            # not stall every other job, so it stops being scheduled.
            logger.error(
                "Job %s has an unusable schedule (%s); not scheduling it.",
                row["id"],
                exc,
            )
            following[row["id"]] = None
    return won, following


def _claim(due: list[dict[str, Any]], following: dict[int, datetime | None]) -> bool:
    """Move every due row to its next slot if none moved meanwhile.

    False means another dispatcher got there first: the caller rolls the
    whole batch back rather than run part of it.
    """
    for start in range(0, len(due), 500):  # SQLite's CASE depth limit
        chunk = due[start : start + 500]
        if connection.vendor == "postgresql":
            moved = _claim_chunk_postgresql(chunk, following)
        else:
            moved = _claim_chunk_portable(chunk, following)
        if moved != len(chunk):
            logger.warning(
                "Another dispatcher moved %s of %s due job(s) first; retrying "
                "this batch at the next tick.",
                len(chunk) - moved,
                len(chunk),
            )
            return False
    return True


def _claim_chunk_postgresql(
    chunk: list[dict[str, Any]], following: dict[int, datetime | None]
) -> int:
    """Three array parameters instead of two 500-branch CASE expressions.

    Django takes longer to compile those CASE expressions than PostgreSQL
    takes to run them.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE dynamic_jobs AS j SET next_run_at = v.next FROM "
            "(SELECT unnest(%s::bigint[]) AS id, "
            "unnest(%s::timestamptz[]) AS old, "
            "unnest(%s::timestamptz[]) AS next) AS v "
            "WHERE j.id = v.id AND j.next_run_at = v.old",
            [
                [row["id"] for row in chunk],
                [row["next_run_at"] for row in chunk],
                [following[row["id"]] for row in chunk],
            ],
        )
        return cursor.rowcount


def _claim_chunk_portable(
    chunk: list[dict[str, Any]], following: dict[int, datetime | None]
) -> int:
    """One UPDATE whose CASE expressions carry each row's old and next slot."""
    return DynamicJob.objects.filter(
        pk__in=[row["id"] for row in chunk],
        next_run_at=Case(
            *(When(pk=row["id"], then=Value(row["next_run_at"])) for row in chunk),
            output_field=DateTimeField(),
        ),
    ).update(
        next_run_at=Case(
            *(When(pk=row["id"], then=Value(following[row["id"]])) for row in chunk),
            output_field=DateTimeField(),
        )
    )


def _create_executions(
    won: list[dict[str, Any]],
    now: datetime,
    report: DispatchReport,
    verdicts: dict[int, Slot] | None = None,
) -> list[JobExecution]:
    """Insert one execution per claimed row and send the ones not held.

    Counts each row as skipped, held or queued on `report`; returns the rows
    inserted.
    """
    running, queued = _active_job_ids(won)
    # Under overlap policy "queue" a new run waits (unsent) while one runs;
    # release_held sends it when that run ends.
    held = {
        row["id"]
        for row in won
        if row["overlap_policy"] == DynamicJob.OverlapPolicy.QUEUE
        and row["id"] in running
    }
    new_rows: list[JobExecution] = []
    for row in won:
        execution = _scheduled_execution(row, now, running=running, queued=queued)
        _skip_if_excluded(execution, (verdicts or {}).get(row["id"]), now)
        new_rows.append(execution)
        if execution.status == Status.SKIPPED:
            report.skipped += 1
        elif row["id"] in held:
            report.held += 1
        else:
            report.queued += 1
    created = _insert_executions(new_rows)
    to_send = [e for e in created if e.status == Status.QUEUED and e.job_id not in held]
    if to_send:
        transaction.on_commit(lambda: sending.execution_send(to_send))
    return created


def _time_rules_unless_paused(now: datetime) -> TimeRules | None:
    """The calendars and windows due rows are judged by; None while paused.

    Read only when rows are due, so an idle tick costs no query more.
    """
    if _paused(now):
        return None
    return timeplan.time_rules(now)


def _paused(now: datetime) -> bool:
    """The maintenance pause holds retries back too (asked only when some are due)."""
    return timeplan.pause_state(now) is not None


def _judge_due(won: list[dict[str, Any]], rules: TimeRules) -> dict[int, Slot]:
    """The due rows that the rules of now skip or defer, by job id.

    Their `next_run_at` was computed with the rules of then: a window or a
    calendar changed since can exclude a slot that was meant to run.
    """
    verdicts: dict[int, Slot] = {}
    for row in won:
        schedule = schedule_from_json(row["schedule"])
        slot = schedule.judge_due(
            row["next_run_at"], rules=rules, job=timeplan.job_ref(row)
        )
        if slot.outcome != timeplan.RUNS:
            verdicts[row["id"]] = slot
    return verdicts


def _without_deferred(
    won: list[dict[str, Any]],
    verdicts: dict[int, Slot],
    following: dict[int, datetime | None],
    report: DispatchReport,
) -> list[dict[str, Any]]:
    """The rows to create executions for: a row deferred to a window's end
    gets none now; its claim moves it to the deferred time instead."""
    kept = []
    for row in won:
        verdict = verdicts.get(row["id"])
        if verdict is not None and verdict.outcome == timeplan.DEFERRED:
            following[row["id"]] = verdict.at
            report.deferred += 1
            logger.info(
                "Job %s deferred to %s: %s", row["id"], verdict.at, verdict.reason
            )
            continue
        kept.append(row)
    return kept


def _skip_if_excluded(
    execution: JobExecution, verdict: Slot | None, now: datetime
) -> None:
    """Record a slot a calendar or window excludes as skipped, with why."""
    if verdict is None or verdict.outcome != timeplan.SKIPPED:
        return
    kind = "blackout" if verdict.reason.startswith("Blackout") else "calendar"
    execution.status = Status.SKIPPED
    execution.completed_at = now
    execution.result = {"skipped": kind, "reason": verdict.reason}
    execution.error = ""


def _active_job_ids(won: list[dict[str, Any]]) -> tuple[set[int], set[int]]:
    """The claimed jobs with a run in progress, and those with one waiting.

    One query for the whole batch; the overlap policies decide from these.
    """
    running: set[int] = set()
    queued: set[int] = set()
    for job_id, status in JobExecution.objects.filter(
        job_id__in=[row["id"] for row in won], status__in=JobExecution.ACTIVE
    ).values_list("job_id", "status"):
        (running if status == Status.RUNNING else queued).add(job_id)
    return running, queued


def _scheduled_execution(
    row: dict[str, Any], now: datetime, *, running: set[int], queued: set[int]
) -> JobExecution:
    slot = row["next_run_at"]
    execution = JobExecution(
        job_id=row["id"],
        job_name=row["name"],
        job_version=row["definition_version"] or None,
        template_type=row["template_type"],
        scheduled_for=slot,
        attempt=1,
        parameters=row["parameters"],
        dry_run=effective_dry_run(row["parameters"], None),
        timeout_seconds=row["timeout_seconds"],
        queue=queue_for(job_queue=row["queue"], template_type=row["template_type"]),
        triggered_by=Trigger.SCHEDULER,
        celery_task_id=str(uuid.uuid4()),
        status=Status.QUEUED,
    )
    late_by = (now - slot).total_seconds()
    job_id, policy = row["id"], row["overlap_policy"]
    reason = ""
    if (
        late_by > settings.SCHEDULER_MISFIRE_GRACE_SECONDS
        and row["misfire_policy"] == DynamicJob.MisfirePolicy.SKIP
    ):
        reason = (
            f"Missed slot: due {late_by:.0f}s ago (more than the "
            f"{settings.SCHEDULER_MISFIRE_GRACE_SECONDS}s grace) and the misfire "
            "policy is skip."
        )
        kind = "misfire"
    elif policy == DynamicJob.OverlapPolicy.SKIP and (
        job_id in running or job_id in queued
    ):
        reason = "The previous run is still queued or running; overlap policy is skip."
        kind = "overlap"
    elif policy == DynamicJob.OverlapPolicy.QUEUE and job_id in queued:
        reason = "A run is already waiting; overlap policy queue keeps at most one."
        kind = "overlap"
    if reason:
        execution.status = Status.SKIPPED
        execution.completed_at = now
        execution.result = {"skipped": kind, "reason": reason}
        execution.error = ""
    return execution


def _insert_executions(rows: list[JobExecution]) -> list[JobExecution]:
    """Bulk insert; on a unique-slot clash fall back to one row at a time."""
    try:
        with transaction.atomic():
            return JobExecution.objects.bulk_create(rows)
    except IntegrityError:
        created = []
        for row in rows:
            try:
                with transaction.atomic():
                    row.save()
                created.append(row)
            except IntegrityError:
                logger.warning(
                    "Slot %s of job %s already has an execution; not creating another.",
                    row.scheduled_for,
                    row.job_id,
                )
        return created


def dispatch_retries(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Queue the pending retries that are due; returns how many were queued.

    One probe when none is due; otherwise the due rows are locked (SKIP LOCKED
    on PostgreSQL, so two beats split them) and moved to queued by one
    compare-and-set UPDATE, whatever their number. If any row changed under it
    (cancelled meanwhile), the batch is rolled back and retried next tick.
    """
    now = now or timezone.now()
    limit = limit or settings.SCHEDULER_DISPATCH_BATCH
    due = JobExecution.objects.filter(status=Status.RETRY_PENDING, due_at__lte=now)
    if not due.exists() or _paused(now):
        return 0
    with transaction.atomic():
        to_send = list(
            due.select_for_update(skip_locked=True).order_by("due_at")[:limit]
        )
        if not to_send:
            return 0
        moved = JobExecution.objects.filter(
            pk__in=[e.pk for e in to_send], status=Status.RETRY_PENDING
        ).update(status=Status.QUEUED)
        if moved != len(to_send):
            transaction.set_rollback(True)
            return 0
        for execution in to_send:
            execution.status = Status.QUEUED
        transaction.on_commit(lambda: sending.execution_send(to_send))
    return len(to_send)
