"""Notifications about one run, on the events a job lists (success, failure, …).

They go through the same channels as the job's alerts (executions.alerts):
email, Slack and the signed webhook. A notification that fails is written to
the execution's log; it never changes the execution's status.
"""

from __future__ import annotations

import logging
from typing import Any

from executions import alerts
from executions.models import JobExecution

logger = logging.getLogger(__name__)
Status = JobExecution.Status

EVENT_FOR_STATUS = {
    Status.COMPLETED: "success",
    Status.FAILED: "failure",
    Status.TIMEOUT: "timeout",
    Status.EXHAUSTED: "exhausted",
}


def events_for(final_status: str, attempt_status: str) -> set[str]:
    """An exhausted attempt also failed or timed out: both kinds of subscriber hear."""
    events = (
        {EVENT_FOR_STATUS[final_status]} if final_status in EVENT_FOR_STATUS else set()
    )
    if final_status == Status.EXHAUSTED and attempt_status in EVENT_FOR_STATUS:
        events.add(EVENT_FOR_STATUS[attempt_status])
    return events


def notify(*, execution: JobExecution, job: Any, attempt_status: str) -> None:
    config = job.notifications or {}
    wanted = set(config.get("on") or [])
    matched = events_for(execution.status, attempt_status) & wanted
    if not matched:
        return
    notes = alerts.deliver(config, run_message(execution, sorted(matched)[0]))
    append_logs(execution, notes)


def run_message(execution: JobExecution, event: str) -> alerts.Message:
    """What every channel says about one attempt's outcome.

    The key is the slot's idempotency key plus the attempt and the event, so a
    receiver can drop a repeat of this very notification.
    """
    lines = [
        f"Job: {execution.job_name}",
        f"Event: {event}",
        f"Status: {execution.status} (attempt {execution.attempt})",
        f"Template: {execution.template_type}",
        f"Scheduled for: {execution.scheduled_for:%Y-%m-%d %H:%M:%S} UTC",
        f"Execution id: {execution.pk}",
    ]
    if execution.error:
        lines += ["", "Error:", execution.error[:4000]]
    return alerts.Message(
        event=event,
        subject=alerts.one_line(
            f"[Dynamic Scheduler] {execution.job_name}: {execution.status}"
        ),
        lines=lines,
        key=f"{execution.idempotency_key}-a{execution.attempt}-{event}",
        job_id=execution.job_id,
        job_name=execution.job_name,
        kind="notification",
        execution=execution_summary(execution),
    )


def execution_summary(execution: JobExecution) -> dict[str, Any]:
    """The execution as a webhook receiver sees it: ids, status and times."""
    return {
        "id": execution.pk,
        "status": execution.status,
        "attempt": execution.attempt,
        "scheduled_for": execution.scheduled_for.isoformat(),
        "error": (execution.error or "")[:4000],
    }


def append_logs(execution: JobExecution, entries: list[dict]) -> None:
    """Add notification outcomes to the end of the execution's log."""
    if not entries:
        return
    logs = list(
        JobExecution.objects.filter(pk=execution.pk)
        .values_list("logs", flat=True)
        .first()
        or []
    )
    JobExecution.objects.filter(pk=execution.pk).update(logs=[*logs, *entries])
