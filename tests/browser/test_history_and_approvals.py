"""A job's History, its diff and the two-person rule, as two people use them.

An author turns a cleanup's dry run off: the page says the change waits; a
reviewer sees the pending diff on the job's page and approves it with a comment;
the History page compares two versions side by side and reverts one.
Screenshots land next to the others (docs/screenshots/ with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob, JobApproval
from tests.browser import test_admin_walkthrough as walkthrough
from tests.browser.test_admin_walkthrough import shot
from tests.conftest import staff_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# The walkthrough's fixtures: a healthy scheduler (no banner) and a page.
_healthy_scheduler = walkthrough._healthy_scheduler
browser_page = walkthrough.browser_page

PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.approve_dynamicjob",
    "job_templates.use_high_risk_template",
    "testapp.delete_ticket",
)


def log_in(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def test_history_diff_and_approval_screens(
    live_server, django_user_model, browser_page, settings
):
    settings.SCHEDULER_APPROVALS = "high-risk"
    settings.SCHEDULER_CLEANUP_MODELS = ["testapp.Ticket"]
    staff_with(django_user_model, "author", *PERMS)
    staff_with(django_user_model, "reviewer", *PERMS)
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
        comment="dry run first",
    )
    job = services.job_update(
        job=job,
        user=SYSTEM,
        data={"parameters": {**job.parameters, "batch_size": 500}},
        expected_version=job.version,
        comment="smaller batches",
    )
    page, base = browser_page, live_server.url
    change_url = f"{base}/admin/scheduler_jobs/dynamicjob/{job.pk}/change/"

    # The author turns dry run off: it waits for someone else.
    log_in(page, base, "author")
    page.goto(change_url)
    dry_run = page.get_by_role("checkbox", name="Dry run").first
    dry_run.uncheck()
    page.fill("#id_change_comment", "the preview looked right")
    page.click("input[name=_save]")
    # Turning dry run off is confirmed first.
    page.get_by_role("checkbox", name="Yes, save it with dry run off").check()
    page.click("input[name=_save]")
    expect(page.get_by_text("waits for another person's approval")).to_be_visible()
    expect(page.locator("#pending-change")).to_contain_text("You proposed this change")
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is True

    # The reviewer sees the diff and approves it.
    log_in(page, base, "reviewer")
    page.goto(change_url)
    pending = page.locator("#pending-change")
    expect(pending).to_contain_text("parameters.dry_run")
    expect(pending).to_contain_text("true")
    shot(page, "job-pending-approval")
    page.fill("#decision-comment", "checked the condition with the owner")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("The change was approved")).to_be_visible()
    assert JobApproval.objects.get().status == "approved"
    assert DynamicJob.objects.get(pk=job.pk).definition_version == 3

    # History: three versions, a side-by-side diff, and a revert.
    page.get_by_role("link", name="History").first.click()
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Compare from version 1").check()
    page.get_by_label("Compare to version 3").check()
    page.get_by_role("button", name="Compare").click()
    diff = page.locator("table.ds-diff")
    expect(diff).to_contain_text("parameters.batch_size")
    expect(diff).to_contain_text("parameters.dry_run")
    shot(page, "job-history-diff")
    page.locator("#versions tbody tr", has_text="v1").get_by_role(
        "button", name="Revert to this version"
    ).click()
    # Version 1 has dry run on: going back to it is not high-risk, so it applies.
    expect(
        page.get_by_text("Reverted to version 1: version 4 is current")
    ).to_be_visible()
    assert DynamicJob.objects.get(pk=job.pk).parameters["dry_run"] is True
