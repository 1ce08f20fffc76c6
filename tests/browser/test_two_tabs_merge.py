"""Two people edit one job in two browsers at 1440 px: nothing is lost.

A sets the timeout to 1200 and saves; B, whose page was open before, changes
only the retries and saves: the timeout stays 1200. Then both change the
timeout: B sees the field once with both values, takes A's, and saves.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.browser import test_admin_walkthrough as walkthrough
from tests.browser.test_admin_words_and_layout import serious_violations
from tests.conftest import staff_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
_healthy_scheduler = walkthrough._healthy_scheduler
browser_page = walkthrough.browser_page

PERMS = ("scheduler_jobs.view_dynamicjob", "scheduler_jobs.change_dynamicjob")


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def save(page: Page) -> None:
    page.locator("input[name=_save]").click()
    page.wait_for_load_state()


def test_two_tabs_merge_and_a_real_conflict_is_chosen(
    live_server, django_user_model, browser_page
):
    staff_with(django_user_model, "alice", *PERMS)
    staff_with(django_user_model, "bob", *PERMS)
    job = services.job_create(
        user=SYSTEM,
        data={
            "name": "Nightly heartbeat",
            "template_type": "heartbeat",
            "parameters": {"message": "alive"},
            "schedule": {"type": "cron", "cron": "0 2 * * *", "timezone": "UTC"},
            "timeout_seconds": 900,
        },
    )
    base = live_server.url
    url = f"{base}/admin/scheduler_jobs/dynamicjob/{job.pk}/change/"
    tab_a = browser_page
    other = tab_a.context.browser.new_context(viewport={"width": 1440, "height": 900})
    tab_b = other.new_page()
    log_in(tab_a, base, "alice")
    log_in(tab_b, base, "bob")

    # Both open the job; A saves a new timeout; B changes only the retries.
    tab_a.goto(url)
    tab_b.goto(url)
    tab_a.fill("#id_timeout_seconds", "1200")
    save(tab_a)
    tab_b.fill("#id_max_retries", "5")
    save(tab_b)

    expect(tab_b.locator("ul.messagelist").first).to_contain_text(
        "their changes are kept: Timeout (seconds)"
    )
    job.refresh_from_db()
    assert (job.timeout_seconds, job.retry_policy["max_retries"]) == (1200, 5)

    # Both change the timeout: B is asked, once, with both values.
    tab_a.goto(url)
    tab_b.goto(url)
    tab_a.fill("#id_timeout_seconds", "1500")
    save(tab_a)
    tab_b.fill("#id_timeout_seconds", "600")
    tab_b.fill("#id_description", "bob was here")
    save(tab_b)

    conflicts = tab_b.locator("#merge-conflicts")
    expect(conflicts).to_be_visible()
    expect(conflicts.locator("legend")).to_have_text(["Timeout (seconds)"])
    expect(tab_b.get_by_label("Keep mine: 600")).to_be_visible()
    expect(tab_b.get_by_text("changed some of the same fields")).to_have_count(1)
    assert serious_violations(tab_b) == []
    assert DynamicJob.objects.get(pk=job.pk).timeout_seconds == 1500

    tab_b.get_by_label("Take theirs: 1\u202f500").check()
    save(tab_b)

    expect(tab_b.locator("ul.messagelist").first).to_contain_text(
        "was changed successfully"
    )
    job.refresh_from_db()
    assert (job.timeout_seconds, job.description) == (1500, "bob was here")
    other.close()
