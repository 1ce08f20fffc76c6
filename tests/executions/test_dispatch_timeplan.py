"""The dispatcher with calendars, blackout windows and the maintenance pause."""

from datetime import UTC, datetime, timedelta

import pytest

from executions import services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob
from scheduler_jobs.services import timeplan

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # a Wednesday


def make_job(name="job", *, next_run_at=T0, schedule=None, **overrides) -> DynamicJob:
    data = {
        "name": name,
        "template_type": "heartbeat",
        "schedule": schedule or {"type": "interval", "every_seconds": 60},
        **overrides,
    }
    job = job_services.job_create(user=SYSTEM, data=data)
    DynamicJob.objects.filter(pk=job.pk).update(next_run_at=next_run_at)
    job.refresh_from_db()
    return job


def late_window(**extra) -> BlackoutWindow:
    """A window saved around the services: the jobs' next runs were computed
    before it existed, as when it is created while beat is mid-tick."""
    return BlackoutWindow.objects.create(
        name="DB upgrade",
        reason="database migration",
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(minutes=10),
        **extra,
    )


def test_a_due_slot_inside_a_window_is_recorded_skipped_with_the_reason():
    job = make_job()
    late_window(scope="job", job=job)
    other = make_job("other")
    report = services.dispatch_due(now=T0 + timedelta(seconds=1))
    assert (report.claimed, report.skipped, report.queued) == (2, 1, 1)
    held = JobExecution.objects.get(job=job)
    assert held.status == Status.SKIPPED
    assert held.result == {
        "skipped": "blackout",
        "reason": "Blackout window 'DB upgrade': database migration",
    }
    assert JobExecution.objects.get(job=other).status == Status.QUEUED
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(minutes=10)  # the first slot after it


def test_a_deferred_slot_runs_once_at_the_window_end():
    job = make_job(
        schedule={"type": "interval", "every_seconds": 60, "in_blackout": "defer"}
    )
    late_window()
    report = services.dispatch_due(now=T0 + timedelta(seconds=1))
    assert (report.claimed, report.deferred, report.queued) == (1, 1, 0)
    assert not JobExecution.objects.exists()
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(minutes=10)

    later = services.dispatch_due(now=T0 + timedelta(minutes=10, seconds=1))
    assert later.queued == 1
    assert JobExecution.objects.get().scheduled_for == T0 + timedelta(minutes=10)
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(minutes=11)


def test_a_holiday_added_after_the_next_run_was_computed_skips_that_day():
    Calendar.objects.create(name="ops")
    job = make_job(
        schedule={
            "type": "cron",
            "cron": "0 12 * * *",
            "timezone": "UTC",
            "calendar": "ops",
            "calendar_rule": "business_days",
        }
    )
    Calendar.objects.filter(name="ops").update(
        extra_holidays=[{"date": "2026-07-01", "name": "Summer party"}]
    )
    report = services.dispatch_due(now=T0 + timedelta(seconds=1))
    assert report.skipped == 1
    assert JobExecution.objects.get().result == {
        "skipped": "calendar",
        "reason": "Holiday: Summer party (calendar ops)",
    }
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(days=1)


def test_a_calendar_job_is_claimed_to_its_next_business_day():
    Calendar.objects.create(name="ops")
    friday = datetime(2026, 7, 3, 12, tzinfo=UTC)
    job = make_job(
        next_run_at=friday,
        schedule={
            "type": "cron",
            "cron": "0 12 * * *",
            "timezone": "UTC",
            "calendar": "ops",
        },
    )
    assert services.dispatch_due(now=friday).queued == 1
    job.refresh_from_db()
    assert job.next_run_at == friday + timedelta(days=3)  # Monday


def pending_retry(job: DynamicJob) -> JobExecution:
    return JobExecution.objects.create(
        job=job,
        job_name=job.name,
        template_type="heartbeat",
        scheduled_for=T0 - timedelta(hours=1),
        attempt=2,
        status=Status.RETRY_PENDING,
        due_at=T0,
    )


def test_the_pause_dispatches_nothing_and_resume_catches_up_once_per_job():
    once = make_job("once")
    skip = make_job("skip", misfire_policy="skip")
    retry = pending_retry(once)
    timeplan.pause(actor=SYSTEM, reason="Database upgrade")

    for minute in range(1, 6):
        now = T0 + timedelta(minutes=minute)
        report = services.dispatch_due(now=now)
        assert report.paused
        assert report.claimed == 0
        assert services.dispatch_retries(now=now) == 0
    assert JobExecution.objects.filter(attempt=1).count() == 0
    retry.refresh_from_db()
    assert retry.status == Status.RETRY_PENDING

    timeplan.resume(actor=SYSTEM)
    back = T0 + timedelta(minutes=5, seconds=30)
    report = services.dispatch_due(now=back)
    assert (report.claimed, report.queued, report.skipped) == (2, 1, 1)
    # One execution per job for five minutes of missed slots: no burst.
    assert JobExecution.objects.get(job=once, attempt=1).status == Status.QUEUED
    assert JobExecution.objects.get(job=skip, attempt=1).status == Status.SKIPPED
    assert services.dispatch_due(now=back).claimed == 0
    for job in (once, skip):
        job.refresh_from_db()
        assert job.next_run_at == T0 + timedelta(minutes=6)
    assert services.dispatch_retries(now=back) == 1


def test_a_pause_with_a_resume_time_ends_by_itself(time_machine):
    time_machine.move_to(T0 - timedelta(minutes=1))
    make_job()
    timeplan.pause(actor=SYSTEM, reason="window", resume_at=T0 + timedelta(minutes=2))
    assert services.dispatch_due(now=T0 + timedelta(minutes=1)).paused
    assert services.dispatch_due(now=T0 + timedelta(minutes=2)).queued == 1


def test_an_idle_tick_reads_no_pause_calendar_or_window(django_assert_num_queries):
    make_job(next_run_at=T0 + timedelta(hours=1))
    Calendar.objects.create(name="ops")
    late_window()
    timeplan.pause(actor=SYSTEM, reason="upgrade")
    with django_assert_num_queries(1):
        services.dispatch_due(now=T0)
    with django_assert_num_queries(1):
        services.dispatch_retries(now=T0)
