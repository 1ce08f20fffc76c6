"""Item 13: production settings pass `check --deploy`; admin login resists brute force.

Production settings are checked in a subprocess with DJANGO_ENV=production and
only the variables an operator must set, exactly as a deployment starts.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import Client

from audit.models import AuditEntry
from tests.integration.harness import ROOT, database_url

pytestmark = pytest.mark.reliability

PASSWORD = "correct horse battery staple"


def _production_env(**overrides) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "SCHEDULER_SECRETS_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "scheduler.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://scheduler.example.com",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SCHEDULER_VAR_DIR": str(settings.VAR_DIR),
        }
    )
    env.update(overrides)
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_check_deploy_passes_at_warning_level_with_production_settings():
    env = _production_env(DATABASE_URL=database_url())
    done = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        (
            {"SECRET_KEY": "dev-only-insecure-key-set-SECRET_KEY-in-production"},
            "SECRET_KEY must be set",
        ),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must be set"),
        ({"SCHEDULER_SECRETS_KEYS": ""}, "SCHEDULER_SECRETS_KEYS must be set"),
    ],
)
def test_production_refuses_to_start_without_its_required_settings(overrides, message):
    done = _manage("check", env=_production_env(**overrides))
    assert done.returncode != 0
    assert message in done.stderr


def test_debug_is_off_in_production_unless_asked():
    done = _manage(
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, "
        "settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)",
        env=_production_env(),
    )
    assert done.stdout.split() == ["False", "True", "True"], done.stderr


# --- Brute force on the admin login --------------------------------------------


@pytest.fixture
def admin_user(django_user_model, settings):
    # Test settings may switch django-axes off for Client.login(); on here.
    settings.AXES_ENABLED = True
    return django_user_model.objects.create_superuser(
        "admin", "admin@example.com", PASSWORD
    )


def _login(client: Client, password: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": password},
        REMOTE_ADDR="203.0.113.9",
    )


@pytest.mark.django_db
def test_admin_login_is_locked_after_repeated_failures(admin_user):
    client = Client()
    for _ in range(10):
        _login(client, "wrong password")
    response = _login(client, PASSWORD)
    # Even the right password is refused during the lockout.
    assert "_auth_user_id" not in client.session
    assert response.status_code in (403, 429), response.status_code


@pytest.mark.django_db
def test_failed_admin_login_is_audited_without_the_password(admin_user, figures):
    _login(Client(), "wrong password")
    figures["hostile inputs"] += 1
    entry = AuditEntry.objects.filter(action="login_failed").get()
    assert "admin" in (entry.target_repr + str(entry.changes) + entry.actor_repr)
    assert entry.ip_address == "203.0.113.9"
    assert "wrong password" not in str(entry.changes)
