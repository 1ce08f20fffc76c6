"""Races at the edge, on PostgreSQL: optimistic locking and the job quota.

Each thread is a separate client with its own database connection, as separate
web workers would be; a barrier releases them together.
"""

import threading

import pytest
from django.db import connection, connections

from scheduler_jobs.models import DynamicJob
from tests.api.conftest import JOB_PERMS, job_payload, token_client
from tests.factories import DynamicJobFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks and advisory locks under real concurrency need "
        "PostgreSQL (set DATABASE_URL); SQLite serialises every write anyway",
    ),
]


def run_concurrently(n, request):
    """Call request(i) in n threads released at once; returns the responses."""
    barrier = threading.Barrier(n)
    responses = [None] * n
    errors = []

    def worker(i):
        try:
            barrier.wait(timeout=30)
            responses[i] = request(i)
        except Exception as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return responses


def test_50_concurrent_patches_with_one_version_exactly_one_wins(make_user, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1000/min"
    user = make_user(*JOB_PERMS)
    clients = [token_client(user) for _ in range(50)]
    job = DynamicJobFactory(version=1)

    responses = run_concurrently(
        50,
        lambda i: clients[i].patch(
            f"/api/v1/scheduler-jobs/{job.pk}/",
            {"description": f"writer {i}", "version": 1},
            format="json",
        ),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 49
    assert {r.json()["current_version"] for r in responses if r.status_code == 409} == {
        2
    }
    winner = next(r for r in responses if r.status_code == 200).json()
    job.refresh_from_db()
    assert job.version == 2
    assert job.description == winner["description"]


def test_20_concurrent_creates_at_quota_10_make_exactly_10_jobs(make_user, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1000/min"
    settings.SCHEDULER_MAX_JOBS_PER_USER = 10
    user = make_user(*JOB_PERMS)
    clients = [token_client(user) for _ in range(20)]

    responses = run_concurrently(
        20,
        lambda i: clients[i].post(
            "/api/v1/scheduler-jobs/", job_payload(name=f"race {i}"), format="json"
        ),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [403] * 10
    assert all(
        r.json()["code"] == "quota_exceeded" for r in responses if r.status_code == 403
    )
    assert DynamicJob.objects.filter(created_by=user).count() == 10


def test_20_concurrent_creates_at_the_system_quota(make_user, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1000/min"
    settings.SCHEDULER_MAX_JOBS = 10
    clients = [token_client(make_user(*JOB_PERMS)) for _ in range(20)]

    responses = run_concurrently(
        20,
        lambda i: clients[i].post(
            "/api/v1/scheduler-jobs/", job_payload(name=f"race {i}"), format="json"
        ),
    )

    assert sorted(r.status_code for r in responses) == [201] * 10 + [403] * 10
    assert DynamicJob.objects.count() == 10


def test_concurrent_creates_with_one_name_make_one_job(make_user, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1000/min"
    clients = [token_client(make_user(*JOB_PERMS)) for _ in range(10)]

    responses = run_concurrently(
        10,
        lambda i: clients[i].post(
            "/api/v1/scheduler-jobs/", job_payload(name="same name"), format="json"
        ),
    )

    assert sorted(r.status_code for r in responses) == [201] + [400] * 9
    assert all("name" in r.json() for r in responses if r.status_code == 400)
    assert DynamicJob.objects.count() == 1
