"""Shared pieces of the security tests: roles, a job holding every kind of secret."""

from __future__ import annotations

import pytest

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from tests.conftest import staff_with

VIEW = ("scheduler_jobs.view_dynamicjob", "executions.view_jobexecution")
EDIT = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.delete_dynamicjob",
)
RUN = ("scheduler_jobs.run_dynamicjob",)
EXECUTIONS = (
    "executions.view_jobexecution",
    "executions.cancel_jobexecution",
    "executions.acknowledge_incident",
    "executions.resolve_incident",
)
HIGH_RISK = ("job_templates.use_high_risk_template",)
APPROVE = ("scheduler_jobs.approve_dynamicjob",)

# Each role as a staff user with narrow permissions would be set up.
ROLES: dict[str, tuple[str, ...] | None] = {
    "anonymous": None,
    "non_staff": (*EDIT, *RUN, *EXECUTIONS, *HIGH_RISK),
    "view_only": VIEW,
    "run_only": RUN,
    "view_run": (*VIEW, *RUN),
    "editor": EDIT,
    "editor_run": (*EDIT, *RUN, *EXECUTIONS),
    "high_risk": (*EDIT, *RUN, *EXECUTIONS, *HIGH_RISK),
    "approver": ("scheduler_jobs.view_dynamicjob", *APPROVE, *HIGH_RISK),
    "approver_low": ("scheduler_jobs.view_dynamicjob", *APPROVE),
    "superuser": (),
}

# Every secret a job can hold; none may ever be shown or written anywhere.
SIGNING_SECRET = "sig-Zq81-never-shown"
BEARER = "Bearer tok-9f8e7d-never-shown"
API_KEY = "key-1c2b3a-never-shown"
SLACK_PATH = "/services/T0NEVERSHOWN/B0NEVERSHOWN/xoxNeverShownPath"
SLACK_URL = f"https://hooks.slack.com{SLACK_PATH}"
ALL_SECRETS = (
    SIGNING_SECRET,
    "tok-9f8e7d-never-shown",
    API_KEY,
    "T0NEVERSHOWN",
    "xoxNeverShownPath",
)


def make_role(django_user_model, role: str):
    """The user for a role (None for anonymous)."""
    perms = ROLES[role]
    if perms is None:
        return None
    if role == "superuser":
        return django_user_model.objects.create_superuser(
            username="root", password="root-pass-123", email="root@example.com"
        )
    user = staff_with(django_user_model, role, *perms)
    if role == "non_staff":
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    return user


def webhook_definition(url: str, **overrides) -> dict:
    return {
        "name": "signed hook",
        "template_type": "webhook_trigger",
        "parameters": {
            "url": url,
            "method": "POST",
            "headers": {"Authorization": BEARER, "X-Api-Key": API_KEY},
            "json_body": {"hello": "world"},
            "signing_secret": SIGNING_SECRET,
            "timeout_seconds": 5,
        },
        "schedule": {"type": "cron", "cron": "0 3 * * *", "timezone": "UTC"},
        "notifications": {"emails": [], "slack_webhook": SLACK_URL, "on": ["failure"]},
        **overrides,
    }


@pytest.fixture
def secret_job(capture):
    """A webhook job with a signing secret, credential headers and a Slack URL."""
    return services.job_create(
        user=SYSTEM, data=webhook_definition(capture.url("/hook")), source="test"
    )
