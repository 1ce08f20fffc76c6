"""The notification webhook's URL and signing secret: masked wherever they are
shown, kept when the mask comes back, bound to the URL's server, refused when
internal, and never written to a page, a response, the audit log, a log or a
jobs file."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEntry
from executions.services import execution_run
from job_templates import secrets
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import token_client
from tests.security.conftest import make_role

pytestmark = pytest.mark.django_db
API = "/api/v1/scheduler-jobs/"
SECRET = "whsec-Qx81-never-shown-anywhere"
PATH = "/notify/PathNeverShown"


def definition(url: str, **notifications) -> dict:
    return {
        "name": "signed notifications",
        "template_type": "heartbeat",
        "parameters": {"fail": True},
        "schedule": {"type": "interval", "every_seconds": 300},
        "retry_policy": {"max_retries": 0},
        "notifications": {
            "webhook_url": url,
            "webhook_secret": SECRET,
            "on": ["failure"],
            **notifications,
        },
    }


@pytest.fixture
def api(django_user_model):
    return token_client(make_role(django_user_model, "superuser"))


def test_the_api_masks_both_and_keeps_them_when_the_masks_come_back(api, capture):
    created = api.post(API, definition(capture.url(PATH)), format="json")
    assert created.status_code == 201, created.json()
    shown = created.json()["notifications"]
    host = capture.url("").rstrip("/")
    assert shown["webhook_url"] == f"{host}/{secrets.SECRET_MASK}"
    assert shown["webhook_secret"] == secrets.SECRET_MASK

    body = api.get(f"{API}{created.json()['id']}/").json()
    body["description"] = "changed"
    assert api.put(f"{API}{body['id']}/", body, format="json").status_code == 200

    stored = DynamicJob.objects.get(pk=body["id"]).notifications
    assert stored["webhook_secret"].startswith(secrets.SEALED_PREFIX)
    assert secrets.unseal_value(stored["webhook_secret"]) == SECRET
    assert secrets.unseal_value(stored["webhook_url"]) == capture.url(PATH)


def test_moving_the_url_to_another_server_while_keeping_the_secret_is_refused(
    api, capture, settings
):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    job = api.post(API, definition(capture.url(PATH)), format="json").json()
    moved = {
        "notifications": {
            **job["notifications"],
            "webhook_url": capture.url(PATH).replace("127.0.0.1", "localhost"),
        },
        "version": job["version"],
    }
    response = api.patch(f"{API}{job['id']}/", moved, format="json")
    assert response.status_code == 400
    assert "webhook_secret" in response.json()["notifications"]

    moved["notifications"]["webhook_secret"] = "a-new-secret-for-the-new-server"
    assert api.patch(f"{API}{job['id']}/", moved, format="json").status_code == 200


@pytest.mark.parametrize(
    ("notifications", "field"),
    [
        ({"webhook_url": "https://10.0.0.5/hook"}, "webhook_url"),
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_secret": "short"}, "webhook_secret"),
        ({"webhook_secret": secrets.SECRET_MASK}, "webhook_secret"),
    ],
)
def test_bad_values_are_refused_naming_the_field(api, capture, notifications, field):
    response = api.post(
        API, definition(capture.url(PATH), **notifications), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["notifications"]
    assert not DynamicJob.objects.exists()


def test_the_secret_never_leaves(api, capture, django_user_model, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    capture.routes[PATH] = (500, {}, b"receiver says no")
    created = api.post(API, definition(capture.url(PATH)), format="json")
    job_id = created.json()["id"]
    seen.append(created.content.decode())
    seen.append(api.get(f"{API}{job_id}/").content.decode())
    body = api.get(f"{API}{job_id}/").json()
    body["notifications"]["webhook_secret"] = SECRET + "-rotated"
    seen.append(api.put(f"{API}{job_id}/", body, format="json").content.decode())

    for role in ("superuser", "view_only"):
        user = (
            django_user_model.objects.get(username="root")
            if role == "superuser"
            else make_role(django_user_model, role)
        )
        web = Client()
        web.force_login(user)
        page = web.get(f"/admin/scheduler_jobs/dynamicjob/{job_id}/change/")
        assert page.status_code == 200
        seen.append(page.content.decode())

    run = api.post(f"{API}{job_id}/run/", {}, format="json").json()
    assert execution_run(execution_id=run["execution_id"]) == "failed"
    assert capture.requests, "the receiver was called"
    execution = api.get(f"/api/v1/executions/{run['execution_id']}/").json()
    assert any("Webhook notification" in e["message"] for e in execution["logs"])
    seen.append(str(execution))

    out = io.StringIO()
    call_command("export_jobs", stdout=out)
    seen.append(out.getvalue())
    seen.append(repr(list(AuditEntry.objects.values("changes"))))
    seen.append(api.get("/api/v1/audit/").content.decode())
    seen.append(caplog.text)

    everything = "\n".join(seen)
    assert SECRET not in everything
    assert "PathNeverShown" not in everything
    changed = [
        entry.changes.get("secrets_changed")
        for entry in AuditEntry.objects.filter(action="update")
    ]
    assert any("notifications.webhook_secret" in str(c) for c in changed), changed
