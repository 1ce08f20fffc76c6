"""One "Dry run" control on a cleanup job's page, and the question when it is
turned off, as a person meets them in Chromium at 1440 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.browser import test_admin_words_and_layout as layout
from tests.browser.test_admin_walkthrough import log_in
from tests.browser.test_admin_words_and_layout import DESKTOP, open_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

chromium = layout.browser  # the fixture, under this module's name


def test_one_dry_run_box_and_a_confirmation_when_it_is_turned_off(
    live_server, superuser, chromium
):
    job = services.job_create(
        user=SYSTEM,
        data={
            "name": "Purge resolved tickets",
            "template_type": "database_cleanup",
            "parameters": {
                "collection": "testapp.Ticket",
                "condition": {"status": "resolved"},
                "dry_run": True,
            },
            "schedule": {"type": "cron", "cron": "0 3 * * *", "timezone": "UTC"},
        },
    )
    page = open_page(chromium, DESKTOP)
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/admin/scheduler_jobs/dynamicjob/{job.pk}/change/")
    boxes = page.get_by_role("checkbox", name="Dry run", exact=True)
    expect(boxes).to_have_count(1)
    expect(page.get_by_role("button", name="▶ Run now (dry run)")).to_be_visible()
    expect(
        page.get_by_role("checkbox", name="Yes, save it with dry run off")
    ).to_have_count(0)

    boxes.uncheck()
    page.click("input[name=_save]")
    warning = page.locator(".field-confirm_live")
    expect(warning).to_contain_text(
        "Dry run is off, so this job really acts when it runs: it deletes rows"
    )
    expect(page.get_by_text("Please correct the error below.")).to_be_visible()
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is True
    # What was typed is still there: dry run stays off in the form.
    expect(page.get_by_role("checkbox", name="Dry run", exact=True)).not_to_be_checked()
    page.get_by_role("checkbox", name="Yes, save it with dry run off").check()
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is False
    assert page.js_errors == []  # type: ignore[attr-defined]
