"""The executor engine: dispatching due jobs, running executions, retries, reaping.

State machine (DESIGN.md):
    queued → running → completed | failed | timeout
    failed/timeout → a new attempt in retry_pending (due after
        delay × backoff^(attempt-1)) → queued … → the last failed attempt: exhausted
    also skipped (overlap or misfire policy) and cancelled.

Every transition is a compare-and-set UPDATE on the current status, so a
redelivered Celery message, a second beat or a late reaper cannot run or finish
an execution twice.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from executions import postgres
from executions.models import JobExecution
from job_templates.base import mask_parameters
from job_templates.context import BoundedLogHandler, ExecutionContext, make_logger
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import schedule_from_json

logger = logging.getLogger(__name__)
Status = JobExecution.Status
Trigger = JobExecution.Trigger

MAX_RESULT_CHARS = 1_000_000
TRACEBACK_FRAMES = 8
_DUE_FIELDS = (
    "id",
    "name",
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


def queue_for(*, job_queue: str, template_type: str) -> str:
    """The Celery queue: the job's own, else the one for the template's usage."""
    if job_queue:
        return job_queue
    usage = (
        registry.get(template_type).resource_usage if template_type in registry else ""
    )
    return settings.SCHEDULER_QUEUES.get(usage) or settings.CELERY_TASK_DEFAULT_QUEUE


def _effective_dry_run(parameters: dict[str, Any], override: bool | None) -> bool:
    if override is not None:
        return bool(override)
    return bool((parameters or {}).get("dry_run", False))


# --- Dispatch (beat) ----------------------------------------------------------


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
    from django.db import connection
    from django.db.models import Case, DateTimeField, Value, When

    now = now or timezone.now()
    limit = limit or settings.SCHEDULER_DISPATCH_BATCH
    report = DispatchReport()
    # `enabled__in=[True]`, not `enabled=True`: SQLite cannot use the (enabled,
    # next_run_at) index for the bare `WHERE "enabled"` Django writes for the
    # latter, and scanned the whole table on every tick.
    due_jobs = DynamicJob.objects.filter(enabled__in=[True], next_run_at__lte=now)
    if not due_jobs.exists():
        return report
    with transaction.atomic():
        due = list(
            due_jobs.select_for_update(skip_locked=True)
            .order_by("next_run_at")
            .values(*_DUE_FIELDS)[:limit]
        )
        report.due = len(due)
        won, following = [], {}
        for row in due:
            try:
                schedule = schedule_from_json(row["schedule"])
                following[row["id"]] = schedule.following(row["next_run_at"], now)
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
        for start in range(0, len(due), 500):  # SQLite's CASE depth limit
            chunk = due[start : start + 500]
            if connection.vendor == "postgresql":
                # Three array parameters instead of two 500-branch CASE
                # expressions, which Django takes longer to compile than
                # PostgreSQL takes to run.
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
                    moved = cursor.rowcount
            else:
                moved = DynamicJob.objects.filter(
                    pk__in=[row["id"] for row in chunk],
                    next_run_at=Case(
                        *(
                            When(pk=row["id"], then=Value(row["next_run_at"]))
                            for row in chunk
                        ),
                        output_field=DateTimeField(),
                    ),
                ).update(
                    next_run_at=Case(
                        *(
                            When(pk=row["id"], then=Value(following[row["id"]]))
                            for row in chunk
                        ),
                        output_field=DateTimeField(),
                    )
                )
            if moved != len(chunk):
                logger.warning(
                    "Another dispatcher moved %s of %s due job(s) first; retrying "
                    "this batch at the next tick.",
                    len(chunk) - moved,
                    len(chunk),
                )
                transaction.set_rollback(True)
                return DispatchReport(due=report.due)
        report.claimed = len(won)
        if not won:
            return report
        running: set[int] = set()
        queued: set[int] = set()
        for job_id, status in JobExecution.objects.filter(
            job_id__in=[row["id"] for row in won], status__in=JobExecution.ACTIVE
        ).values_list("job_id", "status"):
            (running if status == Status.RUNNING else queued).add(job_id)

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
            new_rows.append(execution)
            if execution.status == Status.SKIPPED:
                report.skipped += 1
            elif row["id"] in held:
                report.held += 1
            else:
                report.queued += 1
        created = _insert_executions(new_rows)
        to_send = [
            e for e in created if e.status == Status.QUEUED and e.job_id not in held
        ]
        if to_send:
            transaction.on_commit(lambda: execution_send(to_send))
    return report


def _scheduled_execution(
    row: dict[str, Any], now: datetime, *, running: set[int], queued: set[int]
) -> JobExecution:
    slot = row["next_run_at"]
    execution = JobExecution(
        job_id=row["id"],
        job_name=row["name"],
        template_type=row["template_type"],
        scheduled_for=slot,
        attempt=1,
        parameters=row["parameters"],
        dry_run=_effective_dry_run(row["parameters"], None),
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
    if not due.exists():
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
        transaction.on_commit(lambda: execution_send(to_send))
    return len(to_send)


def execution_send(executions: list[JobExecution]) -> list[int]:
    """Publish one Celery message per execution; returns the ids sent.

    A failed publish is logged and left for the reaper, which re-sends queued
    executions that have no message.
    """
    from config.celery import app
    from executions.tasks import run_execution

    sent: list[int] = []
    try:
        # One pooled producer for the whole batch, not a connection per message.
        with app.producer_or_acquire() as producer:
            _publish(run_execution, executions, producer, sent)
    except Exception:
        logger.exception("The broker is unreachable; the reaper will re-send.")
    if sent:
        JobExecution.objects.filter(pk__in=sent).update(sent_at=timezone.now())
    return sent


def _publish(
    task: Any, executions: list[JobExecution], producer: Any, sent: list[int]
) -> None:
    """Publish a batch; Celery's per-message extras are done once where they can be.

    kombu re-binds the queue to the channel for every publish only to find it in
    its declared cache, and Celery builds the arguments' repr with saferepr: 40 %
    of a publish on `memory://`, ~15 % on Redis (BENCHMARKS.md §2). The first
    message to each queue still declares it; `argsrepr` is what saferepr returns.
    """
    declared: set[str] = set()
    hard_extra = settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS
    for execution in executions:
        queue = execution.queue or settings.CELERY_TASK_DEFAULT_QUEUE
        extra: dict[str, Any] = {"declare": []} if queue in declared else {}
        try:
            task.apply_async(
                producer=producer,
                args=[execution.pk],
                argsrepr=f"[{execution.pk}]",
                kwargsrepr="{}",
                task_id=execution.celery_task_id or None,
                queue=queue,
                soft_time_limit=execution.timeout_seconds,
                time_limit=execution.timeout_seconds + hard_extra,
                **extra,
            )
            declared.add(queue)
            sent.append(execution.pk)
        except Exception:
            logger.exception(
                "Could not send execution %s to the broker; the reaper will retry.",
                execution.pk,
            )


# --- Manual runs and cancellation ---------------------------------------------


def run_now(
    *,
    job: DynamicJob,
    user: Any,
    dry_run: bool | None = None,
    parameters: dict[str, Any] | None = None,
    request: Any = None,
    source: str = "api",
) -> JobExecution:
    """Queue a manual run (disabled jobs too); audited.

    `parameters` override the job's for this run only and are validated against
    the template's schema. Raises ValidationError keyed by field.
    """
    try:
        template = registry.get(job.template_type)
    except UnknownTemplate as exc:
        raise ValidationError({"template_type": [str(exc)]}) from exc
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError({"parameters": ["Must be a JSON object."]})
    merged = {**job.parameters, **(parameters or {})}
    try:
        cleaned = template.validate_params(merged)
    except ValidationError as exc:
        raise ValidationError(
            {
                (f"parameters.{k}" if k != "__all__" else "parameters"): v
                for k, v in exc.message_dict.items()
            }
        ) from exc
    if dry_run and not template.supports_dry_run:
        raise ValidationError(
            {"dry_run": [f"The {template.name} template has no dry run."]}
        )
    now = timezone.now()
    with transaction.atomic():
        execution = JobExecution.objects.create(
            job=job,
            job_name=job.name,
            template_type=job.template_type,
            scheduled_for=now,
            attempt=1,
            parameters=cleaned,
            dry_run=_effective_dry_run(cleaned, dry_run),
            timeout_seconds=job.timeout_seconds,
            queue=queue_for(job_queue=job.queue, template_type=job.template_type),
            triggered_by=Trigger.MANUAL,
            triggered_by_user=user if getattr(user, "pk", None) else None,
            celery_task_id=str(uuid.uuid4()),
            status=Status.QUEUED,
        )
        audit.record(
            actor=user,
            action="run",
            target=job,
            changes={
                "execution_id": execution.pk,
                "dry_run": execution.dry_run,
                "parameter_overrides": mask_parameters(template, parameters or {}),
            },
            request=request,
            source=source,
        )
        transaction.on_commit(lambda: execution_send([execution]))
    return execution


class NotCancellable(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"The execution already ended ({status}); nothing to cancel.")
        self.status = status


def execution_cancel(
    *, execution: JobExecution, user: Any, request: Any = None, source: str = "api"
) -> JobExecution:
    """Cancel a queued, pending or running execution; raises NotCancellable if it ended.

    A running one is marked cancelled at once; its worker is asked to stop it
    (where the broker supports remote control) and its late result is discarded.
    """
    cancellable = (Status.QUEUED, Status.RETRY_PENDING, Status.RUNNING)
    now = timezone.now()
    with transaction.atomic():
        current = JobExecution.objects.get(pk=execution.pk)
        if current.status not in cancellable:
            raise NotCancellable(current.status)
        rows = JobExecution.objects.filter(pk=current.pk, status=current.status).update(
            status=Status.CANCELLED,
            completed_at=now,
            error=f"Cancelled by {getattr(user, 'username', None) or 'the system'}.",
        )
        if not rows:
            raise NotCancellable(JobExecution.objects.get(pk=current.pk).status)
        audit.record(
            actor=user,
            action="cancel",
            target=current,
            changes={"status": {"before": current.status, "after": Status.CANCELLED}},
            request=request,
            source=source,
        )
    if current.status == Status.RUNNING and current.celery_task_id:
        _revoke(current.celery_task_id)
    return JobExecution.objects.get(pk=current.pk)


def _revoke(task_id: str) -> None:
    from config.celery import app

    try:
        app.control.revoke(task_id, terminate=True, signal="SIGTERM")
    except Exception as exc:  # the filesystem broker has no remote control
        logger.info("Could not revoke task %s: %s", task_id, exc)


# --- Running (worker) -----------------------------------------------------------


def execution_run(*, execution_id: int) -> str | None:
    """Run one queued execution; returns its final status, or None if not ours.

    The queued → running compare-and-set makes a redelivered or duplicated
    message a no-op.
    """
    started_at = timezone.now()
    host = f"{socket.gethostname()}/{os.getpid()}"
    if postgres.enabled():
        claimed = postgres.claim(
            execution_id=execution_id,
            now=started_at,
            host=host,
            hard_limit_extra=settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS,
        )
        if claimed is None:
            _log_not_run(execution_id)
            return None
        execution, job_at_start = claimed
    else:
        execution = _claim(execution_id=execution_id, now=started_at, host=host)
        if execution is None:
            return None
        job_at_start = None

    handler = BoundedLogHandler(
        max_entries=settings.SCHEDULER_LOG_MAX_ENTRIES,
        max_message_chars=settings.SCHEDULER_LOG_MAX_MESSAGE_CHARS,
    )
    ctx = ExecutionContext(
        logger=make_logger(
            f"dynamic_scheduler.templates.{execution.template_type}", handler
        ),
        dry_run=execution.dry_run,
        deadline=time.monotonic() + execution.timeout_seconds,
        execution_id=execution.pk,
        job_id=execution.job_id,
        job_name=execution.job_name,
        attempt=execution.attempt,
        scheduled_for=execution.scheduled_for,
        idempotency_key=execution.idempotency_key,
    )
    status, result, error = Status.COMPLETED, None, ""
    try:
        template = registry.get(execution.template_type)
        params = template.validate_params(execution.parameters)
        if execution.dry_run:
            ctx.logger.info("Dry run: nothing will be changed.")
        result = _json_safe(template.execute(params, ctx))
    except SoftTimeLimitExceeded:
        status = Status.TIMEOUT
        error = (
            f"Timed out: still running after {execution.timeout_seconds}s "
            "(the job's timeout_seconds)."
        )
        ctx.logger.error("%s", error)
    except UnknownTemplate as exc:
        status, error = Status.FAILED, f"{exc} Its code is no longer installed."
    except ValidationError as exc:
        status = Status.FAILED
        error = f"Parameters are no longer valid for the template: {exc.message_dict}"
    except Exception as exc:
        status, error = Status.FAILED, format_error(exc)
        ctx.logger.error("%s: %s", type(exc).__name__, exc)
    return execution_finish(
        execution=execution,
        status=status,
        result=result,
        error=error,
        logs=handler.entries(),
        logs_dropped=handler.dropped,
        job_at_start=job_at_start,
    )


def _log_not_run(execution_id: int) -> None:
    status = (
        JobExecution.objects.filter(pk=execution_id)
        .values_list("status", flat=True)
        .first()
    )
    if status is None:
        logger.warning(
            "Execution %s does not exist; dropping its message.", execution_id
        )
    else:
        logger.info(
            "Execution %s is %s, not queued; not running it again.",
            execution_id,
            status,
        )


def _claim(*, execution_id: int, now: datetime, host: str) -> JobExecution | None:
    """Queued → running with the ORM (the form every database has)."""
    execution = JobExecution.objects.filter(pk=execution_id).first()
    if execution is None or execution.status != Status.QUEUED:
        _log_not_run(execution_id)
        return None
    hard_limit = execution.timeout_seconds + settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS
    # One transaction (one commit) for the claim and the job's run state.
    with transaction.atomic():
        claimed = JobExecution.objects.filter(
            pk=execution.pk, status=Status.QUEUED
        ).update(
            status=Status.RUNNING,
            started_at=now,
            execution_host=host,
            deadline_at=now + timedelta(seconds=hard_limit),
        )
        if claimed and execution.job_id:
            DynamicJob.objects.filter(pk=execution.job_id).update(
                last_run_at=now, last_status=Status.RUNNING
            )
    if not claimed:
        return None
    execution.status, execution.started_at = Status.RUNNING, now
    return execution


def format_error(exc: BaseException) -> str:
    """The exception and the last frames of its traceback."""
    frames = traceback.extract_tb(exc.__traceback__)[-TRACEBACK_FRAMES:]
    text = "".join(traceback.format_list(frames))
    return (
        f"{type(exc).__name__}: {exc}\n\n"
        f"Traceback (last {len(frames)} frames, most recent call last):\n{text}"
    )


def _json_safe(result: Any) -> Any:
    if result is None:
        return None
    text = json.dumps(result, cls=DjangoJSONEncoder)
    if len(text) > MAX_RESULT_CHARS:
        return {"truncated": True, "preview": text[:10_000]}
    return json.loads(text)


def execution_finish(
    *,
    execution: JobExecution,
    status: str,
    result: Any = None,
    error: str = "",
    logs: list[dict[str, Any]] | None = None,
    logs_dropped: int = 0,
    job_at_start: DynamicJob | None = None,
) -> str | None:
    """Record the outcome of a running execution and schedule its retry.

    Returns the final status, or None if the execution was no longer running
    (cancelled or already reaped). `job_at_start` is the job as the executor's
    claim read it on PostgreSQL: a completed run then needs no other read and
    is recorded in one statement. Anything that may lead to a retry or release a
    held run reads the job again, since it may have been edited or deleted.
    """
    now = timezone.now()
    started = execution.started_at or now
    duration = round((now - started).total_seconds(), 3)
    logs = logs if logs is not None else []
    if (
        job_at_start is not None
        and status == Status.COMPLETED
        and job_at_start.overlap_policy != DynamicJob.OverlapPolicy.QUEUE
        and postgres.enabled()
    ):
        finished = postgres.finish(
            execution=execution,
            status=status,
            now=now,
            duration=duration,
            result=result,
            error=error,
            logs=logs,
            logs_dropped=logs_dropped,
        )
        if not finished.execution_updated:
            _log_discarded(execution, status)
            return None
        final_status = status
        job = job_at_start if finished.job_updated else None
    else:
        recorded = _finish_in_transaction(
            execution=execution,
            status=status,
            now=now,
            duration=duration,
            result=result,
            error=error,
            logs=logs,
            logs_dropped=logs_dropped,
        )
        if recorded is None:
            return None
        final_status, job = recorded
    execution.status, execution.error, execution.result = final_status, error, result
    execution.completed_at = now
    if job is not None:
        from executions.notifications import notify

        notify(execution=execution, job=job, attempt_status=status)
    return final_status


def _log_discarded(execution: JobExecution, status: str) -> None:
    logger.info(
        "Execution %s was no longer running (cancelled or reaped); "
        "its outcome %s is discarded.",
        execution.pk,
        status,
    )


def _finish_in_transaction(
    *,
    execution: JobExecution,
    status: str,
    now: datetime,
    duration: float,
    result: Any,
    error: str,
    logs: list[dict[str, Any]],
    logs_dropped: int,
) -> tuple[str, DynamicJob | None] | None:
    """The outcome, its retry and the job's last status in one transaction."""
    job = (
        DynamicJob.objects.filter(pk=execution.job_id)
        .only(
            "id",
            "name",
            "timeout_seconds",
            "retry_policy",
            "notifications",
            "overlap_policy",
        )
        .first()
        if execution.job_id
        else None
    )
    final_status = status
    retry = None
    if status in (Status.FAILED, Status.TIMEOUT) and job is not None:
        policy = job.retry_policy or {}
        if execution.attempt <= int(policy.get("max_retries", 0)):
            delay = int(policy.get("delay_seconds", 60)) * float(
                policy.get("backoff", 2.0)
            ) ** (execution.attempt - 1)
            retry = JobExecution(
                job_id=job.pk,
                job_name=job.name,
                template_type=execution.template_type,
                scheduled_for=execution.scheduled_for,
                attempt=execution.attempt + 1,
                first_attempt_id=execution.first_attempt_id or execution.pk,
                parameters=execution.parameters,
                dry_run=execution.dry_run,
                timeout_seconds=job.timeout_seconds,
                queue=execution.queue,
                triggered_by=Trigger.RETRY,
                celery_task_id=str(uuid.uuid4()),
                status=Status.RETRY_PENDING,
                due_at=now + timedelta(seconds=delay),
            )
        elif int(policy.get("max_retries", 0)) > 0:
            final_status = Status.EXHAUSTED
    with transaction.atomic():
        rows = JobExecution.objects.filter(
            pk=execution.pk, status=Status.RUNNING
        ).update(
            status=final_status,
            completed_at=now,
            duration_seconds=duration,
            result=result,
            error=error,
            logs=logs,
            logs_dropped=logs_dropped,
        )
        if not rows:
            _log_discarded(execution, status)
            return None
        if retry is not None:
            try:
                with transaction.atomic():
                    retry.save()
            except IntegrityError:
                logger.warning(
                    "Attempt %s already exists for execution %s",
                    retry.attempt,
                    execution.pk,
                )
        if job is not None:
            DynamicJob.objects.filter(pk=job.pk).update(last_status=final_status)
            if job.overlap_policy == DynamicJob.OverlapPolicy.QUEUE:
                transaction.on_commit(lambda: release_held(job_id=job.pk))
    return final_status, job


def release_held(*, job_id: int) -> int:
    """Send the run that waits under overlap policy `queue`, once nothing runs."""
    if JobExecution.objects.filter(job_id=job_id, status=Status.RUNNING).exists():
        return 0
    waiting = (
        JobExecution.objects.filter(
            job_id=job_id, status=Status.QUEUED, sent_at__isnull=True
        )
        .order_by("id")
        .first()
    )
    if waiting is None:
        return 0
    return len(execution_send([waiting]))


# --- Reaper ----------------------------------------------------------------------


def reap(*, now: datetime | None = None) -> dict[str, int]:
    """End executions whose worker died, and re-send queued ones whose message was lost.

    * running past deadline + SCHEDULER_REAPER_GRACE_SECONDS → failed (then retried
      if the job allows), with an error that says the worker was lost;
    * queued with no message after a short while (beat died between commit and
      send, or the broker was down) or with a message older than
      SCHEDULER_REQUEUE_AFTER_SECONDS → sent again; the worker's compare-and-set
      keeps it to one run.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.SCHEDULER_REAPER_GRACE_SECONDS)
    lost = 0
    for execution in JobExecution.objects.filter(
        status=Status.RUNNING, deadline_at__lt=now - grace
    )[:500]:
        host = execution.execution_host or "a worker"
        deadline = f"{execution.deadline_at:%Y-%m-%d %H:%M:%S}"
        outcome = execution_finish(
            execution=execution,
            status=Status.FAILED,
            error=(
                f"Worker lost: the execution on {host} did not report back by its "
                f"deadline ({deadline} UTC) plus {grace.seconds}s grace. The worker "
                "process was probably killed (out of memory, kill -9, or a hard "
                "time limit)."
            ),
            logs=execution.logs,
        )
        lost += outcome is not None
    resent = 0
    unsent_cutoff = now - timedelta(seconds=10)
    stale_cutoff = now - timedelta(seconds=settings.SCHEDULER_REQUEUE_AFTER_SECONDS)
    candidates = JobExecution.objects.filter(
        Q(sent_at__isnull=True, created_at__lt=unsent_cutoff)
        | Q(sent_at__lt=stale_cutoff),
        status=Status.QUEUED,
    )[:500]
    # Under overlap policy `queue` an unsent run waits, on purpose, for its
    # job's running one; release_held sends it. Any other unsent run was lost.
    holding_jobs = set(
        JobExecution.objects.filter(
            status=Status.RUNNING, job__overlap_policy=DynamicJob.OverlapPolicy.QUEUE
        ).values_list("job_id", flat=True)
    )
    to_send = [
        execution
        for execution in candidates
        if not (execution.sent_at is None and execution.job_id in holding_jobs)
    ]
    if to_send:
        resent = len(execution_send(to_send))
    return {"lost": lost, "resent": resent}
