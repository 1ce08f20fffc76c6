"""The README's pictures of the newer admin pages, each with what it must show.

Every screen is built from realistic data through the services, checked for
what a person would read on it, then photographed (the viewport, not the whole
page, so the images stay small). The pictures land in docs/screenshots/ with
UPDATE_SCREENSHOTS=1, else under the test's var folder.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEntry
from executions.health import Heartbeat
from executions.models import Incident, JobExecution
from executions.services.running import LogFlusher
from job_templates.context import BoundedLogHandler, make_logger
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.services import timeplan
from scheduler_jobs.templatetags.timeplan import forget_pause_banner
from tests.browser import test_admin_words_and_layout as layout
from tests.browser.test_admin_walkthrough import log_in, screenshots_dir
from tests.browser.test_admin_words_and_layout import DESKTOP, PHONE, open_page
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

chromium = layout.browser  # the fixture, under this module's name
_healthy_scheduler = layout._healthy_scheduler
JOBS = "/admin/scheduler_jobs/dynamicjob/"


def picture(page: Page, name: str) -> None:
    """The viewport as it is now, a few hundred KB at most."""
    folder = screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert 10_000 < path.stat().st_size < 1_500_000


def heartbeat(name: str, schedule: dict, **extra):
    return services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "parameters": {"message": "alive"},
            "schedule": schedule,
            **extra,
        },
    )


def cron(expression: str, zone: str = "UTC", **extra) -> dict:
    return {"type": "cron", "cron": expression, "timezone": zone, **extra}


@pytest.fixture
def desktop(live_server, superuser, chromium) -> Page:
    page = open_page(chromium, DESKTOP)
    log_in(page, live_server.url)
    return page


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["1440px", "390px"])
def test_dashboard_panel_names_the_late_job(live_server, superuser, chromium, width):
    DynamicJobFactory(
        name="Nightly export", next_run_at=timezone.now() - timedelta(minutes=20)
    )
    job = DynamicJobFactory(name="Invoice sync")
    now = timezone.now()
    for minutes in (3, 35, 65):
        JobExecutionFactory(
            job=job,
            status=JobExecution.Status.FAILED,
            started_at=now - timedelta(minutes=minutes),
            completed_at=now - timedelta(minutes=minutes - 1),
            duration_seconds=2.5,
            error="TemplateError: The invoice service answered 503.",
            execution_host="worker-1/4242",
        )
    # A beat that ticks, so the picture shows a late job, not a missing beat.
    Heartbeat().beat()
    page = open_page(chromium, width)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/executions/jobexecution/dashboard/")
    panel = page.locator("#wrong-now")
    expect(panel).not_to_contain_text("never ticked")
    expect(panel.locator("#wrong-late")).to_contain_text("1 late job")
    expect(panel.get_by_role("link", name="Nightly export")).to_be_visible()
    picture(
        page, "dashboard-wrong-now" if width == DESKTOP else "phone-dashboard-wrong-now"
    )
    assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["1440px", "390px"])
def test_upcoming_runs_week_grid_and_phone_day_list(
    live_server, superuser, chromium, width
):
    heartbeat("Nightly heartbeat in Berlin", cron("30 2 * * *", "Europe/Berlin"))
    heartbeat("Every six hours", {"type": "interval", "every_seconds": 6 * 3600})
    heartbeat("Weekday report", cron("0 7 * * 1-5"))
    page = open_page(chromium, width)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}{JOBS}")
    page.get_by_role("link", name="Upcoming runs").click()
    expect(page.locator("h1")).to_have_text("Upcoming runs")
    if width == PHONE:
        # Tomorrow as a day list: a whole day of runs, whatever the hour now.
        page.get_by_role("link", name="Day list").click()
        page.wait_for_url("**view=day**")
        page.get_by_role("link", name="Later ›").click()
    expect(page.locator(".ds-upcoming-day")).to_have_count(7 if width == DESKTOP else 1)
    expect(page.locator("#upcoming-runs")).to_contain_text("01:30 UTC · 02:30 CET")
    expect(page.get_by_role("link", name="Every six hours").first).to_be_visible()
    picture(page, "upcoming-runs" if width == DESKTOP else "phone-upcoming-runs")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_incidents_list_and_one_incident(live_server, desktop):
    job = heartbeat("Invoice sync", cron("*/15 * * * *"))
    now = timezone.now()
    open_one = Incident.objects.create(
        job=job,
        opened_at=now - timedelta(minutes=50),
        failures=4,
        last_alert_at=now - timedelta(minutes=5),
        alerts_sent=2,
    )
    Incident.objects.create(
        job=heartbeat("Nightly export", cron("0 1 * * *")),
        opened_at=now - timedelta(days=1),
        failures=3,
        resolved_at=now - timedelta(hours=20),
        resolution=Incident.Resolution.RECOVERED,
    )
    desktop.goto(f"{live_server.url}/admin/executions/incident/")
    rows = desktop.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Invoice sync")).to_have_count(1)
    picture(desktop, "incidents")
    desktop.goto(f"{live_server.url}/admin/executions/incident/{open_one.pk}/change/")
    expect(desktop.get_by_role("button", name="Acknowledge")).to_be_visible()
    expect(desktop.get_by_role("button", name="Resolve")).to_be_visible()
    picture(desktop, "incident")


def test_calendar_page_lists_its_days_off(live_server, desktop):
    calendar = timeplan.calendar_create(
        actor=SYSTEM,
        data={
            "name": "de-by",
            "title": "Bavaria",
            "country": "DE",
            "subdivision": "BY",
        },
    )
    desktop.goto(
        f"{live_server.url}/admin/scheduler_jobs/calendar/{calendar.pk}/change/"
    )
    expect(desktop.locator("#content")).to_contain_text(
        "Days off in the next 12 months"
    )
    expect(desktop.locator("#content")).to_contain_text("Christmas Day")
    days_off = desktop.get_by_role("heading", name="Days off in the next 12 months")
    days_off.evaluate("el => el.scrollIntoView({block: 'center'})")
    picture(desktop, "calendar")


def test_simulator_and_the_pause_banner(live_server, superuser, desktop):
    timeplan.calendar_create(
        actor=SYSTEM,
        data={"name": "weekdays", "title": "Weekdays", "workdays": [1, 2, 3, 4, 5]},
    )
    job = heartbeat(
        "Morning report", cron("0 7 * * *", "Europe/Berlin", calendar="weekdays")
    )
    timeplan.window_create(
        actor=SYSTEM,
        data={
            "name": "Saturday backups",
            "reason": "The backup saturates the disks",
            "cron": "0 22 * * 6",
            "duration_minutes": 120,
            "timezone": "Europe/Berlin",
        },
    )
    start = timezone.now().date() + timedelta(days=1)
    desktop.goto(
        f"{live_server.url}/admin/scheduler_jobs/maintenancepause/simulate/"
        f"?job={job.pk}&timezone=Europe/Berlin"
        f"&start={start}+00:00&end={start + timedelta(days=7)}+00:00"
    )
    # Any seven days hold one weekend: two slots skipped, five runs.
    simulation = desktop.locator("#simulation")
    expect(simulation).to_contain_text("5 runs, 2 skipped")
    expect(simulation).to_contain_text("Not a business day")
    picture(desktop, "simulator")

    timeplan.pause(actor=superuser, reason="Database upgrade", resume_at=None)
    forget_pause_banner()  # the banner is cached for a few seconds
    desktop.goto(f"{live_server.url}{JOBS}")
    banner = desktop.locator("#scheduler-pause-banner")
    expect(banner).to_contain_text("Scheduling is paused since")
    expect(banner).to_contain_text("by root: Database upgrade")
    picture(desktop, "pause-banner")


def test_wizard_schedule_step_previews_a_skipped_slot(live_server, desktop):
    off = (timezone.now() + timedelta(days=2)).isoweekday()
    timeplan.calendar_create(
        actor=SYSTEM,
        data={"name": "ops", "workdays": [d for d in range(1, 8) if d != off]},
    )
    desktop.goto(f"{live_server.url}{JOBS}add/")
    desktop.click("label.ds-card[data-template=heartbeat]")
    desktop.click("input[name=_next]")
    desktop.fill("#id_parameters-name", "Morning report")
    desktop.click("input[name=_next]")
    expect(desktop.locator(".ds-progress .ds-step-current")).to_contain_text("Schedule")
    desktop.select_option("[data-ds-preset]", "daily")
    desktop.select_option("[data-ds-hour]", "7")
    desktop.select_option("[data-ds-minute]", "0")
    expect(desktop.locator("[data-ds=cron]")).to_have_value("0 7 * * *")
    desktop.select_option("[data-ds=calendar]", "ops")
    skipped = desktop.locator("[data-ds-preview-runs] li.ds-slot-skipped")
    expect(skipped.first).to_contain_text("skipped: Not a business day")
    skipped.first.evaluate("el => el.scrollIntoView({block: 'center'})")
    picture(desktop, "wizard-3-schedule-calendar")


def test_merge_conflict_shows_both_values(live_server, desktop):
    job = heartbeat("Nightly heartbeat", cron("0 2 * * *"), timeout_seconds=900)
    desktop.goto(f"{live_server.url}{JOBS}{job.pk}/change/")
    job.refresh_from_db()
    services.job_update(
        job=job,
        user=SYSTEM,
        data={"timeout_seconds": 1500},
        expected_version=job.version,
    )
    desktop.fill("#id_timeout_seconds", "600")
    desktop.locator("input[name=_save]").click()
    conflicts = desktop.locator("#merge-conflicts")
    expect(conflicts.locator("legend")).to_have_text(["Timeout (seconds)"])
    expect(desktop.get_by_label("Keep mine: 600")).to_be_visible()
    expect(desktop.get_by_label("Take theirs: 1\u202f500")).to_be_visible()
    conflicts.scroll_into_view_if_needed()
    picture(desktop, "job-merge-conflict")


def test_audit_entry_marks_the_changed_keys(live_server, desktop):
    job = heartbeat("Nightly heartbeat", cron("0 2 * * *"), timeout_seconds=900)
    services.job_update(
        job=job,
        user=SYSTEM,
        data={"timeout_seconds": 1200, "description": "Watched by the ops team"},
        expected_version=job.version,
    )
    entry = AuditEntry.objects.filter(action="update").latest("id")
    desktop.goto(f"{live_server.url}/admin/audit/auditentry/{entry.pk}/change/")
    changed = desktop.locator("tr.ds-changed")
    expect(changed.filter(has_text="timeout")).to_contain_text("1200")
    expect(changed.locator(".ds-changed-chip").first).to_have_text("changed")
    changed.first.scroll_into_view_if_needed()
    picture(desktop, "audit-entry")


def test_execution_page_streams_log_lines(live_server, desktop):
    job = DynamicJobFactory(name="Customer import")
    execution = JobExecutionFactory(
        job=job,
        status=JobExecution.Status.RUNNING,
        scheduled_for=timezone.now() - timedelta(seconds=4),
        started_at=timezone.now() - timedelta(seconds=3),
    )
    handler = BoundedLogHandler()
    flusher = LogFlusher(execution.pk, handler)
    log = make_logger("tests.readme", handler)
    desktop.goto(
        f"{live_server.url}/admin/executions/jobexecution/{execution.pk}/change/"
    )
    logs = desktop.locator("#logs")
    expect(logs).to_contain_text("No log line yet")
    log.info("Copying 120 rows")
    log.info("Batch 1 of 3 written")
    log.warning("Row 7 skipped: no e-mail address")
    flusher.flush()
    expect(logs.locator("tr[data-level=WARNING]")).to_contain_text("Row 7 skipped")
    expect(logs.locator("h2")).to_contain_text("3 lines")
    expect(desktop.locator("#execution-status")).to_have_text("Running")
    logs.scroll_into_view_if_needed()
    picture(desktop, "execution-live")


def test_job_page_lists_late_missed_and_slow_runs(live_server, desktop):
    from executions.models import WatchEvent

    job = heartbeat("Nightly export", cron("0 2 * * *", "Europe/Berlin"))
    night = timezone.now().replace(hour=1, minute=0, second=0, microsecond=0)
    for days, kind, detail in (
        (
            1,
            WatchEvent.Kind.LATE,
            "Queued but not started 3 min after its planned time.",
        ),
        (2, WatchEvent.Kind.MISSED, "No run for this planned time."),
        (3, WatchEvent.Kind.SLOW, "Ran 41 min, usually about 12 min."),
    ):
        WatchEvent.objects.create(
            job=job, kind=kind, slot=night - timedelta(days=days), detail=detail
        )
    desktop.goto(f"{live_server.url}{JOBS}{job.pk}/change/")
    events = desktop.locator("#watch-events")
    expect(events.locator("tbody tr")).to_have_count(3)
    expect(events).to_contain_text("Missed run")
    events.evaluate("el => el.scrollIntoView({block: 'center'})")
    picture(desktop, "job-late-missed-slow")


def test_wizard_offers_to_continue_a_draft(live_server, superuser, chromium):
    first = open_page(chromium, DESKTOP)
    log_in(first, live_server.url)
    first.goto(f"{live_server.url}{JOBS}add/")
    first.click("label.ds-card[data-template=heartbeat]")
    first.click("input[name=_next]")
    first.fill("#id_parameters-name", "Morning report")
    first.click("input[name=_next]")
    expect(first.locator(".ds-progress .ds-step-current")).to_contain_text("Schedule")
    first.context.close()  # the tab and its login are gone; the draft stays

    page = open_page(chromium, DESKTOP)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}{JOBS}add/")
    offer = page.get_by_role("link", name=re.compile("Continue your draft"))
    expect(offer).to_contain_text("step 3 of 5 (Schedule)")
    expect(
        page.get_by_role("button", name="Start over (discard this draft)")
    ).to_be_visible()
    picture(page, "wizard-draft-offer")


def test_copy_and_run_with_changes(live_server, desktop):
    job = heartbeat("Nightly heartbeat", cron("0 2 * * *"), timeout_seconds=120)
    desktop.goto(f"{live_server.url}{JOBS}{job.pk}/change/")
    desktop.get_by_role("link", name="Copy", exact=True).click()
    expect(desktop.locator("#id_name")).to_have_value("Nightly heartbeat (copy)")
    expect(desktop.locator("#id_enabled")).not_to_be_checked()
    picture(desktop, "job-copy")

    desktop.goto(f"{live_server.url}{JOBS}{job.pk}/change/")
    desktop.get_by_role("link", name="Run with changes…").click()
    message = desktop.get_by_role("textbox", name="Message")
    expect(message).to_have_value("alive")
    message.fill("by hand, after the fix")
    expect(desktop.get_by_role("button", name="▶ Run now")).to_be_visible()
    picture(desktop, "job-run-with-changes")
