"""Issue 16, counting: a run counts once on the dashboard, by its last attempt.

The runs are made by the real state machine (run, fail, retry, exhaust), so the
test sees the rows a worker leaves, not rows shaped to fit the query.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from executions import selectors, services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/executions/jobexecution/dashboard/"
WINDOW = timedelta(hours=24)


def make_job(name: str, *, fail: bool, retries: int):
    return job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "parameters": {"fail": fail},
            "schedule": {"type": "interval", "every_seconds": 60},
            "retry_policy": {
                "max_retries": retries,
                "delay_seconds": 0,
                "backoff": 1.0,
            },
        },
    )


def run_to_the_end(job) -> JobExecution:
    """Run the job now and every retry it asks for; the last attempt."""
    execution = services.run_now(job=job, user=SYSTEM)
    while True:
        services.execution_run(execution_id=execution.pk)
        execution.refresh_from_db()
        retry = JobExecution.objects.filter(
            first_attempt_id=execution.first_attempt_id or execution.pk,
            attempt=execution.attempt + 1,
        ).first()
        if retry is None:
            return execution
        services.dispatch_retries(now=timezone.now() + timedelta(seconds=1))
        execution = retry


def test_a_failure_retried_three_times_counts_once():
    job = make_job("Always fails", fail=True, retries=3)
    last = run_to_the_end(job)
    assert last.status == JobExecution.Status.EXHAUSTED
    assert JobExecution.objects.filter(job=job).count() == 4  # 1 + 3 retries

    metrics = selectors.dashboard_metrics(window=WINDOW)

    assert metrics["failed"] == 1
    assert metrics["total_runs"] == 1
    assert [f["id"] for f in metrics["recent_failures"]] == [last.pk]
    assert metrics["top_jobs"][0]["runs"] == 1


def test_failure_rate_weighs_runs_not_attempts():
    run_to_the_end(make_job("Always fails", fail=True, retries=3))
    for i in range(3):
        run_to_the_end(make_job(f"Works {i}", fail=False, retries=3))

    metrics = selectors.dashboard_metrics(window=WINDOW)

    # One of four runs failed (attempt-counting said 4 of 7).
    assert metrics["failure_rate"] == 0.25
    assert metrics["success_rate"] == 0.75
    _, buckets = selectors.runs_per_bucket(window=WINDOW)
    charted = {}
    for bucket in buckets:
        for status, n in bucket["counts"].items():
            charted[status] = charted.get(status, 0) + n
    assert charted[JobExecution.Status.EXHAUSTED] == 1
    assert charted[JobExecution.Status.FAILED] == 0
    assert charted[JobExecution.Status.COMPLETED] == 3


def test_a_run_still_being_retried_is_not_yet_a_failure():
    job = make_job("Fails, retry waiting", fail=True, retries=3)
    first = services.run_now(job=job, user=SYSTEM)
    services.execution_run(execution_id=first.pk)

    metrics = selectors.dashboard_metrics(window=WINDOW)

    assert metrics["failed"] == 0
    assert metrics["recent_failures"] == []
    assert metrics["retry_pending"] == 1


def test_a_failure_without_retries_still_counts(admin_client_):
    job = make_job("Fails once", fail=True, retries=0)
    last = run_to_the_end(job)
    assert last.status == JobExecution.Status.FAILED

    html = admin_client_.get(DASHBOARD).content.decode()

    assert "100.0 %" in html  # failure rate
    assert html.count(f'href="/admin/executions/jobexecution/{last.pk}/change/"') == 1
