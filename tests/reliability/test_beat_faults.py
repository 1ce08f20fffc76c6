"""Item 7: missed slots while beat is down, and beat restarts that must not starve.

One worker and one beat at a time: a beat that is stopped must be the only
one, or another would dispatch the slots it misses.
"""

from __future__ import annotations

import itertools
import signal
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import wait_for
from tests.reliability.templates import probe_events

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status

MISS_EVERY = 3
GRACE = 2
OUTAGE = 17  # beat down across at least five 3 s slots
LONG_EVERY = 15
RESTART_PHASE = 50


def _job(name: str, every: int, **overrides) -> DynamicJob:
    data = {
        "name": name,
        "template_type": "reliability_probe",
        "parameters": {},
        "schedule": {"type": "interval", "every_seconds": every},
        "queue": "rel_beat",
        "timeout_seconds": 30,
        "overlap_policy": "allow",
        "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
    }
    data.update(overrides)
    return job_services.job_create(user=SYSTEM, data=data)


def _rows(job: DynamicJob) -> list[dict]:
    return list(
        JobExecution.objects.filter(job=job)
        .order_by("scheduled_for")
        .values("id", "scheduled_for", "created_at", "status", "result")
    )


def _beat_started(stack, name: str) -> bool:
    return "beat: Starting..." in stack.log(name)


@pytest.fixture(scope="module")
def observed(stacks, django_db_blocker):
    stack = stacks(
        "beat-faults",
        SCHEDULER_MIN_INTERVAL_SECONDS=1,
        SCHEDULER_MISFIRE_GRACE_SECONDS=GRACE,
    )
    stack.start_worker("worker", concurrency=3, queues="rel_beat")
    stack.start_beat("beat0")
    stack.wait_ready("worker")
    with (
        django_db_blocker.unblock(),
        override_settings(
            SCHEDULER_MISFIRE_GRACE_SECONDS=GRACE, SCHEDULER_MIN_INTERVAL_SECONDS=1
        ),
    ):
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
        run_once = _job("missed-run-once", MISS_EVERY, misfire_policy="run_once")
        skip = _job("missed-skip", MISS_EVERY, misfire_policy="skip")

        def completed(job, at_least):
            return (
                JobExecution.objects.filter(job=job, status=Status.COMPLETED).count()
                >= at_least
            )

        assert wait_for(
            lambda: completed(run_once, 2) and completed(skip, 2), timeout=40
        )
        stack.stop("beat0")
        stopped_at = timezone.now()
        time.sleep(OUTAGE)
        stack.start_beat("beat1")
        restarted_at = timezone.now()
        wait_for(lambda: _beat_started(stack, "beat1"), timeout=30)
        time.sleep(3 * MISS_EVERY)
        for job in (run_once, skip):
            job_services.job_set_enabled(job=job, user=SYSTEM, enabled=False)

        # Phase two: beat restarted every few seconds, a 15 s job must still run.
        long_job = _job("long-interval", LONG_EVERY)
        phase_started = timezone.now()
        restarts = 0
        current = "beat1"
        for n in itertools.count(2):
            if (timezone.now() - phase_started).total_seconds() > RESTART_PHASE:
                break
            wait_for(lambda name=current: _beat_started(stack, name), timeout=30)
            time.sleep(1.5)
            if n % 2:
                stack.signal(current, signal.SIGKILL)
                stack.processes.pop(current).wait(timeout=10)
            else:
                stack.stop(current)
            restarts += 1
            current = f"beat{n}"
            stack.start_beat(current)
        wait_for(lambda name=current: _beat_started(stack, name), timeout=30)
        time.sleep(2)
        phase_ended = timezone.now()
        job_services.job_set_enabled(job=long_job, user=SYSTEM, enabled=False)
        wait_for(
            lambda: (
                not JobExecution.objects.filter(
                    status__in=(Status.QUEUED, Status.RUNNING)
                ).exists()
            ),
            timeout=20,
        )
        snapshot = {
            "stopped_at": stopped_at,
            "restarted_at": restarted_at,
            "run_once": _rows(run_once),
            "skip": _rows(skip),
            "long": _rows(long_job),
            "long_first_slot": phase_started + timedelta(seconds=LONG_EVERY),
            "phase_ended": phase_ended,
            "restarts": restarts,
            "probe": probe_events(),
        }
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
    stack.stop_all()
    return snapshot


def _outage(rows: list[dict]) -> tuple[dict, int]:
    """The row dispatched for the missed slots, and how many slots the gap spans."""
    slots = [row["scheduled_for"] for row in rows]
    gaps = [
        round((b - a).total_seconds() / MISS_EVERY)
        for a, b in itertools.pairwise(slots)
    ]
    widest = max(range(len(gaps)), key=gaps.__getitem__)
    # Every other gap is one slot: nothing doubled, nothing dropped outside the outage.
    assert sorted(gaps)[:-1] == [1] * (len(gaps) - 1), gaps
    return rows[widest], gaps[widest]


def test_missed_slots_run_once_catch_up_gives_exactly_one_run(observed, figures):
    rows = observed["run_once"]
    catch_up, missed = _outage(rows)
    figures["beat stops"] += 1
    figures["runs checked"] += len(rows)
    assert missed >= 5, f"beat was down across only {missed} slots"
    assert catch_up["created_at"] >= observed["restarted_at"]
    assert catch_up["status"] == Status.COMPLETED
    # Exactly one row was made for all the missed slots, not five.
    made_after_restart_for_the_gap = [
        row
        for row in rows
        if row["created_at"] >= observed["restarted_at"]
        and row["scheduled_for"] < observed["restarted_at"]
    ]
    assert made_after_restart_for_the_gap == [catch_up]


def test_missed_slots_under_skip_run_none_and_record_the_miss(observed, figures):
    rows = observed["skip"]
    missed_row, missed = _outage(rows)
    figures["runs checked"] += len(rows)
    assert missed >= 5
    assert missed_row["status"] == Status.SKIPPED
    assert missed_row["result"]["skipped"] == "misfire"
    assert "misfire policy is skip" in missed_row["result"]["reason"]
    ran_for_the_gap = [
        row
        for row in rows
        if row["created_at"] >= observed["restarted_at"]
        and row["scheduled_for"] < observed["restarted_at"]
        and row["status"] != Status.SKIPPED
    ]
    assert ran_for_the_gap == []
    probe_ids = {e["execution_id"] for e in observed["probe"]}
    assert missed_row["id"] not in probe_ids


def test_beat_restarted_every_few_seconds_does_not_starve_a_long_interval_job(
    observed, figures
):
    rows = observed["long"]
    figures["beat restarts"] += observed["restarts"]
    figures["runs checked"] += len(rows)
    assert observed["restarts"] >= 6
    elapsed = (observed["phase_ended"] - observed["long_first_slot"]).total_seconds()
    expected = int(elapsed // LONG_EVERY) + 1
    assert len(rows) >= expected - 1 >= 2, (len(rows), expected)
    assert all(row["status"] == Status.COMPLETED for row in rows)
    slots = [row["scheduled_for"] for row in rows]
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(slots)} == {
        LONG_EVERY
    }
    starts = [e for e in observed["probe"] if e["event"] == "start"]
    ids = [
        e["execution_id"]
        for e in starts
        if e["execution_id"] in {r["id"] for r in rows}
    ]
    assert len(ids) == len(set(ids)) == len(rows)
