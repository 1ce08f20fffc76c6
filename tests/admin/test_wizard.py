"""The five-step creation wizard (the job admin's add view), driven over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from scheduler_jobs.models import DynamicJob
from tests.admin.conftest import (
    HEARTBEAT_PARAMS,
    OPTIONS_DEFAULT,
    SCHEDULE_DAILY,
    WIZARD,
    errors_of,
    wizard_post,
)
from tests.factories import DynamicJobFactory
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db


def start(client, template="heartbeat", name="Alive check", params=HEARTBEAT_PARAMS):
    assert client.get(WIZARD, follow=True).status_code == 200
    response = wizard_post(client, "template", {"template_type": template})
    assert b"Parameters" in response.content
    return wizard_post(
        client, "parameters", {"name": name, "description": "", "parameters": params}
    )


def test_template_step_shows_cards_with_guidance_risk_and_duration(editor_client):
    response = editor_client.get(WIZARD, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-template="database_cleanup"' in html
    assert "Remove old data? → Database cleanup" in html
    assert "High risk" in html
    assert "Check that the scheduler runs? → Heartbeat" in html
    assert 'class="ds-progress"' in html


def test_template_step_requires_a_choice(editor_client):
    editor_client.get(WIZARD)
    response = wizard_post(editor_client, "template", {})
    assert "Choose a template to continue." in response.content.decode()


def test_wizard_creates_the_job_through_the_service_with_an_audit_entry(
    editor_client, editor
):
    start(editor_client)
    response = wizard_post(editor_client, "schedule", SCHEDULE_DAILY)
    assert b"Timeout (seconds)" in response.content
    response = wizard_post(
        editor_client, "options", {**OPTIONS_DEFAULT, "notify_emails": "a@example.com"}
    )
    html = response.content.decode()
    assert "At 02:30, Europe/Berlin" in html
    assert "Create job" in html
    response = wizard_post(editor_client, "review", {"enabled": "on"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/scheduler_jobs/dynamicjob/"
    job = DynamicJob.objects.get(name="Alive check")
    assert job.schedule == {
        "type": "cron",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
    }
    assert job.parameters == {"message": "alive", "fail": False, "sleep_seconds": 0}
    assert job.notifications["emails"] == ["a@example.com"]
    assert job.retry_policy == {"max_retries": 3, "delay_seconds": 60, "backoff": 2.0}
    assert job.enabled
    assert job.next_run_at is not None
    assert job.created_by == editor
    entry = AuditEntry.objects.get(action="create", target_id=str(job.pk))
    assert entry.source == "admin"
    assert entry.actor == editor
    listing = editor_client.get(response["Location"]).content.decode()
    assert "Created the job" in listing


def test_bad_cron_is_shown_next_to_the_cron_field_and_nothing_moves_on(editor_client):
    start(editor_client)
    response = wizard_post(
        editor_client, "schedule", {**SCHEDULE_DAILY, "cron": "0 25 * * *"}
    )
    assert "hour field: 25 is out of range 0-23" in errors_of(
        response, "id_schedule-cron"
    )
    assert 'value="0 25 * * *"' in response.content.decode()
    assert b"Timeout (seconds)" not in response.content


def test_unknown_time_zone_is_shown_on_the_time_zone_field(editor_client):
    start(editor_client)
    response = wizard_post(
        editor_client, "schedule", {**SCHEDULE_DAILY, "timezone": "Mars/Base"}
    )
    assert "Mars/Base" in errors_of(response, "id_schedule-timezone")


def test_interval_schedule_in_minutes_becomes_seconds(editor_client):
    start(editor_client)
    wizard_post(
        editor_client,
        "schedule",
        {
            **SCHEDULE_DAILY,
            "schedule_type": "interval",
            "every": "5",
            "every_unit": "minutes",
        },
    )
    wizard_post(editor_client, "options", OPTIONS_DEFAULT)
    wizard_post(editor_client, "review", {"enabled": "on"})
    job = DynamicJob.objects.get(name="Alive check")
    assert job.schedule == {"type": "interval", "every_seconds": 300}


def test_interval_below_the_minimum_names_the_interval_field(editor_client, settings):
    settings.SCHEDULER_MIN_INTERVAL_SECONDS = 60
    start(editor_client)
    response = wizard_post(
        editor_client,
        "schedule",
        {
            **SCHEDULE_DAILY,
            "schedule_type": "interval",
            "every": "10",
            "every_unit": "seconds",
        },
    )
    assert "at least 60 seconds" in errors_of(response, "id_schedule-every")


def test_parameter_error_from_the_template_names_the_parameter(editor_client):
    response = start(
        editor_client, params='{"message": "x", "fail": false, "sleep_seconds": -1}'
    )
    assert "sleep_seconds: Must be ≥ 0 (got -1)." in errors_of(
        response, "id_parameters-parameters"
    )
    # django-jsonform also gets the error, to show it beside the parameter.
    assert "sleep_seconds" in response.content.decode().split("errorMap")[1][:200]


def test_invalid_json_in_a_free_form_parameter_is_refused_inline(editor_client):
    response = start(
        editor_client,
        template="database_cleanup",
        name="Purge",
        params='{"collection": "testapp.Ticket", "condition": "{status: resolved"}',
    )
    assert "condition: not valid JSON" in errors_of(
        response, "id_parameters-parameters"
    )


def test_duplicate_name_is_refused_on_the_name_field(editor_client):
    DynamicJobFactory(name="Alive check")
    response = start(editor_client)
    assert "already exists" in errors_of(response, "id_parameters-name")


def test_bad_email_is_shown_on_the_email_field(editor_client):
    start(editor_client)
    wizard_post(editor_client, "schedule", SCHEDULE_DAILY)
    response = wizard_post(
        editor_client,
        "options",
        {**OPTIONS_DEFAULT, "notify_emails": "ok@example.com, nope"},
    )
    assert "'nope' is not a valid email address." in errors_of(
        response, "id_options-notify_emails"
    ).replace("&#x27;", "'")


def test_retry_limits_are_shown_on_the_retry_field(editor_client):
    start(editor_client)
    wizard_post(editor_client, "schedule", SCHEDULE_DAILY)
    response = wizard_post(
        editor_client, "options", {**OPTIONS_DEFAULT, "max_retries": "11"}
    )
    assert "from 0 to 10" in errors_of(response, "id_options-max_retries")


def test_going_back_keeps_what_was_typed(editor_client):
    start(editor_client)
    response = editor_client.post(
        f"{WIZARD}?step=schedule",
        {
            "job_creation_wizard-current_step": "schedule",
            "wizard_goto_step": "parameters",
            "schedule-schedule_type": "cron",
            "schedule-cron": "15 4 * * 1",
            "schedule-timezone": "UTC",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{WIZARD}?step=parameters"
    response = editor_client.get(response["Location"])
    assert 'value="Alive check"' in response.content.decode()
    response = wizard_post(
        editor_client,
        "parameters",
        {"name": "Alive check", "description": "", "parameters": HEARTBEAT_PARAMS},
    )
    assert 'value="15 4 * * 1"' in response.content.decode()


def test_review_shows_a_dry_run_preview_for_templates_with_side_effects(editor_client):
    old = timezone.now() - timedelta(days=60)
    for i in range(4):
        Ticket.objects.create(title=f"t{i}", status="resolved", resolved_at=old)
    Ticket.objects.create(title="fresh", status="resolved", resolved_at=timezone.now())
    start(
        editor_client,
        template="database_cleanup",
        name="Purge",
        params=json.dumps(
            {
                "collection": "testapp.Ticket",
                # The condition is edited as JSON text in the form.
                "condition": json.dumps(
                    {"status": "resolved", "resolved_at__lt": {"ago": "30d"}}
                ),
            }
        ),
    )
    wizard_post(editor_client, "schedule", SCHEDULE_DAILY)
    response = wizard_post(editor_client, "options", OPTIONS_DEFAULT)
    html = response.content.decode()
    assert "Dry-run preview" in html
    assert "would delete 4 rows of testapp.Ticket" in html
    assert Ticket.objects.count() == 5  # the preview deleted nothing


def test_user_without_add_permission_cannot_open_the_wizard(django_user_model, client):
    from tests.admin.conftest import make_staff

    viewer = make_staff(django_user_model, "viewer", "scheduler_jobs.view_dynamicjob")
    client.force_login(viewer)
    assert client.get(WIZARD).status_code == 403


def test_name_taken_while_the_wizard_was_open_sends_the_user_back_to_the_name(
    editor_client,
):
    start(editor_client)
    wizard_post(editor_client, "schedule", SCHEDULE_DAILY)
    wizard_post(editor_client, "options", OPTIONS_DEFAULT)
    DynamicJobFactory(name="Alive check")  # someone else was quicker
    response = wizard_post(editor_client, "review", {"enabled": "on"})
    assert response.status_code == 200
    assert "already exists" in errors_of(response, "id_parameters-name")
    assert DynamicJob.objects.filter(name="Alive check").count() == 1


def test_quota_exceeded_is_reported_on_the_review_step(editor_client, settings):
    settings.SCHEDULER_MAX_JOBS = 1
    DynamicJobFactory()
    start(editor_client)
    wizard_post(editor_client, "schedule", SCHEDULE_DAILY)
    wizard_post(editor_client, "options", OPTIONS_DEFAULT)
    response = wizard_post(editor_client, "review", {"enabled": "on"})
    html = response.content.decode()
    assert "SCHEDULER_MAX_JOBS" in html
    assert "Create job" in html
    assert not DynamicJob.objects.filter(name="Alive check").exists()
    # The answers are kept: raising the limit lets the same Create go through.
    settings.SCHEDULER_MAX_JOBS = 10
    response = wizard_post(editor_client, "review", {"enabled": "on"})
    assert response.status_code == 302
    assert DynamicJob.objects.filter(name="Alive check").exists()
