"""A job holding every kind of secret goes through its whole life; none leaks.

Created, read, changed, run (against a real server on 127.0.0.1, with a failing
Slack notification), exported, backed up and audited, through the API, the
admin pages and the commands. Every response, page, log record, audit entry,
execution record, export, backup file and the stored row itself is searched for
each secret. The webhook's own destination is the one place a secret may go.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from audit.models import AuditEntry
from executions.models import JobExecution
from executions.services import execution_run
from job_templates import secrets
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import token_client
from tests.security.conftest import (
    ALL_SECRETS,
    BEARER,
    SIGNING_SECRET,
    make_role,
    webhook_definition,
)

pytestmark = pytest.mark.django_db(transaction=True)


class Seen:
    """Everything a person, a log or a file could see, with where it came from."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, text: object) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.items.append((where, text if isinstance(text, str) else repr(text)))

    def leaks(self) -> list[str]:
        return [
            f"{where}: {secret!r}"
            for where, text in self.items
            for secret in ALL_SECRETS
            if secret in text
        ]


@pytest.fixture
def folders(settings, tmp_path):
    for name, setting in (
        ("exports", "SCHEDULER_EXPORT_ROOT"),
        ("reports", "SCHEDULER_REPORT_ROOT"),
        ("backups", "SCHEDULER_BACKUP_ROOT"),
    ):
        (tmp_path / name).mkdir()
        setattr(settings, setting, str(tmp_path / name))
    return tmp_path


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _read(path: Path) -> str:
    import gzip

    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def test_no_secret_leaves_through_any_door(
    capture, folders, django_user_model, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    seen = Seen()
    root = make_role(django_user_model, "superuser")
    viewer = make_role(django_user_model, "view_only")
    api = token_client(root)
    web, view_web = Client(), Client()
    web.force_login(root)
    view_web.force_login(viewer)
    capture.routes["/hook"] = (500, {}, b"server says no")

    # Created through the API.
    created = api.post(
        "/api/v1/scheduler-jobs/",
        webhook_definition(capture.url("/hook"), name="leaky"),
        format="json",
    )
    assert created.status_code == 201, created.json()
    seen.add("API create", created.content)
    job_id = created.json()["id"]

    # Read everywhere.
    for path in ("/api/v1/scheduler-jobs/", f"/api/v1/scheduler-jobs/{job_id}/"):
        seen.add(f"API GET {path}", api.get(path).content)
    admin = "/admin/scheduler_jobs/dynamicjob/"
    for client, who in ((web, "superuser"), (view_web, "view-only")):
        for path in (admin, f"{admin}{job_id}/change/"):
            response = client.get(path)
            assert response.status_code == 200
            seen.add(f"admin {who} {path}", response.content)

    # Changed through the API with the masked body sent back.
    body = api.get(f"/api/v1/scheduler-jobs/{job_id}/").json()
    body["description"] = "changed"
    body["parameters"]["headers"]["X-Extra"] = "plain"
    changed = api.put(f"/api/v1/scheduler-jobs/{job_id}/", body, format="json")
    assert changed.status_code == 200, changed.json()
    seen.add("API change", changed.content)

    # Run for real: the capture server answers 500, so the run fails and the
    # failure goes to Slack, which cannot be reached here either.
    run = api.post(f"/api/v1/scheduler-jobs/{job_id}/run/", {}, format="json")
    assert run.status_code == 202, run.json()
    execution_id = run.json()["execution_id"]
    assert execution_run(execution_id=execution_id) == "failed"
    sent = capture.requests[-1]
    assert sent.headers["Authorization"] == BEARER  # the destination gets them
    assert sent.headers["X-Scheduler-Signature"].startswith("sha256=")
    execution = JobExecution.objects.get(pk=execution_id)
    assert any("Slack notification" in e["message"] for e in execution.logs)
    for path in (
        f"/api/v1/executions/{execution_id}/",
        "/api/v1/executions/",
        f"/api/v1/scheduler-jobs/{job_id}/executions/",
    ):
        seen.add(f"API GET {path}", api.get(path).content)
    seen.add(
        "admin execution page",
        web.get(f"/admin/executions/jobexecution/{execution_id}/change/").content,
    )
    seen.add("execution record", repr(list(JobExecution.objects.values())))

    # Exported as a job file, and as data by the data_export template.
    out = io.StringIO()
    call_command("export_jobs", stdout=out)
    seen.add("export_jobs", out.getvalue())
    settings.SCHEDULER_EXPORT_MODELS = [
        "scheduler_jobs.DynamicJob",
        "executions.JobExecution",
        "audit.AuditEntry",
    ]
    for collection in settings.SCHEDULER_EXPORT_MODELS:
        for fmt in ("csv", "json"):
            response = api.post(
                "/api/v1/scheduler-jobs/",
                {
                    "name": f"export {collection} {fmt}",
                    "template_type": "data_export",
                    "parameters": {"collection": collection, "format": fmt},
                    "schedule": {"type": "interval", "every_seconds": 3600},
                },
                format="json",
            )
            assert response.status_code == 201, response.json()
            queued = api.post(
                f"/api/v1/scheduler-jobs/{response.json()['id']}/run/",
                {},
                format="json",
            ).json()["execution_id"]
            assert execution_run(execution_id=queued) == "completed"

    # Backed up with the project's own tables.
    backup = api.post(
        "/api/v1/scheduler-jobs/",
        {
            "name": "backup ours",
            "template_type": "backup",
            "parameters": {"apps": ["scheduler_jobs", "executions", "audit"]},
            "schedule": {"type": "interval", "every_seconds": 3600},
        },
        format="json",
    )
    assert backup.status_code == 201, backup.json()
    queued = api.post(
        f"/api/v1/scheduler-jobs/{backup.json()['id']}/run/", {}, format="json"
    ).json()["execution_id"]
    assert execution_run(execution_id=queued) == "completed"
    files = _files(folders / "exports") + _files(folders / "backups")
    assert len(files) == 7
    for path in files:
        seen.add(f"file {path.name}", _read(path))

    # Audited: stored entries, the audit API and the admin's audit pages.
    seen.add("audit entries", repr(list(AuditEntry.objects.values("changes"))))
    seen.add("audit API", api.get("/api/v1/audit/").content)
    for entry in AuditEntry.objects.all():
        page = web.get(f"/admin/audit/auditentry/{entry.pk}/change/")
        seen.add(f"admin audit #{entry.pk}", page.content)
    assert AuditEntry.objects.filter(
        action="update", changes__has_key="secrets_changed"
    ).exists()

    # Logged: every record any logger wrote during all of the above.
    seen.add("logs", "\n".join(r.getMessage() for r in caplog.records))

    # Stored: the row as a database dump would carry it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parameters, notifications FROM dynamic_jobs WHERE id = %s",
            [job_id],
        )
        seen.add("stored row", repr(cursor.fetchone()))

    assert seen.leaks() == []
    # And the secrets are still there, sealed, for the next run.
    stored = DynamicJob.objects.get(pk=job_id).parameters
    assert secrets.unseal_value(stored["signing_secret"]) == SIGNING_SECRET
    assert stored["signing_secret"].startswith(secrets.SEALED_PREFIX)
