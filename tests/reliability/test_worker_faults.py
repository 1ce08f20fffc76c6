"""Items 1, 2, 6, 9 and a triple publish: killed workers, self-killing jobs,
overlapping runs, lost and duplicated messages.

One stack runs every scenario side by side, each on its own queue and worker,
so the module costs about as long as its slowest scenario (a 60 s job whose
worker is killed and which the reaper must end). The overlap jobs (30 s runs
every 10 s) run under the same beat for the whole time.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import wait_for
from tests.reliability.stack import (
    execution_pid,
    pid_alive,
    queue_length,
    unacked_for,
)
from tests.reliability.templates import probe_events

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status

HARD_EXTRA = 5
GRACE = 5
REAPER_INTERVAL = 2
# A killed run may stay `running` for its hard limit plus the reaper's grace,
# plus one reaper interval and a tick of slack until the reaper looks.
SLACK = REAPER_INTERVAL + 3
LONG_JOB_SECONDS = 60
LONG_TIMEOUT = 62
OVERLAP_RUN = 30
OVERLAP_EVERY = 10


def _job(name: str, template: str, queue: str, **overrides) -> DynamicJob:
    data = {
        "name": name,
        "template_type": template,
        "parameters": {},
        "schedule": {"type": "interval", "every_seconds": 3600},
        "enabled": False,
        "queue": queue,
        "timeout_seconds": 30,
        "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
    }
    data.update(overrides)
    return job_services.job_create(user=SYSTEM, data=data)


def _rows(job: DynamicJob) -> list[dict]:
    return list(
        JobExecution.objects.filter(job=job)
        .order_by("attempt", "id")
        .values(
            "id",
            "attempt",
            "status",
            "error",
            "started_at",
            "completed_at",
            "execution_host",
            "first_attempt_id",
        )
    )


def _settled(jobs: list[DynamicJob]) -> bool:
    open_states = (Status.QUEUED, Status.RUNNING, Status.RETRY_PENDING)
    return not JobExecution.objects.filter(
        job__in=jobs, status__in=open_states
    ).exists()


@pytest.fixture(scope="module")
def observed(stacks, django_db_blocker):
    stack = stacks(
        "worker-faults",
        SCHEDULER_HARD_LIMIT_EXTRA_SECONDS=HARD_EXTRA,
        SCHEDULER_REAPER_GRACE_SECONDS=GRACE,
        SCHEDULER_REAPER_INTERVAL_SECONDS=REAPER_INTERVAL,
    )
    stack.start_worker("w_child", concurrency=2, queues="rel_child,rel_misc")
    stack.start_worker("w_main", concurrency=1, queues="rel_main")
    stack.start_worker("w_suicide", concurrency=1, queues="rel_suicide")
    stack.start_worker("w_overlap", concurrency=3, queues="rel_overlap")
    stack.start_beat("beat")
    for name in ("w_child", "w_main", "w_suicide", "w_overlap"):
        stack.wait_ready(name)
    faults: Counter = Counter()
    with django_db_blocker.unblock():
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
        long_params = {"sleep_seconds": LONG_JOB_SECONDS}
        child_job = _job(
            "killed-pool-child",
            "reliability_probe",
            "rel_child",
            parameters=long_params,
            timeout_seconds=LONG_TIMEOUT,
        )
        main_job = _job(
            "killed-main-process",
            "reliability_probe",
            "rel_main",
            parameters={**long_params, "sleep_attempts": 1},
            timeout_seconds=LONG_TIMEOUT,
            retry_policy={"max_retries": 1, "delay_seconds": 1, "backoff": 1.0},
        )
        suicide_job = _job(
            "kills-itself",
            "reliability_self_kill",
            "rel_suicide",
            timeout_seconds=1,
            retry_policy={"max_retries": 2, "delay_seconds": 1, "backoff": 1.0},
        )
        lost_job = _job("lost-message", "reliability_probe", "rel_misc")
        triple_job = _job(
            "published-thrice",
            "reliability_probe",
            "rel_misc",
            parameters={"sleep_seconds": 2},
        )
        jobs = [child_job, main_job, suicide_job, lost_job, triple_job]
        overlap_jobs = {
            policy: _job(
                f"overlap-{policy}",
                "reliability_probe",
                "rel_overlap",
                parameters={"sleep_seconds": OVERLAP_RUN},
                schedule={"type": "interval", "every_seconds": OVERLAP_EVERY},
                enabled=True,
                timeout_seconds=OVERLAP_RUN * 2,
                overlap_policy=policy,
            )
            for policy in ("skip", "queue")
        }
        waiting_seen: list[int] = []

        child_run = execution_services.run_now(job=child_job, user=SYSTEM)
        main_run = execution_services.run_now(job=main_job, user=SYSTEM)
        execution_services.run_now(job=suicide_job, user=SYSTEM)
        triple_run = execution_services.run_now(job=triple_job, user=SYSTEM)
        execution_services.execution_send([triple_run])
        execution_services.execution_send([triple_run])
        faults["duplicate publishes"] += 2

        # Beat committed the row and died before sending: no message at all.
        lost_run = JobExecution.objects.create(
            job=lost_job,
            job_name=lost_job.name,
            template_type=lost_job.template_type,
            scheduled_for=timezone.now(),
            parameters={"sleep_seconds": 0, "sleep_attempts": 0},
            timeout_seconds=30,
            queue="rel_misc",
            celery_task_id="lost-message-task",
            status=Status.QUEUED,
        )
        JobExecution.objects.filter(pk=lost_run.pk).update(
            created_at=timezone.now() - timedelta(seconds=30)
        )
        faults["lost messages"] += 1

        def running(execution):
            row = JobExecution.objects.get(pk=execution.pk)
            return row if row.status == Status.RUNNING and row.execution_host else None

        child_row = wait_for(lambda: running(child_run), timeout=30)
        main_row = wait_for(lambda: running(main_run), timeout=30)
        assert child_row, "the pool-child job never started"
        assert main_row, "the main-process job never started"
        time.sleep(2)
        child_pid = execution_pid(child_row.execution_host)
        os.kill(child_pid, signal.SIGKILL)
        faults["kill -9 pool child"] += 1
        main_children = stack.pool_children("w_main")
        stack.kill9("w_main")
        faults["kill -9 worker main process"] += 1
        stack.start_worker("w_main2", concurrency=1, queues="rel_main")

        lost_done = wait_for(
            lambda: JobExecution.objects.get(pk=lost_run.pk).status == Status.COMPLETED,
            timeout=40,
        )
        # The original message surfaces late, twice: still one run.
        execution_services.execution_send([JobExecution.objects.get(pk=lost_run.pk)])
        execution_services.execution_send([JobExecution.objects.get(pk=lost_run.pk)])
        faults["duplicate publishes"] += 2

        def settled_sampling() -> bool:
            # Runs waiting under overlap policy queue: queued, never sent.
            waiting_seen.append(
                JobExecution.objects.filter(
                    job=overlap_jobs["queue"], status=Status.QUEUED, sent_at=None
                ).count()
            )
            return _settled(jobs)

        settled = wait_for(
            settled_sampling,
            timeout=LONG_TIMEOUT + HARD_EXTRA + GRACE + 60,
            interval=1,
        )
        for job in overlap_jobs.values():
            job_services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
        overlap_settled = wait_for(
            lambda: _settled(list(overlap_jobs.values())),
            timeout=OVERLAP_RUN * 2 + 10,
            interval=1,
        )
        time.sleep(2)  # let late redeliveries show themselves
        snapshot = {
            "settled": settled,
            "lost_done": lost_done,
            "child": _rows(child_job),
            "child_pid": child_pid,
            "child_pool_after": stack.pool_children("w_child"),
            "main": _rows(main_job),
            "main_children": main_children,
            "main_children_alive": [p for p in main_children if pid_alive(p)],
            "suicide": _rows(suicide_job),
            "lost": _rows(lost_job),
            "triple": _rows(triple_job),
            "overlap_settled": overlap_settled,
            "overlap": {
                policy: list(
                    JobExecution.objects.filter(job=job)
                    .order_by("scheduled_for", "attempt")
                    .values(
                        "id",
                        "scheduled_for",
                        "status",
                        "started_at",
                        "completed_at",
                        "result",
                    )
                )
                for policy, job in overlap_jobs.items()
            },
            "waiting_seen": waiting_seen,
            "probe": probe_events(),
            "suicide_queue": queue_length("rel_suicide"),
            "suicide_unacked": unacked_for("rel_suicide"),
            "misc_queue": queue_length("rel_misc"),
            "logs": {name: stack.log(name) for name in list(stack.processes)},
            "faults": faults,
        }
        for model in (JobExecution, DynamicJob):
            model.objects.all().delete()
    stack.stop_all()
    return snapshot


def _starts(snapshot, execution_id: int) -> int:
    return sum(
        1
        for event in snapshot["probe"]
        if event["execution_id"] == execution_id and event["event"] == "start"
    )


def _hard_limit() -> int:
    return LONG_TIMEOUT + HARD_EXTRA


def test_every_scenario_settles_without_running_or_queued_leftovers(observed, figures):
    assert observed["settled"], "some execution was still queued, running or pending"
    figures.update(observed["faults"])
    rows = sum(len(observed[k]) for k in ("child", "main", "suicide", "lost", "triple"))
    figures["runs checked"] += rows


def test_pool_child_killed_mid_job_ends_failed_within_hard_limit_plus_grace(
    observed, figures
):
    [run] = observed["child"]
    assert run["status"] == Status.FAILED
    assert "Worker lost" in run["error"]
    held = (run["completed_at"] - run["started_at"]).total_seconds()
    assert held <= _hard_limit() + GRACE + SLACK, f"running for {held:.0f}s"
    # The redelivered message (reject_on_worker_lost) did not start it again.
    assert _starts(observed, run["id"]) == 1
    figures["duplicates found"] += _starts(observed, run["id"]) - 1
    # The worker replaced its killed pool process.
    assert observed["child_pid"] not in observed["child_pool_after"]
    assert len(observed["child_pool_after"]) == 2


def test_worker_main_process_killed_mid_job_is_retried_as_next_attempt(
    observed, figures
):
    first, second = observed["main"]
    assert first["status"] == Status.FAILED
    assert "Worker lost" in first["error"]
    held = (first["completed_at"] - first["started_at"]).total_seconds()
    assert held <= _hard_limit() + GRACE + SLACK, f"running for {held:.0f}s"
    assert second["attempt"] == 2
    assert second["status"] == Status.COMPLETED
    assert second["first_attempt_id"] == first["id"]
    # Its pool child died with it (no orphan finishing the job behind our back).
    assert observed["main_children"]
    assert observed["main_children_alive"] == []
    starts = [_starts(observed, run["id"]) for run in observed["main"]]
    assert starts == [1, 1]
    figures["duplicates found"] += sum(starts) - 2


def test_self_killing_job_stops_after_max_retries_plus_one_and_queue_drains(
    observed, figures
):
    runs = observed["suicide"]
    assert [run["attempt"] for run in runs] == [1, 2, 3]
    assert [run["status"] for run in runs] == [
        Status.FAILED,
        Status.FAILED,
        Status.EXHAUSTED,
    ]
    assert all("Worker lost" in run["error"] for run in runs)
    starts = [_starts(observed, run["id"]) for run in runs]
    assert starts == [1, 1, 1], "a redelivered message ran a killed attempt again"
    figures["duplicates found"] += sum(starts) - 3
    # No message loop: nothing waits or is held unacknowledged on its queue,
    # and each attempt's redelivery was dropped at most once.
    assert observed["suicide_queue"] == 0
    assert observed["suicide_unacked"] == []
    log = observed["logs"]["w_suicide"]
    for run in runs:
        drops = log.count(f"Execution {run['id']} is running, not queued")
        assert drops <= 1, f"attempt {run['attempt']} redelivered {drops} times"


def test_lost_message_is_resent_by_the_reaper_and_runs_once(observed, figures):
    assert observed["lost_done"], "the reaper never re-sent the lost execution"
    [run] = observed["lost"]
    assert run["status"] == Status.COMPLETED
    assert _starts(observed, run["id"]) == 1
    figures["duplicates found"] += _starts(observed, run["id"]) - 1
    log = observed["logs"]["w_child"]
    assert log.count(f"Execution {run['id']} is completed, not queued") == 2


def test_message_published_three_times_runs_once(observed, figures):
    [run] = observed["triple"]
    assert run["status"] == Status.COMPLETED
    assert _starts(observed, run["id"]) == 1
    figures["duplicates found"] += _starts(observed, run["id"]) - 1
    assert observed["misc_queue"] == 0


def test_nothing_was_lost(observed, figures):
    """Every execution created ended in a recorded final state."""
    rows = [
        r for k in ("child", "main", "suicide", "lost", "triple") for r in observed[k]
    ]
    lost = [r for r in rows if r["status"] not in JobExecution.FINISHED]
    figures["lost"] += len(lost)
    assert lost == []
    assert settings.CELERY_BROKER_URL.startswith("redis://")


def _overlap_checks(observed, policy: str, figures) -> list[dict]:
    assert observed["overlap_settled"]
    rows = observed["overlap"][policy]
    ran = [r for r in rows if r["status"] != Status.SKIPPED]
    skipped = [r for r in rows if r["status"] == Status.SKIPPED]
    figures["runs checked"] += len(rows)
    assert len(ran) >= 2, f"only {len(ran)} runs of the {policy} job"
    assert all(r["status"] == Status.COMPLETED for r in ran)
    # Never two runs at once: each starts after the previous one ended.
    for earlier, later in itertools.pairwise(ran):
        assert later["started_at"] >= earlier["completed_at"], (earlier, later)
    # Every slot is accounted for: a run or a recorded skip, 10 s apart.
    slots = [r["scheduled_for"] for r in rows]
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(slots)}
    assert gaps == {OVERLAP_EVERY}, f"slots missing or doubled: {gaps}"
    assert skipped, "no slot was skipped although runs last 30 s every 10 s"
    for row in skipped:
        assert row["result"]["skipped"] == "overlap"
    starts = [_starts(observed, r["id"]) for r in ran]
    figures["duplicates found"] += sum(starts) - len(ran)
    assert starts == [1] * len(ran)
    return rows


def test_overlap_skip_never_runs_two_at_once_and_records_each_skipped_slot(
    observed, figures
):
    rows = _overlap_checks(observed, "skip", figures)
    for row in rows:
        if row["status"] == Status.SKIPPED:
            assert "overlap policy is skip" in row["result"]["reason"]


def test_overlap_queue_keeps_at_most_one_run_waiting(observed, figures):
    rows = _overlap_checks(observed, "queue", figures)
    assert max(observed["waiting_seen"]) <= 1
    assert 1 in observed["waiting_seen"], "no run ever waited behind a running one"
    # A waiting run starts as soon as the one before ends (no 10 s idle slot).
    ran = [r for r in rows if r["status"] == Status.COMPLETED]
    idle = [
        (later["started_at"] - earlier["completed_at"]).total_seconds()
        for earlier, later in itertools.pairwise(ran)
    ]
    assert min(idle) < 3, idle
