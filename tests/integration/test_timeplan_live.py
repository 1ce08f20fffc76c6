"""Blackout windows and the maintenance pause with a real worker and two real beats."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from executions.models import BeatHeartbeat, JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import timeplan
from tests.integration.harness import Stack, flush_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status
EVERY_10S = {"type": "interval", "every_seconds": 10}
GRACE_SECONDS = 5


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """A worker and two beats whose misfire grace is short, so a pause of
    half a minute counts as missed slots."""
    with django_db_blocker.unblock():
        flush_broker()
    running = Stack(
        tmp_path_factory.mktemp("timeplan"),
        SCHEDULER_MISFIRE_GRACE_SECONDS=GRACE_SECONDS,
    )
    running.start_worker()
    running.start_beat("beat1")
    running.start_beat("beat2")
    yield running
    running.stop_all()


def make_job(name: str, **overrides) -> DynamicJob:
    data = {
        "name": name,
        "template_type": "heartbeat",
        "parameters": {"message": name},
        "schedule": EVERY_10S,
        "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
        **overrides,
    }
    return job_services.job_create(user=SYSTEM, data=data)


def runs(job: DynamicJob, **filters) -> list[JobExecution]:
    return list(
        JobExecution.objects.filter(job=job, attempt=1, **filters).order_by(
            "scheduled_for"
        )
    )


def test_a_window_holds_its_job_while_a_job_outside_it_runs(stack):
    held, free = make_job("held by the window"), make_job("outside the window")
    start = timezone.now()
    window = timeplan.window_create(
        actor=SYSTEM,
        data={
            "name": "Live window",
            "reason": "testing",
            "scope": "job",
            "job": held.pk,
            "starts_at": start,
            "ends_at": start + timedelta(seconds=30),
        },
    )
    ended = window.ends_at

    assert wait_for(lambda: len(runs(held, status=Status.COMPLETED)) >= 1, timeout=60)
    assert len(runs(free, status=Status.COMPLETED)) >= 3
    assert [r for r in runs(held) if r.scheduled_for < ended] == []
    assert all(r.started_at >= ended for r in runs(held))
    assert [r for r in runs(free) if start < r.scheduled_for < ended] != []


def test_a_pause_stops_all_dispatch_and_resume_fires_at_most_once_per_job(stack):
    once = make_job("catches up once")
    skip = make_job("skips what it missed", misfire_policy="skip")
    assert wait_for(
        lambda: all(runs(job, status=Status.COMPLETED) for job in (once, skip)),
        timeout=40,
    )
    timeplan.pause(actor=SYSTEM, reason="live test")
    paused_at = timezone.now()
    time.sleep(2)  # a tick that read the rows before the pause may finish
    before = {job.pk: len(runs(job)) for job in (once, skip)}
    beat_before = BeatHeartbeat.objects.aggregate(last=Max("ticked_at"))["last"]

    time.sleep(25)  # two or three slots of each job, and past the grace

    assert {job.pk: len(runs(job)) for job in (once, skip)} == before
    beat_after = BeatHeartbeat.objects.aggregate(last=Max("ticked_at"))["last"]
    assert beat_after > beat_before + timedelta(seconds=20)  # beat kept ticking

    timeplan.resume(actor=SYSTEM)
    resumed_at = timezone.now()
    assert wait_for(
        lambda: all(len(runs(job)) > before[job.pk] for job in (once, skip)),
        timeout=15,
    )
    time.sleep(1)
    # Only the first missed slot of each job gets an execution: a catch-up run
    # (run once) or a skipped record (skip); the others are never created.
    missed_once = runs(once, scheduled_for__gt=paused_at, scheduled_for__lt=resumed_at)
    missed_skip = runs(skip, scheduled_for__gt=paused_at, scheduled_for__lt=resumed_at)
    assert len(missed_once) == 1
    assert missed_once[0].status in (Status.QUEUED, Status.RUNNING, Status.COMPLETED)
    assert len(missed_skip) == 1
    assert missed_skip[0].status == Status.SKIPPED
    assert missed_skip[0].result["skipped"] == "misfire"
