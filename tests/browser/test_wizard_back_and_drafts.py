"""The wizard in the browser: Back and reload never resubmit, drafts survive.

Chromium shows "Confirm Form Resubmission" (ERR_CACHE_MISS) when Back or reload
lands on a page that answered a POST; the wizard answers every POST with a
redirect, so both only ever repeat a GET. A draft outlives the tab and the
login: a new browser context (a new login) is offered it and can finish it.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from scheduler_jobs.drafts import JobDraft
from scheduler_jobs.models import DynamicJob
from tests.browser import test_admin_words_and_layout as layout
from tests.browser.test_admin_walkthrough import log_in
from tests.browser.test_admin_words_and_layout import (
    DESKTOP,
    PHONE,
    no_sideways_scroll,
    open_page,
    serious_violations,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

chromium = layout.browser  # the fixture, under this module's name

ADD = "/admin/scheduler_jobs/dynamicjob/add/"
RESUBMIT = re.compile(r"Confirm Form Resubmission|ERR_CACHE_MISS", re.I)


def current_step(page: Page):
    return page.locator(".ds-progress .ds-step-current")


def assert_no_resubmission(page: Page, step_title: str) -> None:
    assert not RESUBMIT.search(page.content())
    expect(current_step(page)).to_contain_text(step_title)
    expect(page.locator("#site-name")).to_be_visible()


def test_back_and_reload_show_steps_again_without_resubmitting(
    live_server, superuser, chromium
):
    page = open_page(chromium, DESKTOP)
    base = live_server.url
    log_in(page, base)
    page.goto(base + ADD)
    page.click("label.ds-card[data-template=heartbeat]")
    page.click("input[name=_next]")
    expect(current_step(page)).to_contain_text("Parameters")
    assert page.url.endswith("?step=parameters")
    page.fill("#id_parameters-name", "Back button check")
    page.click("input[name=_next]")
    expect(current_step(page)).to_contain_text("Schedule")

    page.go_back()
    assert_no_resubmission(page, "Parameters")
    expect(page.locator("#id_parameters-name")).to_have_value("Back button check")
    page.reload()
    assert_no_resubmission(page, "Parameters")
    expect(page.locator("#id_parameters-name")).to_have_value("Back button check")
    page.go_back()
    assert_no_resubmission(page, "Template")
    expect(page.locator("input[value=heartbeat]")).to_be_checked()
    page.go_forward()
    page.go_forward()
    assert_no_resubmission(page, "Schedule")
    page.reload()
    assert_no_resubmission(page, "Schedule")

    # The page's own Back button keeps what was typed on the step it leaves.
    page.click("button[name=wizard_goto_step]:has-text('Back')")
    assert_no_resubmission(page, "Parameters")
    page.go_back()
    assert_no_resubmission(page, "Schedule")
    # A refused step comes back from its own URL, and a reload repeats no POST.
    page.goto(base + ADD + "?step=parameters")
    page.fill("#id_parameters-name", "")
    page.click("input[name=_next]")
    expect(page.locator("#id_parameters-name_error")).to_be_visible()
    page.reload()
    assert_no_resubmission(page, "Parameters")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_draft_survives_closing_the_tab_and_a_new_login(
    live_server, superuser, chromium
):
    base = live_server.url
    page = open_page(chromium, DESKTOP)
    log_in(page, base)
    page.goto(base + ADD)
    page.click("label.ds-card[data-template=webhook_trigger]")
    page.click("input[name=_next]")
    page.fill("#id_parameters-name", "Status page ping")
    page.get_by_role("textbox", name="URL", exact=True).fill(
        "https://status.example.com/ping"
    )
    page.get_by_role("textbox", name="Signing secret").fill("browser-secret-42")
    page.click("input[name=_next]")
    expect(current_step(page)).to_contain_text("Schedule")
    page.context.close()  # the tab, the window and its login are gone

    draft = JobDraft.objects.get(user=superuser)
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM job_drafts WHERE id = %s", [draft.pk])
        stored = json.dumps(cursor.fetchone())
    assert "browser-secret-42" not in stored

    for width in (PHONE, DESKTOP):
        page = open_page(chromium, width)
        log_in(page, base)
        page.goto(base + ADD)
        offer = page.get_by_role("link", name=re.compile("Continue your draft"))
        expect(offer).to_contain_text("Webhook")
        expect(offer).to_contain_text("step 3 of 5 (Schedule)")
        expect(page.locator("#job-drafts")).to_contain_text(
            re.compile(r"Saved \d{4}-\d\d-\d\d \d\d:\d\d UTC")
        )
        expect(
            page.get_by_role("button", name="Start over (discard this draft)")
        ).to_be_visible()
        assert serious_violations(page) == []
        no_sideways_scroll(page, width)
        if width == PHONE:
            page.context.close()

    offer.click()
    expect(current_step(page)).to_contain_text("Schedule")
    page.click("button[name=wizard_goto_step]:has-text('Back')")
    expect(page.locator("#id_parameters-name")).to_have_value("Status page ping")
    for step in ("Schedule", "Options", "Review"):
        page.click("input[name=_next]")
        expect(current_step(page)).to_contain_text(step)
    page.click("input[name=_next]")  # Create job
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Created the job “Status page ping”"
    )
    job = DynamicJob.objects.get(name="Status page ping")
    assert job.parameters["url"] == "https://status.example.com/ping"
    assert job.parameters["signing_secret"] not in ("", "browser-secret-42")
    assert not JobDraft.objects.filter(user=superuser).exists()
