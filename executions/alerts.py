"""Alerts about a job rather than one attempt: late, missed, slow, too fast,
incidents and recovery.

They go to the channels the job's notifications name (email, Slack), and only
for the events the job subscribes to (`notifications.on`). Deduplication is the
caller's: each alert is sent after the caller won a unique row (a watch event
or an incident), so two beats never send one alert twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from job_templates import secrets

logger = logging.getLogger(__name__)


def subscribed(job: Any, event: str) -> bool:
    return event in set((job.notifications or {}).get("on") or [])


def send_alert(
    *, job: Any, event: str, subject: str, lines: Iterable[str], key: str
) -> list[dict[str, str]]:
    """Send `event` about `job` to each of its channels; returns log entries.

    `key` names this alert uniquely (e.g. "missed-<job>-<slot>"): it becomes
    the email's Message-ID and the webhook's idempotency key, so a receiver
    can drop a repeat. A channel that fails is logged, never raised.
    """
    if not subscribed(job, event):
        return []
    config = job.notifications or {}
    subject = f"[Dynamic Scheduler] {job.name}: {subject}"
    subject = subject.replace("\r", " ").replace("\n", " ")[:200]
    body = "\n".join([f"Job: {job.name}", f"Event: {event}", *lines])
    notes = []
    if config.get("emails"):
        notes.append(email_channel(config["emails"], subject, body, key, event))
    if config.get("slack_webhook"):
        url = secrets.unseal_value(config["slack_webhook"])
        notes.append(slack_channel(url, subject, body, key, event))
    return notes


def log_entry(level: str, message: str) -> dict[str, str]:
    return {"ts": timezone.now().isoformat(), "level": level, "message": message}


def email_channel(
    recipients: list[str], subject: str, body: str, key: str, event: str
) -> dict[str, str]:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "dynamic-scheduler"
    try:
        EmailMessage(
            subject=subject,
            body=body,
            to=recipients,
            headers={"Message-ID": f"<{key}@{domain}>"},
        ).send()
    except Exception as exc:
        logger.warning("Email alert %s failed: %s", key, exc)
        return log_entry("ERROR", f"Email alert ({event}) failed: {exc}")
    return log_entry(
        "INFO", f"Alert ({event}) emailed to {len(recipients)} recipient(s)."
    )


def slack_channel(
    url: str, subject: str, body: str, key: str, event: str
) -> dict[str, str]:
    """Through the SSRF guard and its total deadline; errors never carry the URL."""
    from executions.notifications import _without_secret  # one scrubber
    from job_templates import net

    payload = json.dumps({"text": f"*{subject}*\n{body}"}).encode()
    try:
        response = net.safe_request(
            "POST",
            url,
            headers={"Content-Type": "application/json", "X-Idempotency-Key": key},
            body=payload,
            timeout=settings.SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS,
        )
    except (net.UnsafeURL, net.RequestFailed) as exc:
        reason = _without_secret(str(exc), url)
        logger.warning("Slack alert %s failed: %s", key, reason)
        return log_entry("ERROR", f"Slack alert ({event}) failed: {reason}")
    if not response.ok:
        return log_entry(
            "ERROR", f"Slack alert ({event}) failed: HTTP {response.status}."
        )
    return log_entry(
        "INFO", f"Alert ({event}) posted to Slack (HTTP {response.status})."
    )
