"""Fixtures for the admin tests: staff users with exactly the permissions named,
logged-in clients, and helpers to drive the creation wizard."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

EDITOR_PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.delete_dynamicjob",
    "executions.view_jobexecution",
    "job_templates.view_jobtemplate",
    "audit.view_auditentry",
    # A cleanup may touch only what its author may delete.
    "testapp.view_ticket",
    "testapp.delete_ticket",
)
WIZARD = "/admin/scheduler_jobs/dynamicjob/add/"
WIZARD_PREFIX = "job_creation_wizard"


def make_staff(django_user_model, username: str, *perms: str):
    user = django_user_model.objects.create_user(
        username=username, password="pass-12345", is_staff=True
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def editor(django_user_model):
    """Staff who may manage jobs but not run them."""
    return make_staff(django_user_model, "editor", *EDITOR_PERMS)


@pytest.fixture
def operator(django_user_model):
    """Staff who may manage and run jobs and cancel runs (not high-risk ones)."""
    return make_staff(
        django_user_model,
        "operator",
        *EDITOR_PERMS,
        "scheduler_jobs.run_dynamicjob",
        "executions.cancel_jobexecution",
    )


@pytest.fixture
def editor_client(editor):
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def operator_client(operator):
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def admin_client_(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def wizard_post(client: Client, step: str, data: dict):
    """Send one step, then follow the wizard's redirect to the step it shows next
    (every POST answers with one); a redirect out of the wizard is returned."""
    payload = {f"{WIZARD_PREFIX}-current_step": step}
    payload.update({f"{step}-{key}": value for key, value in data.items()})
    return follow_wizard(client, client.post(f"{WIZARD}?step={step}", payload))


def follow_wizard(client: Client, response):
    while response.status_code == 302 and response["Location"].startswith(WIZARD):
        response = client.get(response["Location"])
    return response


SCHEDULE_DAILY = {
    "schedule_type": "cron",
    "cron": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "every": "15",
    "every_unit": "minutes",
}
OPTIONS_DEFAULT = {
    "timeout_seconds": "1800",
    "max_retries": "3",
    "delay_seconds": "60",
    "backoff": "2.0",
    "overlap_policy": "skip",
    "misfire_policy": "run_once",
    "queue": "",
    "notify_emails": "",
    "slack_webhook": "",
    "notify_on": ["failure", "exhausted"],
}
HEARTBEAT_PARAMS = '{"message": "alive", "fail": false, "sleep_seconds": 0}'


def errors_of(response, field_id: str) -> str:
    """The text of the errorlist rendered next to one field ('' if none)."""
    import re

    html = response.content.decode()
    match = re.search(
        rf'<ul class="errorlist"[^>]*id="{re.escape(field_id)}_error"[^>]*>(.*?)</ul>',
        html,
        re.S,
    )
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else ""
