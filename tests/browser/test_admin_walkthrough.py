"""The admin as a person uses it: Playwright driving Debian's Chromium, headless.

Creates a database-cleanup job through the five wizard steps (with a bad cron
shown inline, then fixed), finds it in the list with its schedule in words, runs
it, reads the execution's logs and loads the dashboard. Screenshots of each
screen land in docs/screenshots/ for the README.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from executions.models import JobExecution
from executions.services import execution_run
from tests.factories import DynamicJobFactory, JobExecutionFactory
from tests.testapp.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshots_dir() -> Path:
    """docs/screenshots/ with UPDATE_SCREENSHOTS=1 (to commit them), else var/.

    Every run takes the screenshots; only an explicit update rewrites the
    committed ones, so `make test` leaves the work tree clean.
    """
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    return Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture(autouse=True)
def _healthy_scheduler(monkeypatch):
    """No beat runs here: the health banner (tested on its own) would otherwise
    top every screen and every screenshot."""
    from executions import health

    monkeypatch.setattr(health, "admin_warnings", lambda: [])


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API keeps an event loop on this thread; the test's own
    # ORM calls (seeding, running the execution) are still plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(15_000)
        yield page
        # ORM calls made while Playwright runs get their own connection (its
        # greenlet has its own context); close it so the test database can go.
        connections.close_all()
        browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


def shot(page: Page, name: str) -> None:
    folder = screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 10_000


def seed_history() -> None:
    """A day of runs of a heartbeat job, so the dashboard has something to draw."""
    job = DynamicJobFactory(name="Nightly heartbeat")
    now = timezone.now()
    for hours_ago in range(0, 24, 2):
        for i, status in enumerate(("completed", "completed", "failed")):
            finished = now - timedelta(hours=hours_ago, minutes=5 + i)
            JobExecutionFactory(
                job=job,
                status=status,
                scheduled_for=finished - timedelta(seconds=30 + i),
                started_at=finished - timedelta(seconds=2 + i),
                completed_at=finished,
                duration_seconds=0.4 + i * 0.8 + hours_ago / 10,
                error="TemplateError: Heartbeat asked to fail (fail=true)."
                if status == "failed"
                else "",
            )
    job.last_status, job.last_run_at = "completed", now - timedelta(minutes=5)
    job.save(update_fields=["last_status", "last_run_at"])


def seed_tickets() -> None:
    old = timezone.now() - timedelta(days=60)
    for i in range(12):
        Ticket.objects.create(title=f"old {i}", status="resolved", resolved_at=old)
    for i in range(3):
        Ticket.objects.create(title=f"open {i}", status="open")


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def next_step(page: Page) -> None:
    page.click("input[name=_next]")


def test_create_run_and_watch_a_cleanup_job_in_the_browser(
    live_server, superuser, browser_page
):
    page = browser_page
    base = live_server.url
    seed_history()
    seed_tickets()
    log_in(page, base)

    # The job list, then Add opens the wizard.
    page.goto(f"{base}/admin/scheduler_jobs/dynamicjob/")
    expect(page.locator("#result_list")).to_contain_text("Nightly heartbeat")
    page.click(".object-tools a.addlink")

    # Step 1: template cards with guidance.
    expect(page.locator(".ds-progress .ds-step-current")).to_contain_text("Template")
    card = page.locator("label.ds-card[data-template=database_cleanup]")
    expect(card).to_contain_text("Remove old data?")
    expect(card).to_contain_text("High risk")
    card.click()
    shot(page, "wizard-1-template")
    next_step(page)

    # Step 2: parameters rendered by django-jsonform from the template's schema.
    expect(page.locator(".ds-progress .ds-step-current")).to_contain_text("Parameters")
    page.fill("#id_parameters-name", "Purge resolved tickets")
    page.fill("#id_parameters-description", "Tickets resolved more than 30 days ago.")
    row = page.locator(".rjf-form-row", has_text="Table (model)")
    row.locator("select").select_option("testapp.Ticket")
    condition = page.locator(".rjf-form-row", has_text="Condition").locator("textarea")
    condition.fill('{"status": "resolved", "resolved_at__lt": {"ago": "30d"}}')
    shot(page, "wizard-2-parameters")
    next_step(page)

    # Step 3: a bad cron is refused inline, next to the field, then fixed.
    expect(page.locator(".ds-progress .ds-step-current")).to_contain_text("Schedule")
    page.select_option("[data-ds=timezone]", "Europe/Berlin")
    cron = page.locator("[data-ds=cron]")
    cron.fill("30 25 * * *")
    # Live feedback while typing, before the server-side check on Next.
    expect(page.locator("[data-ds-preview-error]")).to_contain_text("hour field")
    next_step(page)
    error = page.locator(".field-cron .errorlist")
    expect(error).to_contain_text("hour field: 25 is out of range 0-23")
    expect(page.locator("[data-ds=cron]")).to_have_value("30 25 * * *")
    page.select_option("[data-ds-preset]", "daily")
    page.select_option("[data-ds-hour]", "2")
    page.select_option("[data-ds-minute]", "30")
    expect(page.locator("[data-ds=cron]")).to_have_value("30 2 * * *")
    preview = page.locator("[data-ds-preview-description]")
    expect(preview).to_have_text("At 02:30, Europe/Berlin")
    expect(page.locator("[data-ds-preview-runs] li")).to_have_count(5)
    shot(page, "wizard-3-schedule")
    next_step(page)

    # Step 4: options and notifications, defaults filled in.
    expect(page.locator(".ds-progress .ds-step-current")).to_contain_text("Options")
    expect(page.locator("#id_options-timeout_seconds")).to_have_value("1800")
    expect(page.locator("#id_options-max_retries")).to_have_value("3")
    page.fill("#id_options-notify_emails", "ops@example.com")
    shot(page, "wizard-4-options")
    next_step(page)

    # Step 5: review with the dry-run preview of what would be deleted.
    expect(page.locator(".ds-progress .ds-step-current")).to_contain_text("Review")
    expect(page.locator(".ds-review")).to_contain_text("At 02:30, Europe/Berlin")
    expect(page.locator("#dry-run-headline")).to_have_text(
        "Would delete 12 rows of testapp.Ticket in 1 batch, plus by cascade: none"
    )
    shot(page, "wizard-5-review")
    page.click("input[name=_next]")

    # Back on the list: the new job, its schedule in words, a success message.
    expect(page.locator(".messagelist")).to_contain_text("Created the job")
    row = page.locator("#result_list tr", has_text="Purge resolved tickets")
    expect(row).to_contain_text("At 02:30, Europe/Berlin")
    expect(row).to_contain_text("Database cleanup")
    shot(page, "job-list")

    # Run now queues an execution; no worker runs here, so run it in-process.
    row.locator("button.ds-run-button").click()
    message = page.locator(".messagelist")
    expect(message).to_contain_text("queued as execution #")
    execution = JobExecution.objects.filter(job__name="Purge resolved tickets").get()
    assert execution.triggered_by == JobExecution.Trigger.MANUAL
    assert execution_run(execution_id=execution.pk) == JobExecution.Status.COMPLETED

    # The execution: result summary and the log viewer.
    message.get_by_role("link", name=re.compile(r"execution #\d+")).click()
    expect(page.locator("#execution-status")).to_have_text("Completed")
    expect(page.locator("#result-summary")).to_contain_text("Rows it would delete")
    logs = page.locator("[data-ds-logs]")
    expect(logs).to_contain_text("rows of testapp.Ticket match")
    expect(logs).to_contain_text("Dry run: would delete 12 rows")
    shot(page, "execution-detail")
    page.fill("[data-ds-log-search]", "would delete")
    expect(logs.locator("tr:visible")).to_have_count(1)

    # The dashboard, linked from the admin index.
    page.goto(f"{base}/admin/")
    page.click("#group-scheduler-rows a:has-text('Dashboard')")
    expect(page.locator(".ds-cards-metrics")).to_contain_text("Success rate")
    expect(page.locator(".ds-chart").first).to_be_visible()
    # "unknown" on the filesystem broker; a count (maybe 0) on Redis or RabbitMQ.
    expect(page.locator("#workers-online")).to_contain_text("Workers online")
    expect(page.locator("#recent-failures")).to_contain_text("Nightly heartbeat")
    shot(page, "dashboard")
    page.emulate_media(color_scheme="dark")
    page.reload()
    shot(page, "dashboard-dark")

    # The execution history list, filtered to the job from its row's History.
    page.emulate_media(color_scheme="light")
    page.goto(f"{base}/admin/executions/jobexecution/?job={execution.job_id}")
    expect(page.locator("#result_list")).to_contain_text(f"#{execution.pk}")
    expect(page.locator("#result_list")).not_to_contain_text("Nightly heartbeat")
    shot(page, "execution-list")

    # The job's change page: the same sections, its recent run and audit trail.
    job_id = execution.job_id
    page.goto(f"{base}/admin/scheduler_jobs/dynamicjob/{job_id}/change/")
    expect(page.locator("#recent-executions")).to_contain_text(f"#{execution.pk}")
    expect(page.locator("#audit-history")).to_contain_text("Manual run")
    expect(page.locator("[data-ds-preview-description]")).to_have_text(
        "At 02:30, Europe/Berlin"
    )
    shot(page, "job-change")

    # The read-only audit log and the templates catalogue.
    page.goto(f"{base}/admin/audit/auditentry/")
    expect(page.locator("#result_list")).to_contain_text("Purge resolved tickets")
    shot(page, "audit-log")
    page.goto(f"{base}/admin/job_templates/jobtemplate/database_cleanup/change/")
    expect(page.locator("#template-parameters")).to_contain_text("batch_size")
    shot(page, "template-catalogue")
