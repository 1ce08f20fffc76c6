"""Email and Slack notifications on the events a job lists.

A notification that fails is written to the execution's log; it never changes
the execution's status.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from executions.models import JobExecution
from job_templates import secrets

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
    event = sorted(matched)[0]
    notes = []
    if config.get("emails"):
        notes.append(_send_email(execution, config["emails"], event))
    if config.get("slack_webhook"):
        url = secrets.unseal_value(config["slack_webhook"])
        notes.append(_send_slack(execution, url, event))
    _append_logs(execution, [n for n in notes if n])


def _summary(execution: JobExecution, event: str) -> tuple[str, str]:
    subject = f"[Dynamic Scheduler] {execution.job_name}: {execution.status}"
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
    return subject.replace("\r", " ").replace("\n", " ")[:200], "\n".join(lines)


def _log(level: str, message: str) -> dict[str, str]:
    return {"ts": timezone.now().isoformat(), "level": level, "message": message}


def _send_email(execution: JobExecution, recipients: list[str], event: str) -> dict:
    subject, body = _summary(execution, event)
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "dynamic-scheduler"
    message_id = f"<{execution.idempotency_key}-a{execution.attempt}-{event}@{domain}>"
    try:
        EmailMessage(
            subject=subject,
            body=body,
            to=recipients,
            headers={"Message-ID": message_id},
        ).send()
        return _log(
            "INFO", f"Notification ({event}) emailed to {len(recipients)} recipient(s)."
        )
    except Exception as exc:
        logger.warning(
            "Email notification for execution %s failed: %s", execution.pk, exc
        )
        return _log("ERROR", f"Email notification ({event}) failed: {exc}")


def _send_slack(execution: JobExecution, url: str, event: str) -> dict:
    """Post through the SSRF guard: the URL was checked on save, and the address it
    resolves to now is checked again (DNS can change)."""
    from job_templates import net

    subject, body = _summary(execution, event)
    payload = json.dumps({"text": f"*{subject}*\n{body}"}).encode()
    try:
        response = net.safe_request(
            "POST",
            url,
            headers={
                "Content-Type": "application/json",
                "X-Idempotency-Key": (
                    f"{execution.idempotency_key}-a{execution.attempt}-{event}"
                ),
            },
            body=payload,
            timeout=settings.SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS,
        )
    except (net.UnsafeURL, net.RequestFailed) as exc:
        # The URL is the secret: the message must not carry its path.
        reason = _without_secret(str(exc), url)
        logger.warning(
            "Slack notification for execution %s failed: %s", execution.pk, reason
        )
        return _log("ERROR", f"Slack notification ({event}) failed: {reason}")
    if not response.ok:
        return _log(
            "ERROR",
            f"Slack notification ({event}) failed: HTTP {response.status}.",
        )
    return _log(
        "INFO", f"Notification ({event}) posted to Slack (HTTP {response.status})."
    )


def _without_secret(message: str, url: str) -> str:
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if secret and len(secret) > 1:
            message = message.replace(secret, f"/{secrets.SECRET_MASK}")
    return message


def _append_logs(execution: JobExecution, entries: list[dict]) -> None:
    if not entries:
        return
    logs = list(
        JobExecution.objects.filter(pk=execution.pk)
        .values_list("logs", flat=True)
        .first()
        or []
    )
    JobExecution.objects.filter(pk=execution.pk).update(logs=[*logs, *entries])
