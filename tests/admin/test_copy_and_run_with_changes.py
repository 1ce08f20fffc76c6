"""From a job's page: Copy (a new job, secrets left out) and Run with changes…"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from audit.models import AuditEntry
from executions.models import JobExecution
from job_templates import secrets
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import job_create
from tests.admin.test_change_merge import form_values
from tests.conftest import staff_with
from tests.security.conftest import ALL_SECRETS, SIGNING_SECRET, webhook_definition

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.slack.com/services/T000/B000/COPYSECRET"
JOBS = "/admin/scheduler_jobs/dynamicjob/"
VIEW, ADD, CHANGE, RUN = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.run_dynamicjob",
)


def client_with(django_user_model, username: str, *perms: str) -> Client:
    client = Client()
    client.force_login(staff_with(django_user_model, username, *perms))
    return client


@pytest.fixture
def job(superuser) -> DynamicJob:
    return job_create(
        user=superuser,
        data={
            "name": "Nightly heartbeat",
            "description": "Proves the scheduler lives.",
            "template_type": "heartbeat",
            "parameters": {"message": "alive", "fail": False, "sleep_seconds": 0},
            "schedule": {"type": "cron", "cron": "0 2 * * *", "timezone": "UTC"},
            "timeout_seconds": 120,
            "notifications": {"slack_webhook": WEBHOOK, "on": ["failure"]},
        },
    )


# --- Copy ---


def test_copy_page_is_prefilled_disabled_and_says_secrets_are_not_copied(
    django_user_model, job
):
    adder = client_with(django_user_model, "adder", VIEW, ADD)

    html = adder.get(f"{JOBS}{job.pk}/change/").content.decode()
    assert f'href="{JOBS}{job.pk}/copy/">Copy</a>' in html
    page = adder.get(f"{JOBS}{job.pk}/copy/").content.decode()
    values = form_values(adder, f"{JOBS}{job.pk}/copy/")

    assert values["name"] == "Nightly heartbeat (copy)"
    assert "enabled" not in values
    assert values["timeout_seconds"] == "120"
    assert values["cron"] == "0 2 * * *"
    assert json.loads(values["parameters"])["message"] == "alive"
    assert values["slack_webhook"] == ""
    assert "Secrets are not copied." in page
    assert "Slack webhook" in page.split('id="copy-secrets"')[1].split("</div>")[0]
    assert "COPYSECRET" not in page
    assert "••••" not in page


def test_copy_creates_a_disabled_job_audited_as_a_copy(django_user_model, job):
    adder = client_with(django_user_model, "adder", VIEW, ADD)
    url = f"{JOBS}{job.pk}/copy/"

    response = adder.post(url, form_values(adder, url), follow=True)

    copy = DynamicJob.objects.get(name="Nightly heartbeat (copy)")
    assert response.redirect_chain[-1][0] == f"{JOBS}{copy.pk}/change/"
    assert "Created “Nightly heartbeat (copy)” (disabled)." in response.content.decode()
    assert copy.enabled is False
    assert copy.timeout_seconds == 120
    assert copy.parameters["message"] == "alive"
    assert copy.notifications["slack_webhook"] == ""
    entry = AuditEntry.objects.get(action="create", target_id=str(copy.pk))
    assert entry.source == "copy"
    assert entry.actor.username == "adder"
    assert copy.versions.get().comment == "Copied from “Nightly heartbeat”."


def test_a_second_copy_gets_the_next_free_name_in_any_case(
    django_user_model, job, superuser
):
    job_create(
        user=superuser,
        data={
            "name": "NIGHTLY HEARTBEAT (COPY)",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 60},
        },
    )
    adder = client_with(django_user_model, "adder", VIEW, ADD)

    values = form_values(adder, f"{JOBS}{job.pk}/copy/")

    assert values["name"] == "Nightly heartbeat (copy 2)"


def test_copy_errors_show_next_to_their_field_and_create_nothing(
    django_user_model, job
):
    adder = client_with(django_user_model, "adder", VIEW, ADD)
    url = f"{JOBS}{job.pk}/copy/"

    response = adder.post(url, form_values(adder, url) | {"name": job.name.upper()})

    assert response.status_code == 200
    assert 'id="id_name_error"' in response.content.decode()
    assert DynamicJob.objects.count() == 1


def test_copy_needs_the_add_right(django_user_model, job):
    changer = client_with(django_user_model, "changer", VIEW, CHANGE)

    page = changer.get(f"{JOBS}{job.pk}/change/").content.decode()

    assert "/copy/" not in page
    assert changer.get(f"{JOBS}{job.pk}/copy/").status_code == 403
    assert changer.post(f"{JOBS}{job.pk}/copy/", {}).status_code == 403


# --- Run with changes… ---


def test_run_with_changes_queues_one_run_with_the_new_parameters(
    django_user_model, job
):
    runner = client_with(django_user_model, "runner", VIEW, CHANGE, RUN)
    url = f"{JOBS}{job.pk}/run-with-changes/"
    assert url in runner.get(f"{JOBS}{job.pk}/change/").content.decode()
    values = form_values(runner, url, "run_with_changes_form")
    params = json.loads(values["parameters"]) | {"message": "by hand"}

    response = runner.post(
        url, values | {"parameters": json.dumps(params)}, follow=True
    )

    execution = JobExecution.objects.get()
    assert execution.parameters["message"] == "by hand"
    assert execution.triggered_by == "manual"
    html = response.content.decode()
    assert f'href="/admin/executions/jobexecution/{execution.pk}/change/"' in html
    assert f"execution #{execution.pk}" in html
    job.refresh_from_db()
    assert job.parameters["message"] == "alive"
    entry = AuditEntry.objects.get(action="run")
    assert entry.changes["parameter_overrides"] == {"message": "by hand"}


def test_run_with_changes_asks_first_when_a_run_is_already_active(
    django_user_model, job
):
    JobExecution.objects.create(
        job=job,
        job_name=job.name,
        template_type=job.template_type,
        scheduled_for=job.created_at,
        status="running",
    )
    runner = client_with(django_user_model, "runner", VIEW, CHANGE, RUN)
    url = f"{JOBS}{job.pk}/run-with-changes/"
    values = form_values(runner, url, "run_with_changes_form")

    asked = runner.post(url, values)
    confirmed = runner.post(url, values | {"confirm": "1"})

    assert asked.status_code == 200
    assert "already queued or running" in asked.content.decode()
    assert 'name="confirm"' in asked.content.decode()
    assert confirmed.status_code == 302
    assert JobExecution.objects.count() == 2


def test_run_with_changes_is_hidden_and_refused_without_the_right(
    django_user_model, job
):
    # Running as saved is not enough: changing what runs needs the change right.
    runner = client_with(django_user_model, "plain-runner", VIEW, RUN)
    url = f"{JOBS}{job.pk}/run-with-changes/"

    assert url not in runner.get(f"{JOBS}{job.pk}/change/").content.decode()
    assert runner.get(url).status_code == 403
    assert runner.post(url, {"parameters": "{}"}).status_code == 403
    assert not JobExecution.objects.exists()


# --- secrets on both pages ---


@pytest.fixture
def hook(superuser, capture) -> DynamicJob:
    """A signed webhook with secrets everywhere (headers, signing, Slack)."""
    return job_create(
        user=superuser, data=webhook_definition(capture.url("/hook"), name="Ping")
    )


def test_neither_page_shows_a_secret_and_a_copy_carries_none(
    django_user_model, hook, capture
):
    user = client_with(
        django_user_model,
        "trusted",
        VIEW,
        ADD,
        CHANGE,
        RUN,
        "job_templates.use_high_risk_template",
    )
    copy_url = f"{JOBS}{hook.pk}/copy/"
    run_url = f"{JOBS}{hook.pk}/run-with-changes/"

    pages = [user.get(copy_url).content.decode(), user.get(run_url).content.decode()]
    for page in pages:
        for secret in ALL_SECRETS:
            assert secret not in page
    assert "Parameters: Signing secret" in pages[0]
    user.post(copy_url, form_values(user, copy_url))
    copy = DynamicJob.objects.get(name="Ping (copy)")
    assert copy.parameters["signing_secret"] == ""
    assert copy.parameters["headers"] == {"Authorization": "", "X-Api-Key": ""}
    assert copy.notifications["slack_webhook"] == ""
    assert not capture.requests


def test_run_with_changes_keeps_masked_secrets(django_user_model, hook, capture):
    user = client_with(
        django_user_model,
        "trusted",
        VIEW,
        CHANGE,
        RUN,
        "job_templates.use_high_risk_template",
    )
    url = f"{JOBS}{hook.pk}/run-with-changes/"
    values = form_values(user, url, "run_with_changes_form")
    params = json.loads(values["parameters"]) | {"json_body": {"changed": True}}

    user.post(url, values | {"parameters": json.dumps(params), "confirm": "1"})

    execution = JobExecution.objects.get()
    assert execution.parameters["json_body"] == {"changed": True}
    assert secrets.unseal_value(execution.parameters["signing_secret"]) == (
        SIGNING_SECRET
    )
    entry = AuditEntry.objects.get(action="run")
    assert SIGNING_SECRET not in json.dumps(entry.changes)
