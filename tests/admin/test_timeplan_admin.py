"""Calendars, blackout windows, the maintenance pause and the simulator in the
admin, as staff with narrow permissions use them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from audit.models import AuditEntry
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob
from scheduler_jobs.schedules import jitter_offset
from scheduler_jobs.services import job_create, timeplan
from tests.admin.conftest import (
    HEARTBEAT_PARAMS,
    OPTIONS_DEFAULT,
    WIZARD,
    errors_of,
    make_staff,
    wizard_post,
)

pytestmark = pytest.mark.django_db

PAUSE = "/admin/scheduler_jobs/maintenancepause/"
SIMULATE = f"{PAUSE}simulate/"
CALENDARS = "/admin/scheduler_jobs/calendar/"
WINDOWS = "/admin/scheduler_jobs/blackoutwindow/"
JOBS = "/admin/scheduler_jobs/dynamicjob/"
CHRISTMAS_WEEK = datetime(2026, 12, 23, 12, 0, tzinfo=UTC)
CALENDAR_PERMS = (
    "scheduler_jobs.view_calendar",
    "scheduler_jobs.add_calendar",
    "scheduler_jobs.change_calendar",
    "scheduler_jobs.delete_calendar",
)
WINDOW_PERMS = (
    "scheduler_jobs.view_blackoutwindow",
    "scheduler_jobs.add_blackoutwindow",
    "scheduler_jobs.change_blackoutwindow",
    "scheduler_jobs.delete_blackoutwindow",
)
JOB_PERMS = (
    "scheduler_jobs.view_dynamicjob",
    "scheduler_jobs.add_dynamicjob",
    "scheduler_jobs.change_dynamicjob",
)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bavaria() -> Calendar:
    return timeplan.calendar_create(
        actor=SYSTEM,
        data={
            "name": "de-by",
            "title": "Bavaria business days",
            "country": "DE",
            "subdivision": "BY",
        },
    )


def daily_job(name: str = "Morning report", **schedule) -> DynamicJob:
    return job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "schedule": {
                "type": "cron",
                "cron": "0 7 * * *",
                "timezone": "Europe/Berlin",
                **schedule,
            },
        },
    )


# --- the maintenance pause ---------------------------------------------------------


def test_view_only_staff_sees_the_pause_page_but_cannot_pause(django_user_model):
    viewer = make_staff(
        django_user_model, "viewer", "scheduler_jobs.view_maintenancepause"
    )
    client = client_for(viewer)

    page = client.get(PAUSE)
    assert page.status_code == 200
    assert "Scheduling runs normally." in page.content.decode()
    assert "Pause scheduling" not in page.content.decode()

    refused = client.post(PAUSE, {"action": "pause", "reason": "upgrade"})
    assert refused.status_code == 403
    assert timeplan.pause_state() is None


def test_pauser_pauses_sees_the_banner_everywhere_and_resumes(django_user_model):
    pauser = make_staff(
        django_user_model,
        "pauser",
        "scheduler_jobs.pause_scheduler",
        "scheduler_jobs.view_dynamicjob",
    )
    client = client_for(pauser)

    response = client.post(
        PAUSE,
        {"action": "pause", "reason": "Database upgrade", "resume_at": ""},
        follow=True,
    )
    assert response.status_code == 200
    state = timeplan.pause_state()
    assert state.active
    assert state.reason == "Database upgrade"
    assert state.paused_by == pauser

    jobs_page = client.get(JOBS).content.decode()
    assert 'id="scheduler-pause-banner"' in jobs_page
    assert "Scheduling is paused since" in jobs_page
    assert "by pauser: Database upgrade" in jobs_page
    assert f'href="{PAUSE}">Resume</a>' in jobs_page
    assert AuditEntry.objects.filter(target_type="scheduler_jobs.maintenancepause")

    client.post(PAUSE, {"action": "resume"})
    assert timeplan.pause_state() is None
    assert 'id="scheduler-pause-banner"' not in client.get(JOBS).content.decode()


def test_banner_offers_no_resume_to_staff_without_the_pause_right(
    django_user_model,
):
    timeplan.pause(actor=SYSTEM, reason="Moving data centres", resume_at=None)
    reader = make_staff(django_user_model, "reader", "scheduler_jobs.view_dynamicjob")

    page = client_for(reader).get(JOBS).content.decode()

    assert "Moving data centres" in page
    assert ">Resume</a>" not in page


def test_pause_without_a_reason_is_refused_on_the_reason_field(django_user_model):
    pauser = make_staff(django_user_model, "pauser", "scheduler_jobs.pause_scheduler")

    response = client_for(pauser).post(PAUSE, {"action": "pause", "reason": ""})

    assert response.status_code == 200
    assert "This field is required." in errors_of(response, "id_reason")
    assert timeplan.pause_state() is None


def test_pause_page_is_reachable_from_the_admin_home(django_user_model):
    pauser = make_staff(django_user_model, "pauser", "scheduler_jobs.pause_scheduler")

    home = client_for(pauser).get("/admin/").content.decode()

    assert f'href="{PAUSE}"' in home


# --- calendars -----------------------------------------------------------------------


def test_calendar_added_in_the_admin_shows_its_holidays(
    django_user_model, time_machine
):
    time_machine.move_to(CHRISTMAS_WEEK)
    manager = make_staff(django_user_model, "manager", *CALENDAR_PERMS)
    client = client_for(manager)

    response = client.post(
        f"{CALENDARS}add/",
        {
            "name": "de-by",
            "title": "Bavaria",
            "description": "",
            "country": "DE",
            "subdivision": "BY",
            "workdays": ["1", "2", "3", "4", "5"],
            "extra_holidays": "2026-12-24 Christmas Eve\n2026-12-31 New Year's Eve",
            "extra_workdays": "",
        },
    )
    assert response.status_code == 302, errors_of(response, "id_name")
    calendar = Calendar.objects.get(name="de-by")
    assert calendar.extra_holidays[0] == {"date": "2026-12-24", "name": "Christmas Eve"}

    page = client.get(f"{CALENDARS}{calendar.pk}/change/").content.decode()
    assert "Days off in the next 12 months" in page
    assert "Christmas Eve" in page
    assert "Christmas Day" in page
    assert "Epiphany" in page  # a Bavarian holiday, 2027-01-06


def test_calendar_date_line_without_a_date_is_refused_on_its_field(
    django_user_model,
):
    manager = make_staff(django_user_model, "manager", *CALENDAR_PERMS)

    response = client_for(manager).post(
        f"{CALENDARS}add/",
        {
            "name": "ops",
            "title": "",
            "country": "",
            "subdivision": "",
            "workdays": ["1"],
            "extra_holidays": "Christmas Eve",
            "extra_workdays": "",
        },
    )

    assert response.status_code == 200
    assert "Line 1" in errors_of(response, "id_extra_holidays")
    assert not Calendar.objects.exists()


def test_deleting_a_calendar_in_use_names_the_jobs_instead_of_failing(
    django_user_model,
):
    calendar = bavaria()
    daily_job(calendar="de-by", calendar_rule="business_days")
    manager = make_staff(django_user_model, "manager", *CALENDAR_PERMS)

    response = client_for(manager).post(
        f"{CALENDARS}{calendar.pk}/delete/", {"post": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert "Morning report" in response.content.decode()
    assert Calendar.objects.filter(pk=calendar.pk).exists()


def test_calendar_viewer_cannot_add_one(django_user_model):
    viewer = make_staff(django_user_model, "viewer", "scheduler_jobs.view_calendar")

    response = client_for(viewer).post(
        f"{CALENDARS}add/", {"name": "x", "workdays": ["1"]}
    )

    assert response.status_code == 403
    assert not Calendar.objects.exists()


# --- blackout windows ----------------------------------------------------------------


def test_one_off_window_is_read_in_its_zone_and_listed_with_it(django_user_model):
    manager = make_staff(django_user_model, "manager", *WINDOW_PERMS)
    client = client_for(manager)

    response = client.post(
        f"{WINDOWS}add/",
        {
            "name": "Year-end freeze",
            "reason": "Books are closing",
            "enabled": "on",
            "scope": "global",
            "category": "",
            "job": "",
            "kind": "once",
            "timezone": "Europe/Berlin",
            "starts": "2026-12-31 18:00",
            "ends": "2027-01-01 06:00",
            "cron": "",
            "duration_minutes": "",
        },
    )

    assert response.status_code == 302
    window = BlackoutWindow.objects.get()
    assert window.starts_at == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    listing = client.get(WINDOWS).content.decode()
    assert "2026-12-31 18:00 CET to 2027-01-01 06:00 CET" in listing


def test_window_that_ends_before_it_starts_is_refused_on_a_field(django_user_model):
    manager = make_staff(django_user_model, "manager", *WINDOW_PERMS)

    response = client_for(manager).post(
        f"{WINDOWS}add/",
        {
            "name": "Backwards",
            "reason": "typo",
            "enabled": "on",
            "scope": "global",
            "kind": "once",
            "timezone": "UTC",
            "starts": "2026-12-31 18:00",
            "ends": "2026-12-31 06:00",
        },
    )

    assert response.status_code == 200
    assert errors_of(response, "id_ends") or errors_of(response, "id_starts")
    assert not BlackoutWindow.objects.exists()


# --- jobs on a calendar: wizard, change form, previews ------------------------------


def test_wizard_creates_a_job_on_a_calendar_and_shows_the_holiday_skipped(
    django_user_model, time_machine
):
    time_machine.move_to(CHRISTMAS_WEEK)
    bavaria()
    editor = make_staff(django_user_model, "editor", *JOB_PERMS)
    client = client_for(editor)
    client.get(WIZARD)
    wizard_post(client, "template", {"template_type": "heartbeat"})
    wizard_post(
        client,
        "parameters",
        {"name": "Morning report", "description": "", "parameters": HEARTBEAT_PARAMS},
    )
    wizard_post(
        client,
        "schedule",
        {
            "schedule_type": "cron",
            "cron": "0 7 * * *",
            "timezone": "Europe/Berlin",
            "calendar": "de-by",
            "calendar_rule": "business_days",
            "jitter_seconds": "0",
            "in_blackout": "skip",
        },
    )
    review = wizard_post(client, "options", OPTIONS_DEFAULT).content.decode()

    assert "skipped" in review
    assert "Public holiday: Christmas Day (DE-BY)" in review

    wizard_post(client, "review", {"enabled": "on"})
    job = DynamicJob.objects.get(name="Morning report")
    assert job.schedule["calendar"] == "de-by"
    assert job.schedule["calendar_rule"] == "business_days"


def test_schedule_preview_lists_skipped_slots_with_their_reason(
    django_user_model, time_machine
):
    time_machine.move_to(CHRISTMAS_WEEK)
    bavaria()
    editor = make_staff(django_user_model, "editor", *JOB_PERMS)

    data = (
        client_for(editor)
        .get(
            f"{JOBS}schedule-preview/",
            {
                "schedule_type": "cron",
                "cron": "0 7 * * *",
                "timezone": "Europe/Berlin",
                "calendar": "de-by",
                "calendar_rule": "business_days",
                "job_name": "Morning report",
            },
        )
        .json()
    )

    assert data["valid"]
    outcomes = [(run["outcome"], run["reason"]) for run in data["runs"]]
    assert outcomes[0] == ("runs", "")
    assert outcomes[1] == ("skipped", "Public holiday: Christmas Day (DE-BY)")


def test_schedule_preview_shows_the_jitter_shifted_time(django_user_model):
    editor = make_staff(django_user_model, "editor", *JOB_PERMS)

    data = (
        client_for(editor)
        .get(
            f"{JOBS}schedule-preview/",
            {
                "schedule_type": "cron",
                "cron": "0 * * * *",
                "timezone": "UTC",
                "jitter_seconds": "3600",
                "job_name": "Hourly sync",
            },
        )
        .json()
    )

    offset = jitter_offset("Hourly sync", 3600)
    first = data["runs"][0]
    assert first["planned"]  # the time it would have run without jitter
    assert datetime.fromisoformat(first["at"]).minute == (offset.seconds // 60) % 60


def test_jitter_out_of_range_is_refused_on_the_jitter_field(django_user_model):
    job = daily_job()
    editor = make_staff(django_user_model, "editor", *JOB_PERMS)
    client = client_for(editor)
    form = client.get(f"{JOBS}{job.pk}/change/").context["adminform"].form
    data = {
        key: value
        for key, value in form.initial.items()
        if value is not None and not isinstance(value, dict | list)
    }
    data.update(
        name=job.name,
        parameters='{"message": "alive"}',
        jitter_seconds="5000",
        schedule_type="cron",
        notify_on=["failure"],
    )

    response = client.post(f"{JOBS}{job.pk}/change/", data)

    assert "3600" in errors_of(response, "id_jitter_seconds")
    job.refresh_from_db()
    assert "jitter_seconds" not in job.schedule


# --- the simulator -------------------------------------------------------------------


def test_simulator_lists_a_jobs_slots_with_outcome_and_reason(
    django_user_model, time_machine
):
    time_machine.move_to(CHRISTMAS_WEEK)
    bavaria()
    job = daily_job(calendar="de-by", calendar_rule="business_days")
    viewer = make_staff(django_user_model, "viewer", "scheduler_jobs.view_dynamicjob")

    page = (
        client_for(viewer)
        .get(
            SIMULATE,
            {
                "job": job.pk,
                "timezone": "Europe/Berlin",
                "start": "2026-12-24 00:00",
                "end": "2026-12-29 00:00",
            },
        )
        .content.decode()
    )

    assert "Christmas Day" in page
    assert "2026-12-24 07:00 CET" in page
    assert "skipped" in page


def test_simulator_needs_the_view_jobs_right(django_user_model):
    stranger = make_staff(django_user_model, "stranger")

    assert client_for(stranger).get(SIMULATE).status_code == 403


def test_job_page_links_to_the_simulator(django_user_model):
    job = daily_job()
    editor = make_staff(django_user_model, "editor", *JOB_PERMS)

    page = client_for(editor).get(f"{JOBS}{job.pk}/change/").content.decode()

    assert f'href="{SIMULATE}?job={job.pk}"' in page


def test_home_page_lists_the_simulator_and_the_time_plan_screens(django_user_model):
    user = make_staff(
        django_user_model,
        "planner",
        "scheduler_jobs.view_dynamicjob",
        "scheduler_jobs.view_calendar",
        "scheduler_jobs.view_blackoutwindow",
    )

    home = client_for(user).get("/admin/").content.decode()

    assert f'href="{SIMULATE}"' in home
    assert "Business calendars" in home
    assert "Times when jobs must not run" in home
