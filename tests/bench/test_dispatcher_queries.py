"""The dispatcher's database cost per tick does not grow with the job table.

Speed is machine-dependent and measured by `python -m bench.dispatcher`; the
number of queries is not, so it is pinned here. A tick of beat is one pass of
`DynamicJobScheduler.dispatch_dynamic_jobs` (django-celery-beat's own parent
tick is not counted: it reads one row of `PeriodicTasks`).
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.celery import app
from executions import services
from executions.beat import DynamicJobScheduler
from executions.models import JobExecution
from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db

HEARTBEAT = {"message": "hi", "fail": False, "sleep_seconds": 0}
# An idle tick: the earliest next_run_at (one index lookup) and the due-retry
# probe. Nothing else.
IDLE_TICK_QUERIES = 2


def _jobs(count: int, *, due: bool, start: int = 0) -> None:
    now = timezone.now()
    at = now - timedelta(seconds=5) if due else now + timedelta(hours=1)
    DynamicJob.objects.bulk_create(
        DynamicJob(
            name=f"{'due' if due else 'later'}-{start + i}",
            template_type="heartbeat",
            parameters=HEARTBEAT,
            schedule={"type": "interval", "every_seconds": 600},
            next_run_at=at,
            overlap_policy=DynamicJob.OverlapPolicy.SKIP,
        )
        for i in range(count)
    )


@pytest.fixture
def scheduler(monkeypatch):
    """A beat scheduler whose first tick (and first reap) is already done.

    Beat calls close_old_connections() each tick, which would close the test's
    own transaction; here the connection is the test's, so that is a no-op.
    """
    import django_celery_beat.schedulers

    from executions import beat as beat_module

    monkeypatch.setattr(beat_module, "close_old_connections", lambda: None)
    monkeypatch.setattr(
        django_celery_beat.schedulers, "close_old_connections", lambda: None
    )
    beat = DynamicJobScheduler(app=app)
    beat.dispatch_dynamic_jobs()
    beat._next_reap = float("inf")  # the reaper runs every 15 s, not every tick
    return beat


def _tick_queries(beat, capture_on_commit) -> list[str]:
    with CaptureQueriesContext(connection) as queries, capture_on_commit(execute=True):
        beat.dispatch_dynamic_jobs()
    return [q["sql"] for q in queries.captured_queries]


def test_idle_tick_costs_two_queries_with_ten_or_two_thousand_jobs(
    scheduler, django_capture_on_commit_callbacks
):
    _jobs(10, due=False)
    small = _tick_queries(scheduler, django_capture_on_commit_callbacks)
    _jobs(2000, due=False, start=10)
    large = _tick_queries(scheduler, django_capture_on_commit_callbacks)

    assert len(small) == IDLE_TICK_QUERIES, small
    assert len(large) == IDLE_TICK_QUERIES, large


def test_idle_tick_never_reads_all_jobs(scheduler, django_capture_on_commit_callbacks):
    _jobs(50, due=False)

    queries = _tick_queries(scheduler, django_capture_on_commit_callbacks)

    assert all("LIMIT" in sql for sql in queries), queries


def _kinds(queries: list[str]) -> dict[str, int]:
    """Queries by statement and table, e.g. {"UPDATE dynamic_jobs": 1}."""
    counts: dict[str, int] = {}
    for sql in queries:
        words = sql.replace('"', "").split()
        verb = words[0]
        if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
            key = "savepoint"
        elif verb == "INSERT":
            key = f"INSERT {words[2]}"
        elif verb == "UPDATE":
            key = f"UPDATE {words[1]}"
        else:
            key = f"SELECT {words[words.index('FROM') + 1]}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_due_tick_query_count_does_not_depend_on_the_size_of_the_table(
    scheduler, django_capture_on_commit_callbacks
):
    _jobs(30, due=True)
    _jobs(20, due=False)
    small = _tick_queries(scheduler, django_capture_on_commit_callbacks)

    _jobs(30, due=True, start=30)
    _jobs(3000, due=False, start=20)
    large = _tick_queries(scheduler, django_capture_on_commit_callbacks)

    assert JobExecution.objects.filter(sent_at__isnull=False).count() == 60
    assert len(small) == len(large), "\n".join(q[:120] for q in large)


def test_due_tick_claims_any_number_of_due_jobs_with_one_update(
    scheduler, django_capture_on_commit_callbacks
):
    _jobs(3, due=True)
    few = _kinds(_tick_queries(scheduler, django_capture_on_commit_callbacks))
    _jobs(300, due=True, start=3)
    many = _kinds(_tick_queries(scheduler, django_capture_on_commit_callbacks))

    assert JobExecution.objects.filter(sent_at__isnull=False).count() == 303
    # The executions go in with bulk_create: one INSERT on PostgreSQL, batches of
    # Django's SQLite parameter limit there; everything else is fixed.
    inserts_few = few.pop("INSERT job_executions")
    inserts_many = many.pop("INSERT job_executions")
    assert inserts_few == 1
    fields = [f for f in JobExecution._meta.concrete_fields if not f.primary_key]
    per_insert = connection.ops.bulk_batch_size(fields, [None] * 300)
    assert inserts_many == math.ceil(300 / per_insert)
    assert connection.vendor != "postgresql" or inserts_many == 1
    assert few == many
    assert many == {
        "SELECT dynamic_jobs": 3,  # earliest slot, probe, locked read of due rows
        # Only when rows are due: the pause, the calendars, the windows.
        "SELECT scheduler_maintenance_pause": 1,
        "SELECT scheduler_calendars": 1,
        "SELECT scheduler_blackout_windows": 1,
        "UPDATE dynamic_jobs": 1,  # every claim at once, compare-and-set
        "SELECT job_executions": 2,  # active runs of these jobs; due retries probe
        "UPDATE job_executions": 1,  # sent_at, after the messages
        "savepoint": 4,  # the test's transaction makes atomic() a savepoint
    }


def test_dispatch_due_claims_a_batch_with_one_update(
    django_capture_on_commit_callbacks,
):
    _jobs(120, due=True)

    with CaptureQueriesContext(connection) as queries:
        report = services.dispatch_due()

    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")
    ]
    assert report.claimed == 120
    assert len(updates) == 1
    assert DynamicJob.objects.filter(next_run_at__lte=timezone.now()).count() == 0


def test_due_retries_are_queued_with_a_fixed_number_of_queries(
    django_capture_on_commit_callbacks,
):
    _jobs(1, due=False)
    job = DynamicJob.objects.get()
    past = timezone.now() - timedelta(seconds=1)

    def pending(count: int, start: int) -> None:
        JobExecution.objects.bulk_create(
            JobExecution(
                job=job,
                job_name=job.name,
                template_type="heartbeat",
                status=JobExecution.Status.RETRY_PENDING,
                scheduled_for=past - timedelta(minutes=start + i),
                attempt=2,
                due_at=past,
            )
            for i in range(count)
        )

    def run() -> int:
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert services.dispatch_retries() > 0
        return len(queries.captured_queries)

    pending(2, 0)
    few = run()
    pending(200, 10)
    many = run()

    assert few == many
    assert JobExecution.objects.filter(status=JobExecution.Status.QUEUED).count() == 202


def test_tick_sleeps_only_until_the_next_job_is_due(scheduler, settings):
    settings.SCHEDULER_TICK_SECONDS = 5.0
    DynamicJob.objects.create(
        name="soon",
        template_type="heartbeat",
        parameters=HEARTBEAT,
        schedule={"type": "interval", "every_seconds": 600},
        next_run_at=timezone.now() + timedelta(seconds=1.5),
    )

    delay = scheduler.dispatch_dynamic_jobs()

    assert 1.0 < delay <= 1.5
