"""The executor's database round trips per run, pinned.

A py-spy profile of a worker showed a heartbeat's time going to the database,
one round trip at a time. On PostgreSQL a run that completes is two statements
(the claim, which also marks the job running and reads what the finish needs,
and the finish); elsewhere it is the ORM form. Speed itself is measured by
`python -m bench.throughput`.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions import services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM

pytestmark = pytest.mark.django_db
Status = JobExecution.Status

# PostgreSQL: claim + finish. Elsewhere: read the execution, claim it and mark
# the job running, read the job, record the outcome and the job's last status.
QUERIES_PER_COMPLETED_RUN = 2 if connection.vendor == "postgresql" else 6


def _queued(name: str, **options) -> JobExecution:
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "parameters": {"message": "hi"},
            "schedule": {"type": "interval", "every_seconds": 60},
            **options,
        },
    )
    return services.run_now(job=job, user=SYSTEM)


def test_a_completed_run_costs_a_fixed_number_of_queries():
    execution = _queued("counted")
    with CaptureQueriesContext(connection) as queries:
        assert services.execution_run(execution_id=execution.pk) == Status.COMPLETED
    # Transaction control (the test's savepoints) is not a statement of the run.
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    assert len(statements) == QUERIES_PER_COMPLETED_RUN, [s[:40] for s in statements]


def test_a_failed_run_with_a_retry_policy_still_reads_the_job_again():
    """Retries follow the job as it is when the run ends, not as it started."""
    execution = _queued(
        "fails", parameters={"fail": True}, retry_policy={"max_retries": 1}
    )
    with CaptureQueriesContext(connection) as queries:
        assert services.execution_run(execution_id=execution.pk) == Status.FAILED
    assert any(
        'FROM "dynamic_jobs"' in q["sql"] and q["sql"].startswith("SELECT")
        for q in queries.captured_queries
    )
    assert JobExecution.objects.filter(
        first_attempt=execution, status=Status.RETRY_PENDING
    ).exists()
