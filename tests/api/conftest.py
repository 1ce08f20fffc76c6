"""Fixtures for the API tests: users with exactly the permissions a test names,
token-authenticated clients, and a cache cleared between tests (throttles)."""

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from job_templates.base import JobTemplate
from job_templates.registry import registry

JOB_PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.delete_dynamicjob",
    "scheduler_jobs.run_dynamicjob",
    "executions.view_jobexecution",
    "executions.cancel_jobexecution",
    "job_templates.view_jobtemplate",
    "audit.view_auditentry",
)


@pytest.fixture(autouse=True)
def _clear_throttle_cache():
    """Throttle history lives in the cache; no test inherits another's."""
    cache.clear()
    yield
    cache.clear()


def grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    # has_perm caches per user object; a fresh one sees the new permissions.
    return type(user).objects.get(pk=user.pk)


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def make_user(django_user_model):
    counter = {"n": 0}

    def make(*perms: str, is_staff: bool = True, **extra):
        counter["n"] += 1
        user = django_user_model.objects.create_user(
            username=extra.pop("username", f"api-user-{counter['n']}"),
            password="pass-12345-word",
            is_staff=is_staff,
            **extra,
        )
        return grant(user, *perms)

    return make


@pytest.fixture
def operator(make_user):
    """A staff user with every permission the API uses, but not a superuser."""
    return make_user(*JOB_PERMS, username="operator")


@pytest.fixture
def api(operator) -> APIClient:
    return token_client(operator)


def job_payload(**overrides):
    payload = {
        "name": "Nightly heartbeat",
        "description": "Proves the scheduler lives.",
        "template_type": "heartbeat",
        "parameters": {"message": "alive"},
        "schedule": {"type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"},
        "enabled": True,
        "timeout_seconds": 60,
        "retry_policy": {"max_retries": 2, "delay_seconds": 30, "backoff": 2},
        "overlap_policy": "skip",
        "misfire_policy": "run_once",
        "notifications": {"emails": ["ops@example.com"], "on": ["failure"]},
    }
    payload.update(overrides)
    return payload


class CriticalTemplate(JobTemplate):
    """A test-only template whose risk level is critical, with a secret."""

    type = "test_critical"
    name = "Critical test"
    risk_level = "critical"
    category = "maintenance"
    supports_dry_run = True
    parameters_schema = {
        "type": "object",
        "properties": {
            "target": {"type": "string", "default": "x"},
            "signing_secret": {"type": "string", "writeOnly": True},
        },
        "additionalProperties": False,
    }

    def execute(self, params, ctx):
        return {"target": params["target"], "dry_run": ctx.dry_run}


@pytest.fixture
def critical_template():
    registry.register(CriticalTemplate)
    yield CriticalTemplate
    registry.unregister(CriticalTemplate.type)
