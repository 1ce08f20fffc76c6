"""Job names are unique regardless of case: "Backup" and "backup" are one name."""

from __future__ import annotations

import importlib
import io

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import JOB_PERMS, job_payload, token_client
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module(
    "scheduler_jobs.migrations.0007_name_unique_any_case_and_version_lock"
)


def make(name: str) -> DynamicJob:
    return services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "parameters": {"message": "one"},
            "schedule": {"type": "interval", "every_seconds": 60},
        },
    )


def test_creating_a_name_that_differs_only_in_case_is_refused_under_name():
    make("Backup")

    with pytest.raises(ValidationError) as caught:
        make("backup")

    assert caught.value.message_dict == {
        "name": [
            "A job named “Backup” already exists; names differ by more than "
            "upper and lower case."
        ]
    }
    assert DynamicJob.objects.count() == 1


def test_renaming_onto_another_job_in_another_case_is_refused():
    make("Backup")
    other = make("Reports")

    with pytest.raises(ValidationError) as caught:
        services.job_update(
            job=other, user=SYSTEM, data={"name": "BACKUP"}, expected_version=1
        )

    assert list(caught.value.message_dict) == ["name"]
    assert DynamicJob.objects.get(pk=other.pk).name == "Reports"


def test_a_job_may_change_the_case_of_its_own_name():
    job = make("backup")

    renamed = services.job_update(
        job=job, user=SYSTEM, data={"name": "Backup"}, expected_version=1
    )

    assert renamed.name == "Backup"


def test_the_database_refuses_a_clash_written_around_the_services():
    make("Backup")

    with pytest.raises(IntegrityError), transaction.atomic():
        DynamicJob.objects.create(
            name="BACKUP",
            template_type="heartbeat",
            schedule={"type": "interval", "every_seconds": 60},
        )


def test_the_api_answers_400_naming_name(django_user_model):
    client = token_client(staff_with(django_user_model, "api", *JOB_PERMS))
    assert (
        client.post(
            "/api/v1/scheduler-jobs/", job_payload(name="Backup"), format="json"
        ).status_code
        == 201
    )

    response = client.post(
        "/api/v1/scheduler-jobs/", job_payload(name="backup"), format="json"
    )

    assert response.status_code == 400
    assert "“Backup” already exists" in response.json()["name"][0]


def test_import_of_a_name_in_another_case_stops_with_the_name(tmp_path):
    make("Backup")
    path = tmp_path / "jobs.yaml"
    definition = {
        "name": "backup",
        "template_type": "heartbeat",
        "parameters": {"message": "filed"},
        "schedule": {"type": "interval", "every_seconds": 60},
    }
    path.write_text(yaml.safe_dump({"jobs": [definition]}))

    with pytest.raises(CommandError, match="“Backup” already exists"):
        call_command("import_jobs", str(path), stdout=io.StringIO())

    assert DynamicJob.objects.count() == 1


class _Rows:
    """Just enough of a historical model for the migration's check."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.objects = self

    def order_by(self, *fields):
        return self

    def values_list(self, *fields):
        return list(enumerate(self.names, start=1))


class _Apps:
    def __init__(self, names: list[str]) -> None:
        self.rows = _Rows(names)

    def get_model(self, app_label: str, name: str):
        return self.rows


def test_the_migration_stops_and_lists_names_that_clash_by_case():
    apps = _Apps(["Backup", "Reports", "backup", "BACKUP", "reports ", "Cleanup"])

    with pytest.raises(RuntimeError) as caught:
        MIGRATION.refuse_case_clashes(apps, None)

    message = str(caught.value)
    assert "“Backup” (id 1), “backup” (id 3), “BACKUP” (id 4)" in message
    assert "Cleanup" not in message
    assert "Rename one job of each group" in message


def test_the_migration_passes_when_no_names_clash():
    MIGRATION.refuse_case_clashes(_Apps(["Backup", "Reports"]), None)
