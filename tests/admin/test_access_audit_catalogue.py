"""Who can reach the admin, the read-only audit log and the templates catalogue."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from audit.services import record
from scheduler_jobs.services import job_create, job_update
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db


def admin_urls(job, execution, entry):
    jobs = "/admin/scheduler_jobs/dynamicjob/"
    runs = "/admin/executions/jobexecution/"
    return [
        ("get", "/admin/"),
        ("get", jobs),
        ("get", f"{jobs}add/?step=template"),
        ("get", f"{jobs}{job.pk}/change/"),
        ("get", f"{jobs}schedule-preview/?cron=0+2+*+*+*"),
        ("post", f"{jobs}{job.pk}/run/"),
        ("post", f"{jobs}{job.pk}/toggle/"),
        ("get", runs),
        ("get", f"{runs}{execution.pk}/change/"),
        ("get", f"{runs}dashboard/"),
        ("post", f"{runs}{execution.pk}/rerun/"),
        ("post", f"{runs}{execution.pk}/cancel/"),
        ("get", "/admin/audit/auditentry/"),
        ("get", f"/admin/audit/auditentry/{entry.pk}/change/"),
        ("get", "/admin/job_templates/jobtemplate/"),
        ("get", "/admin/job_templates/jobtemplate/heartbeat/change/"),
    ]


def test_non_staff_users_reach_no_admin_page(django_user_model):
    job = DynamicJobFactory(enabled=True)
    execution = JobExecutionFactory(job=job, status="queued")
    entry = record(actor=None, action="create", target=job)
    user = django_user_model.objects.create_user(username="plain", password="x-12345")
    client = Client()
    client.force_login(user)
    for method, url in admin_urls(job, execution, entry):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    job.refresh_from_db()
    execution.refresh_from_db()
    assert job.enabled
    assert execution.status == "queued"
    assert not job.executions.exclude(pk=execution.pk).exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    job = DynamicJobFactory()
    execution = JobExecutionFactory(job=job)
    entry = record(actor=None, action="create", target=job)
    for method, url in admin_urls(job, execution, entry):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"], url


def test_superuser_reaches_every_page(admin_client_):
    job = DynamicJobFactory()
    execution = JobExecutionFactory(job=job)
    entry = record(actor=None, action="create", target=job)
    for method, url in admin_urls(job, execution, entry):
        if method == "get":
            assert admin_client_.get(url).status_code == 200, url


# --- audit ---


def test_audit_log_is_read_only_even_for_superusers(admin_client_):
    job = DynamicJobFactory()
    entry = record(actor=None, action="create", target=job, changes={"after": {"a": 1}})
    base = "/admin/audit/auditentry/"
    assert admin_client_.get(f"{base}add/").status_code == 403
    assert (
        admin_client_.post(
            f"{base}{entry.pk}/change/", {"action": "delete"}
        ).status_code
        == 403
    )
    assert (
        admin_client_.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    listing = admin_client_.get(base).content.decode()
    assert "delete_selected" not in listing
    entry.refresh_from_db()
    assert entry.action == "create"


def test_audit_detail_shows_the_before_and_after_of_an_update(admin_client_, superuser):
    job = job_create(
        user=superuser,
        data={
            "name": "audited",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 60},
        },
    )
    job_update(
        job=job, user=superuser, data={"description": "new words"}, expected_version=1
    )
    entry = AuditEntry.objects.get(action="update")
    html = admin_client_.get(
        f"/admin/audit/auditentry/{entry.pk}/change/"
    ).content.decode()
    assert 'id="audit-diff"' in html
    assert '<th scope="row">Description <span' in html  # its label, marked
    assert "<mark>new words</mark>" in html
    assert f'href="/admin/scheduler_jobs/dynamicjob/{job.pk}/change/"' in html


def test_audit_filters_by_actor_action_and_object(admin_client_, superuser):
    a = DynamicJobFactory(name="first")
    b = DynamicJobFactory(name="second")
    record(actor=superuser, action="update", target=a)
    record(actor=None, action="delete", target=b)
    base = "/admin/audit/auditentry/"
    by_object = admin_client_.get(f"{base}?object=scheduler_jobs.dynamicjob:{a.pk}")
    assert "first" in by_object.content.decode()
    assert "second" not in by_object.content.decode()
    system = admin_client_.get(f"{base}?actor=system").content.decode()
    assert "second" in system
    assert "first (" not in system
    deletes = admin_client_.get(f"{base}?action__exact=delete").content.decode()
    assert "second" in deletes
    assert "first (" not in deletes


# --- templates catalogue ---


def test_catalogue_lists_templates_read_only(admin_client_):
    base = "/admin/job_templates/jobtemplate/"
    html = admin_client_.get(base).content.decode()
    assert "Database cleanup" in html
    assert "Heartbeat" in html
    assert admin_client_.get(f"{base}add/").status_code == 403
    assert (
        admin_client_.post(f"{base}heartbeat/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_catalogue_detail_shows_the_schema_readably(admin_client_):
    html = admin_client_.get(
        "/admin/job_templates/jobtemplate/database_cleanup/change/"
    ).content.decode()
    assert 'id="template-parameters"' in html
    assert "<code>batch_size</code>" in html
    assert "≥ 1" in html
    assert "≤ 10000" in html
    assert "Remove old data? → Database cleanup" in html
    assert "/admin/scheduler_jobs/dynamicjob/add/?template=database_cleanup" in html
