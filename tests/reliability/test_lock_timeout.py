"""Item 5: a cleanup blocked on a database lock past its timeout.

Another transaction holds the rows the cleanup must delete. The run must end
`timeout`, its own statement must stop waiting (so it holds no locks and
deletes nothing later behind the user's back), and the worker must go on
serving: the soft time limit interrupts the wait and Django drops the
interrupted connection, so the pool process either gets a fresh connection or,
when the soft limit cannot interrupt it, is killed by the hard limit and
replaced.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import wait_for
from tests.reliability.stack import execution_pid
from tests.testapp.models import Ticket

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status

TIMEOUT = 8  # the cleanup stops starting batches 5 s before its timeout
HARD_EXTRA = 5
GRACE = 5


def _dsn() -> str:
    db = connection.settings_dict
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
        f"dbname={db['NAME']} user={db['USER'] or 'postgres'}"
        + (f" password={db['PASSWORD']}" if db.get("PASSWORD") else "")
    )


def _cleanup_statements(conn) -> list[tuple]:
    """Backends (other than ours) still running or waiting on a ticket delete."""
    return conn.execute(
        "SELECT pid, state, wait_event_type FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query ILIKE 'DELETE FROM \"testapp_tickets\"%%' AND state <> 'idle'"
    ).fetchall()


@pytest.fixture(scope="module")
def observed(stacks, django_db_blocker):
    stack = stacks(
        "lock-timeout",
        SCHEDULER_HARD_LIMIT_EXTRA_SECONDS=HARD_EXTRA,
        SCHEDULER_REAPER_GRACE_SECONDS=GRACE,
    )
    stack.start_worker("worker", concurrency=1, queues="rel_lock")
    stack.start_beat("beat")
    stack.wait_ready("worker")
    with django_db_blocker.unblock():
        for model in (JobExecution, DynamicJob, Ticket):
            model.objects.all().delete()
        Ticket.objects.bulk_create(
            Ticket(title=f"old {i}", status="closed") for i in range(5)
        )
        job = job_services.job_create(
            user=SYSTEM,
            data={
                "name": "blocked-cleanup",
                "template_type": "database_cleanup",
                "parameters": {
                    "collection": "testapp.Ticket",
                    "condition": {"status": "closed"},
                    "dry_run": False,
                },
                "schedule": {"type": "interval", "every_seconds": 3600},
                "enabled": False,
                "queue": "rel_lock",
                "timeout_seconds": TIMEOUT,
                "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1},
            },
        )
        probe = job_services.job_create(
            user=SYSTEM,
            data={
                "name": "after-the-timeout",
                "template_type": "reliability_probe",
                "schedule": {"type": "interval", "every_seconds": 3600},
                "enabled": False,
                "queue": "rel_lock",
            },
        )
        holder = psycopg.connect(_dsn())
        observer = psycopg.connect(_dsn(), autocommit=True)
        try:
            holder.execute("SELECT id FROM testapp_tickets FOR UPDATE").fetchall()
            execution = execution_services.run_now(job=job, user=SYSTEM)
            row = wait_for(
                lambda: (
                    JobExecution.objects.filter(pk=execution.pk, status=Status.RUNNING)
                    .exclude(execution_host="")
                    .first()
                ),
                timeout=30,
            )
            assert row, "the cleanup never started"
            pid = execution_pid(row.execution_host)
            blocked = wait_for(lambda: _cleanup_statements(observer), timeout=10)
            started = time.monotonic()
            ended = wait_for(
                lambda: (
                    JobExecution.objects.get(pk=execution.pk).status != Status.RUNNING
                ),
                timeout=TIMEOUT + HARD_EXTRA + GRACE + 15,
            )
            held_for = time.monotonic() - started
            # Still holding our lock: nothing of the cleanup may be waiting on it.
            time.sleep(2)
            waiting_after = _cleanup_statements(observer)
            holder.rollback()
            time.sleep(3)
            follow_up = execution_services.run_now(job=probe, user=SYSTEM)
            follow_up_done = wait_for(
                lambda: (
                    JobExecution.objects.get(pk=follow_up.pk).status == Status.COMPLETED
                ),
                timeout=30,
            )
            snapshot = {
                "ended": ended,
                "held_for": held_for,
                "blocked": blocked,
                "waiting_after": waiting_after,
                "run": JobExecution.objects.filter(pk=execution.pk).values().get(),
                "tickets_left": Ticket.objects.count(),
                "pid": pid,
                "pool_after": stack.pool_children("worker"),
                "follow_up_done": follow_up_done,
                "worker_log": stack.log("worker"),
            }
        finally:
            holder.close()
            observer.close()
        for model in (JobExecution, DynamicJob, Ticket):
            model.objects.all().delete()
    stack.stop_all()
    return snapshot


def test_cleanup_blocked_on_a_lock_ends_timeout(observed, figures):
    figures["lock waits injected"] += 1
    figures["runs checked"] += 1
    assert observed["blocked"], "the cleanup never waited on the lock"
    assert observed["ended"]
    run = observed["run"]
    assert run["status"] == Status.TIMEOUT, (run["status"], run["error"])
    assert "Timed out" in run["error"]


def test_blocked_cleanup_releases_its_lock_and_deletes_nothing_later(observed):
    assert observed["waiting_after"] == []
    assert observed["tickets_left"] == 5


def test_worker_goes_on_serving_after_the_blocked_cleanup(observed):
    assert observed["pool_after"], "the worker has no pool process left"
    assert observed["follow_up_done"], "the next run on that worker never completed"
