"""The wizard answers every POST with a redirect, and keeps a draft per user."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from scheduler_jobs.drafts import MAX_DRAFTS, JobDraft, draft_list, draft_save
from scheduler_jobs.models import DynamicJob
from tests.admin.conftest import (
    HEARTBEAT_PARAMS,
    OPTIONS_DEFAULT,
    SCHEDULE_DAILY,
    WIZARD,
    WIZARD_PREFIX,
    errors_of,
    wizard_post,
)

pytestmark = pytest.mark.django_db


def send(client, step: str, data: dict):
    """One step's POST, not followed: the wizard's own answer."""
    payload = {f"{WIZARD_PREFIX}-current_step": step}
    payload.update({f"{step}-{key}": value for key, value in data.items()})
    return client.post(f"{WIZARD}?step={step}", payload)


def two_steps(client, name="Alive check", params=HEARTBEAT_PARAMS, template=None):
    client.get(WIZARD, follow=True)
    wizard_post(client, "template", {"template_type": template or "heartbeat"})
    return wizard_post(
        client, "parameters", {"name": name, "description": "", "parameters": params}
    )


def test_every_step_post_redirects_to_the_next_steps_own_url(editor_client):
    editor_client.get(WIZARD, follow=True)
    response = send(editor_client, "template", {"template_type": "heartbeat"})
    assert response.status_code == 302
    assert response["Location"] == f"{WIZARD}?step=parameters"
    response = send(
        editor_client,
        "parameters",
        {"name": "Alive", "description": "", "parameters": HEARTBEAT_PARAMS},
    )
    assert response["Location"] == f"{WIZARD}?step=schedule"
    page = editor_client.get(response["Location"])
    assert page.status_code == 200
    assert "Add scheduled job: Schedule" in page.content.decode()


def test_a_refused_step_redirects_to_itself_and_shows_what_was_typed_with_errors(
    editor_client,
):
    two_steps(editor_client)
    response = send(editor_client, "schedule", {**SCHEDULE_DAILY, "cron": "0 25 * *"})
    assert response.status_code == 302
    assert response["Location"] == f"{WIZARD}?step=schedule"
    page = editor_client.get(response["Location"])
    assert errors_of(page, "id_schedule-cron")
    assert 'value="0 25 * *"' in page.content.decode()
    # A reload shows the same page again, and sends nothing.
    again = editor_client.get(response["Location"])
    assert errors_of(again, "id_schedule-cron") == errors_of(page, "id_schedule-cron")


def test_the_previous_steps_url_shows_its_answers(editor_client):
    two_steps(editor_client)
    html = editor_client.get(f"{WIZARD}?step=parameters").content.decode()
    assert 'value="Alive check"' in html
    assert "Add scheduled job: Parameters" in html


def test_a_step_ahead_of_the_answers_sends_to_the_first_unanswered_one(
    editor_client,
):
    editor_client.get(WIZARD, follow=True)
    wizard_post(editor_client, "template", {"template_type": "heartbeat"})
    response = editor_client.get(f"{WIZARD}?step=review")
    assert response["Location"] == f"{WIZARD}?step=parameters"
    response = editor_client.get(f"{WIZARD}?step=nonsense")
    assert response["Location"] == f"{WIZARD}?step=template"


def test_reopening_add_in_a_new_login_offers_the_draft_and_finishes_the_job(
    editor, editor_client
):
    two_steps(editor_client)
    later = Client()
    later.force_login(editor)
    offer = later.get(WIZARD)
    html = offer.content.decode()
    assert offer.status_code == 200
    assert "Continue your draft of" in html
    assert "Heartbeat, step 3 of 5 (Schedule)" in html
    assert re.search(r"Saved \d{4}-\d\d-\d\d \d\d:\d\d UTC", html)
    draft = JobDraft.objects.get(user=editor)
    response = later.get(f"{WIZARD}?draft={draft.pk}")
    assert response["Location"] == f"{WIZARD}?step=schedule"
    back = later.get(f"{WIZARD}?step=parameters").content.decode()
    assert 'value="Alive check"' in back
    wizard_post(later, "schedule", SCHEDULE_DAILY)
    wizard_post(later, "options", OPTIONS_DEFAULT)
    response = wizard_post(later, "review", {"enabled": "on"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/scheduler_jobs/dynamicjob/"
    assert DynamicJob.objects.filter(name="Alive check").exists()
    assert not JobDraft.objects.filter(user=editor).exists()
    # With no draft left, Add starts a new job.
    assert later.get(WIZARD)["Location"] == f"{WIZARD}?step=template"


def test_start_over_discards_the_draft(editor, editor_client):
    two_steps(editor_client)
    draft = JobDraft.objects.get(user=editor)
    html = editor_client.get(WIZARD).content.decode()
    assert "Start over (discard this draft)" in html
    response = editor_client.post(WIZARD, {"discard_draft": str(draft.pk)})
    assert response.status_code == 302
    assert not JobDraft.objects.filter(pk=draft.pk).exists()
    page = editor_client.get(response["Location"], follow=True)
    assert "Add scheduled job: Template" in page.content.decode()
    # The session's copy went with it: step 2 is not reachable any more.
    assert editor_client.get(f"{WIZARD}?step=parameters")["Location"].endswith(
        "?step=template"
    )


def test_another_users_draft_is_neither_offered_nor_opened(
    editor_client, operator_client, editor
):
    two_steps(editor_client)
    draft = JobDraft.objects.get(user=editor)
    assert operator_client.get(WIZARD)["Location"] == f"{WIZARD}?step=template"
    response = operator_client.get(f"{WIZARD}?draft={draft.pk}", follow=True)
    assert "That draft is no longer there" in response.content.decode()
    operator_client.post(WIZARD, {"discard_draft": str(draft.pk)})
    assert JobDraft.objects.filter(pk=draft.pk).exists()


def test_a_draft_never_holds_a_secret_in_clear(superuser, admin_client_):
    # A webhook is high-risk: only a user with that right may create one.
    params = {
        "url": "https://hooks.example.com/in",
        "signing_secret": "hunter2-signing-key",
    }
    two_steps(
        admin_client_,
        name="Hook",
        params=json.dumps(params),
        template="webhook_trigger",
    )
    draft = JobDraft.objects.get(user=superuser)
    assert draft.template_type == "webhook_trigger"
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM job_drafts WHERE id = %s", [draft.pk])
        row = cursor.fetchone()
    assert "hunter2-signing-key" not in repr(row)
    assert "hooks.example.com" not in repr(row)  # every answer is sealed
    # The draft still opens with the secret kept for the job.
    later = Client()
    later.force_login(superuser)
    later.get(f"{WIZARD}?draft={draft.pk}")
    wizard_post(later, "schedule", SCHEDULE_DAILY)
    wizard_post(later, "options", OPTIONS_DEFAULT)
    wizard_post(later, "review", {"enabled": ""})
    job = DynamicJob.objects.get(name="Hook")
    assert job.parameters["signing_secret"] != "hunter2-signing-key"
    assert job.parameters["signing_secret"]


def test_drafts_are_capped_per_user_and_old_ones_expire(editor):
    ids = [
        draft_save(
            user=editor,
            draft_id=None,
            template_type="heartbeat",
            step="schedule",
            step_data={},
        )
        for _ in range(MAX_DRAFTS + 2)
    ]
    kept = [d.pk for d in draft_list(user=editor)]
    assert kept == list(reversed(ids))[:MAX_DRAFTS]
    JobDraft.objects.filter(pk=kept[0]).update(
        updated_at=timezone.now() - timedelta(days=15)
    )
    assert kept[0] not in [d.pk for d in draft_list(user=editor)]
    assert not JobDraft.objects.filter(pk=kept[0]).exists()


def test_a_template_link_starts_a_new_job_even_with_a_draft(editor_client):
    two_steps(editor_client)
    response = editor_client.get(f"{WIZARD}?template=database_cleanup")
    assert response["Location"] == f"{WIZARD}?step=template&template=database_cleanup"
    html = editor_client.get(response["Location"]).content.decode()
    assert re.search(r'value="database_cleanup"\s+checked', html)
