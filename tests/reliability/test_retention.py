"""Item 14: retention, the per-execution log cap, and bounded growth over a month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from executions import services as execution_services
from executions.housekeeping import executions_prune, housekeeping_run
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from tests.factories import DynamicJobFactory, JobExecutionFactory
from tests.integration.harness import wait_for
from tests.reliability.stack import redis_client

pytestmark = pytest.mark.reliability
Status = JobExecution.Status


def _aged(days: float, **fields) -> JobExecution:
    execution = JobExecutionFactory(**fields)
    JobExecution.objects.filter(pk=execution.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )
    return execution


@pytest.mark.django_db
def test_prune_deletes_finished_executions_past_retention_in_batches():
    job = DynamicJobFactory()
    old = [
        _aged(91, job=job, scheduled_for=timezone.now() - timedelta(days=91, seconds=i))
        for i in range(7)
    ]
    young = _aged(89, job=job)
    report = executions_prune(retention_days=90, batch_size=3)
    assert report.deleted == 7
    assert report.batches == 3
    assert not JobExecution.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert JobExecution.objects.filter(pk=young.pk).exists()


@pytest.mark.django_db
def test_prune_keeps_old_executions_that_are_still_active():
    job = DynamicJobFactory()
    kept = [
        _aged(
            200,
            job=job,
            status=status,
            scheduled_for=timezone.now() - timedelta(minutes=i),
        )
        for i, status in enumerate(
            (Status.QUEUED, Status.RUNNING, Status.RETRY_PENDING)
        )
    ]
    assert executions_prune(retention_days=90).deleted == 0
    assert JobExecution.objects.filter(pk__in=[e.pk for e in kept]).count() == 3


@pytest.mark.django_db
def test_prune_of_a_first_attempt_keeps_its_young_retry():
    job = DynamicJobFactory()
    slot = timezone.now() - timedelta(days=95)
    first = _aged(95, job=job, scheduled_for=slot, status=Status.FAILED)
    retry = _aged(1, job=job, scheduled_for=slot, attempt=2, first_attempt=first)
    assert executions_prune(retention_days=90).deleted == 1
    retry.refresh_from_db()
    assert retry.first_attempt_id is None


@pytest.mark.django_db
def test_retention_of_zero_days_keeps_everything(settings):
    settings.SCHEDULER_EXECUTION_RETENTION_DAYS = 0
    _aged(10_000)
    assert housekeeping_run() == {"executions_deleted": 0, "batches": 0}
    assert JobExecution.objects.count() == 1


@pytest.mark.django_db
def test_housekeeping_uses_the_retention_setting(settings):
    settings.SCHEDULER_EXECUTION_RETENTION_DAYS = 7
    _aged(8)
    kept = _aged(6)
    assert housekeeping_run()["executions_deleted"] == 1
    assert list(JobExecution.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db
def test_logs_of_one_execution_are_capped_in_entries_and_characters(settings):
    settings.SCHEDULER_LOG_MAX_ENTRIES = 100
    settings.SCHEDULER_LOG_MAX_MESSAGE_CHARS = 500
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": "log-flood",
            "template_type": "reliability_log_flood",
            "parameters": {"lines": 5_000, "chars": 20_000},
            "schedule": {"type": "interval", "every_seconds": 3600},
            "enabled": False,
        },
    )
    execution = execution_services.run_now(job=job, user=SYSTEM)
    assert (
        execution_services.execution_run(execution_id=execution.pk) == Status.COMPLETED
    )
    execution.refresh_from_db()
    assert len(execution.logs) == 101  # 100 kept and one "dropped" marker
    assert execution.logs_dropped == 5_000 - 100
    assert "4900 log entries dropped" in execution.logs[50]["message"]
    assert execution.logs[0]["message"].startswith("line 0 ")
    assert execution.logs[-1]["message"].startswith("line 4999 ")
    assert max(len(entry["message"]) for entry in execution.logs) < 600
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_size(logs) FROM job_executions WHERE id = %s",
            [execution.pk],
        )
        assert cursor.fetchone()[0] < 100_000


# --- A simulated month ------------------------------------------------------

RETENTION_DAYS = 3
SIMULATED_DAYS = 30
EVERY = 10
PER_HOUR = 3600 // EVERY


def _copy_for_the_rest_of_the_hour(execution_id: int) -> None:
    """Write the hour's other slots as copies of the run the executor just made."""
    copied = [
        f.column
        for f in JobExecution._meta.concrete_fields
        if f.column not in ("id", "scheduled_for", "celery_task_id")
    ]
    columns = ", ".join(copied)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO job_executions ({columns}, scheduled_for, celery_task_id) "  # noqa: S608
            f"SELECT {columns}, scheduled_for + n * interval '{EVERY} seconds', "
            "'sim-' || n FROM job_executions, generate_series(1, %s) AS n "
            "WHERE id = %s",
            [PER_HOUR - 1, execution_id],
        )


def _table_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM job_executions")  # what autovacuum does in production
        cursor.execute("SELECT pg_total_relation_size('job_executions')")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_job_every_10_seconds_for_a_month_keeps_the_table_bounded(figures):
    """A month of a 10-second job under a 3-day retention, with the clock moved.

    Every simulated hour the real dispatcher claims the job's slot and the real
    executor runs it; the other 359 slots of the hour are written as the
    executor leaves them (completed, with a log line) in one bulk insert, which
    keeps the month to a minute. The real housekeeping runs every hour.
    """
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with (
        override_settings(
            SCHEDULER_EXECUTION_RETENTION_DAYS=RETENTION_DAYS,
            SCHEDULER_MISFIRE_GRACE_SECONDS=3 * 3600,
        ),
        time_machine.travel(start, tick=False) as clock,
    ):
        job = job_services.job_create(
            user=SYSTEM,
            data={
                "name": "every-10s-for-a-month",
                "template_type": "heartbeat",
                "parameters": {"message": "tick"},
                "schedule": {"type": "interval", "every_seconds": EVERY},
                "queue": "rel_month",
                "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1},
            },
        )
        rows_by_day, bytes_by_day = [], []
        created = 0
        for hour in range(1, SIMULATED_DAYS * 24 + 1):
            now = start + timedelta(hours=hour)
            clock.move_to(now)
            report = execution_services.dispatch_due()
            assert report.claimed == 1
            real = JobExecution.objects.filter(job=job, status=Status.QUEUED).get()
            assert execution_services.execution_run(execution_id=real.pk) == (
                Status.COMPLETED
            )
            _copy_for_the_rest_of_the_hour(real.pk)
            created += PER_HOUR
            housekeeping_run()
            if hour % 24 == 0:
                rows_by_day.append(JobExecution.objects.count())
                bytes_by_day.append(_table_bytes())
    redis_client().delete("rel_month")
    per_day = PER_HOUR * 24
    ceiling = RETENTION_DAYS * per_day + PER_HOUR
    steady = rows_by_day[RETENTION_DAYS:]
    figures["simulated executions (month)"] += created
    figures["executions kept at the end of the month"] = rows_by_day[-1]
    assert created == SIMULATED_DAYS * per_day
    assert max(rows_by_day) <= ceiling, rows_by_day
    assert max(steady) - min(steady) <= PER_HOUR, rows_by_day
    # Space is reused after pruning: the last day is no bigger than the first
    # steady day, give or take a quarter for index and page slack.
    assert bytes_by_day[-1] <= bytes_by_day[RETENTION_DAYS + 1] * 1.25, bytes_by_day


# --- The housekeeping job, under a real beat and worker ------------------------


@pytest.mark.django_db(transaction=True)
def test_beat_runs_housekeeping_that_prunes_old_executions(stacks, figures):
    """Beat sends executions.housekeeping (CELERY_BEAT_SCHEDULE); a worker prunes."""
    old = _aged(3, status=Status.COMPLETED)
    young = _aged(0.5, job=old.job, scheduled_for=timezone.now())
    stack = stacks(
        "housekeeping",
        SCHEDULER_EXECUTION_RETENTION_DAYS=1,
        SCHEDULER_HOUSEKEEPING_INTERVAL_SECONDS=2,
    )
    stack.start_worker("worker", concurrency=1, queues="celery")
    stack.start_beat("beat")
    pruned = wait_for(
        lambda: not JobExecution.objects.filter(pk=old.pk).exists(), timeout=45
    )
    stack.stop_all()
    assert pruned, "no housekeeping ran:\n" + stack.log("beat")[-2000:]
    assert JobExecution.objects.filter(pk=young.pk).exists()
    assert "executions.housekeeping" in stack.log("worker")
