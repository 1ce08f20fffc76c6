"""The security review's findings, each tried the way a narrow-permission user would.

(Outbound HTTP deadlines, redirects and SSRF messages are in
tests/job_templates/test_net_hardening.py; email template caps in
test_email_sandbox.py; the export/cleanup denylist in test_denylist.py; settings
and proxies in tests/config/.)
"""

from __future__ import annotations

import io

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from executions.models import JobExecution
from job_templates import secrets
from job_templates.registry import registry
from job_templates.secrets import SECRET_MASK
from scheduler_jobs import jobfiles, services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import token_client
from tests.conftest import staff_with
from tests.factories import DynamicJobFactory
from tests.security.conftest import (
    API_KEY,
    BEARER,
    SIGNING_SECRET,
    SLACK_PATH,
    make_role,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/scheduler-jobs/"
JOB_PAGE = "/admin/scheduler_jobs/dynamicjob/{}/change/"
EXECUTION_PAGE = "/admin/executions/jobexecution/{}/change/"


def web_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_view_only_staff_sees_no_secret_on_the_job_page(secret_job, django_user_model):
    viewer = make_role(django_user_model, "view_only")

    page = web_client(viewer).get(
        f"/admin/scheduler_jobs/dynamicjob/{secret_job.pk}/change/"
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "View scheduled job" in html or "View dynamic job" in html
    assert SIGNING_SECRET not in html
    assert "tok-9f8e7d" not in html
    assert secrets.SEALED_PREFIX not in html
    assert SECRET_MASK in html
    assert "Slack: set" in html


def test_header_values_are_masked_in_the_api_form_execution_page_and_files(
    secret_job, django_user_model
):
    root = make_role(django_user_model, "superuser")
    body = token_client(root).get(f"{API}{secret_job.pk}/").json()
    assert body["parameters"]["headers"] == {
        "Authorization": SECRET_MASK,
        "X-Api-Key": SECRET_MASK,
    }
    form = web_client(root).get(
        f"/admin/scheduler_jobs/dynamicjob/{secret_job.pk}/change/"
    )
    execution = JobExecution.objects.create(
        job=secret_job,
        job_name=secret_job.name,
        template_type=secret_job.template_type,
        scheduled_for=secret_job.created_at,
        parameters=secret_job.parameters,
    )
    page = web_client(root).get(
        f"/admin/executions/jobexecution/{execution.pk}/change/"
    )
    exported = io.StringIO()
    call_command("export_jobs", stdout=exported)
    for text in (form.content.decode(), page.content.decode(), exported.getvalue()):
        assert BEARER not in text
        assert API_KEY not in text
        assert SECRET_MASK in text


def test_run_permission_cannot_point_a_webhook_elsewhere(
    secret_job, capture, django_user_model
):
    """View + run may run the job as saved, never with another URL."""
    runner = token_client(make_role(django_user_model, "view_run"))
    elsewhere = f"http://localhost:{capture.port}/stolen"

    response = runner.post(
        f"{API}{secret_job.pk}/run/",
        {"parameters": {"url": elsewhere}, "dry_run": True},
        format="json",
    )

    assert response.status_code == 403
    assert "scheduler_jobs.change_dynamicjob" in response.json()["detail"]
    assert not JobExecution.objects.exists()
    assert not capture.requests


def test_an_override_to_another_server_needs_the_secrets_again(
    secret_job, capture, django_user_model
):
    """Even with every right, stored secrets never follow a URL to a new origin."""
    client = token_client(make_role(django_user_model, "high_risk"))
    elsewhere = f"http://localhost:{capture.port}/stolen"

    refused = client.post(
        f"{API}{secret_job.pk}/run/",
        {"parameters": {"url": elsewhere}},
        format="json",
    )

    assert refused.status_code == 400
    errors = refused.json()["parameters"]
    assert set(errors) == {"signing_secret", "headers"}
    assert set(errors["headers"]) == {"Authorization", "X-Api-Key"}
    assert "enter this secret again" in errors["signing_secret"][0]
    assert not JobExecution.objects.exists()

    accepted = client.post(
        f"{API}{secret_job.pk}/run/",
        {
            "parameters": {
                "url": elsewhere,
                "signing_secret": "a-new-one",
                "headers": {},
            }
        },
        format="json",
    )
    assert accepted.status_code == 202, accepted.json()
    snapshot = JobExecution.objects.get().parameters
    assert secrets.unseal_value(snapshot["signing_secret"]) == "a-new-one"
    assert snapshot["headers"] == {}
    assert not capture.requests


def test_an_edit_to_another_server_needs_the_secrets_again(
    secret_job, capture, django_user_model
):
    client = token_client(make_role(django_user_model, "high_risk"))
    body = client.get(f"{API}{secret_job.pk}/").json()
    body["parameters"]["url"] = f"http://localhost:{capture.port}/hook"

    response = client.put(f"{API}{secret_job.pk}/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["parameters"]) == {"signing_secret", "headers"}
    stored = DynamicJob.objects.get(pk=secret_job.pk)
    assert stored.parameters["url"] == secret_job.parameters["url"]
    # Same host, other path: the same origin keeps its secrets.
    body["parameters"]["url"] = capture.url("/other-path")
    assert client.put(f"{API}{secret_job.pk}/", body, format="json").status_code == 200


def test_an_import_to_another_server_needs_the_secrets_again(secret_job, tmp_path):
    definition = jobfiles.jobs_export(names=[secret_job.name], actor=SYSTEM)["jobs"][0]
    definition["parameters"]["url"] = "http://localhost:1/hook"
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": [definition]}))

    with pytest.raises(CommandError) as excinfo:
        call_command("import_jobs", str(path), stdout=io.StringIO())

    assert "parameters.signing_secret: The url now points to another server" in str(
        excinfo.value
    )
    assert "parameters.headers.Authorization" in str(excinfo.value)


@pytest.mark.parametrize(
    "run", [{"dry_run": False}, {"parameters": {"dry_run": False}}], ids=str
)
def test_run_permission_cannot_turn_a_dry_run_cleanup_live(
    run, django_user_model, settings
):
    """View + run (even with the delete and high-risk rights) cannot go live."""
    settings.SCHEDULER_CLEANUP_MODELS = ["executions.JobExecution"]
    job = services.job_create(
        user=SYSTEM,
        data={
            "name": "preview purge",
            "template_type": "database_cleanup",
            "parameters": {
                "collection": "executions.JobExecution",
                "condition": {"status": "completed"},
                "dry_run": True,
            },
            "schedule": {"type": "interval", "every_seconds": 3600},
        },
    )
    user = staff_with(
        django_user_model,
        "runner",
        *("scheduler_jobs.view_dynamicjob", "scheduler_jobs.run_dynamicjob"),
        "executions.delete_jobexecution",
        "job_templates.use_high_risk_template",
    )

    response = token_client(user).post(f"{API}{job.pk}/run/", run, format="json")

    assert response.status_code == 403
    assert "change_dynamicjob" in response.json()["detail"]
    assert not JobExecution.objects.exists()
    # As saved, it still runs (as the dry run it is).
    ok = token_client(user).post(f"{API}{job.pk}/run/", {}, format="json")
    assert ok.status_code == 202
    assert JobExecution.objects.get().dry_run is True


def test_which_builtin_jobs_are_high_risk():
    def reason(template_type, **params):
        return registry.get(template_type).high_risk_reason(params)

    assert reason("database_cleanup", dry_run=False)
    assert reason("database_cleanup", dry_run=True) is None
    assert reason("backup", keep_last=7)
    assert reason("backup", keep_last=0) is None
    assert reason("data_export", collection="testapp.Ticket")
    assert reason("webhook_trigger", url="https://example.com/")
    assert reason("email_notification", attachments=[{"path": "exports/a.csv"}])
    assert reason("email_notification", attachments=[]) is None
    assert reason("heartbeat") is None
    assert reason("report_generation") is None


def test_prometheus_metrics_need_the_right_to_view_executions(django_user_model):
    staff = make_role(django_user_model, "editor")
    viewer = make_role(django_user_model, "view_only")

    refused = web_client(staff).get("/metrics")

    assert refused.status_code == 403
    assert "executions.view_jobexecution" in refused.content.decode()
    assert web_client(viewer).get("/metrics").status_code == 200


def test_secrets_are_encrypted_at_rest(secret_job):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parameters, notifications FROM dynamic_jobs WHERE id = %s",
            [secret_job.pk],
        )
        row = repr(cursor.fetchone())
    assert SIGNING_SECRET not in row
    assert API_KEY not in row
    assert SLACK_PATH not in row
    assert row.count(secrets.SEALED_PREFIX) == 4


def test_keys_rotate_without_losing_a_secret(secret_job, settings):
    old = list(settings.SCHEDULER_SECRETS_KEYS)
    new = Fernet.generate_key().decode()
    JobExecution.objects.create(
        job=secret_job,
        job_name=secret_job.name,
        template_type=secret_job.template_type,
        scheduled_for=secret_job.created_at,
        parameters=secret_job.parameters,
    )
    settings.SCHEDULER_SECRETS_KEYS = [new, *old]

    counted = io.StringIO()
    call_command("rotate_secrets", stdout=counted)
    assert (
        "Would re-encrypt secrets in 1 job(s) and 1 execution(s)" in counted.getvalue()
    )
    call_command("rotate_secrets", "--apply", stdout=io.StringIO())
    again = io.StringIO()
    call_command("rotate_secrets", stdout=again)
    assert "in 0 job(s) and 0 execution(s)" in again.getvalue()

    settings.SCHEDULER_SECRETS_KEYS = [new]
    job = DynamicJob.objects.get(pk=secret_job.pk)
    assert secrets.unseal_value(job.parameters["signing_secret"]) == SIGNING_SECRET
    assert secrets.unseal_value(job.notifications["slack_webhook"]).endswith(SLACK_PATH)
    snapshot = JobExecution.objects.get().parameters
    assert secrets.unseal_value(snapshot["headers"]["X-Api-Key"]) == API_KEY


def test_a_removed_key_is_a_clear_error_not_a_silent_loss(secret_job, settings):
    settings.SCHEDULER_SECRETS_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_secrets", stdout=io.StringIO())


def test_copies_keep_their_secrets_sealed(secret_job, django_user_model):
    copy = services.job_duplicate(
        job=secret_job, user=make_role(django_user_model, "superuser")
    )
    assert copy.parameters["signing_secret"].startswith(secrets.SEALED_PREFIX)
    assert secrets.unseal_value(copy.parameters["signing_secret"]) == SIGNING_SECRET


def test_a_plug_in_job_with_clear_values_is_still_masked_when_shown():
    """Rows written before secrets were sealed show masked all the same."""
    job = DynamicJobFactory(
        template_type="webhook_trigger",
        parameters={
            "url": "https://example.com/",
            "headers": {"Authorization": BEARER},
            "signing_secret": SIGNING_SECRET,
        },
    )
    shown = services.masked_job_parameters(job)
    assert shown["signing_secret"] == SECRET_MASK
    assert shown["headers"] == {"Authorization": SECRET_MASK}


def test_rotation_reaches_versions_approvals_and_drafts(
    secret_job, settings, django_user_model
):
    """Removing the old key after a rotation must not lose a revert, an
    approval waiting for its second person, or a wizard draft."""
    from scheduler_jobs.drafts import JobDraft
    from scheduler_jobs.models import JobApproval, JobVersion

    old = list(settings.SCHEDULER_SECRETS_KEYS)
    definition = JobVersion.objects.get(job=secret_job).definition
    JobApproval.objects.create(
        job=secret_job,
        definition=definition,
        base_version=secret_job.version,
        reason="test",
        source="api",
        proposed_by_repr="test",
    )
    owner = django_user_model.objects.create_user("drafter")
    JobDraft.objects.create(
        user=owner,
        step="parameters",
        data={"step_data": {"parameters": secrets.seal_value('{"k": "v"}')}},
    )
    new = Fernet.generate_key().decode()
    settings.SCHEDULER_SECRETS_KEYS = [new, *old]

    counted = io.StringIO()
    call_command("rotate_secrets", stdout=counted)
    assert (
        "Would re-encrypt secrets in 1 job version(s), 1 pending approval(s) and "
        "1 draft(s)." in counted.getvalue()
    )
    call_command("rotate_secrets", "--apply", stdout=io.StringIO())

    settings.SCHEDULER_SECRETS_KEYS = [new]
    for stored in (
        JobVersion.objects.get(job=secret_job).definition,
        JobApproval.objects.get(job=secret_job).definition,
    ):
        signing = stored["parameters"]["signing_secret"]
        assert secrets.unseal_value(signing) == SIGNING_SECRET
        slack = stored["notifications"]["slack_webhook"]
        assert secrets.unseal_value(slack).endswith(SLACK_PATH)
    step = JobDraft.objects.get().data["step_data"]["parameters"]
    assert secrets.unseal_value(step) == '{"k": "v"}'
