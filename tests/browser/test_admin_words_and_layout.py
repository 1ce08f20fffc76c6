"""Issue 16 in the browser: words, layout at 1440 and 390 px, accessibility.

Each finding of the issue is checked where a person meets it: in Chromium, at a
desktop width (1440 px) and a phone width (390 px). axe-core (shipped by the
axe-playwright-python dev dependency) checks every admin page of the scheduler
for serious and critical violations. Screenshots taken here complete the
README's set (the phone-sized ones and the home page).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from executions import services as execution_services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.browser.test_admin_walkthrough import CHROMIUM, CHROMIUM_ARGS, log_in, shot
from tests.testapp.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP, PHONE = 1440, 390
WIDTHS = [pytest.param(DESKTOP, id="1440px"), pytest.param(PHONE, id="390px")]
# The admin's one date-time format: "2026-12-01 13:34 UTC" (seconds optional).
DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? (UTC([+-]\d+)?|[A-Z]{3,5})$"
)
RAW_KEYS = re.compile(
    r"\b(dry_run|run_once|retry_pending|would_batches|timeout_seconds|"
    r"max_rows|signing_secret)\b|Would batches|Capped|\bTrue\b|\bFalse\b"
)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
axe = Axe()


# --- set-up ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _healthy_scheduler(monkeypatch):
    """No beat runs in these tests: without this every page carries the health
    banner, a feature of its own with its own tests."""
    from executions import health

    monkeypatch.setattr(health, "admin_warnings", lambda: [])


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        connections.close_all()
        chromium.close()


def open_page(browser, width: int) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def make_job(name: str, template_type: str, parameters: dict, schedule: dict, **extra):
    return job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": template_type,
            "parameters": parameters,
            "schedule": schedule,
            **extra,
        },
    )


def run_all_attempts(job, *, stop_before_last_retry: bool = False) -> JobExecution:
    """Run the job and each retry it asks for, as a worker and beat would."""
    execution = execution_services.run_now(job=job, user=SYSTEM)
    while True:
        execution_services.execution_run(execution_id=execution.pk)
        execution.refresh_from_db()
        retry = JobExecution.objects.filter(
            first_attempt_id=execution.first_attempt_id or execution.pk,
            attempt=execution.attempt + 1,
        ).first()
        if retry is None or stop_before_last_retry:
            return retry or execution
        execution_services.dispatch_retries(now=timezone.now() + timedelta(seconds=1))
        execution = retry


@pytest.fixture
def seeded(superuser):
    """A Berlin job, a long-named cleanup, a run that gave up after three
    retries, one waiting for its retry, and finished runs with results."""
    berlin = make_job(
        "Nightly heartbeat",
        "heartbeat",
        {"message": "alive"},
        {"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    )
    cleanup = make_job(
        "Purge resolved support tickets older than thirty days from the helpdesk",
        "database_cleanup",
        {
            "collection": "testapp.Ticket",
            "condition": {"status": "resolved"},
            "dry_run": True,
        },
        {"type": "interval", "every_seconds": 3600},
    )
    for i in range(3):
        Ticket.objects.create(title=f"t{i}", status="resolved")
    gives_up = make_job(
        "Flaky export",
        "heartbeat",
        {"fail": True},
        {"type": "interval", "every_seconds": 600},
        retry_policy={"max_retries": 3, "delay_seconds": 0, "backoff": 1.0},
    )
    waiting = make_job(
        "Retry waiting",
        "heartbeat",
        {"fail": True},
        {"type": "interval", "every_seconds": 600},
        retry_policy={"max_retries": 2, "delay_seconds": 600, "backoff": 1.0},
    )
    return {
        "berlin": berlin,
        "cleanup": cleanup,
        "berlin_run": run_all_attempts(berlin),
        "cleanup_run": run_all_attempts(cleanup),
        "exhausted": run_all_attempts(gives_up),
        "retry": run_all_attempts(waiting, stop_before_last_retry=True),
    }


def no_sideways_scroll(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide at {width} px"


def serious_violations(page: Page) -> list[str]:
    results = axe.run(
        page,
        options={
            "resultTypes": ["violations"],
            "runOnly": {"type": "tag", "values": AXE_TAGS},
        },
    )
    return [
        f"{page.url}: {v['id']} ({v['impact']}) at "
        f"{[n['target'] for n in v['nodes'][:3]]}: {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def body_text(page: Page) -> str:
    return page.locator("#content").inner_text()


def download_pages(job) -> list[str]:
    """The page a run's Download link answers when its file was pruned."""
    from tests.factories import JobExecutionFactory

    gone = JobExecutionFactory(
        job=job,
        template_type="data_export",
        parameters={"collection": "testapp.Ticket"},
        result={"path": "pruned/long-gone.csv", "rows": 3},
    )
    return [f"/admin/executions/jobexecution/{gone.pk}/download/"]


def timeplan_pages(job) -> list[str]:
    """Calendars, windows, the pause (paused, with its banner) and the simulator."""
    from scheduler_jobs.services import timeplan

    calendar = timeplan.calendar_create(
        actor=SYSTEM,
        data={
            "name": "de-by",
            "title": "Bavaria",
            "country": "DE",
            "subdivision": "BY",
        },
    )
    window = timeplan.window_create(
        actor=SYSTEM,
        data={
            "name": "Saturday backups",
            "reason": "The backup saturates the disks",
            "cron": "0 22 * * 6",
            "duration_minutes": 120,
            "timezone": "Europe/Berlin",
        },
    )
    timeplan.pause(actor=SYSTEM, reason="Database upgrade", resume_at=None)
    simulate = "/admin/scheduler_jobs/maintenancepause/simulate/"
    return [
        "/admin/scheduler_jobs/calendar/",
        "/admin/scheduler_jobs/calendar/add/",
        f"/admin/scheduler_jobs/calendar/{calendar.pk}/change/",
        "/admin/scheduler_jobs/blackoutwindow/",
        "/admin/scheduler_jobs/blackoutwindow/add/",
        f"/admin/scheduler_jobs/blackoutwindow/{window.pk}/change/",
        "/admin/scheduler_jobs/maintenancepause/",
        simulate,
        f"{simulate}?job={job.pk}&timezone=Europe/Berlin"
        "&start=2026-12-24+00:00&end=2026-12-31+00:00",
    ]


def incident_pages(job) -> list[str]:
    """The incidents list (an open and a resolved one) and the open one's page."""
    from django.utils import timezone

    from executions.models import Incident

    now = timezone.now()
    # The job may have an open one already (its seeded runs, an earlier width).
    incident = Incident.objects.filter(
        job=job, resolved_at__isnull=True
    ).first() or Incident.objects.create(
        job=job, opened_at=now, failures=4, last_alert_at=now, alerts_sent=2
    )
    Incident.objects.create(
        job=job,
        opened_at=now,
        failures=3,
        resolved_at=now,
        resolution=Incident.Resolution.RECOVERED,
    )
    return [
        "/admin/executions/incident/",
        f"/admin/executions/incident/{incident.pk}/change/",
    ]


def late_start_on_the_job_page(job) -> None:
    """A watch event, so the job page's "Late, missed and slow runs" table shows."""
    from executions.models import WatchEvent

    WatchEvent.objects.get_or_create(
        job=job,
        kind=WatchEvent.Kind.LATE,
        slot=timezone.now().replace(microsecond=0),
        defaults={"detail": "Queued but not started 3 min after its planned time."},
    )


def audit_entry_pages(job) -> list[str]:
    """An update's audit entry: its changed keys marked."""
    from audit.models import AuditEntry

    job.refresh_from_db()
    job_services.job_update(
        job=job,
        user=SYSTEM,
        data={"description": f"Checked on {timezone.now():%H:%M:%S.%f}"},
        expected_version=job.version,
    )
    entry = AuditEntry.objects.filter(action="update").latest("id")
    return [f"/admin/audit/auditentry/{entry.pk}/change/"]


# --- 8. accessibility and 7. layout on every page ----------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_every_admin_page_of_ours_passes_axe_and_fits_the_width(
    live_server, seeded, browser, width
):
    page = open_page(browser, width)
    base = live_server.url
    log_in(page, base)
    job, run = seeded["berlin"], seeded["cleanup_run"]
    late_start_on_the_job_page(job)
    pages = [
        "/admin/",
        "/admin/scheduler_jobs/",
        "/admin/scheduler_jobs/dynamicjob/",
        "/admin/scheduler_jobs/dynamicjob/upcoming/",
        "/admin/scheduler_jobs/dynamicjob/upcoming/?view=day",
        f"/admin/scheduler_jobs/dynamicjob/{job.pk}/change/",
        f"/admin/scheduler_jobs/dynamicjob/{seeded['cleanup'].pk}/change/",
        f"/admin/scheduler_jobs/dynamicjob/{job.pk}/versions/",
        f"/admin/scheduler_jobs/dynamicjob/{job.pk}/copy/",
        f"/admin/scheduler_jobs/dynamicjob/{seeded['cleanup'].pk}/run-with-changes/",
        "/admin/executions/jobexecution/",
        f"/admin/executions/jobexecution/{run.pk}/change/",
        f"/admin/executions/jobexecution/{seeded['retry'].pk}/change/",
        f"/admin/executions/jobexecution/{seeded['exhausted'].pk}/change/",
        "/admin/executions/jobexecution/dashboard/",
        "/admin/job_templates/jobtemplate/",
        "/admin/job_templates/jobtemplate/database_cleanup/change/",
        "/admin/job_templates/jobtemplate/webhook_trigger/change/",
        "/admin/audit/auditentry/",
        *timeplan_pages(job),
        *download_pages(job),
        *incident_pages(job),
        *audit_entry_pages(job),
    ]
    found: list[str] = []
    for path in pages:
        page.goto(base + path)
        no_sideways_scroll(page, width)
        found += serious_violations(page)

    # The wizard, every step, with the template whose parameters are richest.
    page.goto(base + "/admin/scheduler_jobs/dynamicjob/add/")
    found += serious_violations(page)
    no_sideways_scroll(page, width)
    page.click("label.ds-card[data-template=webhook_trigger]")
    page.click("input[name=_next]")
    page.wait_for_selector(".rjf-form-row label[for]")
    found += serious_violations(page)
    no_sideways_scroll(page, width)
    page.fill("#id_parameters-name", "Ping the status page")
    page.get_by_role("textbox", name="URL", exact=True).fill("https://example.com/")
    page.get_by_role("button", name="Add item: Expected status codes").click()
    page.get_by_role("spinbutton", name="Expected status codes, item 1").fill("204")
    for step in ("schedule", "options", "review"):
        page.click("input[name=_next]")
        expect(page.locator(".ds-progress .ds-step-current")).to_contain_text(
            step.capitalize()
        )
        found += serious_violations(page)
        no_sideways_scroll(page, width)
    assert found == [], "\n".join(found)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_parameter_fields_have_accessible_names(live_server, superuser, browser):
    page = open_page(browser, DESKTOP)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/admin/scheduler_jobs/dynamicjob/add/")
    page.click("label.ds-card[data-template=backup]")
    page.click("input[name=_next]")
    # Found by role and name: only possible if the field has that name.
    expect(page.get_by_role("combobox", name="Method")).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Keep last")).to_have_value("7")
    expect(page.get_by_role("textbox", name="Exclude, item 1")).to_have_value(
        "sessions"
    )
    expect(page.get_by_role("button", name="Remove: Exclude, item 1")).to_be_visible()
    # The help text is the field's description; clicking the label focuses it.
    keep = page.get_by_role("spinbutton", name="Keep last")
    help_id = keep.get_attribute("aria-describedby")
    assert "keep" in page.locator(f"#{help_id}").inner_text().lower()
    page.locator("label", has_text="File name prefix").click()
    expect(page.get_by_role("textbox", name="File name prefix")).to_be_focused()
    # Names survive a redraw: an item added later is named too.
    page.get_by_role("button", name="Add item: Apps").click()
    expect(page.get_by_role("textbox", name="Apps, item 1")).to_be_visible()
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll(
            '.django-jsonform-container input, .django-jsonform-container select,'
            + ' .django-jsonform-container textarea')]
          .filter(el => el.type !== 'hidden')
          .filter(el => !(el.labels && el.labels.length))
          .filter(el => !el.getAttribute('aria-label'))
          .map(el => el.name)"""
    )
    assert unnamed == []


def test_the_form_is_a_few_tab_presses_away(live_server, seeded, browser):
    page = open_page(browser, DESKTOP)
    base = live_server.url
    log_in(page, base)
    for path, target in (
        (
            "/admin/scheduler_jobs/dynamicjob/add/",
            "input[name='template-template_type']",
        ),
        (f"/admin/scheduler_jobs/dynamicjob/{seeded['berlin'].pk}/change/", "#id_name"),
    ):
        page.goto(base + path)
        presses = 0
        for presses in range(1, 41):  # noqa: B007 - the count is the result
            page.keyboard.press("Tab")
            if page.evaluate("sel => document.activeElement.matches(sel)", target):
                break
        else:
            pytest.fail(f"{path}: {target} not reached in 40 Tab presses")
        assert presses <= 15, f"{path}: {presses} Tab presses to reach the form"


def contrast(foreground: str, background: str) -> float:
    def luminance(rgb: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
        linear = [
            c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
            for c in channels
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_status_badges_reach_aa_contrast(live_server, seeded, browser, scheme):
    page = open_page(browser, DESKTOP)
    page.emulate_media(color_scheme=scheme)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/admin/executions/jobexecution/")
    badges = page.evaluate(
        """() => [...document.querySelectorAll('.ds-badge')].map(el => {
            const s = getComputedStyle(el);
            return [el.className, s.color, s.backgroundColor, s.fontSize];
        })"""
    )
    assert any("ds-status-completed" in b[0] for b in badges)
    for name, color, background, size in badges:
        assert float(size.rstrip("px")) < 18.66  # small text: 4.5:1 applies
        assert contrast(color, background) >= 4.5, (name, color, background)


# --- 5. words ---------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_home_page_names_the_product_and_puts_the_scheduler_first(
    live_server, seeded, browser, width
):
    page = open_page(browser, width)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/admin/")
    expect(page.locator("#site-name")).to_have_text("Dynamic Scheduler")
    assert page.title().endswith("| Dynamic Scheduler")
    assert "Django" not in page.locator("#header").inner_text()
    captions = page.locator("#content-main caption").all_inner_texts()
    assert captions[0].strip().lower() == "dynamic scheduler"
    first_rows = page.locator("#group-scheduler-rows th[scope=row] a")
    expect(first_rows.first).to_have_text("Scheduled jobs")
    expect(first_rows).to_contain_text(
        ["Scheduled jobs", "Dashboard", "Executions", "Job templates", "Audit log"]
    )
    # celery-beat's screens and the lockouts are under Advanced, closed, with a
    # line saying they are not where jobs are made.
    advanced = page.locator("details#group-advanced")
    expect(advanced).not_to_have_attribute("open", "")
    expect(page.get_by_role("link", name="Periodic tasks")).to_be_hidden()
    advanced.locator("summary").click()
    expect(page.get_by_role("link", name="Periodic tasks")).to_be_visible()
    expect(advanced).to_contain_text("Not for jobs: use Scheduled jobs")
    # No fullwidth plus that fonts draw as a box; no one-letter-per-line links.
    assert "\uff0b" not in page.content()
    lines = page.evaluate(
        """() => [...document.querySelectorAll('#content-main th[scope=row] a')]
            .filter(a => a.offsetParent)
            .map(a => [a.textContent, a.getClientRects().length])"""
    )
    assert lines
    assert all(n == 1 for _, n in lines), lines
    no_sideways_scroll(page, width)
    shot(page, "home" if width == DESKTOP else "phone-home")


def test_a_scheduled_job_has_one_name_everywhere(live_server, seeded, browser):
    page = open_page(browser, DESKTOP)
    base = live_server.url
    log_in(page, base)
    job = seeded["berlin"]
    for path in (
        "/admin/",
        "/admin/scheduler_jobs/dynamicjob/",
        "/admin/scheduler_jobs/dynamicjob/add/",
        f"/admin/scheduler_jobs/dynamicjob/{job.pk}/change/",
    ):
        page.goto(base + path)
        text = page.locator("body").inner_text()
        assert "dynamic job" not in text.lower(), path
        assert "Django administration" not in text, path
    page.goto(base + "/admin/scheduler_jobs/dynamicjob/")
    expect(page.locator("#content h1")).to_have_text("Scheduled jobs")
    expect(page.locator(".object-tools a.addlink")).to_have_text(
        re.compile("add scheduled job", re.I)
    )
    assert page.title() == "Scheduled jobs | Dynamic Scheduler"


@pytest.mark.parametrize("width", WIDTHS)
def test_wizard_review_and_confirmation_speak_plainly_in_the_jobs_zone(
    live_server, superuser, browser, width
):
    for i in range(12):
        Ticket.objects.create(title=f"old {i}", status="resolved")
    page = open_page(browser, width)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/admin/scheduler_jobs/dynamicjob/add/")
    # The step bar fits: every step is on screen.
    bar = page.locator(".ds-progress")
    assert bar.evaluate("el => el.scrollWidth <= el.clientWidth")
    for box in [li.bounding_box() for li in bar.locator("li").all()]:
        assert box is not None
        assert box["x"] + box["width"] <= width
    page.click("label.ds-card[data-template=database_cleanup]")
    page.click("input[name=_next]")
    page.fill("#id_parameters-name", "Purge resolved tickets")
    page.get_by_role("combobox", name="Table (model)").select_option("testapp.Ticket")
    page.get_by_role("textbox", name="Condition").fill('{"status": "resolved"}')
    if width == PHONE:
        shot(page, "phone-wizard-2-parameters")
    page.click("input[name=_next]")
    page.select_option("[data-ds=timezone]", "Europe/Berlin")
    page.select_option("[data-ds-preset]", "daily")
    page.select_option("[data-ds-hour]", "2")
    page.select_option("[data-ds-minute]", "30")
    expect(page.locator("[data-ds-preview-description]")).to_have_text(
        "At 02:30, Europe/Berlin"
    )
    runs = page.locator("[data-ds-preview-runs] time")
    expect(runs).to_have_count(5)
    assert re.search(r"\d{4}-\d{2}-\d{2} 02:30 CES?T$", runs.first.inner_text())
    if width == PHONE:
        shot(page, "phone-wizard-3-schedule")
    page.click("input[name=_next]")
    page.click("input[name=_next]")

    review = page.locator("#content-main")
    expect(review).to_contain_text("would delete 12 rows")
    text = review.inner_text()
    assert not RAW_KEYS.search(text), RAW_KEYS.search(text)
    for words in (
        "Dry run",
        "Time limit",
        "30 minutes",
        "Skip the new run while one is running",
        "Run once to catch up",
        "Rows it would delete",
        "Batches it would take",
        "Stopped at the row limit",
    ):
        assert words in text, words
    dry_run_row = page.locator(".ds-review tr", has_text="Dry run").first
    expect(dry_run_row.locator("td")).to_have_text("Yes")
    next_runs = page.locator(".ds-review .ds-preview-runs time")
    assert re.search(r"\d{4}-\d{2}-\d{2} 02:30 CES?T$", next_runs.first.inner_text())
    if width == PHONE:
        shot(page, "phone-wizard-5-review")
    no_sideways_scroll(page, width)

    page.click("input[name=_next]")
    message = page.locator(".messagelist").inner_text()
    assert re.search(r"Next run: \d{4}-\d{2}-\d{2} 02:30 CES?T\.", message), message
    assert "UTC" not in message


# --- 5. times and codes on run pages, 6. counting ---------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_and_dashboard_in_words_and_one_time_format(
    live_server, seeded, browser, width
):
    page = open_page(browser, width)
    base = live_server.url
    log_in(page, base)

    # A run waiting for its retry: its status in words, not "(retry_pending, …)".
    retry = seeded["retry"]
    page.goto(f"{base}/admin/executions/jobexecution/{retry.pk}/change/")
    expect(page.locator("#content h1")).to_have_text(
        f"Run #{retry.pk} of Retry waiting"
    )
    expect(page.locator("#content h2").first).to_have_text("Retry pending, attempt 2")
    assert not RAW_KEYS.search(body_text(page))
    assert "Retry pending, attempt 2" in page.title()
    for cell in page.locator(".ds-kv td").all_inner_texts():
        if re.match(r"^\d{4}-", cell):
            assert DATETIME.match(cell.split(" (")[0]), cell

    # A dry-run cleanup's result: labels, not keys and Python literals.
    run = seeded["cleanup_run"]
    page.goto(f"{base}/admin/executions/jobexecution/{run.pk}/change/")
    result = page.locator("#result-summary")
    expect(result).to_contain_text("Rows it would delete")
    expect(result.locator("tr", has_text="Stopped at the row limit")).to_contain_text(
        "No"
    )
    assert not RAW_KEYS.search(result.inner_text())
    expect(page.locator("#content")).to_contain_text("time limit 30 minutes")
    log_time = page.locator(".ds-log-ts").first.inner_text()
    assert re.match(r"^\d{2}:\d{2}:\d{2}\.\d{3} UTC$", log_time), log_time
    if width == PHONE:
        shot(page, "phone-execution-detail")

    # The Berlin job's run is listed in Berlin time; no "p.m." anywhere.
    page.goto(f"{base}/admin/executions/jobexecution/?job={seeded['berlin'].pk}")
    scheduled = page.locator("td.field-scheduled_column").first.inner_text()
    assert re.search(r"CES?T$", scheduled), scheduled
    assert not re.search(r"\b[ap]\.m\.", body_text(page))
    no_sideways_scroll(page, width)

    # The dashboard counts the run that gave up after three retries once.
    page.goto(f"{base}/admin/executions/jobexecution/dashboard/")
    failures = page.locator("#recent-failures tbody tr")
    expect(failures).to_have_count(1)
    expect(failures).to_contain_text("Flaky export")
    expect(page.locator(".ds-cards-metrics")).to_contain_text("1 retry pending")
    expect(page.locator(".ds-cards-metrics")).not_to_contain_text("retries pending")
    for cell in page.locator("#recent-failures td[data-label=Finished]").all():
        assert DATETIME.match(cell.inner_text()), cell.inner_text()
    no_sideways_scroll(page, width)
    if width == PHONE:
        shot(page, "phone-dashboard")


# --- 7. the job list at both widths -----------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_job_list_reaches_status_and_run_now_without_scrolling_sideways(
    live_server, seeded, browser, width
):
    job = DynamicJob.objects.get(pk=seeded["exhausted"].job_id)
    page = open_page(browser, width)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/admin/scheduler_jobs/dynamicjob/")
    no_sideways_scroll(page, width)
    results = page.locator("#changelist .results")
    assert results.evaluate("el => el.scrollWidth <= el.clientWidth")
    row = page.locator("#result_list tbody tr", has_text=job.name)
    for part in (row.locator(".ds-badge").first, row.locator("button.ds-run-button")):
        expect(part).to_be_visible()
        box = part.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    expect(row.locator(".ds-badge").first).to_have_text(re.compile("Retries exhausted"))
    if width == PHONE:
        # Each cell says which column it is.
        expect(row.locator("td.field-next_run_column")).to_have_attribute(
            "data-label", "Next run"
        )
        shot(page, "phone-job-list")
    else:
        # Long names wrap onto two lines at most.
        long_name = page.locator("#result_list th.field-name a", has_text="Purge")
        lines = long_name.evaluate("a => a.getClientRects().length")
        assert lines <= 2, f"{lines} lines"
    # The template catalogue shows all its columns.
    page.goto(base + "/admin/job_templates/jobtemplate/")
    assert page.locator("#changelist .results").evaluate(
        "el => el.scrollWidth <= el.clientWidth"
    )
    no_sideways_scroll(page, width)
