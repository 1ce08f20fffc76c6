"""The two-person rule through the services, the API, the admin, import and legacy."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEntry
from executions.models import JobExecution
from executions.services import dispatch_due, run_now
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM, AccessDenied
from scheduler_jobs.models import DynamicJob, JobApproval
from tests.api.conftest import token_client
from tests.conftest import staff_with
from tests.security.conftest import HIGH_RISK, webhook_definition

pytestmark = pytest.mark.django_db
API = "/api/v1/"
REVIEWER_PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.approve_dynamicjob",
    *HIGH_RISK,
    "testapp.delete_ticket",
)
AUTHOR_PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.run_dynamicjob",
    "scheduler_jobs.approve_dynamicjob",
    *HIGH_RISK,
    "testapp.delete_ticket",
)


@pytest.fixture(autouse=True)
def two_person_rule(settings):
    settings.SCHEDULER_APPROVALS = "high-risk"
    settings.SCHEDULER_CLEANUP_MODELS = ["testapp.Ticket"]


@pytest.fixture
def author(django_user_model):
    return staff_with(django_user_model, "author", *AUTHOR_PERMS)


@pytest.fixture
def reviewer(django_user_model):
    return staff_with(django_user_model, "reviewer", *REVIEWER_PERMS)


def cleanup(**parameters) -> dict:
    return {
        "name": "purge tickets",
        "template_type": "database_cleanup",
        "parameters": {
            "collection": "testapp.Ticket",
            "condition": {"status": "resolved"},
            "dry_run": True,
            **parameters,
        },
        "schedule": {"type": "interval", "every_seconds": 60},
    }


def test_turning_dry_run_off_waits_and_the_old_version_keeps_running(author, reviewer):
    job = services.job_create(user=author, data=cleanup())
    proposed = services.job_update(
        job=job,
        user=author,
        data={"parameters": {**job.parameters, "dry_run": False}},
        expected_version=job.version,
        comment="go live",
    )
    approval = proposed.pending_approval

    assert approval.reason.startswith("new parameters for a high-risk job")
    stored = DynamicJob.objects.get(pk=job.pk)
    assert stored.parameters["dry_run"] is True
    assert stored.definition_version == 1
    DynamicJob.objects.filter(pk=job.pk).update(next_run_at=stored.created_at)
    dispatch_due()
    assert JobExecution.objects.get().dry_run is True  # the pending change never ran

    with pytest.raises(AccessDenied, match="own change"):
        services.approval_decide(
            approval=approval, user=author, approve=True, comment="mine"
        )
    with pytest.raises(ValidationError, match="comment"):
        services.approval_decide(
            approval=approval, user=reviewer, approve=True, comment=""
        )
    services.approval_decide(
        approval=approval, user=reviewer, approve=True, comment="checked the filter"
    )

    live = DynamicJob.objects.get(pk=job.pk)
    assert live.parameters["dry_run"] is False
    assert live.definition_version == 2
    version = live.versions.get(number=2)
    assert (version.created_by, version.source, version.comment) == (
        author,
        "approval",
        "go live",
    )
    assert list(live.approvals.values_list("status", flat=True)) == ["approved"]
    audited = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"propose", "approve"} <= audited


def test_a_new_high_risk_job_cannot_run_or_be_enabled_before_approval(author, reviewer):
    job = services.job_create(user=author, data=cleanup(dry_run=False))

    assert (job.enabled, job.definition_version) == (False, 0)
    with pytest.raises(ValidationError, match="first approval"):
        run_now(job=job, user=author)
    with pytest.raises(ValidationError, match="first approval"):
        services.job_set_enabled(job=job, user=author, enabled=True)

    services.approval_decide(
        approval=job.pending_approval, user=reviewer, approve=True, comment="ok"
    )
    job.refresh_from_db()
    assert (job.enabled, job.definition_version) == (True, 1)
    assert job.next_run_at is not None


def test_rejection_keeps_the_job_and_is_audited(author, reviewer):
    job = services.job_create(user=author, data=cleanup())
    proposed = services.job_update(
        job=job,
        user=author,
        data={"parameters": {**job.parameters, "dry_run": False}},
        expected_version=job.version,
    )
    services.approval_decide(
        approval=proposed.pending_approval,
        user=reviewer,
        approve=False,
        comment="not on Fridays",
    )
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is True
    assert JobApproval.objects.get().status == "rejected"


def test_low_risk_changes_and_schedules_of_high_risk_jobs_need_no_approval(author):
    job = services.job_create(user=author, data=cleanup())
    job = services.job_update(
        job=job,
        user=author,
        data={"schedule": {"type": "interval", "every_seconds": 120}},
        expected_version=job.version,
    )
    assert job.pending_approval is None
    assert job.definition_version == 2


def test_the_api_proposes_lists_and_approves(author, reviewer, capture):
    writer, checker = token_client(author), token_client(reviewer)
    created = writer.post(
        f"{API}scheduler-jobs/", webhook_definition(capture.url("/h")), format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert body["pending_change"]["proposed_by"] == "author"
    assert body["enabled"] is False
    assert body["definition_version"] == 0

    listed = checker.get(f"{API}approvals/").json()["results"]
    assert [a["job"] for a in listed] == [body["id"]]
    assert {row["field"] for row in listed[0]["diff"]} >= {"parameters.url"}
    assert not any("before" in row for row in listed[0]["diff"] if row.get("secret"))

    own = writer.post(
        f"{API}approvals/{listed[0]['id']}/approve/", {"comment": "me"}, format="json"
    )
    assert own.status_code == 403
    done = checker.post(
        f"{API}approvals/{listed[0]['id']}/approve/", {"comment": "ok"}, format="json"
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "approved"
    assert (
        writer.get(f"{API}scheduler-jobs/{body['id']}/").json()["pending_change"]
        is None
    )
    assert not capture.requests


def test_an_api_change_that_needs_approval_answers_202(author, capture):
    client = token_client(author)
    # A dry-run cleanup is not high-risk: it needs no approval to exist.
    created = services.job_create(user=SYSTEM, data=cleanup())
    job = client.get(f"{API}scheduler-jobs/{created.pk}/").json()
    job["parameters"]["dry_run"] = False
    response = client.put(f"{API}scheduler-jobs/{job['id']}/", job, format="json")
    assert response.status_code == 202
    assert response.json()["parameters"]["dry_run"] is True
    assert response.json()["pending_change"] is not None


def test_the_admin_shows_the_pending_diff_and_decides(author, reviewer):
    job = services.job_create(user=author, data=cleanup())
    services.job_update(
        job=job,
        user=author,
        data={"parameters": {**job.parameters, "dry_run": False}},
        expected_version=job.version,
    )
    approval = JobApproval.objects.get()
    url = f"/admin/scheduler_jobs/dynamicjob/{job.pk}/change/"
    as_author, as_reviewer = Client(), Client()
    as_author.force_login(author)
    as_reviewer.force_login(reviewer)

    own_page = as_author.get(url).content.decode()
    page = as_reviewer.get(url).content.decode()

    assert "Change waiting for approval" in own_page
    assert "You proposed this change" in own_page
    assert 'value="approve"' not in own_page
    assert "parameters.dry_run" in page
    assert 'value="approve"' in page
    as_reviewer.post(
        f"/admin/scheduler_jobs/dynamicjob/{job.pk}/approvals/{approval.pk}/decide/",
        {"decision": "approve", "comment": "fine"},
    )
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is False


def test_import_and_legacy_migration_propose_instead_of_applying(author, tmp_path):
    job = services.job_create(user=SYSTEM, data=cleanup())
    path = tmp_path / "jobs.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jobs": [
                    {
                        "name": job.name,
                        "parameters": {**job.parameters, "dry_run": False},
                    }
                ]
            }
        )
    )
    out = io.StringIO()

    call_command("import_jobs", str(path), stdout=out)

    assert "waits for another person's approval" in out.getvalue()
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is True
    assert JobApproval.objects.get().source == "command"


def test_an_approval_of_a_job_changed_since_is_a_conflict(author, reviewer):
    job = services.job_create(user=author, data=cleanup())
    proposed = services.job_update(
        job=job,
        user=author,
        data={"parameters": {**job.parameters, "dry_run": False}},
        expected_version=job.version,
    )
    services.job_update(
        job=job,
        user=author,
        data={"description": "edited meanwhile"},
        expected_version=job.version,
    )
    with pytest.raises(services.VersionConflict):
        services.approval_decide(
            approval=proposed.pending_approval,
            user=reviewer,
            approve=True,
            comment="late",
        )
    assert JobApproval.objects.get().status == "pending"


def test_the_setting_turns_the_rule_off(author, settings):
    settings.SCHEDULER_APPROVALS = "off"
    job = services.job_create(user=author, data=cleanup(dry_run=False))
    assert (job.pending_approval, job.definition_version, job.enabled) == (
        None,
        1,
        True,
    )


def test_the_wizard_creates_a_high_risk_job_waiting_for_approval(author, capture):
    from tests.security.test_access_matrix import World, page_add

    anchor = services.job_create(
        user=SYSTEM,
        data={
            "name": "anchor",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 60},
        },
    )
    world = World(user=author, job=anchor, risky=True, url=capture.url("/h"))

    assert page_add(world, None) is True
    job = DynamicJob.objects.get(name="made in the wizard")
    assert (job.enabled, job.definition_version) == (False, 0)
    assert JobApproval.objects.get(job=job).status == "pending"
