"""Settings fail closed: no secret key in the repository, DEBUG only when asked for,
and production refuses to start rather than warn.

Settings are read once, at import, from the environment, so each case starts a
fresh process with exactly the variables it names and its own SCHEDULER_VAR_DIR.
"""

from __future__ import annotations

import os
import secrets
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(64)
SHOW = (
    "from django.conf import settings as s; "
    "print(repr(s.SECRET_KEY), s.DEBUG, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
)


def _env(var_dir: Path, **variables: str) -> dict[str, str]:
    """The caller's environment without anything these settings read, plus these."""
    read_by_settings = ("DJANGO_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SCHEDULER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(read_by_settings)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SCHEDULER_VAR_DIR": str(var_dir),
            "CELERY_BROKER_URL": "filesystem://",
            "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        }
    )
    env.update(variables)
    return env


def _production(var_dir: Path, **variables: str) -> dict[str, str]:
    production = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "scheduler.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://scheduler.example.com",
        "SCHEDULER_SECRETS_KEYS": Fernet.generate_key().decode(),
    }
    return _env(var_dir, **{**production, **variables})


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(env: dict[str, str]) -> tuple[str, str, str]:
    """SECRET_KEY, DEBUG and SECURE_PROXY_SSL_HEADER as a process with env sees them."""
    done = _run(["-c", SHOW], env)
    assert done.returncode == 0, done.stderr
    key, debug, ssl_header = done.stdout.strip().split(" ", 2)
    return key, debug, ssl_header


# --- Development: a generated key, DEBUG off unless asked -------------------------


def test_development_key_is_generated_under_var_with_mode_0600_and_reused(tmp_path):
    env = _env(tmp_path)
    first_key, debug, _ = _settings(env)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first_key == repr(key_file.read_text().strip())
    assert len(first_key) > 50
    second_key, _, _ = _settings(env)
    assert second_key == first_key
    other_checkout, _, _ = _settings(_env(tmp_path / "other"))
    assert other_checkout != first_key
    assert debug == "False"


def test_secret_key_from_the_environment_wins_and_writes_no_file(tmp_path):
    key, _, _ = _settings(_env(tmp_path, SECRET_KEY=STRONG_KEY))
    assert key == repr(STRONG_KEY)
    assert not (tmp_path / "secret_key").exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    (tmp_path / "secret_key").write_text(STRONG_KEY)
    (tmp_path / "secret_key").chmod(0o644)
    done = _run(["-c", "import config.settings"], _env(tmp_path))
    assert done.returncode != 0
    assert "chmod 600" in done.stderr


@pytest.mark.parametrize(("value", "expected"), [("1", "True"), ("true", "True")])
def test_debug_only_when_asked_for(tmp_path, value, expected):
    assert _settings(_env(tmp_path, DEBUG=value))[1] == expected


def test_make_run_turns_debug_on_for_its_web_process():
    """The quick start serves the admin's static files through runserver."""
    processes = dict(
        line.split(":", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip()
    )
    assert "DEBUG=1" in shlex.split(processes["web"])


# --- Production: refuse to start ------------------------------------------------


def test_check_deploy_finds_no_issues_with_production_settings(tmp_path):
    done = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DEBUG": "1"}, "DEBUG must be off"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "x" * 20 + "abcdefghij"}, "strong key"),
        ({"SECRET_KEY": "abcd" * 20}, "strong key"),
        ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "strong key"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must be set"),
        ({"SCHEDULER_SECRETS_KEYS": ""}, "SCHEDULER_SECRETS_KEYS must be set"),
    ],
    ids=[
        "debug-1",
        "debug-true",
        "no-key",
        "short-key",
        "four-distinct-characters",
        "django-insecure-prefix",
        "no-allowed-hosts",
        "no-secrets-key",
    ],
)
def test_production_refuses_to_start(tmp_path, variables, message):
    done = _run(["manage.py", "check"], _production(tmp_path, **variables))
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DJANGO_ENV=production refuses to start" in done.stderr
    assert message in done.stderr


def test_production_does_not_fall_back_to_a_key_file_under_var(tmp_path):
    """A development leftover must not become the production key."""
    _settings(_env(tmp_path))
    assert (tmp_path / "secret_key").exists()
    done = _run(["manage.py", "check"], _production(tmp_path, SECRET_KEY=""))
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr


def test_production_names_every_problem_at_once(tmp_path):
    done = _run(
        ["manage.py", "check"],
        _production(tmp_path, DEBUG="1", SECRET_KEY="short", ALLOWED_HOSTS=""),
    )
    for message in ("DEBUG must be off", "strong key", "ALLOWED_HOSTS must be set"):
        assert message in done.stderr


# --- The proxy's HTTPS header ----------------------------------------------------


def test_proxy_ssl_header_is_not_trusted_without_a_proxy(tmp_path):
    assert _settings(_production(tmp_path))[2] == "None"


def test_proxy_ssl_header_is_trusted_behind_trusted_proxies(tmp_path):
    env = _production(tmp_path, SCHEDULER_TRUSTED_PROXIES="10.0.0.0/8")
    assert _settings(env)[2] == "('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"SCHEDULER_PROXY_SSL_HEADER": "X-Forwarded-Scheme"},
            "HTTP_X_FORWARDED_SCHEME",
        ),
        (
            {"SCHEDULER_TRUSTED_PROXIES": "10.0.0.1", "SCHEDULER_PROXY_SSL_HEADER": ""},
            "None",
        ),
    ],
)
def test_proxy_ssl_header_can_be_named_or_turned_off(tmp_path, variables, expected):
    assert expected in _settings(_production(tmp_path, **variables))[2]


def test_malformed_trusted_proxy_is_refused(tmp_path):
    env = _env(tmp_path, SCHEDULER_TRUSTED_PROXIES="10.0.0.0/8,proxy.internal")
    done = _run(["-c", "import config.settings"], env)
    assert done.returncode != 0
    assert "'proxy.internal' is not an IP address or network" in done.stderr
