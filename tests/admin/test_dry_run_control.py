"""One dry-run control per job, and a confirmation when dry run is turned off."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.dryrun import dry_run_off_warning
from scheduler_jobs.wizard import plain_sentence, preview_headline
from tests.admin.conftest import (
    OPTIONS_DEFAULT,
    SCHEDULE_DAILY,
    WIZARD,
    errors_of,
    wizard_post,
)
from tests.admin.test_job_admin import change_form_data
from tests.factories import DynamicJobFactory
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db

LIST = "/admin/scheduler_jobs/dynamicjob/"
WARNING = (
    "Dry run is off, so this job really acts when it runs: it deletes rows "
    "(table testapp.Ticket)."
)


def cleanup_params(dry_run: bool) -> dict:
    return {
        "collection": "testapp.Ticket",
        "condition": {"status": "resolved"},
        "dry_run": dry_run,
        "batch_size": 100,
        "max_rows": 1000,
    }


def cleanup_job(dry_run: bool) -> DynamicJob:
    return DynamicJobFactory(
        name="Purge tickets",
        template_type="database_cleanup",
        parameters=cleanup_params(dry_run),
    )


def form_parameters(dry_run: bool, **extra) -> str:
    params = {**cleanup_params(dry_run), **extra}
    # The form edits the condition as JSON text.
    params["condition"] = json.dumps(params["condition"])
    return json.dumps(params)


def test_the_warning_names_what_the_job_really_does():
    assert (
        dry_run_off_warning(
            template_type="database_cleanup",
            before=cleanup_params(True),
            after=cleanup_params(False),
        )
        == WARNING
    )
    # Still on, already off before, or no dry-run parameter: nothing to confirm.
    for before, after in ((None, cleanup_params(True)), (cleanup_params(False),) * 2):
        assert (
            dry_run_off_warning(
                template_type="database_cleanup", before=before, after=after
            )
            is None
        )
    assert dry_run_off_warning(template_type="heartbeat", before=None, after={}) is None


def test_a_cleanup_job_page_has_no_second_dry_run_box(admin_client_):
    job = cleanup_job(dry_run=True)
    html = admin_client_.get(f"{LIST}{job.pk}/change/").content.decode()
    run_form = html.split('class="ds-run-form"')[1].split("</form>")[0]
    assert 'name="dry_run"' not in run_form
    assert "▶ Run now (dry run)" in run_form
    # An export has no dry-run parameter: the run form's box is its one control.
    export = DynamicJobFactory(
        template_type="data_export", parameters={"collection": "testapp.Ticket"}
    )
    html = admin_client_.get(f"{LIST}{export.pk}/change/").content.decode()
    run_form = html.split('class="ds-run-form"')[1].split("</form>")[0]
    assert 'type="checkbox" name="dry_run"' in run_form


def test_turning_dry_run_off_in_the_change_form_needs_the_tick(admin_client_):
    job = cleanup_job(dry_run=True)
    url = f"{LIST}{job.pk}/change/"
    data = change_form_data(job, parameters=form_parameters(False))
    response = admin_client_.post(url, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert WARNING in html
    assert "Tick this box" in errors_of(response, "id_confirm_live")
    assert 'type="checkbox" name="confirm_live"' in html
    job.refresh_from_db()
    assert job.parameters["dry_run"] is True
    response = admin_client_.post(url, {**data, "confirm_live": "on"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.parameters["dry_run"] is False


def test_a_forged_confirmation_value_is_not_a_tick(admin_client_):
    job = cleanup_job(dry_run=True)
    data = change_form_data(job, parameters=form_parameters(False))
    response = admin_client_.post(
        f"{LIST}{job.pk}/change/", {**data, "confirm_live": "false"}
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.parameters["dry_run"] is True


def test_editing_a_job_already_live_asks_nothing(admin_client_):
    job = cleanup_job(dry_run=False)
    data = change_form_data(job, parameters=form_parameters(False, batch_size=50))
    response = admin_client_.post(f"{LIST}{job.pk}/change/", data)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.parameters["batch_size"] == 50
    # The box stays hidden on a job that needs no confirmation.
    html = admin_client_.get(f"{LIST}{job.pk}/change/").content.decode()
    assert 'type="hidden" name="confirm_live"' in html


def go_to_review(client, dry_run: bool):
    client.get(WIZARD, follow=True)
    wizard_post(client, "template", {"template_type": "database_cleanup"})
    wizard_post(
        client,
        "parameters",
        {"name": "Purge", "description": "", "parameters": form_parameters(dry_run)},
    )
    wizard_post(client, "schedule", SCHEDULE_DAILY)
    return wizard_post(client, "options", OPTIONS_DEFAULT)


def test_the_wizard_warns_before_create_and_needs_the_tick(admin_client_):
    review = go_to_review(admin_client_, dry_run=False).content.decode()
    assert 'id="live-warning"' in review
    assert WARNING in review
    response = wizard_post(admin_client_, "review", {"enabled": ""})
    assert "Tick this box" in errors_of(response, "id_review-confirm_live")
    assert not DynamicJob.objects.filter(name="Purge").exists()
    response = wizard_post(
        admin_client_, "review", {"enabled": "", "confirm_live": "on"}
    )
    assert response.status_code == 302
    assert DynamicJob.objects.get(name="Purge").parameters["dry_run"] is False


def test_a_dry_run_cleanup_is_created_without_a_question(admin_client_):
    review = go_to_review(admin_client_, dry_run=True).content.decode()
    assert 'id="live-warning"' not in review
    response = wizard_post(admin_client_, "review", {"enabled": ""})
    assert response.status_code == 302
    assert DynamicJob.objects.filter(name="Purge").exists()


def test_the_preview_headline_reads_as_a_sentence(admin_client_):
    old = timezone.now() - timedelta(days=60)
    for i in range(4):
        Ticket.objects.create(title=f"t{i}", status="resolved", resolved_at=old)
    html = go_to_review(admin_client_, dry_run=True).content.decode()
    headline = html.split('id="dry-run-headline"')[1].split("</p>")[0]
    assert "Would delete 4 rows of testapp.Ticket" in headline
    assert "Dry run:" not in headline
    assert "{" not in headline
    assert "batch(es)" not in headline
    assert preview_headline(
        {"logs": [{"message": "Dry run: would send 'Hi' to 2 recipient(s)"}]}
    ) == ("Would send 'Hi' to 2 recipients")
    assert plain_sentence(
        "would delete 3 rows in 1 batch(es), plus by cascade: {'app.Note': 2}"
    ) == ("would delete 3 rows in 1 batch, plus by cascade: app.Note: 2")
