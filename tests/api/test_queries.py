"""List endpoints run a fixed number of queries, however many rows (no N+1)."""

import pytest
from django.utils import timezone

from audit import services as audit
from tests.api.conftest import JOB_PERMS, grant, token_client
from tests.factories import DynamicJobFactory, JobExecutionFactory, UserFactory

pytestmark = pytest.mark.django_db

# Token lookup (with its user), the user's permissions and its groups'.
AUTH_QUERIES = 3


@pytest.fixture
def client():
    user = grant(UserFactory(username="counter"), *JOB_PERMS)
    return token_client(user)


def _many_jobs(n):
    users = [UserFactory() for _ in range(3)]
    jobs = [DynamicJobFactory(created_by=users[i % 3]) for i in range(n)]
    for job in jobs:
        JobExecutionFactory(job=job, scheduled_for=timezone.now())
    return jobs


@pytest.mark.parametrize("rows", [2, 30])
def test_job_list_queries_do_not_grow_with_rows(
    client, django_assert_num_queries, rows
):
    _many_jobs(rows)

    # + COUNT, the page (creators joined in) and the page's pending changes.
    with django_assert_num_queries(AUTH_QUERIES + 3):
        response = client.get("/api/v1/scheduler-jobs/")

    assert response.status_code == 200
    assert len(response.json()["results"]) == rows
    assert all(job["created_by"] for job in response.json()["results"])


@pytest.mark.parametrize("rows", [2, 30])
def test_execution_list_queries_do_not_grow_and_do_not_count(
    client, django_assert_num_queries, rows
):
    _many_jobs(rows)

    # The page only: no COUNT on a table that grows to millions of rows.
    with django_assert_num_queries(AUTH_QUERIES + 1) as captured:
        response = client.get("/api/v1/executions/?status=completed")

    assert response.status_code == 200
    assert len(response.json()["results"]) == rows
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)


@pytest.mark.parametrize("rows", [2, 30])
def test_job_history_queries_do_not_grow(client, django_assert_num_queries, rows):
    job = DynamicJobFactory()
    now = timezone.now()
    for i in range(rows):
        JobExecutionFactory(job=job, scheduled_for=now - timezone.timedelta(minutes=i))

    # The job's existence, then the page.
    with django_assert_num_queries(AUTH_QUERIES + 2):
        response = client.get(f"/api/v1/scheduler-jobs/{job.pk}/executions/")

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [2, 30])
def test_audit_list_queries_do_not_grow(client, django_assert_num_queries, rows):
    job = DynamicJobFactory()
    for _ in range(rows):
        audit.record(actor=UserFactory(), action="update", target=job)

    with django_assert_num_queries(AUTH_QUERIES + 1):
        response = client.get("/api/v1/audit/")

    assert len(response.json()["results"]) == rows


def test_template_list_is_one_query(client, django_assert_num_queries):
    with django_assert_num_queries(AUTH_QUERIES + 1):
        response = client.get("/api/v1/job-templates/")

    assert response.status_code == 200


def test_job_list_orders_by_the_unique_name_alone(client, django_user_model):
    """`name, id` would stop the database from using the unique index on name."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    staff = django_user_model.objects.create_superuser("orderer", "o@example.com", "x")
    client.force_login(staff)
    DynamicJobFactory.create_batch(2)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/scheduler-jobs/").status_code == 200
    page_sql = [q["sql"] for q in queries if "LIMIT" in q["sql"]][-1]
    assert page_sql.rstrip().split("ORDER BY")[1].split("LIMIT")[0].strip() == (
        '"dynamic_jobs"."name" ASC'
    )
