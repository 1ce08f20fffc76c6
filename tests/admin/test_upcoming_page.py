"""The Upcoming runs page, as staff who may only view jobs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from tests.conftest import staff_with
from tests.factories import DynamicJobFactory

pytestmark = pytest.mark.django_db

PAGE = "/admin/scheduler_jobs/dynamicjob/upcoming/"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def viewer_client(django_user_model, time_machine):
    time_machine.move_to(NOW, tick=False)
    user = staff_with(django_user_model, "viewer", "scheduler_jobs.view_dynamicjob")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def berlin_job():
    return DynamicJobFactory(
        name="Nightly heartbeat",
        schedule={"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
        next_run_at=datetime(2026, 12, 2, 1, 30, tzinfo=UTC),
    )


def sections(html: str) -> list[str]:
    return re.findall(r'<section class="ds-upcoming-day[^"]*"', html)


def test_the_week_lists_each_run_in_the_viewers_zone_and_the_jobs(
    viewer_client, berlin_job
):
    response = viewer_client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert len(sections(html)) == 7
    assert "Tue 2026-12-01" in html
    assert "today" in html
    assert (
        html.count(f'href="/admin/scheduler_jobs/dynamicjob/{berlin_job.pk}/change/"')
        == 6
    )
    assert '01:30 UTC</time> <span class="ds-quiet">· 02:30 CET</span>' in html
    assert "6 runs of enabled jobs" in html
    assert "times in UTC (UTC)" in html


def test_the_viewer_can_read_the_week_in_another_zone(viewer_client, berlin_job):
    html = viewer_client.get(PAGE, {"tz": "Europe/Berlin"}).content.decode()
    # Same zone as the job: one time, no second one beside it.
    assert ">02:30 CET</time>\n" in html
    assert "· 02:30 CET" not in html
    assert "times in Europe/Berlin (CET)" in html


def test_the_day_list_shows_one_day(viewer_client, berlin_job):
    html = viewer_client.get(
        PAGE, {"view": "day", "start": "2026-12-03"}
    ).content.decode()
    assert len(sections(html)) == 1
    assert "Thu 2026-12-03" in html
    assert "1 run of enabled jobs" in html
    assert (
        'href="/admin/scheduler_jobs/dynamicjob/upcoming/?tz=UTC&amp;view=day&amp;start=2026-12-04"'
        in html
    )


def test_bad_choices_are_named_next_to_their_field_and_the_week_still_shows(
    viewer_client, berlin_job
):
    response = viewer_client.get(PAGE, {"start": "2026-13-40", "tz": "Mars/Base"})
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="id_start_error".*?Enter a valid date', html, re.S)
    assert re.search(r'id="id_tz_error".*?Mars/Base', html, re.S)
    assert len(sections(html)) == 7


def test_the_job_list_links_to_the_page(viewer_client):
    html = viewer_client.get("/admin/scheduler_jobs/dynamicjob/").content.decode()
    assert f'<a href="{PAGE}">Upcoming runs</a>' in html


def test_staff_who_may_not_view_jobs_are_refused(django_user_model):
    user = staff_with(django_user_model, "runs", "executions.view_jobexecution")
    client = Client()
    client.force_login(user)
    assert client.get(PAGE).status_code == 403
