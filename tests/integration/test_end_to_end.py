"""The spine end to end: real Celery worker, two real beats, real broker and database.

All scenarios run side by side under the same processes, so the module costs
about a minute however many scenarios it holds.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status
OBSERVE_SECONDS = 62


def _job(name: str, **overrides) -> dict:
    data = {
        "name": name,
        "template_type": "heartbeat",
        "parameters": {"message": f"hello from {name}"},
        "schedule": {"type": "interval", "every_seconds": 3600},
        "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
    }
    data.update(overrides)
    return data


@pytest.fixture(scope="module")
def observed(stack, django_db_blocker):
    """Create the scenario jobs, let worker and beats run, and snapshot the outcome."""
    with django_db_blocker.unblock():
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
        ticking = job_services.job_create(
            user=SYSTEM,
            data=_job("every-10s", schedule={"type": "interval", "every_seconds": 10}),
        )
        failing = job_services.job_create(
            user=SYSTEM,
            data=_job(
                "always-fails",
                parameters={"fail": True},
                retry_policy={"max_retries": 2, "delay_seconds": 1, "backoff": 1.0},
            ),
        )
        hanging = job_services.job_create(
            user=SYSTEM,
            data=_job("hangs", parameters={"sleep_seconds": 60}, timeout_seconds=2),
        )
        # A django-celery-beat periodic task beside the dynamic jobs: it sends the
        # executor task for an execution nobody else sends (sent_at stays empty;
        # the reaper would set it).
        legacy_target = JobExecution.objects.create(
            job=hanging,
            job_name="via PeriodicTask",
            template_type="heartbeat",
            scheduled_for=timezone.now(),
            parameters={"message": "sent by django-celery-beat"},
            status=Status.QUEUED,
            celery_task_id=str(uuid.uuid4()),
        )
        every_second, _ = IntervalSchedule.objects.get_or_create(
            every=1, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.create(
            name="django-celery-beat task beside dynamic jobs",
            task="executions.run_execution",
            args=json.dumps([legacy_target.pk]),
            interval=every_second,
            one_off=True,
        )
        started = time.monotonic()
        execution_services.execution_send(
            [
                execution_services.run_now(job=failing, user=SYSTEM),
                execution_services.run_now(job=hanging, user=SYSTEM),
            ]
        )

        def completed_ticks():
            return JobExecution.objects.filter(
                job=ticking, status=Status.COMPLETED
            ).count()

        ticks_by_35s = wait_for(lambda: completed_ticks() >= 2, timeout=35)
        ticks_at_35s = completed_ticks()
        elapsed_for_ticks = time.monotonic() - started
        time.sleep(max(0, OBSERVE_SECONDS - (time.monotonic() - started)))
        snapshot = {
            "ticks_by_35s": ticks_by_35s,
            "ticks_at_35s": ticks_at_35s,
            "elapsed_for_ticks": elapsed_for_ticks,
            "ticking": list(
                JobExecution.objects.filter(job=ticking)
                .order_by("scheduled_for", "attempt")
                .values("scheduled_for", "attempt", "status", "logs", "result")
            ),
            "failing": list(
                JobExecution.objects.filter(job=failing)
                .order_by("attempt")
                .values(
                    "attempt", "status", "error", "first_attempt_id", "id", "due_at"
                )
            ),
            "hanging": list(
                JobExecution.objects.filter(job=hanging, attempt=1)
                .exclude(pk=legacy_target.pk)
                .values("status", "error", "duration_seconds")
            ),
            "duplicates": list(
                JobExecution.objects.values("job_id", "scheduled_for", "attempt")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
            ),
            "beat_logs": stack.log("beat1") + stack.log("beat2"),
            "periodic_task_run": JobExecution.objects.filter(pk=legacy_target.pk)
            .values("status", "sent_at", "result")
            .first(),
        }
        PeriodicTask.objects.all().delete()
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
    return snapshot


def test_interval_job_completes_at_least_twice_in_35_seconds(observed):
    assert observed["ticks_by_35s"], (
        f"only {observed['ticks_at_35s']} completed run(s) after 35 s"
    )
    first = observed["ticking"][0]
    assert first["status"] == Status.COMPLETED
    assert first["result"]["message"] == "hello from every-10s"
    assert any("hello from every-10s" in entry["message"] for entry in first["logs"])


def test_two_beats_produce_one_execution_per_slot_and_lose_none(observed):
    assert observed["duplicates"] == []
    slots = [run["scheduled_for"] for run in observed["ticking"] if run["attempt"] == 1]
    assert len(slots) == len(set(slots))
    assert len(slots) >= 5, f"{len(slots)} slots in {OBSERVE_SECONDS} s"
    gaps = {later - earlier for earlier, later in itertools.pairwise(slots)}
    assert gaps == {timedelta(seconds=10)}, f"slots not 10 s apart: {gaps}"
    assert "already has an execution" not in observed["beat_logs"]


def test_failing_job_with_two_retries_leaves_three_attempts_the_last_exhausted(
    observed,
):
    runs = observed["failing"]
    assert [run["attempt"] for run in runs] == [1, 2, 3]
    assert [run["status"] for run in runs] == [
        Status.FAILED,
        Status.FAILED,
        Status.EXHAUSTED,
    ]
    first_id = runs[0]["id"]
    assert [run["first_attempt_id"] for run in runs] == [None, first_id, first_id]
    assert all("Heartbeat asked to fail" in run["error"] for run in runs)


def test_job_sleeping_past_its_timeout_ends_timeout(observed):
    [run] = observed["hanging"]
    assert run["status"] == Status.TIMEOUT
    assert "Timed out" in run["error"]
    assert run["duration_seconds"] < 10


def test_django_celery_beat_periodic_tasks_still_run_beside_dynamic_jobs(observed):
    run = observed["periodic_task_run"]
    assert run["status"] == Status.COMPLETED
    assert run["result"]["message"] == "sent by django-celery-beat"
    assert run["sent_at"] is None  # sent by the PeriodicTask, not by our reaper
