"""/api/v1/scheduler-jobs/: list, create, read, update, delete."""

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from executions.models import JobExecution
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import job_payload
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db

JOB_KEYS = {
    "id",
    "definition_version",
    "pending_change",
    "name",
    "description",
    "template_type",
    "parameters",
    "schedule",
    "enabled",
    "timeout_seconds",
    "retry_policy",
    "overlap_policy",
    "misfire_policy",
    "notifications",
    "watch",
    "created_by",
    "created_at",
    "updated_at",
    "last_run_at",
    "next_run_at",
    "last_status",
    "schedule_description",
    "version",
}


def create(api, **overrides):
    response = api.post(
        "/api/v1/scheduler-jobs/", job_payload(**overrides), format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_returns_201_with_the_job_in_the_documented_shape(api, operator):
    body = create(api)

    assert set(body) == JOB_KEYS
    assert body["name"] == "Nightly heartbeat"
    assert body["parameters"] == {"message": "alive", "fail": False, "sleep_seconds": 0}
    assert body["schedule"] == {
        "type": "cron",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
    }
    assert body["retry_policy"] == {
        "max_retries": 2,
        "delay_seconds": 30,
        "backoff": 2.0,
    }
    assert body["notifications"] == {
        "emails": ["ops@example.com"],
        "slack_webhook": "",
        "webhook_url": "",
        "webhook_secret": "",
        "on": ["failure"],
    }
    assert body["watch"] == {
        "grace_seconds": 0,
        "expected_duration_seconds": 0,
        "slow_factor": 3.0,
        "min_duration_seconds": 0,
        "failure_threshold": 3,
        "realert_minutes": 60,
    }
    assert body["created_by"] == "operator"
    assert body["version"] == 1
    assert body["last_status"] == ""
    assert body["next_run_at"] is not None
    assert body["schedule_description"]
    job = DynamicJob.objects.get(pk=body["id"])
    assert job.created_by == operator


def test_create_writes_an_audit_entry_with_the_request_ip(api, operator):
    body = create(api)

    entry = AuditEntry.objects.get(action="create")
    assert entry.actor == operator
    assert entry.target_id == str(body["id"])
    assert entry.source == "api"
    assert entry.ip_address == "127.0.0.1"


def test_create_with_only_required_fields_uses_the_defaults(api):
    response = api.post(
        "/api/v1/scheduler-jobs/",
        {
            "name": "minimal",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 3600},
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["enabled"] is True
    assert body["timeout_seconds"] == 1800
    assert body["overlap_policy"] == "skip"
    assert body["schedule_description"] == "Every hour"


def test_routes_answer_with_and_without_trailing_slash_without_redirect(api):
    job = create(api)

    for path in (
        "/api/v1/scheduler-jobs",
        "/api/v1/scheduler-jobs/",
        f"/api/v1/scheduler-jobs/{job['id']}",
        f"/api/v1/scheduler-jobs/{job['id']}/",
        f"/api/v1/scheduler-jobs/{job['id']}/executions",
        "/api/v1/executions",
        "/api/v1/job-templates",
        "/api/v1/job-templates/heartbeat",
        "/api/v1/metrics",
        "/api/v1/audit",
    ):
        assert api.get(path).status_code == 200, path
    response = api.post(
        "/api/v1/scheduler-jobs", job_payload(name="no slash"), format="json"
    )
    assert response.status_code == 201
    assert (
        api.post(
            f"/api/v1/scheduler-jobs/{job['id']}/run", {}, format="json"
        ).status_code
        == 202
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no-such-thing/",
        "/api/v1/executions/%0Ax/",
        "/api/v1/scheduler-jobs/-1/",
    ],
)
def test_unknown_api_path_is_a_json_404(api, path):
    response = api.get(path)
    posted = api.post(path, {}, format="json")

    assert response.status_code == 404
    assert response.json()["detail"] == "Not found."
    assert posted.status_code == 404


def test_list_is_paginated_with_count_next_previous_results(api):
    DynamicJobFactory.create_batch(3)

    response = api.get("/api/v1/scheduler-jobs/?page_size=2")

    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["previous"] is None
    second = api.get(body["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None


@pytest.mark.parametrize("page_size", ["0", "abc", "501", "-1"])
def test_list_refuses_a_bad_page_size_naming_it(api, page_size):
    response = api.get(f"/api/v1/scheduler-jobs/?page_size={page_size}")

    assert response.status_code == 400
    assert "page_size" in response.json()


def test_list_filters_by_template_enabled_status_and_creator(api, operator, make_user):
    other = make_user()
    on = DynamicJobFactory(
        name="on", enabled=True, last_status="failed", created_by=operator
    )
    DynamicJobFactory(
        name="off", enabled=False, last_status="completed", created_by=other
    )

    def names(query):
        response = api.get(f"/api/v1/scheduler-jobs/?{query}")
        assert response.status_code == 200, response.json()
        return [job["name"] for job in response.json()["results"]]

    assert names("enabled=true") == ["on"]
    assert names("enabled=false") == ["off"]
    assert names("last_status=failed") == ["on"]
    assert names(f"created_by={operator.pk}") == ["on"]
    assert names("created_by=operator") == ["on"]
    assert names("template_type=heartbeat") == ["off", "on"]
    assert names("template_type=backup") == []
    assert on.pk


@pytest.mark.parametrize(
    ("query", "field"),
    [("enabled=maybe", "enabled"), ("last_status=sleeping", "last_status")],
)
def test_list_refuses_a_filter_value_it_cannot_use(api, query, field):
    response = api.get(f"/api/v1/scheduler-jobs/?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_list_searches_name_and_description_and_orders(api):
    DynamicJobFactory(name="alpha", description="cleans the cache")
    DynamicJobFactory(name="beta", description="")
    DynamicJobFactory(name="cache warmer", description="")

    found = api.get("/api/v1/scheduler-jobs/?search=cache").json()["results"]
    ordered = api.get("/api/v1/scheduler-jobs/?ordering=-name").json()["results"]

    assert sorted(j["name"] for j in found) == ["alpha", "cache warmer"]
    assert [j["name"] for j in ordered] == ["cache warmer", "beta", "alpha"]


def test_ordering_by_several_fields_with_id_breaking_ties(api):
    for name in ("c", "a", "b", "d"):
        DynamicJobFactory(name=name, enabled=name in ("a", "c"))

    first = api.get("/api/v1/scheduler-jobs/?ordering=-enabled,name&page_size=3")
    second = api.get(first.json()["next"])

    assert [j["name"] for j in first.json()["results"]] == ["a", "c", "b"]
    assert [j["name"] for j in second.json()["results"]] == ["d"]


@pytest.mark.parametrize("ordering", ["password", "name,", "-created_by__password"])
def test_ordering_by_an_unknown_field_is_400(api, ordering):
    response = api.get(f"/api/v1/scheduler-jobs/?ordering={ordering}")

    assert response.status_code == 400
    assert "ordering" in response.json()


def test_search_with_a_nul_character_is_a_400_not_a_database_error(api):
    response = api.get("/api/v1/scheduler-jobs/?search=a%00b")

    assert response.status_code == 400
    assert "search" in response.json()


def test_retrieve_one_job(api):
    job = DynamicJobFactory()

    response = api.get(f"/api/v1/scheduler-jobs/{job.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == job.pk


@pytest.mark.parametrize("pk", ["999999", "99999999999999999999999999"])
def test_retrieve_missing_job_is_404(api, pk):
    response = api.get(f"/api/v1/scheduler-jobs/{pk}/")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_patch_needs_the_version(api):
    job = create(api)

    response = api.patch(
        f"/api/v1/scheduler-jobs/{job['id']}/", {"description": "x"}, format="json"
    )

    assert response.status_code == 400
    assert "version" in response.json()


def test_patch_with_the_current_version_saves_and_increments_it(api):
    job = create(api)

    response = api.patch(
        f"/api/v1/scheduler-jobs/{job['id']}/",
        {"description": "changed", "version": 1},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["description"] == "changed"
    assert response.json()["version"] == 2
    assert AuditEntry.objects.filter(action="update", target_id=str(job["id"])).exists()


def test_patch_with_a_stale_version_is_409_with_the_current_version(api):
    job = create(api)
    api.patch(
        f"/api/v1/scheduler-jobs/{job['id']}/",
        {"description": "first", "version": 1},
        format="json",
    )

    response = api.patch(
        f"/api/v1/scheduler-jobs/{job['id']}/",
        {"description": "second", "version": 1},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    assert response.json()["detail"]
    assert DynamicJob.objects.get(pk=job["id"]).description == "first"


def test_put_replaces_the_job_and_needs_required_fields(api):
    job = create(api)

    missing = api.put(
        f"/api/v1/scheduler-jobs/{job['id']}/", {"version": 1}, format="json"
    )
    full = api.put(
        f"/api/v1/scheduler-jobs/{job['id']}/",
        job_payload(name="renamed", enabled=False, version=1),
        format="json",
    )

    assert missing.status_code == 400
    assert {"name", "template_type", "schedule"} <= set(missing.json())
    assert full.status_code == 200, full.json()
    assert full.json()["name"] == "renamed"
    assert full.json()["enabled"] is False
    assert full.json()["next_run_at"] is None
    assert full.json()["version"] == 2


def test_put_accepts_the_read_only_fields_a_client_got_from_get(api):
    job = create(api)
    body = api.get(f"/api/v1/scheduler-jobs/{job['id']}/").json()
    body["description"] = "round trip"

    response = api.put(f"/api/v1/scheduler-jobs/{job['id']}/", body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["description"] == "round trip"


def test_unknown_fields_are_refused_by_name(api):
    response = api.post(
        "/api/v1/scheduler-jobs/", job_payload(enabeld=False), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"enabeld": ["Unknown field."]}


def test_delete_removes_the_job_and_keeps_its_executions(api):
    job = create(api)
    execution = JobExecutionFactory(job_id=job["id"], job_name=job["name"])

    response = api.delete(f"/api/v1/scheduler-jobs/{job['id']}/")

    assert response.status_code == 204
    assert not DynamicJob.objects.filter(pk=job["id"]).exists()
    execution.refresh_from_db()
    assert execution.job_id is None
    assert execution.job_name == "Nightly heartbeat"
    assert AuditEntry.objects.filter(action="delete", target_id=str(job["id"])).exists()


def test_job_executions_are_newest_first_and_cursor_paginated(api):
    job = DynamicJobFactory()
    other = DynamicJobFactory()
    now = timezone.now()
    ids = [
        JobExecutionFactory(
            job=job, scheduled_for=now - timezone.timedelta(minutes=i)
        ).pk
        for i in range(5)
    ]
    JobExecutionFactory(job=other)

    first = api.get(f"/api/v1/scheduler-jobs/{job.pk}/executions/?page_size=3").json()
    second = api.get(first["next"]).json()

    assert set(first) == {"next", "previous", "results"}
    assert [e["id"] for e in first["results"]] == sorted(ids, reverse=True)[:3]
    assert [e["id"] for e in second["results"]] == sorted(ids, reverse=True)[3:]
    assert "logs" not in first["results"][0]
    assert second["next"] is None


def test_job_executions_of_a_missing_job_is_404(api):
    assert api.get("/api/v1/scheduler-jobs/424242/executions/").status_code == 404


@pytest.mark.parametrize("cursor", ["garbage", "cD1hYmM=", "cD0tMQ=="])
def test_a_forged_cursor_is_404_not_500(api, cursor):
    job = DynamicJobFactory()
    JobExecutionFactory(job=job)

    response = api.get(f"/api/v1/scheduler-jobs/{job.pk}/executions/?cursor={cursor}")

    assert response.status_code in (200, 404)
    assert response.headers["Content-Type"] == "application/json"


def test_execution_rows_of_a_deleted_job_still_list(api):
    JobExecutionFactory(job=None, job_name="gone", template_type="heartbeat")

    results = api.get("/api/v1/executions/").json()["results"]

    assert results[0]["job_id"] is None
    assert results[0]["job_name"] == "gone"
    assert JobExecution.objects.count() == 1
