"""Secrets come back masked, and the mask sent back keeps the stored secret."""

import pytest

from job_templates import secrets
from job_templates.secrets import SECRET_MASK
from scheduler_jobs.models import DynamicJob
from tests.api.conftest import JOB_PERMS, job_payload, token_client

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.slack.com/services/T000/B000/SECRETPATH"


@pytest.fixture
def client(make_user, critical_template):
    return token_client(make_user(*JOB_PERMS, "job_templates.use_high_risk_template"))


@pytest.fixture
def job(client):
    response = client.post(
        "/api/v1/scheduler-jobs/",
        job_payload(
            template_type="test_critical",
            parameters={"target": "db", "signing_secret": "s3cr3t"},
            notifications={"slack_webhook": WEBHOOK, "on": ["failure"]},
        ),
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_secrets_are_masked_in_every_read(client, job):
    detail = client.get(f"/api/v1/scheduler-jobs/{job['id']}/").content.decode()
    listed = client.get("/api/v1/scheduler-jobs/").content.decode()

    for body in (str(job), detail, listed):
        assert "s3cr3t" not in body
        assert "SECRETPATH" not in body
    assert job["parameters"]["signing_secret"] == SECRET_MASK
    assert (
        job["notifications"]["slack_webhook"]
        == f"https://hooks.slack.com/{SECRET_MASK}"
    )


def test_masked_values_sent_back_keep_the_stored_secrets(client, job):
    body = client.get(f"/api/v1/scheduler-jobs/{job['id']}/").json()
    body["description"] = "edited"

    response = client.put(f"/api/v1/scheduler-jobs/{job['id']}/", body, format="json")

    assert response.status_code == 200, response.json()
    stored = DynamicJob.objects.get(pk=job["id"])
    assert secrets.unseal_value(stored.parameters["signing_secret"]) == "s3cr3t"
    assert secrets.unseal_value(stored.notifications["slack_webhook"]) == WEBHOOK
    assert stored.description == "edited"


def test_a_new_secret_replaces_the_old_one(client, job):
    response = client.patch(
        f"/api/v1/scheduler-jobs/{job['id']}/",
        {
            "parameters": {"target": "db", "signing_secret": "n3w"},
            "version": job["version"],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    stored = DynamicJob.objects.get(pk=job["id"]).parameters["signing_secret"]
    assert secrets.unseal_value(stored) == "n3w"
    assert response.json()["parameters"]["signing_secret"] == SECRET_MASK
