"""Choices of template parameters read as words in the form and on the review."""

from __future__ import annotations

import json
import re

import pytest

from job_templates.registry import registry
from scheduler_jobs.forms.parameters import choice_title, widget_schema
from tests.admin.conftest import (
    OPTIONS_DEFAULT,
    SCHEDULE_DAILY,
    WIZARD,
    wizard_post,
)

pytestmark = pytest.mark.django_db


def choices_of(schema: dict, key: str) -> list[dict]:
    return schema["properties"][key]["choices"]


def test_the_backup_method_is_offered_by_name_and_stored_by_code():
    schema, _ = widget_schema(registry.get("backup").get_schema())
    assert choices_of(schema, "method") == [
        {"title": "Django JSON dump", "value": "django_json"},
        {"title": "pg_dump (PostgreSQL)", "value": "pg_dump"},
    ]


def test_tables_formats_and_kinds_have_plain_titles():
    export, _ = widget_schema(registry.get("data_export").get_schema())
    assert {"title": "Tickets (testapp.Ticket)", "value": "testapp.Ticket"} in (
        choices_of(export, "collection")
    )
    assert [c["title"] for c in choices_of(export, "format")] == [
        "CSV",
        "JSON",
        "JSON Lines",
    ]
    report, _ = widget_schema(registry.get("report_generation").get_schema())
    assert [c["title"] for c in choices_of(report, "kind")] == [
        "Execution summary",
        "Rows per table",
    ]
    assert choices_of(report, "collection")[0] == {"title": "Not set", "value": ""}
    assert "model_counts" not in json.dumps(
        [p["title"] for p in report["properties"].values()]
    )


def test_nested_choices_and_plain_codes():
    email, _ = widget_schema(registry.get("email_notification").get_schema())
    folder = email["properties"]["attachments"]["items"]["properties"]["folder"]
    assert [c["title"] for c in folder["choices"]] == ["Exports", "Reports"]
    assert choice_title("POST") == "POST"
    assert choice_title("run_once") == "Run once"


def test_the_wizard_form_and_review_show_the_method_by_name(admin_client_):
    admin_client_.get(WIZARD, follow=True)
    wizard_post(admin_client_, "template", {"template_type": "backup"})
    page = admin_client_.get(f"{WIZARD}?step=parameters").content.decode()
    assert "Django JSON dump" in page
    params = {"method": "django_json", "keep_last": 0}
    wizard_post(
        admin_client_,
        "parameters",
        {"name": "Nightly backup", "description": "", "parameters": json.dumps(params)},
    )
    wizard_post(admin_client_, "schedule", SCHEDULE_DAILY)
    review = wizard_post(admin_client_, "options", OPTIONS_DEFAULT).content.decode()
    assert "Add scheduled job: Review" in review
    table = review.split('class="ds-kv"')[1]
    assert re.search(r"<th[^>]*>Method</th><td>Django JSON dump</td>", table)
    assert "django_json" not in table
