"""The worker's side: claim a queued execution, run its template, record the outcome."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from executions import watch
from executions.models import JobExecution
from executions.services import postgres, sending
from job_templates import secrets
from job_templates.context import BoundedLogHandler, ExecutionContext, make_logger
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs.models import DynamicJob

logger = logging.getLogger(__name__)
Status = JobExecution.Status
Trigger = JobExecution.Trigger

MAX_RESULT_CHARS = 1_000_000
TRACEBACK_FRAMES = 8
# While a run runs, its new log lines reach its row at most this often.
LOG_FLUSH_SECONDS = 1.0


def execution_run(*, execution_id: int) -> str | None:
    """Run one queued execution; returns its final status, or None if not ours.

    The queued → running compare-and-set makes a redelivered or duplicated
    message a no-op.
    """
    claimed = _claim_for_run(execution_id)
    if claimed is None:
        return None
    execution, job_at_start = claimed
    watching = watch.run_started(execution, job_at_start)
    handler = BoundedLogHandler(
        max_entries=settings.SCHEDULER_LOG_MAX_ENTRIES,
        max_message_chars=settings.SCHEDULER_LOG_MAX_MESSAGE_CHARS,
    )
    flusher = LogFlusher.start_for(execution.pk, handler)
    try:
        status, result, error = _run_template(execution, _context(execution, handler))
    finally:
        flusher.stop()
    final = execution_finish(
        execution=execution,
        status=status,
        result=result,
        error=error,
        logs=handler.entries(),
        logs_dropped=handler.dropped,
        job_at_start=job_at_start,
    )
    if final is None:
        flusher.keep_for_cancelled()
    watch.run_ended(execution, final, watching)
    return final


class LogFlusher:
    """Copies a running execution's log lines to its row while it runs.

    The execution page polls the row, so an operator watches the lines as the
    template writes them instead of waiting for the end, and a run that is
    cancelled (its worker process killed) or lost keeps what it had logged.
    The worker process's flush thread (`_FlushThread`, its own database
    connection) writes at most every LOG_FLUSH_SECONDS and only when a line came
    in since the last write; the lines are the bounded handler's, so a write is
    never bigger than the final one. The worker's final write stays the one
    that counts; flushes only touch a row that is running (or cancelled while
    its template went on).
    """

    def __init__(self, execution_id: int, handler: BoundedLogHandler) -> None:
        self.execution_id = execution_id
        self.handler = handler
        self.written = 0  # handler.total at the last write
        self.watched = False  # the flush thread looks after it
        self.stopped = False
        self.writing = threading.Lock()  # held by the flush thread while it writes

    @classmethod
    def start_for(cls, execution_id: int, handler: BoundedLogHandler) -> LogFlusher:
        """A flusher the flush thread looks after, except inside a transaction.

        Another connection cannot see a claim this one has not committed, so a
        run inside a transaction (an in-process run in a test) is left alone.
        """
        flusher = cls(execution_id, handler)
        if not connection.in_atomic_block:
            FLUSH_THREAD.add(flusher)
        return flusher

    def flush(self, statuses: tuple[str, ...] = (Status.RUNNING,)) -> bool:
        """Write the lines if any came in since the last write; True if written."""
        # The handler's lock: the template's thread may be adding a line.
        with self.handler.lock:
            total = self.handler.total
            entries, dropped = self.handler.entries(), self.handler.dropped
        if total == self.written:
            return False
        try:
            JobExecution.objects.filter(
                pk=self.execution_id, status__in=statuses
            ).update(logs=entries, logs_dropped=dropped)
        except DatabaseError as exc:  # a flush must never break the run
            logger.warning(
                "Log lines of execution %s not saved yet: %s", self.execution_id, exc
            )
            return False
        self.written = total
        return True

    def stop(self) -> None:
        """Ends the flush thread's writes; the final write is execution_finish's.

        Waits (a few seconds at most) for a write in progress.
        """
        if self.watched:
            FLUSH_THREAD.discard(self)

    def keep_for_cancelled(self) -> None:
        """The last lines of a run cancelled while its template went on."""
        self.flush(statuses=(Status.CANCELLED,))


class _FlushThread:
    """One thread per worker process writes the new lines of every run it runs.

    Started with the process's first run and kept (a thread per run would cost
    each run its start and stop). Its connection is closed as soon as no run
    is left, so an idle worker holds none for it.
    """

    def __init__(self) -> None:
        self.flushers: set[LogFlusher] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, flusher: LogFlusher) -> None:
        with self.lock:
            flusher.watched = True
            self.flushers.add(flusher)
            # A forked process inherits the object, not the thread.
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._loop, name="log-flush", daemon=True
                )
                self.thread.start()

    def discard(self, flusher: LogFlusher) -> None:
        with self.lock:
            self.flushers.discard(flusher)
            idle = not self.flushers
        got = flusher.writing.acquire(timeout=LOG_FLUSH_SECONDS * 5)
        flusher.stopped = True
        if got:
            flusher.writing.release()
        if idle:
            self.wake.set()  # close the connection now, not a second later

    def _loop(self) -> None:
        while True:
            self.wake.wait(LOG_FLUSH_SECONDS)
            self.wake.clear()
            with self.lock:
                flushers = list(self.flushers)
            if not flushers:
                connection.close()
                continue
            connection.close_if_unusable_or_obsolete()  # after an error, say
            for flusher in flushers:
                self._flush_one(flusher)

    @staticmethod
    def _flush_one(flusher: LogFlusher) -> None:
        with flusher.writing:
            if flusher.stopped:
                return
            try:
                flusher.flush(statuses=(Status.RUNNING, Status.CANCELLED))
            except Exception:  # never an unhandled error in the worker's thread
                logger.exception(
                    "Log lines of execution %s not saved", flusher.execution_id
                )
                connection.close()


FLUSH_THREAD = _FlushThread()


def _claim_for_run(
    execution_id: int,
) -> tuple[JobExecution, DynamicJob | None] | None:
    """The claimed execution and, on PostgreSQL, the job as the claim read it.

    PostgreSQL claims in one statement that also returns the job, which lets
    a completed run be recorded without reading the job again.
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
        return claimed
    execution = _claim(execution_id=execution_id, now=started_at, host=host)
    if execution is None:
        return None
    return execution, None


def _context(execution: JobExecution, handler: BoundedLogHandler) -> ExecutionContext:
    """What the template sees of its run; its log lines go to `handler` only."""
    return ExecutionContext(
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


def _run_template(
    execution: JobExecution, ctx: ExecutionContext
) -> tuple[str, Any, str]:
    """Status, result and error of the template's run.

    Every failure of the template, its code or its parameters becomes an
    outcome here, so the execution is recorded as finished, not left running.
    """
    status, result, error = Status.COMPLETED, None, ""
    try:
        template = registry.get(execution.template_type)
        # The snapshot holds secrets sealed; they are clear only in this process.
        params = template.validate_params(
            secrets.unseal(template.parameters_schema, execution.parameters)
        )
        if execution.dry_run:
            ctx.logger.info("Dry run: nothing will be changed.")
        result = _json_safe(template.execute(params, ctx))
    except SoftTimeLimitExceeded:
        status = Status.TIMEOUT
        error = (
            f"Timed out: still running after {execution.timeout_seconds}s, "
            "the job's time limit."
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
    return status, result, error


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
    # With its job as it is now (executions.watch reads its options).
    execution = (
        JobExecution.objects.filter(pk=execution_id).select_related("job").first()
    )
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
    outcome: dict[str, Any] = {
        "execution": execution,
        "status": status,
        "now": now,
        "duration": round((now - started).total_seconds(), 3),
        "result": result,
        "error": error,
        "logs": logs if logs is not None else [],
        "logs_dropped": logs_dropped,
    }
    if (
        job_at_start is not None
        and status == Status.COMPLETED
        and job_at_start.overlap_policy != DynamicJob.OverlapPolicy.QUEUE
        and postgres.enabled()
    ):
        finished = postgres.finish(**outcome)
        if not finished.execution_updated:
            _log_discarded(execution, status)
            return None
        final_status = status
        job = job_at_start if finished.job_updated else None
    else:
        recorded = _finish_in_transaction(**outcome)
        if recorded is None:
            return None
        final_status, job = recorded
    execution.status, execution.error, execution.result = final_status, error, result
    execution.completed_at = now
    if job is not None:
        from executions import incidents
        from executions.notifications import notify

        notify(execution=execution, job=job, attempt_status=status)
        incidents.run_finished(execution=execution, job=job, final_status=final_status)
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
    job = _job_for_finish(execution)
    final_status, retry = _retry_after(execution, job, status, now)
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
            _save_retry(retry, execution)
        if job is not None:
            DynamicJob.objects.filter(pk=job.pk).update(last_status=final_status)
            if job.overlap_policy == DynamicJob.OverlapPolicy.QUEUE:
                transaction.on_commit(lambda: release_held(job_id=job.pk))
    return final_status, job


def _job_for_finish(execution: JobExecution) -> DynamicJob | None:
    """The job as it is now, since it may have been edited or deleted mid-run.

    Only the fields a retry, the notifications, the overlap policy and the
    incidents need (whether one is open is read in the same query).
    """
    from executions import incidents

    return (
        DynamicJob.objects.filter(pk=execution.job_id)
        .only(
            "id",
            "name",
            "timeout_seconds",
            "retry_policy",
            "notifications",
            "overlap_policy",
            "watch",
        )
        .annotate(open_incident=incidents.open_incident_flag())
        .first()
        if execution.job_id
        else None
    )


def _retry_after(
    execution: JobExecution, job: DynamicJob | None, status: str, now: datetime
) -> tuple[str, JobExecution | None]:
    """The final status and the unsaved retry, if the job's policy grants one.

    A failure with no retry left is recorded as exhausted, not failed, when
    the policy allowed retries at all.
    """
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
                job_version=execution.job_version,
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
    return final_status, retry


def _save_retry(retry: JobExecution, execution: JobExecution) -> None:
    """Save the retry in its own savepoint, so a clash keeps the outcome.

    The unique (job, slot, attempt) constraint refuses a retry that already
    exists; the finished run is recorded all the same.
    """
    try:
        with transaction.atomic():
            retry.save()
    except IntegrityError:
        logger.warning(
            "Attempt %s already exists for execution %s",
            retry.attempt,
            execution.pk,
        )


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
    return len(sending.execution_send([waiting]))
