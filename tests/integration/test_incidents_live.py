"""A failure streak with real processes: a worker, two beats and an SMTP server
on loopback.

A job that fails every 2 seconds opens an incident after three failures in a
row and is alerted once, however many more failures follow; once it succeeds,
`recovered` arrives once. Emails are counted at the SMTP server.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.utils import timezone

from executions.models import Incident, JobExecution
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import Stack, flush_broker, wait_for
from tests.reliability.smtp import SMTPInbox

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
THRESHOLD = 3


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        flush_broker()
    with SMTPInbox() as smtp:
        stack = Stack(
            tmp_path_factory.mktemp("incidents"),
            SCHEDULER_MIN_INTERVAL_SECONDS=1,
            EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
        )
        stack.start_worker(concurrency=2)
        stack.start_beat("beat1")
        stack.start_beat("beat2")
        stack.smtp = smtp
        yield stack
        stack.stop_all()


def emails(stack: Stack, job: DynamicJob) -> list:
    return [
        message
        for message in stack.smtp.messages
        if f"] {job.name}:" in message["Subject"].replace("\n", "")
    ]


def subjects(stack: Stack, job: DynamicJob) -> list[str]:
    return [m["Subject"].replace("\n", "") for m in emails(stack, job)]


def final_failures(job: DynamicJob) -> int:
    return JobExecution.objects.filter(job=job, status="failed").count()


def test_a_failure_streak_alerts_once_and_recovers_once(live):
    job = DynamicJob.objects.create(
        name="incident-live",
        template_type="heartbeat",
        parameters={"fail": True},
        schedule={"type": "interval", "every_seconds": 2},
        next_run_at=timezone.now(),
        retry_policy={"max_retries": 0, "delay_seconds": 0, "backoff": 1.0},
        notifications={"emails": ["ops@example.com"], "on": ["incident", "recovered"]},
        watch={"failure_threshold": THRESHOLD, "realert_minutes": 60},
    )

    assert wait_for(lambda: emails(live, job), timeout=90), live.log("worker")
    assert wait_for(lambda: final_failures(job) >= THRESHOLD + 2, timeout=60)
    incident = Incident.objects.get(job=job)
    assert incident.is_open
    assert incident.failures >= THRESHOLD + 2
    assert subjects(live, job) == [
        f"[Dynamic Scheduler] incident-live: failing, {THRESHOLD} runs in a row"
    ]

    DynamicJob.objects.filter(pk=job.pk).update(parameters={"fail": False})
    assert wait_for(
        lambda: Incident.objects.filter(
            pk=incident.pk, resolved_at__isnull=False
        ).exists(),
        timeout=60,
    ), live.log("worker")
    assert wait_for(lambda: len(emails(live, job)) >= 2, timeout=30)
    # More successes and more beat passes: nothing more may arrive.
    completed = JobExecution.objects.filter(job=job, status="completed").count()
    assert wait_for(
        lambda: (
            JobExecution.objects.filter(job=job, status="completed").count()
            >= completed + 2
        ),
        timeout=30,
    )
    time.sleep(2)
    DynamicJob.objects.filter(pk=job.pk).update(enabled=False)

    got = subjects(live, job)
    assert got[1:] == [
        f"[Dynamic Scheduler] incident-live: recovered after "
        f"{Incident.objects.get(pk=incident.pk).failures} failed runs"
    ], got
    ids = Counter(m["Message-ID"] for m in emails(live, job))
    assert all(n == 1 for n in ids.values()), ids
    incident.refresh_from_db()
    assert incident.resolution == Incident.Resolution.RECOVERED
    assert Incident.objects.filter(job=job).count() == 1
