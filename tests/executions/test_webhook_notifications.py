"""The signed generic webhook: a real HTTP server on 127.0.0.1 receives each
notification and checks its signature as a receiver would."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.core import mail

from executions import alerts, services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
SECRET = "whsec-0123456789-abcdef"
PATH = "/notify/T0PathNeverLogged"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """The README's receiver check."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    signed = f"{fields['t']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(fields["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, fields["v1"])


def make_job(url: str, *, secret: str = SECRET, on=("failure",), fail=True):
    return job_services.job_create(
        user=SYSTEM,
        data={
            "name": "nightly",
            "template_type": "heartbeat",
            "parameters": {"fail": fail},
            "schedule": {"type": "interval", "every_seconds": 60},
            "retry_policy": {"max_retries": 0},
            "notifications": {
                "webhook_url": url,
                "webhook_secret": secret,
                "on": list(on),
            },
        },
    )


def run(job) -> JobExecution:
    execution = services.run_now(job=job, user=SYSTEM)
    services.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    return execution


def test_a_failed_run_is_posted_as_signed_json(capture):
    job = make_job(capture.url(PATH))
    execution = run(job)

    [request] = capture.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["Content-Type"] == "application/json"
    assert verify(SECRET, request.headers["X-Scheduler-Signature"], request.body)
    assert not verify(
        "another secret", request.headers["X-Scheduler-Signature"], request.body
    )
    assert request.headers["X-Idempotency-Key"] == (
        f"{execution.idempotency_key}-a1-failure"
    )
    assert request.headers["X-Scheduler-Event"] == "failure"
    payload = json.loads(request.body)
    assert payload["event"] == "failure"
    assert payload["job"] == {"id": job.pk, "name": "nightly"}
    assert payload["execution"]["id"] == execution.pk
    assert payload["execution"]["status"] == "failed"
    assert payload["subject"] == "[Dynamic Scheduler] nightly: failed"
    assert "Error:" in payload["lines"]
    assert payload["occurred_at"]
    assert execution.logs[-1]["message"] == (
        "Notification (failure) posted to the webhook (HTTP 200)."
    )


def test_a_changed_body_or_an_old_signature_does_not_verify(capture):
    run(make_job(capture.url(PATH)))
    [request] = capture.requests
    header = request.headers["X-Scheduler-Signature"]
    assert not verify(SECRET, header, request.body.replace(b"failure", b"success"))
    old = alerts.signature(SECRET, request.body, timestamp=int(time.time()) - 3600)
    assert not verify(SECRET, old, request.body)


def test_without_a_secret_the_request_goes_unsigned(capture):
    run(make_job(capture.url(PATH), secret=""))
    [request] = capture.requests
    assert "X-Scheduler-Signature" not in request.headers
    assert json.loads(request.body)["event"] == "failure"


def test_a_job_alert_goes_to_the_webhook_signed_too(capture):
    job = make_job(capture.url(PATH), on=("incident",))
    DynamicJob.objects.filter(pk=job.pk).update(
        watch={**job.watch, "failure_threshold": 1}
    )
    job.refresh_from_db()
    run(job)
    [request] = capture.requests
    assert verify(SECRET, request.headers["X-Scheduler-Signature"], request.body)
    payload = json.loads(request.body)
    assert payload["event"] == "incident"
    assert payload["subject"] == "[Dynamic Scheduler] nightly: failing, 1 run in a row"
    assert payload["execution"]["status"] == "failed"
    assert request.headers["X-Idempotency-Key"].startswith("incident-")


@pytest.mark.parametrize("answer", [500, None])
def test_a_failing_receiver_is_logged_not_raised(capture, answer, caplog):
    if answer is None:
        url = "http://127.0.0.1:9" + PATH  # nothing listens there
    else:
        capture.routes[PATH] = (answer, {}, b"no")
        url = capture.url(PATH)
    execution = run(make_job(url))

    assert execution.status == Status.FAILED
    last = execution.logs[-1]
    assert last["level"] == "ERROR"
    assert last["message"].startswith("Webhook notification (failure) failed")
    if answer == 500:
        assert last["message"].endswith("HTTP 500.")
    everything = json.dumps(execution.logs) + caplog.text
    assert "T0PathNeverLogged" not in everything
    assert SECRET not in everything


def test_one_message_reaches_every_channel_once(capture, settings):
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": "everywhere",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 60},
            "notifications": {
                "emails": ["ops@example.com"],
                "slack_webhook": capture.url("/slack"),
                "webhook_url": capture.url(PATH),
                "webhook_secret": SECRET,
                "on": ["success"],
            },
        },
    )
    execution = run(job)
    assert len(mail.outbox) == 1
    assert sorted(r.path for r in capture.requests) == sorted(["/slack", PATH])
    assert [e["message"] for e in execution.logs[-3:]] == [
        "Notification (success) emailed to 1 recipient(s).",
        "Notification (success) posted to Slack (HTTP 200).",
        "Notification (success) posted to the webhook (HTTP 200).",
    ]
