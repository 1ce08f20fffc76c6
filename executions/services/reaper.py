"""Recovery from killed workers and lost messages; beat runs it periodically."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from executions.models import JobExecution
from executions.services import running, sending
from scheduler_jobs.models import DynamicJob

Status = JobExecution.Status


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
        outcome = running.execution_finish(
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
        resent = len(sending.execution_send(to_send))
    return {"lost": lost, "resent": resent}
