"""Risky clicks ask first: a real run of a high-risk job, a run beside a running one,
a bulk run of such jobs, and cancelling a run."""

from __future__ import annotations

import pytest
from django.test import Client

from executions.models import JobExecution
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from tests.conftest import staff_with
from tests.factories import JobExecutionFactory

pytestmark = pytest.mark.django_db
JOBS = "/admin/scheduler_jobs/dynamicjob/"
RUNS = "/admin/executions/jobexecution/"


@pytest.fixture
def client(django_user_model, settings):
    settings.SCHEDULER_CLEANUP_MODELS = ["testapp.Ticket"]
    user = staff_with(
        django_user_model,
        "operator",
        "scheduler_jobs.view_dynamicjob",
        "scheduler_jobs.run_dynamicjob",
        "executions.view_jobexecution",
        "executions.cancel_jobexecution",
        "job_templates.use_high_risk_template",
        "testapp.delete_ticket",
    )
    web = Client()
    web.force_login(user)
    return web


def make(name: str, template: str = "heartbeat", **parameters):
    data = {
        "name": name,
        "template_type": template,
        "schedule": {"type": "interval", "every_seconds": 300},
    }
    if template == "database_cleanup":
        data["parameters"] = {
            "collection": "testapp.Ticket",
            "condition": {"status": "resolved"},
            **parameters,
        }
    return services.job_create(user=SYSTEM, data=data)


def test_a_live_cleanup_asks_before_it_runs(client):
    job = make("purge", "database_cleanup", dry_run=False)

    question = client.post(f"{JOBS}{job.pk}/run/")

    html = question.content.decode()
    assert "Run “purge” now?" in html
    assert "This is a real run, and the job is high-risk: it deletes rows" in html
    assert not JobExecution.objects.exists()
    client.post(f"{JOBS}{job.pk}/run/", {"confirm": "1"})
    assert JobExecution.objects.get().dry_run is False


def test_a_dry_run_of_the_same_job_needs_no_question(client):
    job = make("purge", "database_cleanup", dry_run=False)

    client.post(f"{JOBS}{job.pk}/run/", {"dry_run": "1"})

    assert JobExecution.objects.get().dry_run is True


def test_running_beside_a_running_run_asks(client):
    job = make("beat")
    JobExecutionFactory(job=job, status="running")

    html = client.post(f"{JOBS}{job.pk}/run/").content.decode()

    assert "already queued or running" in html
    assert "skip the new run while one is running" in html
    assert JobExecution.objects.count() == 1


def test_a_plain_run_goes_at_once(client):
    job = make("beat")
    client.post(f"{JOBS}{job.pk}/run/")
    assert JobExecution.objects.filter(job=job, triggered_by="manual").count() == 1


def test_a_bulk_run_with_a_high_risk_job_asks_once_for_all(client):
    risky, plain = make("purge", "database_cleanup", dry_run=False), make("beat")
    ids = [risky.pk, plain.pk]

    html = client.post(
        JOBS, {"action": "run_selected", "_selected_action": ids}
    ).content.decode()

    assert "Run 2 job(s) now?" in html
    assert "purge: This is a real run" in html
    assert not JobExecution.objects.exists()
    client.post(
        JOBS, {"action": "run_selected", "_selected_action": ids, "confirm": "1"}
    )
    assert JobExecution.objects.count() == 2


def test_cancel_asks_first(client):
    execution = JobExecutionFactory(status="running")

    html = client.post(f"{RUNS}{execution.pk}/cancel/").content.decode()

    assert f"Cancel run #{execution.pk}" in html
    execution.refresh_from_db()
    assert execution.status == "running"
    client.post(f"{RUNS}{execution.pk}/cancel/", {"confirm": "1"})
    execution.refresh_from_db()
    assert execution.status == "cancelled"
