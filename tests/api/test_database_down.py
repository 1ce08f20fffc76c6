"""With the database unreachable the API answers 503 JSON, never a 500."""

import contextlib

import pytest
from django.db import connection

from tests.api.conftest import JOB_PERMS, job_payload, token_client

# Real connections are broken and restored: no test-wide transaction around it.
pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def database_down():
    """Point the connection at a place with no database, really failing to connect."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-directory/db.sqlite3"
    else:
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = "1"
        connection.settings_dict["OPTIONS"] = {
            **saved.get("OPTIONS", {}),
            "connect_timeout": 2,
        }
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/scheduler-jobs/", None),
        ("post", "/api/v1/scheduler-jobs/", job_payload()),
        ("get", "/api/v1/executions/", None),
        ("get", "/api/v1/metrics/", None),
        (
            "post",
            "/api/v1/schedule-preview/",
            {"schedule": {"type": "cron", "cron": "* * * * *"}},
        ),
    ],
)
def test_database_down_is_503_json_with_retry_after(make_user, method, path, body):
    client = token_client(make_user(*JOB_PERMS))
    request = getattr(client, method)

    with database_down():
        response = request(path, body, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"
    # And back to normal once the database is.
    assert request(path, body, format="json").status_code < 500
