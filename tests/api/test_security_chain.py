"""The seed's security chain, step by step, in its order:

authentication (401) → authorisation (403) → template exists (400) →
parameters match the schema (400) → sanitisation → rate limit (429) →
quota (403) → save → audit.
"""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import JOB_PERMS, job_payload, token_client
from tests.factories import DynamicJobFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/scheduler-jobs/"
ENDPOINTS = [
    ("get", "/api/v1/scheduler-jobs/"),
    ("post", "/api/v1/scheduler-jobs/"),
    ("get", "/api/v1/executions/"),
    ("get", "/api/v1/job-templates/"),
    ("get", "/api/v1/job-templates/heartbeat/"),
    ("post", "/api/v1/schedule-preview/"),
    ("get", "/api/v1/metrics/"),
    ("get", "/api/v1/audit/"),
    ("get", "/api/v1/schema/"),
    ("get", "/api/v1/"),
]


# 1. Authentication ------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_requests_get_401_with_www_authenticate(method, path):
    response = getattr(APIClient(), method)(
        path, {}, format="json", HTTP_ACCEPT="application/json"
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json()["detail"]


def test_a_wrong_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(URL)

    assert response.status_code == 401
    assert "token" in response.json()["detail"].lower()


def test_an_inactive_users_token_gets_401(make_user):
    user = make_user(*JOB_PERMS, is_active=False)

    assert token_client(user).get(URL).status_code == 401


def test_session_login_works_like_the_admin(make_user):
    make_user(*JOB_PERMS, username="sessionuser")
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="sessionuser", password="pass-12345-word")

    assert client.get(URL).status_code == 200
    # Session writes need the CSRF token, as in the admin.
    refused = client.post(URL, job_payload(), format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_browsable_api_renders_for_a_logged_in_staff_user(make_user):
    make_user(*JOB_PERMS, username="browser")
    client = APIClient()
    client.login(username="browser", password="pass-12345-word")

    response = client.get(URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Dynamic Job List" in response.content
    job = DynamicJobFactory()
    for path in (
        f"{URL}{job.pk}/",
        "/api/v1/",
        "/api/v1/executions/",
        "/api/v1/job-templates/",
        "/api/v1/metrics/",
        "/api/v1/audit/",
    ):
        page = client.get(path, HTTP_ACCEPT="text/html")
        assert page.status_code == 200, path
        assert page["Content-Type"].startswith("text/html"), path


# 2. Authorisation -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_authenticated_non_staff_gets_403(make_user, method, path):
    client = token_client(make_user(*JOB_PERMS, is_staff=False))

    response = getattr(client, method)(
        path, {}, format="json", HTTP_ACCEPT="application/json"
    )

    assert response.status_code == 403
    assert "staff" in response.json()["detail"].lower()


@pytest.mark.parametrize(
    ("perms", "method", "path", "missing"),
    [
        ((), "get", URL, "view"),
        (("scheduler_jobs.view_dynamicjob",), "post", URL, "add"),
        (("scheduler_jobs.view_dynamicjob",), "patch", "{job}", "change"),
        (("scheduler_jobs.view_dynamicjob",), "delete", "{job}", "delete"),
        (("scheduler_jobs.view_dynamicjob",), "post", "{job}run/", "run"),
        ((), "get", "/api/v1/executions/", "view"),
        ((), "get", "/api/v1/audit/", "view"),
        ((), "get", "/api/v1/job-templates/", "view"),
        ((), "get", "/api/v1/metrics/", "view"),
        (("executions.view_jobexecution",), "post", "{execution}cancel/", "cancel"),
    ],
)
def test_staff_without_the_model_permission_gets_403(
    make_user, perms, method, path, missing
):
    from tests.factories import JobExecutionFactory

    job = DynamicJobFactory()
    execution = JobExecutionFactory(job=job, status="queued")
    path = path.format(
        job=f"{URL}{job.pk}/", execution=f"/api/v1/executions/{execution.pk}/"
    )
    client = token_client(make_user(*perms))

    response = getattr(client, method)(path, {"version": 1}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"]
    if missing == "run":
        assert "run_dynamicjob" in response.json()["detail"]


def test_critical_template_needs_the_permission(make_user, critical_template):
    plain = token_client(make_user(*JOB_PERMS))
    allowed = token_client(
        make_user(*JOB_PERMS, "job_templates.use_high_risk_template")
    )
    payload = job_payload(template_type="test_critical", parameters={})

    refused = plain.post(URL, payload, format="json")
    created = allowed.post(URL, payload, format="json")

    assert refused.status_code == 403
    assert "job_templates.use_high_risk_template" in refused.json()["detail"]
    assert created.status_code == 201, created.json()


def test_superuser_may_use_high_risk_templates(superuser, critical_template):
    response = token_client(superuser).post(
        URL, job_payload(template_type="test_critical", parameters={}), format="json"
    )

    assert response.status_code == 201


def test_changing_or_running_a_critical_job_needs_the_permission(
    make_user, critical_template
):
    job = DynamicJobFactory(template_type="test_critical", parameters={"target": "a"})
    client = token_client(make_user(*JOB_PERMS))

    patch = client.patch(
        f"{URL}{job.pk}/", {"description": "x", "version": 1}, format="json"
    )
    run = client.post(f"{URL}{job.pk}/run/", {}, format="json")
    # Moving a plain job onto a critical template is refused too.
    plain = DynamicJobFactory()
    moved = client.patch(
        f"{URL}{plain.pk}/",
        {"template_type": "test_critical", "parameters": {}, "version": 1},
        format="json",
    )

    assert patch.status_code == 403
    assert run.status_code == 403
    assert moved.status_code == 403


# 3. Template exists ----------------------------------------------------------------


def test_unknown_template_is_400_on_template_type(api):
    response = api.post(URL, job_payload(template_type="rm_rf"), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["template_type"]
    assert "heartbeat" in response.json()["template_type"][0]


# 4. Parameters match the schema -----------------------------------------------------


def test_parameter_errors_are_nested_with_the_path_of_each(api):
    response = api.post(
        URL,
        job_payload(parameters={"message": 5, "sleep_seconds": -1, "extra": True}),
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()["parameters"]
    assert set(errors) == {"message", "sleep_seconds", "extra"}
    assert all(isinstance(messages, list) for messages in errors.values())


def test_schedule_retry_and_notification_errors_are_nested(api):
    response = api.post(
        URL,
        job_payload(
            schedule={"type": "cron", "cron": "61 * * * *", "timezone": "Mars/Base"},
            retry_policy={"max_retries": 99},
            notifications={"emails": ["ok@example.com", "not-an-email"]},
        ),
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert "minute" in body["schedule"]["cron"][0]
    assert "Mars/Base" in body["schedule"]["timezone"][0]
    assert body["retry_policy"]["max_retries"]
    assert body["notifications"]["emails"]["1"]


def test_parameters_that_are_not_an_object_are_refused(api):
    response = api.post(URL, job_payload(parameters=["x"]), format="json")

    assert response.status_code == 400
    assert "parameters" in response.json()


# 5. Sanitisation ---------------------------------------------------------------


def test_control_characters_are_stripped_from_text(api):
    response = api.post(
        URL,
        job_payload(
            name="night\x07ly\x1b job",
            description="line one\nline\x08 two",
            parameters={"message": "bell\x07 and\ttab\nnewline"},
        ),
        format="json",
    )

    assert response.status_code == 201, response.json()
    job = DynamicJob.objects.get()
    assert job.name == "nightly job"
    assert job.description == "line one\nline two"
    assert job.parameters["message"] == "bell and\ttab\nnewline"


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_a_slack_webhook_with_a_line_break_is_refused(api, newline):
    response = api.post(
        URL,
        job_payload(
            notifications={
                "slack_webhook": f"https://hooks.example.com/x{newline}Host: evil"
            }
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["notifications"]["slack_webhook"]


# 6. Rate limit -----------------------------------------------------------------------


def test_writes_are_throttled_with_retry_after(api, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "3/min"

    statuses = [
        api.post(URL, job_payload(name=f"job {i}"), format="json").status_code
        for i in range(4)
    ]
    refused = api.post(URL, job_payload(name="job 5"), format="json")

    assert statuses == [201, 201, 201, 429]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["detail"]
    assert DynamicJob.objects.count() == 3


def test_throttle_comes_after_validation_as_in_the_seed(api, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1/min"
    api.post(URL, job_payload(name="the one"), format="json")

    invalid = api.post(URL, job_payload(template_type="nope"), format="json")
    valid = api.post(URL, job_payload(name="second"), format="json")

    assert invalid.status_code == 400
    assert valid.status_code == 429


def test_throttle_is_per_user(make_user, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1/min"
    first = token_client(make_user(*JOB_PERMS))
    second = token_client(make_user(*JOB_PERMS))

    assert first.post(URL, job_payload(name="a"), format="json").status_code == 201
    assert first.post(URL, job_payload(name="b"), format="json").status_code == 429
    assert second.post(URL, job_payload(name="c"), format="json").status_code == 201


def test_manual_runs_have_their_own_throttle(api, settings):
    settings.SCHEDULER_THROTTLE_RUNS = "2/min"
    job = DynamicJobFactory()

    statuses = [
        api.post(f"{URL}{job.pk}/run/", {}, format="json").status_code for _ in range(3)
    ]
    # Runs do not use up the writes allowance.
    patch = api.patch(
        f"{URL}{job.pk}/", {"description": "still fine", "version": 1}, format="json"
    )

    assert statuses == [202, 202, 429]
    assert patch.status_code == 200


def test_reads_are_not_throttled(api, settings):
    settings.SCHEDULER_THROTTLE_WRITES = "1/min"
    settings.SCHEDULER_THROTTLE_RUNS = "1/min"

    assert all(api.get(URL).status_code == 200 for _ in range(5))


# 7. Quota ---------------------------------------------------------------------------


def test_per_user_quota_is_403_quota_exceeded(api, settings):
    settings.SCHEDULER_MAX_JOBS_PER_USER = 2
    for i in range(2):
        api.post(URL, job_payload(name=f"job {i}"), format="json")

    response = api.post(URL, job_payload(name="one too many"), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "quota_exceeded"
    assert "SCHEDULER_MAX_JOBS_PER_USER" in response.json()["detail"]
    assert DynamicJob.objects.count() == 2


def test_system_quota_is_403_quota_exceeded(api, settings):
    settings.SCHEDULER_MAX_JOBS = 1
    DynamicJobFactory()

    response = api.post(URL, job_payload(), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "quota_exceeded"


# 8-9. Save and audit -------------------------------------------------------------


def test_a_refused_request_leaves_no_job_and_no_audit_entry(api):
    api.post(URL, job_payload(template_type="nope"), format="json")
    api.post(URL, job_payload(parameters={"fail": "yes"}), format="json")

    assert DynamicJob.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_audit_entry_masks_secrets(make_user, critical_template):
    client = token_client(make_user(*JOB_PERMS, "job_templates.use_high_risk_template"))

    client.post(
        URL,
        job_payload(
            template_type="test_critical",
            parameters={"signing_secret": "s3cr3t"},
            notifications={"slack_webhook": "https://hooks.slack.com/services/T/B/XYZ"},
        ),
        format="json",
    )

    entry = AuditEntry.objects.get(action="create")
    assert "s3cr3t" not in str(entry.changes)
    assert "XYZ" not in str(entry.changes)
