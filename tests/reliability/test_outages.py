"""Item 8: warm shutdown, broker down, database down.

Jobs keep coming due while Redis (60 s) and then PostgreSQL (30 s) are
stopped. Every slot's execution must end in a final state, nothing may run
twice, the API must answer 503 while the database is away, and beat and
worker must recover without being restarted.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import wait_for
from tests.reliability.outages import MAX_OUTAGE, postgres_down, redis_down
from tests.reliability.templates import probe_events

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status

BROKER_OUTAGE = min(MAX_OUTAGE, int(os.environ.get("RELIABILITY_BROKER_OUTAGE", 60)))
DB_OUTAGE = min(MAX_OUTAGE, int(os.environ.get("RELIABILITY_DB_OUTAGE", 30)))
EVERY = 3
OPEN = (Status.QUEUED, Status.RUNNING, Status.RETRY_PENDING)


def _job(name: str, **overrides) -> DynamicJob:
    data = {
        "name": name,
        "template_type": "reliability_probe",
        "parameters": {"sleep_seconds": 0.5},
        "schedule": {"type": "interval", "every_seconds": EVERY},
        "queue": "rel_outage",
        "timeout_seconds": 5,
        "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
    }
    data.update(overrides)
    return job_services.job_create(user=SYSTEM, data=data)


def _rows(job: DynamicJob) -> list[dict]:
    return list(
        JobExecution.objects.filter(job=job)
        .order_by("scheduled_for", "attempt")
        .values("id", "scheduled_for", "status", "error", "created_at", "result")
    )


def _completed_since(jobs, moment) -> bool:
    return all(
        JobExecution.objects.filter(
            job=job, status=Status.COMPLETED, started_at__gt=moment
        ).exists()
        for job in jobs
    )


def _drained() -> bool:
    return not JobExecution.objects.filter(status__in=OPEN).exists()


@pytest.fixture(scope="module")
def observed(stacks, django_db_blocker):
    stack = stacks(
        "outages",
        SCHEDULER_MIN_INTERVAL_SECONDS=1,
        SCHEDULER_MISFIRE_GRACE_SECONDS=2,
        SCHEDULER_REQUEUE_AFTER_SECONDS=15,
        SCHEDULER_HARD_LIMIT_EXTRA_SECONDS=3,
        SCHEDULER_REAPER_GRACE_SECONDS=3,
    )
    stack.start_worker("w1", concurrency=1, queues="rel_outage")
    stack.wait_ready("w1")
    snapshot: dict = {"faults": {}}
    with (
        django_db_blocker.unblock(),
        override_settings(SCHEDULER_MIN_INTERVAL_SECONDS=1),
    ):
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()

        # 1. Warm shutdown while a run is in progress and another waits.
        drain_job = _job(
            "drained",
            parameters={"sleep_seconds": 4},
            enabled=False,
            timeout_seconds=30,
        )
        in_progress = execution_services.run_now(job=drain_job, user=SYSTEM)
        assert wait_for(
            lambda: (
                JobExecution.objects.get(pk=in_progress.pk).status == Status.RUNNING
            ),
            timeout=20,
        )
        waiting = execution_services.run_now(job=drain_job, user=SYSTEM)
        stack.signal("w1", signal.SIGTERM)
        stack.processes.pop("w1").wait(timeout=40)
        snapshot["drain_status_at_exit"] = JobExecution.objects.get(
            pk=in_progress.pk
        ).status
        stack.start_worker("w2", concurrency=2, queues="rel_outage")
        stack.wait_ready("w2")
        wait_for(
            lambda: JobExecution.objects.get(pk=waiting.pk).status == Status.COMPLETED,
            timeout=30,
        )
        time.sleep(3)  # a redelivered message would show up by now
        snapshot["drain"] = {
            "in_progress": JobExecution.objects.get(pk=in_progress.pk).status,
            "waiting": JobExecution.objects.get(pk=waiting.pk).status,
            "ids": (in_progress.pk, waiting.pk),
        }

        # 2. Broker down while jobs come due every 3 s.
        stack.start_beat("beat")
        run_once = _job("through-outages-run-once", misfire_policy="run_once")
        skip = _job("through-outages-skip", misfire_policy="skip")
        jobs = [run_once, skip]
        created_at = timezone.now()
        assert wait_for(lambda: _completed_since(jobs, created_at), timeout=40)
        with redis_down():
            broker_down_at = timezone.now()
            time.sleep(BROKER_OUTAGE)
        broker_back_at = timezone.now()
        snapshot["broker_recovered"] = wait_for(
            lambda: _completed_since(jobs, broker_back_at), timeout=90, interval=1
        )
        snapshot["broker_recovery_seconds"] = (
            timezone.now() - broker_back_at
        ).total_seconds()
        snapshot["alive_after_broker"] = {
            name: p.poll() is None for name, p in stack.processes.items()
        }

        # 3. Database down; the API answers 503 meanwhile.
        user = get_user_model().objects.create_superuser(
            "outage", "o@example.com", "x" * 12
        )
        token = Token.objects.create(user=user).key
        api = Client(HTTP_AUTHORIZATION=f"Token {token}")
        snapshot["api_before"] = api.get("/api/v1/scheduler-jobs/").status_code
        connections.close_all()
        with postgres_down():
            db_down_at = time.monotonic()
            response = api.get("/api/v1/scheduler-jobs/")
            snapshot["api_during"] = {
                "status": response.status_code,
                "retry_after": response.headers.get("Retry-After"),
                "body": response.content.decode(errors="replace")[:500],
            }
            connections.close_all()
            time.sleep(max(0, DB_OUTAGE - (time.monotonic() - db_down_at)))
        connections.close_all()
        db_back_at = timezone.now()
        snapshot["db_recovered"] = wait_for(
            lambda: _completed_since(jobs, db_back_at), timeout=60, interval=1
        )
        snapshot["db_recovery_seconds"] = (timezone.now() - db_back_at).total_seconds()
        snapshot["api_after"] = api.get("/api/v1/scheduler-jobs/").status_code
        snapshot["alive_after_db"] = {
            name: p.poll() is None for name, p in stack.processes.items()
        }
        for job in jobs:
            job_services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
        snapshot["drained"] = wait_for(_drained, timeout=60, interval=1)
        time.sleep(2)
        snapshot.update(
            {
                "broker_down_at": broker_down_at,
                "db_back_at": db_back_at,
                "run_once": _rows(run_once),
                "skip": _rows(skip),
                "stuck": list(
                    JobExecution.objects.filter(status__in=OPEN).values("id", "status")
                ),
                "probe": probe_events(),
                "logs": {n: stack.log(n) for n in ("w1", "w2", "beat")},
            }
        )
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
    stack.stop_all()
    return snapshot


def _starts(observed, execution_id: int) -> int:
    return sum(
        1
        for e in observed["probe"]
        if e["execution_id"] == execution_id and e["event"] == "start"
    )


def test_warm_shutdown_finishes_the_run_in_progress_and_does_not_rerun_it(
    observed, figures
):
    figures["warm shutdowns"] += 1
    drain = observed["drain"]
    assert observed["drain_status_at_exit"] == Status.COMPLETED
    assert drain["in_progress"] == Status.COMPLETED
    assert drain["waiting"] == Status.COMPLETED
    starts = [_starts(observed, pk) for pk in drain["ids"]]
    figures["duplicates found"] += sum(starts) - 2
    assert starts == [1, 1]


def test_broker_outage_recovers_by_itself(observed, figures):
    figures["broker outages (s)"] += BROKER_OUTAGE
    assert observed["broker_recovered"], "no run completed after Redis came back"
    assert all(observed["alive_after_broker"].values()), observed["alive_after_broker"]


def test_database_outage_recovers_by_itself(observed, figures):
    figures["database outages (s)"] += DB_OUTAGE
    assert observed["db_recovered"], "no run completed after PostgreSQL came back"
    assert all(observed["alive_after_db"].values()), observed["alive_after_db"]


def test_api_answers_503_while_the_database_is_down(observed):
    assert observed["api_before"] == 200
    during = observed["api_during"]
    assert during["status"] == 503, during
    assert "database_unavailable" in during["body"]
    assert during["retry_after"]
    assert observed["api_after"] == 200


def test_every_slot_through_both_outages_ends_in_a_final_state(observed, figures):
    assert observed["drained"]
    assert observed["stuck"] == []
    for kind in ("run_once", "skip"):
        rows = observed[kind]
        figures["runs checked"] += len(rows)
        assert all(row["status"] in JobExecution.FINISHED for row in rows)
        slots = [row["scheduled_for"] for row in rows]
        assert slots == sorted(set(slots)), "a slot has two executions"
        ran = [row for row in rows if row["status"] != Status.SKIPPED]
        starts = [_starts(observed, row["id"]) for row in ran]
        figures["duplicates found"] += sum(s for s in starts if s > 1) - sum(
            1 for s in starts if s > 1
        )
        assert max(starts, default=0) <= 1, "an execution ran twice"
        # Completed runs really ran; failed ones say why.
        for row, count in zip(ran, starts, strict=True):
            if row["status"] == Status.COMPLETED:
                assert count == 1
            else:
                assert row["error"]
