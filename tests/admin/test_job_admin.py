"""The job list, its row and bulk actions, and the change form."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from executions.models import JobExecution
from job_templates import secrets
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import job_update
from tests.admin.conftest import errors_of
from tests.factories import DynamicJobFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/scheduler_jobs/dynamicjob/"


def change_url(job):
    return f"{LIST}{job.pk}/change/"


def cron_job(**kwargs):
    return DynamicJobFactory(
        schedule={"type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"},
        **kwargs,
    )


def change_form_data(job, **overrides):
    data = {
        "name": job.name,
        "description": job.description,
        "enabled": "on" if job.enabled else "",
        "version": str(job.version),
        "parameters": '{"message": "hi", "fail": false, "sleep_seconds": 0}',
        "schedule_type": "cron",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "every": "15",
        "every_unit": "minutes",
        "timeout_seconds": "1800",
        "max_retries": "3",
        "delay_seconds": "60",
        "backoff": "2.0",
        "overlap_policy": "skip",
        "misfire_policy": "run_once",
        "queue": "",
        "notify_emails": "",
        "slack_webhook": "",
        "notify_on": ["failure", "exhausted"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""} | {
        k: v for k, v in data.items() if v == "" and k != "enabled"
    }


# --- list ---


def test_list_shows_template_schedule_in_words_and_last_status(editor_client):
    cron_job(name="Nightly", last_status="failed")
    html = editor_client.get(LIST).content.decode()
    assert "Nightly" in html
    assert "At 02:00, Europe/Berlin" in html
    assert "💓" in html
    assert "Heartbeat" in html
    assert 'class="ds-badge ds-status-failed"' in html
    assert "History" in html


def test_list_filters_by_template_category_last_status_and_enabled(editor_client):
    DynamicJobFactory(name="ok-job", last_status="completed")
    DynamicJobFactory(name="bad-job", last_status="failed", enabled=False)
    assert (
        "bad-job"
        not in editor_client.get(LIST + "?last_status=completed").content.decode()
    )
    assert (
        "ok-job" not in editor_client.get(LIST + "?enabled__exact=0").content.decode()
    )
    assert "ok-job" in editor_client.get(LIST + "?template=heartbeat").content.decode()
    assert "ok-job" not in editor_client.get(LIST + "?template=backup").content.decode()
    assert (
        "ok-job" in editor_client.get(LIST + "?category=diagnostics").content.decode()
    )
    assert (
        "ok-job" not in editor_client.get(LIST + "?category=reports").content.decode()
    )
    never = editor_client.get(LIST + "?last_status=never").content.decode()
    assert "ok-job" not in never


def test_list_searches_name_and_description(editor_client):
    DynamicJobFactory(name="alpha", description="purges tickets")
    DynamicJobFactory(name="beta")
    html = editor_client.get(LIST + "?q=tickets").content.decode()
    assert "alpha" in html
    assert ">beta<" not in html


def test_list_runs_a_fixed_number_of_queries(
    editor_client, django_assert_max_num_queries
):
    for _ in range(30):
        DynamicJobFactory()
    with django_assert_max_num_queries(12):
        assert editor_client.get(LIST).status_code == 200


# --- permissions for running ---


def test_staff_without_run_permission_sees_no_run_now(editor_client):
    job = DynamicJobFactory()
    listing = editor_client.get(LIST).content.decode()
    assert "ds-run-button" not in listing
    assert 'value="run_selected"' not in listing
    assert 'value="enable_selected"' in listing
    change = editor_client.get(change_url(job)).content.decode()
    assert "Run now" not in change


def test_staff_without_run_permission_gets_403_when_posting_run(editor_client):
    job = DynamicJobFactory()
    response = editor_client.post(f"{LIST}{job.pk}/run/")
    assert response.status_code == 403
    response = editor_client.post(
        LIST, {"action": "run_selected", "_selected_action": [job.pk]}
    )
    assert not JobExecution.objects.exists()


def test_operator_sees_run_now_and_runs_through_the_service(operator_client, operator):
    job = DynamicJobFactory(name="runner")
    assert "ds-run-button" in operator_client.get(LIST).content.decode()
    response = operator_client.post(f"{LIST}{job.pk}/run/", {"next": "changelist"})
    assert response.status_code == 302
    assert response["Location"] == LIST
    execution = JobExecution.objects.get(job=job)
    assert execution.triggered_by == JobExecution.Trigger.MANUAL
    assert execution.triggered_by_user == operator
    assert AuditEntry.objects.filter(action="run", source="admin").count() == 1
    page = operator_client.get(LIST).content.decode()
    assert f"execution #{execution.pk}" in page


def test_run_now_as_dry_run_from_the_change_page(operator_client):
    job = DynamicJobFactory(
        template_type="database_cleanup",
        parameters={
            "collection": "testapp.Ticket",
            "condition": {"status": "resolved"},
            "dry_run": False,
            "batch_size": 100,
            "max_rows": 1000,
        },
    )
    change = operator_client.get(change_url(job)).content.decode()
    assert 'name="dry_run"' in change
    operator_client.post(f"{LIST}{job.pk}/run/", {"dry_run": "1"})
    assert JobExecution.objects.get(job=job).dry_run is True


def test_run_view_refuses_get(operator_client):
    job = DynamicJobFactory()
    assert operator_client.get(f"{LIST}{job.pk}/run/").status_code == 405


# --- bulk actions and toggle ---


def test_bulk_run_queues_one_execution_per_job(operator_client):
    jobs = [DynamicJobFactory() for _ in range(3)]
    operator_client.post(
        LIST, {"action": "run_selected", "_selected_action": [j.pk for j in jobs]}
    )
    assert JobExecution.objects.count() == 3


def test_bulk_disable_and_enable_are_audited(editor_client):
    jobs = [DynamicJobFactory(enabled=True) for _ in range(2)]
    editor_client.post(
        LIST, {"action": "disable_selected", "_selected_action": [j.pk for j in jobs]}
    )
    assert not DynamicJob.objects.filter(enabled=True).exists()
    assert AuditEntry.objects.filter(action="disable", source="admin").count() == 2
    editor_client.post(
        LIST, {"action": "enable_selected", "_selected_action": [jobs[0].pk]}
    )
    assert DynamicJob.objects.get(pk=jobs[0].pk).enabled
    assert AuditEntry.objects.filter(action="enable").count() == 1


def test_bulk_duplicate_makes_disabled_copies(editor_client):
    job = DynamicJobFactory(name="orig")
    editor_client.post(
        LIST, {"action": "duplicate_selected", "_selected_action": [job.pk]}
    )
    copy = DynamicJob.objects.get(name="orig (copy)")
    assert copy.enabled is False
    assert copy.parameters == job.parameters


def test_bulk_delete_goes_through_the_service_and_is_audited(editor_client):
    job = DynamicJobFactory(name="doomed")
    response = editor_client.post(
        LIST,
        {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not DynamicJob.objects.filter(pk=job.pk).exists()
    entry = AuditEntry.objects.get(action="delete")
    assert entry.target_repr == "doomed"
    assert entry.source == "admin"


def test_enabled_toggle_flips_the_job(editor_client):
    job = DynamicJobFactory(enabled=True)
    response = editor_client.post(f"{LIST}{job.pk}/toggle/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.enabled is False
    assert job.next_run_at is None
    assert AuditEntry.objects.filter(action="disable").exists()


def test_toggle_needs_change_permission(django_user_model, client):
    from tests.admin.conftest import make_staff

    viewer = make_staff(django_user_model, "viewer", "scheduler_jobs.view_dynamicjob")
    client.force_login(viewer)
    job = DynamicJobFactory(enabled=True)
    assert client.post(f"{LIST}{job.pk}/toggle/").status_code == 403
    job.refresh_from_db()
    assert job.enabled


# --- change form ---


def test_change_page_shows_sections_recent_executions_and_audit(editor_client):
    job = cron_job()
    html = editor_client.get(change_url(job)).content.decode()
    for section in ("Parameters", "Schedule", "Running", "Notifications"):
        assert section in html
    assert "data-django-jsonform" in html
    assert 'id="recent-executions"' in html
    assert 'id="audit-history"' in html
    assert 'name="version"' in html


def test_saving_the_change_form_updates_through_the_service(editor_client, editor):
    job = cron_job()
    response = editor_client.post(
        change_url(job), change_form_data(job, cron="15 3 * * *", max_retries="5")
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.schedule["cron"] == "15 3 * * *"
    assert job.retry_policy["max_retries"] == 5
    assert job.version == 2
    entry = AuditEntry.objects.get(action="update")
    assert entry.actor == editor
    assert entry.source == "admin"
    assert set(entry.changes) == {"retry_policy", "schedule", "definition_version"}


def test_change_form_shows_service_errors_inline_and_saves_nothing(editor_client):
    job = cron_job()
    response = editor_client.post(
        change_url(job), change_form_data(job, cron="0 2 * *")
    )
    assert response.status_code == 200
    assert "expected 5 fields" in errors_of(response, "id_cron")
    response = editor_client.post(
        change_url(job),
        change_form_data(
            job, parameters='{"message": "x", "fail": false, "sleep_seconds": 9999}'
        ),
    )
    assert "sleep_seconds" in errors_of(response, "id_parameters")
    job.refresh_from_db()
    assert job.version == 1


def test_version_conflict_keeps_what_was_typed_and_asks_before_overwriting(
    editor_client, superuser
):
    # A job whose versions predate merging: every field the form changes
    # against the stored job is a question, never a silent overwrite.
    job = cron_job(name="shared")
    # Someone else saves first.
    job_update(
        job=job, user=superuser, data={"description": "theirs"}, expected_version=1
    )
    form = change_form_data(job, description="mine", cron="45 5 * * *")
    response = editor_client.post(change_url(job), form)
    html = response.content.decode()
    assert response.status_code == 200
    assert "changed some of the same fields" in html
    assert "root" in html  # who changed it
    assert "Keep mine: <strong>mine</strong>" in html
    assert "Take theirs: <strong>theirs</strong>" in html
    assert 'value="45 5 * * *"' in html
    assert 'name="seen_version" value="2"' in html
    job.refresh_from_db()
    assert job.description == "theirs"
    response = editor_client.post(
        change_url(job),
        form
        | {
            "seen_version": "2",
            "merge_choice:description": "mine",
            "merge_choice:schedule": "mine",
        },
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.description == "mine"
    assert job.schedule["cron"] == "45 5 * * *"
    assert job.version == 3


def test_slack_webhook_is_shown_masked_and_kept_when_untouched(editor_client):
    job = cron_job(
        notifications={
            "emails": [],
            "slack_webhook": "https://hooks.slack.com/services/T000/B000/SECRET",
            "on": ["failure"],
        }
    )
    html = editor_client.get(change_url(job)).content.decode()
    assert "SECRET" not in html
    masked = "https://hooks.slack.com/••••••••"
    assert masked in html
    editor_client.post(
        change_url(job),
        change_form_data(
            job, slack_webhook=masked, notify_on=["failure"], description="x"
        ),
    )
    job.refresh_from_db()
    assert secrets.unseal_value(job.notifications["slack_webhook"]).endswith("/SECRET")
    assert job.description == "x"


def test_schedule_preview_view_describes_and_lists_next_runs(editor_client):
    url = f"{LIST}schedule-preview/"
    data = editor_client.get(
        url,
        {"schedule_type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    ).json()
    assert data["valid"]
    assert data["description"] == "At 02:30, Europe/Berlin"
    assert len(data["runs"]) == 5
    bad = editor_client.get(url, {"schedule_type": "cron", "cron": "61 * * * *"}).json()
    assert bad == {
        "valid": False,
        "errors": {"cron": ["minute field: 61 is out of range 0-59"]},
    }
    interval = editor_client.get(
        url, {"schedule_type": "interval", "every": "2", "every_unit": "hours"}
    ).json()
    assert interval["description"] == "Every 2 hours"


def test_schedule_preview_warns_about_a_run_in_the_dst_gap(editor_client, time_machine):
    time_machine.move_to("2026-03-28T12:00:00+00:00")
    data = editor_client.get(
        f"{LIST}schedule-preview/",
        {"schedule_type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    ).json()
    assert data["runs"][0]["note"] == "dst-gap"
    assert "daylight-saving gap" in data["warnings"][0]


def test_toggle_of_a_job_with_stale_parameters_explains_instead_of_failing(
    editor_client,
):
    job = DynamicJobFactory(enabled=False, parameters={"message": "x", "gone": 1})
    response = editor_client.post(f"{LIST}{job.pk}/toggle/", follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "was not changed" in html
    assert "Unknown parameter" in html
    job.refresh_from_db()
    assert job.enabled is False
