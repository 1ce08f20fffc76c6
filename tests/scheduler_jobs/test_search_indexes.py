import pytest
from django.db import connection

from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="trigram indexes exist only on PostgreSQL"
)
def test_job_search_expressions_have_trigram_indexes():
    """The index expressions must be exactly what icontains generates, or unused."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'dynamic_jobs'"
        )
        indexes = dict(cursor.fetchall())
    sql, _ = DynamicJob.objects.filter(
        name__icontains="x", description__icontains="y"
    ).query.sql_with_params()
    assert "gin_trgm_ops" in indexes["dynamic_jobs_name_trgm"]
    assert "gin_trgm_ops" in indexes["dynamic_jobs_description_trgm"]
    assert 'UPPER("dynamic_jobs"."name"::text)' in sql
    # PostgreSQL drops the no-op cast of a text column, so the index matches.
    assert 'UPPER("dynamic_jobs"."description"::text)' in sql
    assert "upper(description)" in indexes["dynamic_jobs_description_trgm"]
