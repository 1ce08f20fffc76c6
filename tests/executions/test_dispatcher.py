from datetime import UTC, datetime, timedelta

import pytest

from executions import services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def make_job(name="job", *, every=60, next_run_at=T0, **overrides) -> DynamicJob:
    data = {
        "name": name,
        "template_type": "heartbeat",
        "schedule": {"type": "interval", "every_seconds": every},
        **overrides,
    }
    job = job_services.job_create(user=SYSTEM, data=data)
    DynamicJob.objects.filter(pk=job.pk).update(next_run_at=next_run_at)
    job.refresh_from_db()
    return job


def test_due_job_gets_one_queued_execution_and_its_next_slot(
    django_capture_on_commit_callbacks,
):
    job = make_job()
    with django_capture_on_commit_callbacks() as callbacks:
        report = services.dispatch_due(now=T0 + timedelta(seconds=1))
    assert (report.due, report.claimed, report.queued) == (1, 1, 1)
    [execution] = JobExecution.objects.all()
    assert execution.status == Status.QUEUED
    assert execution.scheduled_for == T0
    assert execution.attempt == 1
    assert execution.triggered_by == "scheduler"
    assert execution.parameters == job.parameters
    assert len(callbacks) == 1  # the message is sent only after commit
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(seconds=60)


def test_jobs_not_yet_due_or_disabled_are_left_alone():
    make_job("later", next_run_at=T0 + timedelta(seconds=30))
    disabled = make_job("off")
    job_services.job_set_enabled(job=disabled, user=SYSTEM, enabled=False)
    DynamicJob.objects.filter(pk=disabled.pk).update(next_run_at=T0)
    report = services.dispatch_due(now=T0)
    assert report.due == 0
    assert JobExecution.objects.count() == 0


def test_second_dispatcher_with_the_same_snapshot_loses_the_claim():
    make_job()
    assert services.dispatch_due(now=T0).claimed == 1
    # A second beat that read the same row before the first moved next_run_at on.
    DynamicJob.objects.update(next_run_at=T0)
    JobExecution.objects.update(status=Status.COMPLETED)
    assert services.dispatch_due(now=T0).claimed == 1  # same slot claimed again...
    # ...but the unique (job, scheduled_for, attempt) constraint keeps it to one run.
    assert JobExecution.objects.filter(scheduled_for=T0).count() == 1


def test_misfire_run_once_runs_one_catch_up_for_many_missed_slots():
    job = make_job(every=60)
    report = services.dispatch_due(now=T0 + timedelta(minutes=5, seconds=30))
    assert report.queued == 1
    assert JobExecution.objects.get().scheduled_for == T0
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(minutes=6)  # in phase, after now


def test_misfire_skip_records_the_missed_slot_and_runs_nothing():
    make_job(misfire_policy="skip")
    report = services.dispatch_due(now=T0 + timedelta(minutes=5, seconds=30))
    assert (report.queued, report.skipped) == (0, 1)
    execution = JobExecution.objects.get()
    assert execution.status == Status.SKIPPED
    assert execution.result["skipped"] == "misfire"


def test_on_time_slot_runs_even_under_misfire_skip():
    make_job(misfire_policy="skip")
    assert services.dispatch_due(now=T0 + timedelta(seconds=2)).queued == 1


def test_overlap_skip_records_a_skipped_slot_while_a_run_is_active():
    make_job(overlap_policy="skip")
    services.dispatch_due(now=T0)
    JobExecution.objects.update(status=Status.RUNNING)
    report = services.dispatch_due(now=T0 + timedelta(seconds=60))
    assert report.skipped == 1
    skipped = JobExecution.objects.get(status=Status.SKIPPED)
    assert skipped.result["skipped"] == "overlap"


def test_overlap_queue_holds_one_run_and_skips_the_next(
    django_capture_on_commit_callbacks,
):
    make_job(overlap_policy="queue")
    services.dispatch_due(now=T0)
    JobExecution.objects.update(status=Status.RUNNING)
    with django_capture_on_commit_callbacks() as callbacks:
        report = services.dispatch_due(now=T0 + timedelta(seconds=60))
    assert (report.held, report.skipped) == (1, 0)
    assert callbacks == []  # held: not sent while the first runs
    report = services.dispatch_due(now=T0 + timedelta(seconds=120))
    assert report.skipped == 1
    assert JobExecution.objects.filter(status=Status.QUEUED).count() == 1


def test_overlap_allow_queues_regardless():
    make_job(overlap_policy="allow")
    services.dispatch_due(now=T0)
    JobExecution.objects.update(status=Status.RUNNING)
    assert services.dispatch_due(now=T0 + timedelta(seconds=60)).queued == 1


def test_editing_the_schedule_takes_effect_at_the_next_dispatch():
    job = make_job(every=60)
    job_services.job_update(
        job=job,
        user=SYSTEM,
        data={"schedule": {"type": "interval", "every_seconds": 3600}},
        expected_version=job.version,
    )
    job.refresh_from_db()
    assert services.dispatch_due(now=T0 + timedelta(minutes=5)).due == 0


def test_due_retries_are_queued_once(django_capture_on_commit_callbacks):
    job = make_job()
    JobExecution.objects.create(
        job=job,
        job_name=job.name,
        template_type="heartbeat",
        scheduled_for=T0,
        attempt=2,
        status=Status.RETRY_PENDING,
        due_at=T0,
    )
    assert services.dispatch_retries(now=T0 - timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.dispatch_retries(now=T0) == 1
    assert len(callbacks) == 1
    assert services.dispatch_retries(now=T0) == 0
    assert JobExecution.objects.get().status == Status.QUEUED


def test_dispatch_query_count_does_not_grow_with_idle_jobs(django_assert_num_queries):
    for i in range(30):
        make_job(f"idle-{i}", next_run_at=T0 + timedelta(hours=1))
    with django_assert_num_queries(1):
        services.dispatch_due(now=T0)
