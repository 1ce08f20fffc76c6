"""Live pages in the browser, at 1440 and 390 px: log lines that arrive while a
run runs, the dashboard's "what is wrong right now" panel, and lists that
refresh themselves.

The run's lines are written to its row by the worker's own flusher
(executions.services.running.LogFlusher), driven from the test; a real worker
doing the same is tests/integration/test_live_logs.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from executions.models import JobExecution
from executions.services.running import LogFlusher, execution_finish
from job_templates.context import BoundedLogHandler, make_logger
from tests.browser.test_admin_walkthrough import log_in
from tests.browser.test_admin_words_and_layout import (
    WIDTHS,
    browser,  # noqa: F401 (fixture)
    no_sideways_scroll,
    open_page,
    serious_violations,
)
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Status = JobExecution.Status


@pytest.fixture(autouse=True)
def _healthy_scheduler(monkeypatch):
    """No beat runs here: the health banner has tests of its own."""
    from executions import health

    monkeypatch.setattr(health, "admin_warnings", lambda: [])


@pytest.mark.parametrize("width", WIDTHS)
def test_execution_page_shows_log_lines_while_the_run_runs(
    live_server,
    superuser,
    browser,  # noqa: F811
    width,
):
    execution = JobExecutionFactory(
        status=Status.RUNNING, started_at=timezone.now() - timedelta(seconds=3)
    )
    handler = BoundedLogHandler()
    flusher = LogFlusher(execution.pk, handler)
    log = make_logger("tests.live", handler)
    page = open_page(browser, width)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/executions/jobexecution/{execution.pk}/change/")
    logs = page.locator("#logs")
    expect(logs).to_contain_text("No log line yet")
    page.evaluate("window.stillThisPage = true")

    log.info("Copying 120 rows")
    flusher.flush()
    expect(logs.locator("[data-ds-logs]")).to_contain_text("Copying 120 rows")
    log.warning("Row 7 skipped: no e-mail address")
    flusher.flush()
    expect(logs.locator("tr[data-level=WARNING]")).to_contain_text("Row 7 skipped")
    expect(logs.locator("h2")).to_contain_text("2 lines")
    assert serious_violations(page) == []
    no_sideways_scroll(page, width)

    execution_finish(
        execution=execution,
        status=Status.COMPLETED,
        result={"rows": 120},
        logs=handler.entries(),
    )
    expect(page.locator("#execution-status")).to_have_text("Completed")
    expect(logs.locator("[data-ds-live-note]")).to_contain_text("The run ended")
    assert page.evaluate("window.stillThisPage") is True  # never reloaded
    assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_opens_with_the_late_job(
    live_server,
    superuser,
    browser,  # noqa: F811
    width,
):
    DynamicJobFactory(
        name="Nightly export", next_run_at=timezone.now() - timedelta(minutes=20)
    )
    page = open_page(browser, width)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/executions/jobexecution/dashboard/")

    panel = page.locator("#wrong-now")
    expect(panel.locator("#wrong-late")).to_contain_text("1 late job")
    link = panel.get_by_role("link", name="Nightly export")
    expect(link).to_be_visible()
    panel_top = panel.bounding_box()["y"]
    assert panel_top < page.locator(".ds-cards-metrics").bounding_box()["y"]
    assert serious_violations(page) == []
    no_sideways_scroll(page, width)
    link.click()
    expect(page.locator("h1, h2").first).to_be_visible()
    assert "/admin/scheduler_jobs/dynamicjob/" in page.url


@pytest.mark.parametrize("width", WIDTHS)
def test_execution_list_refreshes_itself_and_can_be_paused(
    live_server,
    superuser,
    browser,  # noqa: F811
    width,
):
    job = DynamicJobFactory(name="Heartbeat")
    JobExecutionFactory(job=job, started_at=timezone.now(), duration_seconds=1.0)
    page = open_page(browser, width)
    page.clock.install()
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/executions/jobexecution/")
    status = page.locator("[data-ds-refresh-status]")
    expect(status).to_contain_text("Updated")
    page.evaluate("window.stillThisPage = true")

    fresh = JobExecutionFactory(job=job, status=Status.QUEUED)
    page.clock.run_for(16_000)
    expect(page.locator("#result_list")).to_contain_text(f"#{fresh.pk}")
    assert page.evaluate("window.stillThisPage") is True
    assert serious_violations(page) == []
    no_sideways_scroll(page, width)

    page.get_by_role("button", name="Pause auto-refresh").click()
    expect(status).to_contain_text("paused")
    later = JobExecutionFactory(job=job, status=Status.QUEUED)
    page.clock.run_for(16_000)
    page.wait_for_timeout(1_000)
    expect(page.locator("#result_list")).not_to_contain_text(f"#{later.pk}")
    assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", WIDTHS)
def test_job_list_says_each_jobs_health_in_words(
    live_server,
    superuser,
    browser,  # noqa: F811
    width,
):
    DynamicJobFactory(
        name="Late one", next_run_at=timezone.now() - timedelta(minutes=20)
    )
    DynamicJobFactory(name="Switched off", enabled=False)
    page = open_page(browser, width)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/scheduler_jobs/dynamicjob/")

    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text="Late one").locator(".ds-health")).to_have_text("Late")
    expect(rows.filter(has_text="Switched off").locator(".ds-health")).to_have_text(
        "Paused"
    )
    assert serious_violations(page) == []
    no_sideways_scroll(page, width)
