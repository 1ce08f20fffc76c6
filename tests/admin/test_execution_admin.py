"""Execution history: the list at scale, the detail page, re-run and cancel."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from executions.admin import CappedCountPaginator
from executions.models import JobExecution
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/executions/jobexecution/"


def detail(execution):
    return f"{LIST}{execution.pk}/change/"


def test_list_shows_status_job_trigger_attempt_and_duration(editor_client):
    job = DynamicJobFactory(name="nightly")
    JobExecutionFactory(job=job, status="failed", attempt=2, duration_seconds=1.5)
    html = editor_client.get(LIST).content.decode()
    assert 'class="ds-badge ds-status-failed"' in html
    assert "nightly" in html
    assert "1.5 s" in html
    assert "Scheduler" in html


def test_list_query_count_does_not_grow_with_rows(
    editor_client, django_assert_max_num_queries
):
    for _ in range(3):
        JobExecutionFactory()
    with django_assert_max_num_queries(10) as few:
        editor_client.get(LIST)
    for _ in range(40):
        JobExecutionFactory(triggered_by="manual")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert editor_client.get(LIST).status_code == 200


def test_list_never_counts_the_whole_table(editor_client, django_assert_num_queries):
    JobExecutionFactory()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        editor_client.get(LIST)
    counts = [
        q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()
    ]
    assert counts, "the paginator still counts the page it shows"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_capped_paginator_stops_counting_at_the_cap(monkeypatch):
    monkeypatch.setattr("executions.admin.COUNT_CAP", 5)
    for _ in range(8):
        JobExecutionFactory()
    paginator = CappedCountPaginator(JobExecution.objects.order_by("-id"), 2)
    assert paginator.count == 5
    assert paginator.num_pages == 3


def test_list_filters_by_status_template_trigger_and_job(editor_client):
    a = DynamicJobFactory(name="job-a")
    b = DynamicJobFactory(name="job-b")
    JobExecutionFactory(job=a, status="completed")
    JobExecutionFactory(job=b, status="failed", triggered_by="manual")
    html = editor_client.get(LIST + "?status__exact=failed").content.decode()
    assert "job-b" in html
    assert "job-a</a>" not in html
    html = editor_client.get(f"{LIST}?job={a.pk}").content.decode()
    assert "job-a</a>" in html
    assert "job-b</a>" not in html
    html = editor_client.get(LIST + "?triggered_by__exact=manual").content.decode()
    assert "job-b</a>" in html
    assert "job-a</a>" not in html
    html = editor_client.get(LIST + "?template=backup").content.decode()
    assert "job-a</a>" not in html


def test_detail_shows_result_summary_logs_and_traceback(editor_client):
    execution = JobExecutionFactory(
        status="failed",
        result={"rows_deleted": 12431, "tables": ["a", "b"]},
        error="ValueError: boom\n\nTraceback (last 1 frames):\n  File x, line 1",
        logs=[
            {
                "ts": "2026-01-01T10:00:00.123+00:00",
                "level": "INFO",
                "message": "start",
            },
            {
                "ts": "2026-01-01T10:00:01.000+00:00",
                "level": "ERROR",
                "message": "boom",
            },
        ],
        started_at=timezone.now(),
        completed_at=timezone.now(),
    )
    html = editor_client.get(detail(execution)).content.decode()
    assert "Rows deleted" in html
    assert "12\u202f431" in html
    assert 'class="ds-level-ERROR"' in html
    assert "boom" in html
    assert "data-ds-log-toolbar" in html
    assert 'data-level="ERROR"' in html
    assert "ds-traceback" in html
    assert "ValueError: boom" in html


def test_detail_links_attempts_of_one_run(editor_client):
    first = JobExecutionFactory(status="failed")
    second = JobExecutionFactory(
        job=first.job,
        status="completed",
        attempt=2,
        first_attempt=first,
        scheduled_for=first.scheduled_for,
    )
    html = editor_client.get(detail(second)).content.decode()
    assert f'href="{detail(first)}"' in html
    assert "Attempt 2 (this one)" in html


def test_detail_masks_secret_parameters(editor_client):
    execution = JobExecutionFactory(
        template_type="webhook_trigger",
        job=None,
        job_name="hook",
        parameters={"url": "https://example.com/h", "signing_secret": "s3cr3t-value"},
    )
    html = editor_client.get(detail(execution)).content.decode()
    assert "s3cr3t-value" not in html


def test_rerun_needs_the_run_permission(editor_client, operator_client, operator):
    execution = JobExecutionFactory(status="failed")
    assert "Re-run" not in editor_client.get(detail(execution)).content.decode()
    assert editor_client.post(f"{LIST}{execution.pk}/rerun/").status_code == 403
    assert "Re-run" in operator_client.get(detail(execution)).content.decode()
    response = operator_client.post(f"{LIST}{execution.pk}/rerun/")
    new = JobExecution.objects.exclude(pk=execution.pk).get()
    assert response["Location"] == detail(new)
    assert new.triggered_by == "manual"
    assert new.triggered_by_user == operator
    assert AuditEntry.objects.filter(action="run", source="admin").exists()


def test_cancel_a_queued_execution(operator_client):
    execution = JobExecutionFactory(status="queued")
    assert "Cancel execution" in operator_client.get(detail(execution)).content.decode()
    operator_client.post(f"{LIST}{execution.pk}/cancel/", {"confirm": "1"})
    execution.refresh_from_db()
    assert execution.status == "cancelled"
    assert AuditEntry.objects.filter(action="cancel").exists()


def test_cancel_of_a_finished_execution_says_why(operator_client):
    execution = JobExecutionFactory(status="completed")
    response = operator_client.post(
        f"{LIST}{execution.pk}/cancel/", {"confirm": "1"}, follow=True
    )
    assert "already ended" in response.content.decode()


def test_executions_cannot_be_added_changed_or_deleted(admin_client_):
    execution = JobExecutionFactory()
    assert admin_client_.get(f"{LIST}add/").status_code == 403
    assert admin_client_.post(f"{LIST}{execution.pk}/delete/").status_code == 403
    assert JobExecution.objects.filter(pk=execution.pk).exists()
