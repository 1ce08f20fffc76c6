"""Live log lines with a real worker: seen while the run runs, kept when it is
cancelled or times out.

The page's endpoint is asked through the test client while the worker (a real
Celery process on the real broker) writes to the same database. The cancel
comes last: it ends the worker's pool process, and the module's other run
should not depend on how fast the pool replaces it.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from tests.integration.harness import Stack, flush_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        flush_broker()
    stack = Stack(tmp_path_factory.mktemp("live-logs"))
    stack.start_worker(concurrency=2)
    yield stack
    stack.stop_all()


def _run(name: str, *, sleep: int, timeout: int = 120) -> JobExecution:
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "parameters": {"message": f"{name} says hello", "sleep_seconds": sleep},
            "schedule": {"type": "interval", "every_seconds": 3600},
            "timeout_seconds": timeout,
            "retry_policy": {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0},
        },
    )
    return execution_services.run_now(job=job, user=SYSTEM, dry_run=False)


def _poll(client, execution: JobExecution, offset: int = 0) -> dict:
    url = reverse("admin:executions_jobexecution_logs", args=[execution.pk])
    response = client.get(url, {"offset": offset})
    assert response.status_code == 200
    return response.json()


def _messages(tail: dict) -> list[str]:
    return [line["message"] for line in tail["lines"]]


def test_a_timed_out_run_keeps_its_lines(worker, client, superuser):
    execution = _run("overrunner", sleep=60, timeout=3)
    client.force_login(superuser)

    ended = wait_for(
        lambda: (tail := _poll(client, execution))["finished"] and tail, timeout=90
    )

    assert ended, f"run did not end; worker log:\n{worker.log('worker')}"
    assert ended["status"] == Status.TIMEOUT
    messages = _messages(ended)
    assert messages[:2] == ["overrunner says hello", "Sleeping 60 seconds"]
    assert any("Timed out" in message for message in messages)
    assert ended["duration_seconds"] >= 3


def test_lines_appear_while_the_run_runs_and_stay_after_a_cancel(
    worker, client, superuser
):
    execution = _run("slow-talker", sleep=25)
    client.force_login(superuser)

    seen = wait_for(
        lambda: (
            (tail := _poll(client, execution))["status"] == Status.RUNNING
            and "Sleeping 25 seconds" in _messages(tail)
            and tail
        ),
        timeout=30,
    )

    assert seen, f"no live line while running; worker log:\n{worker.log('worker')}"
    assert _messages(seen)[:2] == ["slow-talker says hello", "Sleeping 25 seconds"]
    assert _poll(client, execution, offset=2)["lines"] == []  # nothing new yet

    execution_services.execution_cancel(execution=execution, user=superuser)
    page = client.get(
        reverse("admin:executions_jobexecution_change", args=[execution.pk])
    ).content.decode()
    after = _poll(client, execution)

    assert after["status"] == Status.CANCELLED
    assert after["finished"] is True
    assert "slow-talker says hello" in _messages(after)
    assert after["duration_seconds"] > 0
    assert "slow-talker says hello" in page
    assert "No log lines" not in page
