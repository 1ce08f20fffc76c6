"""The maintenance pause in the browser: pause from the admin, see the banner on
another page, resume from the banner's link."""

from __future__ import annotations

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from scheduler_jobs.services import timeplan
from tests.browser.test_admin_walkthrough import CHROMIUM, CHROMIUM_ARGS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch, live_server, superuser):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from executions import health

    # No beat runs here: the health banner is a feature with its own tests.
    monkeypatch.setattr(health, "admin_warnings", lambda: [])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        log_in(page, live_server.url)
        yield page
        connections.close_all()
        browser.close()


def test_pause_shows_a_banner_on_every_page_and_resume_removes_it(page, live_server):
    base = live_server.url
    page.goto(f"{base}/admin/")
    page.get_by_role("link", name="Maintenance pause").click()
    expect(page.locator("#content")).to_contain_text("Scheduling runs normally.")

    page.get_by_label("Reason").fill("Database upgrade")
    page.get_by_role("button", name="Pause scheduling").click()

    banner = page.locator("#scheduler-pause-banner")
    expect(banner).to_contain_text("Scheduling is paused since")
    expect(banner).to_contain_text("by root: Database upgrade")
    page.goto(f"{base}/admin/scheduler_jobs/dynamicjob/")
    expect(banner).to_be_visible()
    assert timeplan.pause_state().active

    banner.get_by_role("link", name="Resume").click()
    page.get_by_role("button", name="Resume scheduling now").click()

    expect(page.locator("#content")).to_contain_text("Scheduling runs normally.")
    page.goto(f"{base}/admin/scheduler_jobs/dynamicjob/")
    expect(page.locator("#scheduler-pause-banner")).to_have_count(0)
    assert timeplan.pause_state() is None


def test_job_page_preview_shows_the_slot_a_calendar_skips(page, live_server):
    from datetime import timedelta

    from django.utils import timezone

    from scheduler_jobs.access import SYSTEM
    from scheduler_jobs.services import job_create

    # Every weekday but the day after tomorrow's is a business day.
    off = (timezone.now() + timedelta(days=2)).isoweekday()
    timeplan.calendar_create(
        actor=SYSTEM,
        data={"name": "ops", "workdays": [d for d in range(1, 8) if d != off]},
    )
    job = job_create(
        user=SYSTEM,
        data={
            "name": "Morning report",
            "template_type": "heartbeat",
            "schedule": {
                "type": "cron",
                "cron": "0 7 * * *",
                "timezone": "UTC",
                "calendar": "ops",
            },
        },
    )

    page.goto(f"{live_server.url}/admin/scheduler_jobs/dynamicjob/{job.pk}/change/")

    skipped = page.locator(".ds-preview-runs li.ds-slot-skipped")
    expect(skipped).to_have_count(1)
    expect(skipped).to_contain_text("skipped: Not a business day")
    expect(page.locator("#id_calendar")).to_have_value("ops")
