"""Two tabs on one job: the change form merges, nothing is overwritten silently.

Tab A sets the timeout to 1200 and saves; tab B, opened before, changes only
the retries. B's save keeps A's timeout. Where both changed the same field, B
sees it once with both values and chooses.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from audit.models import AuditEntry
from job_templates import secrets
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import job_create
from tests.admin.test_job_admin import change_url
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.slack.com/services/T000/B000/FIRSTSECRET"
OTHER_WEBHOOK = "https://hooks.slack.com/services/T000/B000/OTHERSECRET"
MY_WEBHOOK = "https://hooks.slack.com/services/T000/B000/MINESECRET"


@pytest.fixture
def changer(django_user_model):
    """Staff who may only view and change jobs (no add, delete or run)."""
    return staff_with(
        django_user_model,
        "changer",
        "scheduler_jobs.view_dynamicjob",
        "scheduler_jobs.change_dynamicjob",
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_job(user, **notifications) -> DynamicJob:
    return job_create(
        user=user,
        data={
            "name": "Nightly heartbeat",
            "template_type": "heartbeat",
            "parameters": {"message": "hi", "fail": False, "sleep_seconds": 0},
            "schedule": {
                "type": "cron",
                "cron": "0 2 * * *",
                "timezone": "Europe/Berlin",
            },
            "timeout_seconds": 900,
            "retry_policy": {"max_retries": 3, "delay_seconds": 60, "backoff": 2.0},
            "notifications": {
                "emails": [],
                "on": ["failure", "exhausted"],
                **notifications,
            },
        },
        source="admin",
    )


class _FormValues(HTMLParser):
    """What a browser would send for the job's change form as it was loaded."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.values: dict[str, list[str]] = {}
        self.in_form = False
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attr = dict(attrs)
        if tag == "form" and attr.get("id") == self.form_id:
            self.in_form = True
        if not self.in_form or not attr.get("name"):
            if tag == "option" and self.select and "selected" in attr:
                self.values.setdefault(self.select, []).append(attr.get("value", ""))
            return
        name = attr["name"]
        if tag == "input":
            kind = attr.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attr:
                return
            if kind not in ("submit", "button"):
                default = "on" if kind == "checkbox" else ""
                value = attr.get("value")
                self.values.setdefault(name, []).append(
                    default if value is None else value
                )
        elif tag == "select":
            self.select = name
        elif tag == "textarea":
            self.textarea = name
            # django-jsonform's script fills its textarea from this attribute.
            widget = json.loads(attr.get("data-django-jsonform") or "{}")
            self.values.setdefault(name, []).append(widget.get("data", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.in_form = False

    def handle_data(self, data):
        if self.textarea:
            # A browser drops the newline that opens a textarea.
            text = self.values[self.textarea][-1] + data
            self.values[self.textarea][-1] = text.removeprefix("\n")


def form_values(client: Client, url: str, form_id: str = "dynamicjob_form") -> dict:
    """What a browser would send for a page's form as it loaded (GET)."""
    parser = _FormValues(form_id)
    parser.feed(client.get(url).content.decode())
    values = {
        name: found if len(found) > 1 else found[0]
        for name, found in parser.values.items()
    }
    values.pop("csrfmiddlewaretoken", None)
    return values


def opened(client: Client, job: DynamicJob) -> dict:
    """The change form as a tab loaded it, ready for the user's edits."""
    values = form_values(client, change_url(job))
    assert values["version"], values
    assert values["base_enabled"], values
    return values


def conflict_section(html: str) -> str:
    match = re.search(r'<section[^>]*id="merge-conflicts".*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_lost_update_two_tabs_keeps_the_timeout_saved_meanwhile(superuser, changer):
    job = make_job(superuser)
    tab_a, tab_b = client_for(superuser), client_for(changer)
    form_a, form_b = opened(tab_a, job), opened(tab_b, job)

    saved_a = tab_a.post(change_url(job), form_a | {"timeout_seconds": "1200"})
    saved_b = tab_b.post(change_url(job), form_b | {"max_retries": "5"}, follow=True)

    assert saved_a.status_code == 302
    assert saved_b.redirect_chain, conflict_section(saved_b.content.decode())
    job.refresh_from_db()
    assert job.timeout_seconds == 1200
    assert job.retry_policy["max_retries"] == 5
    last = AuditEntry.objects.filter(action="update").order_by("-id").first()
    assert last.actor == changer
    assert "timeout_seconds" not in last.changes
    assert "their changes are kept: Timeout (seconds)" in saved_b.content.decode()


def both_changed_the_timeout(superuser, changer, mine="600"):
    """Tab A saves 1200; tab B, opened before, sends `mine` and 5 retries."""
    job = make_job(superuser)
    tab_a, tab_b = client_for(superuser), client_for(changer)
    form_a, form_b = opened(tab_a, job), opened(tab_b, job)
    tab_a.post(change_url(job), form_a | {"timeout_seconds": "1200"})
    form_b |= {"timeout_seconds": mine, "max_retries": "5"}
    return job, tab_b, form_b, tab_b.post(change_url(job), form_b)


def test_both_changed_the_timeout_each_field_shown_once_with_both_values(
    superuser, changer
):
    job, _, _, response = both_changed_the_timeout(superuser, changer)

    html = response.content.decode()
    assert response.status_code == 200
    section = conflict_section(html)
    assert section.count("Timeout (seconds)") == 1
    assert "Keep mine: <strong>600</strong>" in section
    assert "Take theirs: <strong>1\u202f200</strong>" in section
    assert "Retries" not in section  # only B changed them: no question
    assert html.count("changed some of the same fields") == 1
    assert "root" in section  # who saved meanwhile
    assert 'name="seen_version" value="2"' in html
    assert 'name="version" value="1"' in html
    job.refresh_from_db()
    assert (job.timeout_seconds, job.retry_policy["max_retries"]) == (1200, 3)


@pytest.mark.parametrize(("choice", "timeout"), [("mine", 600), ("theirs", 1200)])
def test_the_choice_made_on_a_conflict_is_saved(superuser, changer, choice, timeout):
    job, tab_b, form_b, _ = both_changed_the_timeout(superuser, changer)

    response = tab_b.post(
        change_url(job),
        form_b | {"seen_version": "2", "merge_choice:timeout_seconds": choice},
    )

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.timeout_seconds, job.retry_policy["max_retries"]) == (timeout, 5)


def test_a_choice_made_for_an_older_state_is_asked_again(superuser, changer):
    job, tab_b, form_b, _ = both_changed_the_timeout(superuser, changer)
    tab_a = client_for(superuser)
    tab_a.post(change_url(job), opened(tab_a, job) | {"timeout_seconds": "1500"})

    response = tab_b.post(
        change_url(job),
        form_b | {"seen_version": "2", "merge_choice:timeout_seconds": "mine"},
    )

    assert response.status_code == 200
    section = conflict_section(response.content.decode())
    assert "Take theirs: <strong>1\u202f500</strong>" in section
    job.refresh_from_db()
    assert job.timeout_seconds == 1500


def test_invalid_values_of_a_merged_save_are_shown_next_to_their_field(
    superuser, changer
):
    job = make_job(superuser)
    tab_a, tab_b = client_for(superuser), client_for(changer)
    form_a, form_b = opened(tab_a, job), opened(tab_b, job)
    tab_a.post(change_url(job), form_a | {"timeout_seconds": "1200"})

    response = tab_b.post(change_url(job), form_b | {"max_retries": "-4"})

    assert response.status_code == 200
    assert 'id="id_max_retries_error"' in response.content.decode()
    job.refresh_from_db()
    assert (job.timeout_seconds, job.retry_policy["max_retries"]) == (1200, 3)


def test_secret_conflicts_say_changed_and_never_show_a_value(superuser, changer):
    job = make_job(superuser, slack_webhook=WEBHOOK)
    tab_a, tab_b = client_for(superuser), client_for(changer)
    form_a, form_b = opened(tab_a, job), opened(tab_b, job)
    tab_a.post(change_url(job), form_a | {"slack_webhook": OTHER_WEBHOOK})

    response = tab_b.post(change_url(job), form_b | {"slack_webhook": MY_WEBHOOK})

    html = response.content.decode()
    section = conflict_section(html)
    assert "Slack webhook" in section
    assert "Keep mine: <strong>changed</strong>" in section
    assert "Take theirs: <strong>changed</strong>" in section
    for secret in ("FIRSTSECRET", "OTHERSECRET", "sealed:"):
        assert secret not in html
    assert "MINESECRET" not in section
    job.refresh_from_db()
    assert secrets.unseal_value(job.notifications["slack_webhook"]) == OTHER_WEBHOOK
    # Left masked in tab B, the webhook A saved survives B's other change.
    saved = tab_b.post(change_url(job), form_b | {"description": "b"})
    assert saved.status_code == 302
    job.refresh_from_db()
    assert job.description == "b"
    assert secrets.unseal_value(job.notifications["slack_webhook"]) == OTHER_WEBHOOK


def test_disabled_meanwhile_stays_disabled_after_a_stale_save(superuser, changer):
    job = make_job(superuser)
    tab_a, tab_b = client_for(superuser), client_for(changer)
    form_a, form_b = opened(tab_a, job), opened(tab_b, job)
    form_a.pop("enabled")
    tab_a.post(change_url(job), form_a)

    response = tab_b.post(change_url(job), form_b | {"description": "b"})

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.enabled, job.description) == (False, "b")
