"""An audit entry's page: the changed keys stand out, in plain words, secrets hidden."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import AuditEntry
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.slack.com/services/T000/B000/FIRSTSECRET"
NEW_WEBHOOK = "https://hooks.slack.com/services/T000/B000/NEWSECRET"


@pytest.fixture
def reader(django_user_model):
    """Staff who may only read the audit log."""
    client = Client()
    client.force_login(staff_with(django_user_model, "reader", "audit.view_auditentry"))
    return client


def updated_entry() -> AuditEntry:
    job = services.job_create(
        user=SYSTEM,
        data={
            "name": "Nightly heartbeat",
            "template_type": "heartbeat",
            "parameters": {"message": "one"},
            "schedule": {"type": "interval", "every_seconds": 60},
            "retry_policy": {"max_retries": 3, "delay_seconds": 60, "backoff": 2.0},
            "notifications": {"slack_webhook": WEBHOOK, "on": ["failure"]},
        },
    )
    services.job_update(
        job=job,
        user=SYSTEM,
        data={
            "retry_policy": {"max_retries": 5, "delay_seconds": 60, "backoff": 2.0},
            "notifications": {"slack_webhook": NEW_WEBHOOK, "on": ["failure"]},
        },
        expected_version=1,
    )
    return AuditEntry.objects.get(action="update")


def rows(html: str) -> dict[str, str]:
    """Each row of the changes table by its field label, as HTML."""
    table = re.search(r'<div class="module" id="audit-diff">.*?</table>', html, re.S)
    found = {}
    for row in re.findall(r"<tr[^>]*>.*?</tr>", table.group(0), re.S):
        label = re.search(r'<th scope="row">([^<]*)', row)
        if label:
            found[label.group(1).strip()] = row
    return found


def test_changed_keys_are_flattened_labelled_and_marked_in_words(reader):
    entry = updated_entry()

    html = reader.get(f"/admin/audit/auditentry/{entry.pk}/change/").content.decode()

    table = rows(html)
    retries = table["Retries"]
    assert "<span" in retries
    assert ">changed</span>" in retries
    assert "<mark>5</mark>" in retries
    assert "<del>3</del>" in retries
    delay = table["Retry delay (seconds)"]
    assert "changed" not in delay
    assert "<mark>" not in delay
    assert "retry_policy" not in html.split('id="audit-diff"')[1]


def test_a_changed_secret_reads_changed_and_never_shows_a_value(reader):
    entry = updated_entry()

    html = reader.get(f"/admin/audit/auditentry/{entry.pk}/change/").content.decode()

    webhook = rows(html)["Slack webhook"]
    assert "<mark>changed</mark>" in webhook
    for secret in ("FIRSTSECRET", "NEWSECRET", "sealed:"):
        assert secret not in html


def test_a_create_entry_lists_values_without_marking_them_changed(reader):
    updated_entry()
    entry = AuditEntry.objects.get(action="create")

    html = reader.get(f"/admin/audit/auditentry/{entry.pk}/change/").content.decode()

    table = rows(html)
    assert "Job name" in table
    assert "Schedule: Every seconds" in table
    assert "<mark>" not in html.split('id="audit-diff"')[1]
    assert "FIRSTSECRET" not in html
