"""Upcoming runs in Chromium: a grid of seven days at 1440 px, a list at 390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
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


@pytest.fixture
def jobs():
    made = []
    for name, schedule in (
        (
            "Nightly heartbeat in Berlin",
            {"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
        ),
        ("Every six hours", {"type": "interval", "every_seconds": 6 * 3600}),
    ):
        made.append(
            services.job_create(
                user=SYSTEM,
                data={
                    "name": name,
                    "template_type": "heartbeat",
                    "parameters": {"message": "alive"},
                    "schedule": schedule,
                },
            )
        )
    return made


def day_boxes(page):
    return page.evaluate(
        """() => [...document.querySelectorAll('.ds-upcoming-day')]
            .map(el => { const r = el.getBoundingClientRect();
                         return [Math.round(r.left), Math.round(r.top)]; })"""
    )


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["1440px", "390px"])
def test_upcoming_runs_is_a_grid_on_a_desktop_and_a_list_on_a_phone(
    live_server, superuser, chromium, jobs, width
):
    page = open_page(chromium, width)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/admin/scheduler_jobs/dynamicjob/")
    page.get_by_role("link", name="Upcoming runs").click()
    expect(page.locator("h1")).to_have_text("Upcoming runs")
    expect(page.locator(".ds-upcoming-day")).to_have_count(7)
    boxes = day_boxes(page)
    assert len(boxes) == 7
    if width == DESKTOP:
        assert len({top for _, top in boxes}) == 1  # one row of seven days
        assert len({left for left, _ in boxes}) == 7
    else:
        assert len({left for left, _ in boxes}) == 1  # stacked
    berlin = page.get_by_role("link", name="Nightly heartbeat in Berlin")
    expect(berlin.first).to_be_visible()
    # In the viewer's zone (UTC here), with the Berlin job's own time beside it.
    expect(page.locator("#upcoming-runs")).to_contain_text("01:30 UTC · 02:30 CET")
    assert serious_violations(page) == []
    no_sideways_scroll(page, width)

    # The day list, then the job from a run's link.
    page.get_by_role("link", name="Day list").click()
    page.wait_for_url("**view=day**")
    assert len(day_boxes(page)) == 1
    page.get_by_role("link", name="Later ›").click()
    page.get_by_role("link", name="Every six hours").first.click()
    expect(page.locator("#id_name")).to_have_value("Every six hours")
    assert page.js_errors == []  # type: ignore[attr-defined]
