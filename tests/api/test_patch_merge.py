"""PATCH on an older version merges; a real conflict is 409 naming each field.

The lost update: one client sets the timeout, another (which read the job
before) changes only the retries. The second PATCH must keep the timeout.
"""

import jsonschema
import pytest

from audit.models import AuditEntry
from config.rest.openapi import CONFLICT_SCHEMA
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import JOB_PERMS, job_payload, token_client

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-first"
OTHER_SECRET = "s3cr3t-second"


def url(job_id: int) -> str:
    return f"/api/v1/scheduler-jobs/{job_id}/"


@pytest.fixture
def job(api):
    response = api.post("/api/v1/scheduler-jobs/", job_payload(), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_stale_patch_of_other_fields_keeps_the_timeout_saved_meanwhile(api, job):
    first = api.patch(url(job["id"]), {"timeout_seconds": 1200, "version": 1})
    assert first.status_code == 200, first.json()

    second = api.patch(
        url(job["id"]),
        {
            "retry_policy": {"max_retries": 5, "delay_seconds": 30, "backoff": 2},
            "version": 1,
        },
        format="json",
    )

    assert second.status_code == 200, second.json()
    body = second.json()
    assert body["version"] == 3
    assert body["timeout_seconds"] == 1200
    assert body["retry_policy"]["max_retries"] == 5
    stored = DynamicJob.objects.get(pk=job["id"])
    assert (stored.timeout_seconds, stored.retry_policy["max_retries"]) == (1200, 5)
    last = AuditEntry.objects.filter(action="update").order_by("-id").first()
    assert "timeout_seconds" not in last.changes


def test_group_keys_merge_one_by_one(api, job):
    assert (
        api.patch(
            url(job["id"]),
            {
                "retry_policy": {"max_retries": 2, "delay_seconds": 90, "backoff": 2},
                "version": 1,
            },
            format="json",
        ).status_code
        == 200
    )

    response = api.patch(
        url(job["id"]),
        {
            "retry_policy": {"max_retries": 4, "delay_seconds": 30, "backoff": 2},
            "version": 1,
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["retry_policy"] == {
        "max_retries": 4,
        "delay_seconds": 90,
        "backoff": 2.0,
    }


def test_the_same_field_changed_differently_is_409_with_both_values(api, job):
    api.patch(url(job["id"]), {"timeout_seconds": 1200, "version": 1})

    response = api.patch(url(job["id"]), {"timeout_seconds": 600, "version": 1})

    assert response.status_code == 409
    body = response.json()
    assert body["current_version"] == 2
    assert body["conflicts"] == [
        {
            "field": "timeout_seconds",
            "label": "Timeout (seconds)",
            "yours": 600,
            "theirs": 1200,
        }
    ]
    assert DynamicJob.objects.get(pk=job["id"]).timeout_seconds == 1200
    jsonschema.validate(body, CONFLICT_SCHEMA)
    assert "conflicts" in CONFLICT_SCHEMA["properties"]


def test_the_same_change_made_twice_is_no_conflict(api, job):
    api.patch(url(job["id"]), {"timeout_seconds": 1200, "version": 1})

    response = api.patch(url(job["id"]), {"timeout_seconds": 1200, "version": 1})

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2


def test_enabled_toggled_meanwhile_and_sent_differently_is_a_conflict(api, job):
    api.patch(url(job["id"]), {"enabled": False, "version": 1})

    kept = api.patch(url(job["id"]), {"description": "mine", "version": 1})
    clash = api.patch(url(job["id"]), {"enabled": True, "version": 1})

    assert kept.status_code == 200, kept.json()
    assert kept.json()["enabled"] is False
    assert clash.status_code == 409
    assert [c["field"] for c in clash.json()["conflicts"]] == ["enabled"]


def test_put_stays_strict_on_a_stale_version(api, job):
    api.patch(url(job["id"]), {"timeout_seconds": 1200, "version": 1})
    body = api.get(url(job["id"])).json()
    body.update(
        version=1, retry_policy={"max_retries": 5, "delay_seconds": 30, "backoff": 2}
    )

    response = api.put(url(job["id"]), body, format="json")

    assert response.status_code == 409
    assert "conflicts" not in response.json()
    assert DynamicJob.objects.get(pk=job["id"]).retry_policy["max_retries"] == 2


def test_a_version_from_the_future_is_409_not_a_merge(api, job):
    response = api.patch(url(job["id"]), {"description": "x", "version": 7})

    assert response.status_code == 409
    assert response.json()["current_version"] == 1


def test_secret_conflicts_name_the_field_but_never_the_values(
    make_user, critical_template
):
    client = token_client(make_user(*JOB_PERMS, "job_templates.use_high_risk_template"))
    created = client.post(
        "/api/v1/scheduler-jobs/",
        job_payload(
            template_type="test_critical",
            parameters={"target": "db", "signing_secret": SECRET},
        ),
        format="json",
    ).json()
    client.patch(
        url(created["id"]),
        {"parameters": {"target": "db", "signing_secret": OTHER_SECRET}, "version": 1},
        format="json",
    )

    response = client.patch(
        url(created["id"]),
        {"parameters": {"target": "db", "signing_secret": "mine-new"}, "version": 1},
        format="json",
    )

    assert response.status_code == 409
    text = response.content.decode()
    for secret in (SECRET, OTHER_SECRET, "mine-new", "sealed:"):
        assert secret not in text
    assert response.json()["conflicts"] == [
        {
            "field": "parameters.signing_secret",
            "label": "Parameters: Signing secret",
            "yours": "changed",
            "theirs": "changed",
        }
    ]


def test_a_stale_patch_keeps_a_secret_changed_meanwhile(make_user, critical_template):
    client = token_client(make_user(*JOB_PERMS, "job_templates.use_high_risk_template"))
    created = client.post(
        "/api/v1/scheduler-jobs/",
        job_payload(
            template_type="test_critical",
            parameters={"target": "db", "signing_secret": SECRET},
        ),
        format="json",
    ).json()
    client.patch(
        url(created["id"]),
        {"parameters": {"target": "db", "signing_secret": OTHER_SECRET}, "version": 1},
        format="json",
    )

    response = client.patch(
        url(created["id"]),
        {"parameters": {"target": "files", "signing_secret": "••••••••"}, "version": 1},
        format="json",
    )

    assert response.status_code == 200, response.json()
    from job_templates import secrets

    stored = DynamicJob.objects.get(pk=created["id"]).parameters
    assert stored["target"] == "files"
    assert secrets.unseal_value(stored["signing_secret"]) == OTHER_SECRET
