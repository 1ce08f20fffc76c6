"""Copy and Run with changes… in a browser, where the parameters form is drawn
from the template's schema by its script: at 1440 and 390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from executions.models import JobExecution
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.browser import test_admin_walkthrough as walkthrough
from tests.browser.test_history_and_approvals import log_in
from tests.conftest import staff_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
_healthy_scheduler = walkthrough._healthy_scheduler
browser_page = walkthrough.browser_page

PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
    "scheduler_jobs.run_dynamicjob",
    "executions.view_jobexecution",
)


@pytest.mark.parametrize("width", [1440, 390])
def test_copy_then_run_the_copy_with_another_message(
    live_server, django_user_model, browser_page: Page, width
):
    staff_with(django_user_model, "ops", *PERMS)
    job = services.job_create(
        user=SYSTEM,
        data={
            "name": "Nightly heartbeat",
            "template_type": "heartbeat",
            "parameters": {"message": "alive"},
            "schedule": {"type": "cron", "cron": "0 2 * * *", "timezone": "UTC"},
            "timeout_seconds": 120,
        },
    )
    page, base = browser_page, live_server.url
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, base, "ops")

    page.goto(f"{base}/admin/scheduler_jobs/dynamicjob/{job.pk}/change/")
    page.get_by_role("link", name="Copy", exact=True).click()
    expect(page.locator("#id_name")).to_have_value("Nightly heartbeat (copy)")
    expect(page.locator("#id_enabled")).not_to_be_checked()
    expect(page.get_by_role("textbox", name="Message")).to_have_value("alive")
    page.get_by_role("button", name="Create the copy").click()

    expect(page.locator("ul.messagelist").first).to_contain_text(
        "Created “Nightly heartbeat (copy)” (disabled)."
    )
    copy = DynamicJob.objects.get(name="Nightly heartbeat (copy)")
    assert (copy.enabled, copy.timeout_seconds) == (False, 120)

    page.get_by_role("link", name="Run with changes…").click()
    page.get_by_role("textbox", name="Message").fill("by hand")
    page.get_by_role("button", name="▶ Run now").click()

    expect(page.locator("ul.messagelist").first).to_contain_text(
        "with your changes queued"
    )
    execution = JobExecution.objects.get(job=copy)
    assert execution.parameters["message"] == "by hand"
    page.get_by_role("link", name=f"execution #{execution.pk}").click()
    expect(page).to_have_url(
        f"{base}/admin/executions/jobexecution/{execution.pk}/change/"
    )
