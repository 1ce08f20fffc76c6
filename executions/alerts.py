"""The channels every notification goes through: email, Slack, a signed webhook.

Two kinds of message use them: notifications about one run (success, failure,
timeout, exhausted: executions.notifications) and alerts about a job (late,
missed, slow, too fast, incident, recovered: `send_alert`). Both are a
`Message` handed to `deliver`, so each channel has one sender, one payload and
one way to fail.

A channel that fails is logged, never raised: a notification must not change
an execution's status or stop beat. Its log line never carries the Slack URL,
the webhook URL's path or the signing secret.

Deduplication is the caller's: each alert is sent after the caller won a
unique row or a compare-and-set (a watch event, an incident), so two beats
never send one alert twice; `Message.key` lets a receiver drop a repeat all
the same (the email's Message-ID, the webhooks' idempotency key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from job_templates import secrets

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Scheduler-Signature"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
EVENT_HEADER = "X-Scheduler-Event"


@dataclass(frozen=True)
class Message:
    """One notification, as every channel renders it.

    `kind` is "notification" (about one run) or "alert" (about the job): it
    names the message in the execution's log ("Notification (failure) emailed
    …"). `key` names it uniquely and is the same for a repeat.
    """

    event: str
    subject: str
    lines: list[str]
    key: str
    job_id: int | None
    job_name: str
    kind: str = "alert"
    execution: dict[str, Any] | None = None
    occurred_at: datetime = field(default_factory=timezone.now)

    @property
    def body(self) -> str:
        return "\n".join(self.lines)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        data: dict[str, Any] = {
            "event": self.event,
            "job": {"id": self.job_id, "name": self.job_name},
            "subject": self.subject,
            "lines": self.lines,
            "occurred_at": self.occurred_at.isoformat(),
        }
        if self.execution is not None:
            data["execution"] = self.execution
        return data


def subscribed(job: Any, event: str) -> bool:
    return event in set((job.notifications or {}).get("on") or [])


def send_alert(
    *,
    job: Any,
    event: str,
    subject: str,
    lines: Iterable[str],
    key: str,
    execution: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Send `event` about `job` to each of its channels; returns log entries.

    `key` names this alert uniquely (e.g. "missed-<job>-<slot>"): it becomes
    the email's Message-ID and the webhooks' idempotency key, so a receiver
    can drop a repeat. Nothing is sent unless the job subscribes to `event`.
    """
    if not subscribed(job, event):
        return []
    message = Message(
        event=event,
        subject=one_line(f"[Dynamic Scheduler] {job.name}: {subject}"),
        lines=[f"Job: {job.name}", f"Event: {event}", *lines],
        key=key,
        job_id=job.pk,
        job_name=job.name,
        execution=execution,
    )
    return deliver(job.notifications or {}, message)


def one_line(subject: str) -> str:
    """A subject fit for a mail header: one line, at most 200 characters."""
    return subject.replace("\r", " ").replace("\n", " ")[:200]


def deliver(config: dict[str, Any], message: Message) -> list[dict[str, str]]:
    """Send `message` to every channel `config` (a job's notifications) names.

    Returns one log entry per channel tried, for the execution's log.
    """
    notes = []
    if config.get("emails"):
        notes.append(email_channel(config["emails"], message))
    if config.get("slack_webhook"):
        url = secrets.unseal_value(config["slack_webhook"])
        notes.append(slack_channel(url, message))
    if config.get("webhook_url"):
        url = secrets.unseal_value(config["webhook_url"])
        secret = secrets.unseal_value(config.get("webhook_secret") or "")
        notes.append(webhook_channel(url, secret, message))
    return notes


def log_entry(level: str, message: str) -> dict[str, str]:
    return {"ts": timezone.now().isoformat(), "level": level, "message": message}


def email_channel(recipients: list[str], message: Message) -> dict[str, str]:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "dynamic-scheduler"
    name = message.kind.capitalize()
    try:
        EmailMessage(
            subject=message.subject,
            body=message.body,
            to=recipients,
            headers={"Message-ID": f"<{message.key}@{domain}>"},
        ).send()
    except Exception as exc:
        logger.warning("Email %s %s failed: %s", message.kind, message.key, exc)
        return log_entry(
            "ERROR", f"Email {message.kind} ({message.event}) failed: {exc}"
        )
    return log_entry(
        "INFO", f"{name} ({message.event}) emailed to {len(recipients)} recipient(s)."
    )


def slack_channel(url: str, message: Message) -> dict[str, str]:
    """Post to a Slack incoming webhook; the URL is the secret."""
    payload = json.dumps({"text": f"*{message.subject}*\n{message.body}"}).encode()
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: message.key}
    return _post("Slack", url, payload, headers, message, secret="")


def webhook_channel(url: str, secret: str, message: Message) -> dict[str, str]:
    """POST the message as JSON, signed with the job's webhook secret.

    The signature is `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as
    Stripe signs its webhooks: the receiver recomputes it over the raw body
    and refuses an old `t`, so a captured request cannot be replayed later.
    Without a secret the request goes unsigned.
    """
    body = json.dumps(message.payload(), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: message.key,
        EVENT_HEADER: message.event,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return _post("Webhook", url, body, headers, message, secret=secret)


def signature(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The X-Scheduler-Signature value of `body` at `timestamp` (now by default)."""
    t = int(timezone.now().timestamp()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{t}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={t},v1={digest}"


def _post(
    channel: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    message: Message,
    *,
    secret: str,
) -> dict[str, str]:
    """Through the SSRF guard and its total deadline (job_templates.net).

    The URL was checked when it was saved; the address it resolves to now is
    checked again, since DNS can change.
    """
    from job_templates import net

    what = f"{channel} {message.kind} ({message.event})"
    try:
        response = net.safe_request(
            "POST",
            url,
            headers=headers,
            body=body,
            timeout=settings.SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS,
        )
    except (net.UnsafeURL, net.RequestFailed) as exc:
        reason = without_secret(str(exc), url, secret)
        logger.warning("%s %s failed: %s", channel, message.key, reason)
        return log_entry("ERROR", f"{what} failed: {reason}")
    if not response.ok:
        return log_entry("ERROR", f"{what} failed: HTTP {response.status}.")
    where = "Slack" if channel == "Slack" else "the webhook"
    return log_entry(
        "INFO",
        f"{message.kind.capitalize()} ({message.event}) posted to {where} "
        f"(HTTP {response.status}).",
    )


def without_secret(text: str, url: str, secret: str = "") -> str:
    """`text` with the URL's path and query, and the secret, masked out."""
    parts = urlsplit(url)
    for hidden in (url, parts.path, parts.query):
        if hidden and len(hidden) > 1:
            text = text.replace(hidden, f"/{secrets.SECRET_MASK}")
    if secret:
        text = text.replace(secret, secrets.SECRET_MASK)
    return text
