"""Garbage in the admin's query strings and forms gets a clear answer, never a 500."""

from __future__ import annotations

import pytest

from tests.admin.conftest import errors_of, wizard_post
from tests.admin.test_wizard import start

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/executions/jobexecution/?job=abc",
        "/admin/executions/jobexecution/?job=999999",
        "/admin/executions/jobexecution/?template=../../etc",
        "/admin/executions/jobexecution/dashboard/?window=999d",
        "/admin/audit/auditentry/?object=nonsense",
        "/admin/audit/auditentry/?actor=xyz",
        "/admin/scheduler_jobs/dynamicjob/schedule-preview/?schedule_type=interval&every=1e9",
        "/admin/scheduler_jobs/dynamicjob/schedule-preview/?timezone=../../etc/passwd",
        "/admin/scheduler_jobs/dynamicjob/schedule-preview/?schedule_type=interval&every=99999999999",
    ],
)
def test_odd_query_strings_do_not_break_pages(admin_client_, url):
    assert admin_client_.get(url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/scheduler_jobs/dynamicjob/?last_status=%00",
        "/admin/scheduler_jobs/dynamicjob/?q=a%00b",
        "/admin/executions/jobexecution/?status__exact=%00",
        "/admin/audit/auditentry/?object=a%00:1",
        "/admin/job_templates/jobtemplate/?q=%00",
    ],
)
def test_nul_characters_in_list_queries_are_a_400(admin_client_, url):
    response = admin_client_.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_preview_names_the_field_for_garbage(admin_client_):
    data = admin_client_.get(
        "/admin/scheduler_jobs/dynamicjob/schedule-preview/",
        {"schedule_type": "interval", "every": "99999999999", "every_unit": "days"},
    ).json()
    assert data["valid"] is False
    assert "every" in data["errors"]


def test_parameters_that_are_not_an_object_are_refused_inline(editor_client):
    response = start(editor_client, params="[1, 2]")
    assert "JSON object" in errors_of(response, "id_parameters-parameters")


def test_non_numeric_options_are_refused_inline(editor_client):
    start(editor_client)
    wizard_post(
        editor_client,
        "schedule",
        {"schedule_type": "cron", "cron": "0 2 * * *", "timezone": "UTC"},
    )
    response = wizard_post(
        editor_client,
        "options",
        {
            "timeout_seconds": "soon",
            "max_retries": "3",
            "delay_seconds": "60",
            "backoff": "fast",
            "overlap_policy": "sometimes",
            "misfire_policy": "run_once",
        },
    )
    assert "whole number" in errors_of(response, "id_options-timeout_seconds")
    assert "number" in errors_of(response, "id_options-backoff")
    assert "valid choice" in errors_of(response, "id_options-overlap_policy")


def test_tampered_wizard_post_is_a_400_not_a_500(editor_client):
    editor_client.get("/admin/scheduler_jobs/dynamicjob/add/")
    response = editor_client.post("/admin/scheduler_jobs/dynamicjob/add/", {"x": "y"})
    assert response.status_code == 400


def test_nul_character_in_a_parameter_is_refused_on_the_parameters_field(
    editor_client,
):
    response = start(
        editor_client,
        params='{"message": "a\\u0000b", "fail": false, "sleep_seconds": 0}',
    )
    assert "message: contains a NUL character" in errors_of(
        response, "id_parameters-parameters"
    )
