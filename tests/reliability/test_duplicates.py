"""Item 3: two beats, a fast clock, a message published three times.

Two beats dispatch an email job and a webhook job every 6 s (a one-minute job
with the clock ten times faster) for a minute. Every slot must give exactly
one execution, one email and one webhook call, each carrying the slot's
idempotency key, so a receiver could drop a repeat even if one happened.
"""

from __future__ import annotations

import itertools
import time

import pytest
from django.db.models import Count
from django.test import override_settings

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import wait_for
from tests.reliability.canary import Canary
from tests.reliability.smtp import SMTPInbox

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status

EVERY = 6
OBSERVE = 60


def _job(name: str, template: str, parameters: dict) -> DynamicJob:
    return job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": template,
            "parameters": parameters,
            "schedule": {"type": "interval", "every_seconds": EVERY},
            "queue": "rel_dup",
            "timeout_seconds": 20,
            # The manual run must not make a slot skip: every slot should send.
            "overlap_policy": "allow",
            "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
        },
    )


def _rows(job: DynamicJob) -> list[dict]:
    rows = (
        JobExecution.objects.filter(job=job)
        .order_by("scheduled_for", "attempt")
        .values("id", "scheduled_for", "attempt", "status", "triggered_by", "error")
    )
    out = []
    for row in rows:
        key = JobExecution(job_id=job.pk, scheduled_for=row["scheduled_for"])
        out.append({**row, "key": key.idempotency_key})
    return out


@pytest.fixture(scope="module")
def observed(stacks, django_db_blocker):
    with SMTPInbox() as smtp, Canary("127.0.0.1") as hook:
        stack = stacks(
            "duplicates",
            SCHEDULER_MIN_INTERVAL_SECONDS=1,
            SCHEDULER_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
            EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
        )
        stack.start_worker("worker", concurrency=3, queues="rel_dup")
        stack.start_beat("beat1")
        stack.start_beat("beat2")
        stack.wait_ready("worker")
        with (
            django_db_blocker.unblock(),
            override_settings(
                SCHEDULER_MIN_INTERVAL_SECONDS=1,
                SCHEDULER_WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"],
            ),
        ):
            for model in (JobExecution, DynamicJob):
                model.objects.all().delete()
            url = f"http://127.0.0.1:{hook.port}/hook"
            mailer = _job(
                "every-slot-email",
                "email_notification",
                {"recipients": ["ops@example.com"], "subject": "Slot", "body": "hi"},
            )
            caller = _job("every-slot-webhook", "webhook_trigger", {"url": url})
            time.sleep(OBSERVE / 2)
            # One message published three times, mid-run.
            manual = execution_services.run_now(job=caller, user=SYSTEM)
            execution_services.execution_send([manual])
            execution_services.execution_send([manual])
            time.sleep(OBSERVE / 2)
            for job in (mailer, caller):
                job_services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
            wait_for(
                lambda: (
                    not JobExecution.objects.filter(
                        status__in=(Status.QUEUED, Status.RUNNING)
                    ).exists()
                ),
                timeout=30,
            )
            time.sleep(2)
            snapshot = {
                "email": _rows(mailer),
                "webhook": _rows(caller),
                "manual_id": manual.pk,
                "duplicates": list(
                    JobExecution.objects.values("job_id", "scheduled_for", "attempt")
                    .annotate(n=Count("id"))
                    .filter(n__gt=1)
                ),
                "messages": [dict(m.items()) for m in smtp.messages],
                "hits": list(hook.hits),
                "beat_logs": stack.log("beat1") + stack.log("beat2"),
            }
            for model in (JobExecution, DynamicJob):
                model.objects.all().delete()
        stack.stop_all()
    return snapshot


def _scheduled(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["triggered_by"] == JobExecution.Trigger.SCHEDULER]


def test_two_beats_give_exactly_one_execution_per_slot(observed, figures):
    figures["runs checked"] += len(observed["email"]) + len(observed["webhook"])
    figures["duplicates found"] += len(observed["duplicates"])
    assert observed["duplicates"] == []
    for kind in ("email", "webhook"):
        rows = _scheduled(observed[kind])
        assert len(rows) >= OBSERVE // EVERY - 2, f"{kind}: {len(rows)} slots"
        slots = [r["scheduled_for"] for r in rows]
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(slots)}
        assert gaps == {EVERY}, f"{kind}: slots missing or doubled: {gaps}"
        assert all(r["status"] == Status.COMPLETED for r in rows), rows


def test_one_email_per_slot_with_the_slot_key_in_its_message_id(observed, figures):
    rows = observed["email"]
    ids = [m["Message-ID"] for m in observed["messages"]]
    figures["emails checked"] += len(ids)
    assert len(ids) == len(rows)
    assert len(set(ids)) == len(ids), "an email was sent twice"
    for row in rows:
        assert sum(row["key"] in message_id for message_id in ids) == 1, row["key"]


def test_one_webhook_call_per_slot_with_its_idempotency_key(observed, figures):
    rows = observed["webhook"]
    keys = [hit["headers"].get("X-Idempotency-Key") for hit in observed["hits"]]
    figures["webhook calls checked"] += len(keys)
    assert len(keys) == len(rows)  # the manual run published thrice counts once
    assert sorted(keys) == sorted(row["key"] for row in rows)
    assert len(set(keys)) == len(keys)


def test_message_published_three_times_calls_the_webhook_once(observed, figures):
    [manual] = [r for r in observed["webhook"] if r["id"] == observed["manual_id"]]
    figures["duplicate publishes"] += 2
    assert manual["status"] == Status.COMPLETED
    keys = [hit["headers"].get("X-Idempotency-Key") for hit in observed["hits"]]
    assert keys.count(manual["key"]) == 1
