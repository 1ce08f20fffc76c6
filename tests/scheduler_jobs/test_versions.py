"""Job versions: one per change to what a job does, diffed, reverted, pinned by runs."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from executions.models import JobExecution
from executions.services import dispatch_due, run_now
from job_templates import secrets
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import token_client
from tests.security.conftest import SIGNING_SECRET, make_role, webhook_definition

pytestmark = pytest.mark.django_db
API = "/api/v1/scheduler-jobs/"


def heartbeat(**overrides) -> DynamicJob:
    return services.job_create(
        user=SYSTEM,
        data={
            "name": "beat",
            "template_type": "heartbeat",
            "parameters": {"message": "one"},
            "schedule": {"type": "interval", "every_seconds": 60},
            **overrides,
        },
        comment="first",
    )


def change(job: DynamicJob, **data) -> DynamicJob:
    job.refresh_from_db()
    return services.job_update(
        job=job, user=SYSTEM, data=data, expected_version=job.version, source="api"
    )


def test_each_change_is_a_version_and_enable_disable_are_not():
    job = heartbeat()
    change(job, parameters={"message": "two"})
    services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
    services.job_set_enabled(job=job, user=SYSTEM, enabled=True)
    change(job, description="same job, better words")
    change(job, description="same job, better words")  # nothing changes

    job.refresh_from_db()
    assert [(v.number, v.source) for v in job.versions.all()] == [
        (3, "api"),
        (2, "api"),
        (1, "api"),
    ]
    assert job.definition_version == 3
    assert job.versions.get(number=1).comment == "first"
    assert job.versions.get(number=1).definition["parameters"]["message"] == "one"
    assert "enabled" not in job.versions.get(number=3).definition


def test_every_run_records_the_version_it_ran(django_user_model):
    job = heartbeat()
    manual = run_now(job=job, user=SYSTEM)
    change(job, parameters={"message": "two"})
    job.refresh_from_db()
    DynamicJob.objects.filter(pk=job.pk).update(next_run_at=job.created_at)
    dispatch_due()
    scheduled = JobExecution.objects.get(triggered_by="scheduler")

    assert manual.job_version == 1
    assert scheduled.job_version == 2
    assert scheduled.parameters["message"] == "two"


def test_diff_flattens_nested_parameters_and_hides_secrets(capture):
    job = services.job_create(user=SYSTEM, data=webhook_definition(capture.url("/a")))
    body = services.masked_job_parameters(job)
    body["headers"] = {"Authorization": secrets.SECRET_MASK, "X-Team": "ops"}
    body["signing_secret"] = "rotated-secret"
    body["json_body"] = {"hello": "world", "nested": {"depth": 2}}
    change(job, parameters=body)

    v1, v2 = job.versions.get(number=1), job.versions.get(number=2)
    rows = {
        row["field"]: row
        for row in services.definition_diff(v1.definition, v2.definition)
    }

    # Every header value is a secret: a new header is "set", never shown.
    assert rows["parameters.headers.X-Team"] == {
        "field": "parameters.headers.X-Team",
        "change": "set",
        "secret": True,
    }
    assert rows["parameters.json_body.nested.depth"] == {
        "field": "parameters.json_body.nested.depth",
        "change": "added",
        "before": None,
        "after": 2,
    }
    assert rows["parameters.headers.X-Api-Key"] == {
        "field": "parameters.headers.X-Api-Key",
        "change": "cleared",
        "secret": True,
    }
    assert rows["parameters.signing_secret"] == {
        "field": "parameters.signing_secret",
        "change": "changed",
        "secret": True,
    }
    assert "parameters.headers.Authorization" not in rows  # kept: unchanged
    assert "rotated-secret" not in repr(rows)
    assert SIGNING_SECRET not in repr(rows)


def test_revert_makes_a_new_version_through_the_same_validation():
    job = heartbeat()
    change(job, parameters={"message": "two"}, timeout_seconds=90)
    job.refresh_from_db()

    reverted = services.job_revert(
        job=job, number=1, user=SYSTEM, expected_version=job.version
    )

    assert reverted.definition_version == 3
    assert reverted.parameters["message"] == "one"
    assert reverted.timeout_seconds == 1800
    newest = reverted.versions.get(number=3)
    assert (newest.source, newest.comment) == ("revert", "Revert to version 1.")


def test_a_revert_that_no_longer_validates_is_refused(settings):
    job = heartbeat(schedule={"type": "interval", "every_seconds": 30})
    change(job, schedule={"type": "interval", "every_seconds": 120})
    settings.SCHEDULER_MIN_INTERVAL_SECONDS = 60  # v1's 30 s is too short now
    job.refresh_from_db()

    with pytest.raises(ValidationError) as excinfo:
        services.job_revert(
            job=job, number=1, user=SYSTEM, expected_version=job.version
        )

    assert "schedule.every_seconds" in excinfo.value.message_dict
    assert DynamicJob.objects.get(pk=job.pk).definition_version == 2


def test_api_lists_versions_shows_one_diffs_and_reverts(django_user_model):
    job = heartbeat()
    change(job, parameters={"message": "two"})
    client = token_client(make_role(django_user_model, "editor"))

    listed = client.get(f"{API}{job.pk}/versions/").json()
    one = client.get(f"{API}{job.pk}/versions/1/").json()
    diff = client.get(f"{API}{job.pk}/versions/2/diff/?against=1").json()

    assert [v["number"] for v in listed["results"]] == [2, 1]
    assert set(listed["results"][0]) == {
        "number",
        "created_by",
        "created_at",
        "source",
        "comment",
        "definition",
    }
    assert one["definition"]["parameters"]["message"] == "one"
    assert diff == {
        "number": 2,
        "against": 1,
        "changes": [
            {
                "field": "parameters.message",
                "change": "changed",
                "before": "one",
                "after": "two",
            }
        ],
    }
    current = client.get(f"{API}{job.pk}/").json()
    stale = client.post(
        f"{API}{job.pk}/versions/1/revert/",
        {"version": current["version"] - 1},
        format="json",
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == current["version"]
    done = client.post(
        f"{API}{job.pk}/versions/1/revert/",
        {"version": current["version"]},
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert done.json()["definition_version"] == 3
    assert done.json()["parameters"]["message"] == "one"
    assert client.get(f"{API}{job.pk}/versions/9/").status_code == 404
    default = client.get(f"{API}{job.pk}/versions/2/diff/").json()
    assert default["against"] == 1
    assert client.get(f"{API}{job.pk}/versions/1/diff/").status_code == 404
    assert client.get(f"{API}{job.pk}/versions/2/diff/?against=x").status_code == 400


def test_secrets_stay_sealed_in_versions_and_masked_in_the_api(
    capture, django_user_model
):
    job = services.job_create(user=SYSTEM, data=webhook_definition(capture.url("/a")))
    client = token_client(make_role(django_user_model, "superuser"))

    stored = job.versions.get(number=1).definition["parameters"]["signing_secret"]
    shown = client.get(f"{API}{job.pk}/versions/1/").content.decode()

    assert stored.startswith(secrets.SEALED_PREFIX)
    assert SIGNING_SECRET not in shown
    assert secrets.SEALED_PREFIX not in shown


def test_import_shows_the_diff_and_makes_a_version(tmp_path):
    job = heartbeat()
    path = tmp_path / "jobs.yaml"
    path.write_text(
        yaml.safe_dump({"jobs": [{"name": "beat", "parameters": {"message": "filed"}}]})
    )
    out = io.StringIO()

    call_command("import_jobs", str(path), stdout=out)

    assert '      parameters.message: "one" → "filed"' in out.getvalue()
    assert job.versions.get(number=2).source == "import"


def test_history_page_compares_two_versions_and_reverts(django_user_model):
    job = heartbeat()
    change(job, parameters={"message": "two"})
    change(job, parameters={"message": "three"})
    client = Client()
    client.force_login(make_role(django_user_model, "editor"))
    url = f"/admin/scheduler_jobs/dynamicjob/{job.pk}/versions/"

    page = client.get(url + "?a=1&b=3").content.decode()

    assert "Changes from v1 to v3" in page
    assert "parameters.message" in page
    assert "&quot;one&quot;" in page
    assert "&quot;three&quot;" in page
    job.refresh_from_db()
    client.post(f"{url}2/revert/", {"version": job.version})
    job.refresh_from_db()
    assert (job.definition_version, job.parameters["message"]) == (4, "two")
