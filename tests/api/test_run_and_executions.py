"""Manual runs, the execution list and detail, and cancellation."""

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from executions.models import JobExecution
from job_templates import secrets
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db

EXECUTION_KEYS = {
    "id",
    "job_id",
    "job_name",
    "job_version",
    "template_type",
    "status",
    "attempt",
    "scheduled_for",
    "started_at",
    "completed_at",
    "duration_seconds",
    "triggered_by",
    "execution_host",
    "result",
    "error",
}


def test_run_queues_an_execution_and_answers_202(api, operator):
    job = DynamicJobFactory()

    response = api.post(f"/api/v1/scheduler-jobs/{job.pk}/run/", format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    execution = JobExecution.objects.get(pk=body["execution_id"])
    assert execution.job == job
    assert execution.triggered_by == "manual"
    assert execution.triggered_by_user == operator
    assert AuditEntry.objects.filter(action="run", target_id=str(job.pk)).exists()


def test_run_works_for_disabled_jobs(api):
    job = DynamicJobFactory(enabled=False, next_run_at=None)

    response = api.post(f"/api/v1/scheduler-jobs/{job.pk}/run/", {}, format="json")

    assert response.status_code == 202


def test_run_parameter_overrides_are_validated_and_used_once(api):
    job = DynamicJobFactory(
        parameters={"message": "usual", "fail": False, "sleep_seconds": 0}
    )

    bad = api.post(
        f"/api/v1/scheduler-jobs/{job.pk}/run/",
        {"parameters": {"sleep_seconds": -3}},
        format="json",
    )
    good = api.post(
        f"/api/v1/scheduler-jobs/{job.pk}/run/",
        {"parameters": {"message": "just this once"}},
        format="json",
    )

    assert bad.status_code == 400
    assert "sleep_seconds" in bad.json()["parameters"]
    assert good.status_code == 202
    execution = JobExecution.objects.get(pk=good.json()["execution_id"])
    assert execution.parameters["message"] == "just this once"
    job.refresh_from_db()
    assert job.parameters["message"] == "usual"


def test_run_dry_run_on_a_template_without_one_is_400(api):
    job = DynamicJobFactory()

    response = api.post(
        f"/api/v1/scheduler-jobs/{job.pk}/run/", {"dry_run": True}, format="json"
    )

    assert response.status_code == 400
    assert "dry_run" in response.json()


def test_run_dry_run_where_supported(make_user, critical_template):
    from tests.api.conftest import JOB_PERMS, token_client

    client = token_client(make_user(*JOB_PERMS, "job_templates.use_high_risk_template"))
    job = DynamicJobFactory(
        template_type="test_critical", parameters={"target": "t", "signing_secret": "s"}
    )

    response = client.post(
        f"/api/v1/scheduler-jobs/{job.pk}/run/",
        {"dry_run": True, "parameters": {"signing_secret": "••••••••"}},
        format="json",
    )

    assert response.status_code == 202, response.json()
    execution = JobExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.dry_run is True
    # The mask sent back means "the job's own secret", not a new one.
    assert secrets.unseal_value(execution.parameters["signing_secret"]) == "s"
    assert execution.parameters["signing_secret"].startswith(secrets.SEALED_PREFIX)


def test_run_of_a_missing_job_is_404(api):
    assert api.post("/api/v1/scheduler-jobs/999/run/", format="json").status_code == 404


def test_execution_list_shape_without_logs_and_no_count(api):
    JobExecutionFactory(logs=[{"ts": "t", "level": "INFO", "message": "m"}])

    body = api.get("/api/v1/executions/").json()

    assert set(body) == {"next", "previous", "results"}
    assert set(body["results"][0]) == EXECUTION_KEYS


def test_execution_list_filters(api):
    job = DynamicJobFactory()
    now = timezone.now()
    old = JobExecutionFactory(
        job=job, status="failed", started_at=now - timezone.timedelta(days=2)
    )
    new = JobExecutionFactory(
        job=job,
        status="completed",
        triggered_by="manual",
        started_at=now,
        scheduled_for=now + timezone.timedelta(seconds=1),
    )
    other = JobExecutionFactory(template_type="backup", status="completed")

    def ids(query):
        response = api.get(f"/api/v1/executions/?{query}")
        assert response.status_code == 200, response.json()
        return [e["id"] for e in response.json()["results"]]

    yesterday = (now - timezone.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids("status=failed") == [old.pk]
    assert ids(f"job={job.pk}") == [new.pk, old.pk]
    assert ids("template_type=backup") == [other.pk]
    assert ids("triggered_by=manual") == [new.pk]
    assert ids(f"started_after={yesterday}") == [new.pk]
    assert ids(f"started_before={yesterday}") == [old.pk]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("started_after=0960-07-02T11:58:22-20:17", True),
        ("started_after=0001-01-01T00:00:00%2B05:00", True),
        ("started_before=9999-12-31T23:59:59-05:00", True),
        ("started_before=0001-01-01T00:00:00%2B14:00", False),
        ("started_after=9999-12-31T23:59:59-23:59", False),
    ],
)
def test_date_filters_take_any_iso_offset_and_the_calendar_edges(api, query, found):
    execution = JobExecutionFactory(started_at=timezone.now())

    response = api.get(f"/api/v1/executions/?{query}")

    assert response.status_code == 200, response.json()
    assert [e["id"] for e in response.json()["results"]] == (
        [execution.pk] if found else []
    )


def test_execution_detail_has_result_error_and_logs(api):
    logs = [{"ts": "2026-01-01T00:00:00+00:00", "level": "INFO", "message": "hello"}]
    execution = JobExecutionFactory(
        status="failed", result={"rows": 3}, error="Boom", logs=logs
    )

    body = api.get(f"/api/v1/executions/{execution.pk}/").json()

    assert set(body) == EXECUTION_KEYS | {"logs"}
    assert body["result"] == {"rows": 3}
    assert body["error"] == "Boom"
    assert body["logs"] == logs
    assert body["status"] == "failed"


def test_cancel_a_queued_execution(api, operator):
    execution = JobExecutionFactory(status="queued")

    response = api.post(f"/api/v1/executions/{execution.pk}/cancel/", format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert AuditEntry.objects.filter(action="cancel").get().actor == operator


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "skipped"])
def test_cancel_a_finished_execution_is_409(api, status):
    execution = JobExecutionFactory(status=status)

    response = api.post(f"/api/v1/executions/{execution.pk}/cancel/", format="json")

    assert response.status_code == 409
    assert response.json()["detail"]
    execution.refresh_from_db()
    assert execution.status == status


def test_cancel_a_missing_execution_is_404(api):
    assert api.post("/api/v1/executions/777/cancel/", format="json").status_code == 404
