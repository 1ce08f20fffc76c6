"""The API of calendars, blackout windows, the maintenance pause and the
simulator: each endpoint allowed, denied, and bad input refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import AuditEntry
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import BlackoutWindow, Calendar
from scheduler_jobs.services import job_create, timeplan
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

CALENDARS = "/api/v1/calendars/"
WINDOWS = "/api/v1/blackout-windows/"
PAUSE = "/api/v1/maintenance-pause/"
SIMULATE = "/api/v1/simulate/"
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


def bavaria() -> Calendar:
    return timeplan.calendar_create(
        actor=SYSTEM, data={"name": "de-by", "country": "DE", "subdivision": "BY"}
    )


def morning_job(**schedule):
    return job_create(
        user=SYSTEM,
        data={
            "name": "Morning report",
            "template_type": "heartbeat",
            "schedule": {
                "type": "cron",
                "cron": "0 7 * * *",
                "timezone": "Europe/Berlin",
                **schedule,
            },
        },
    )


# --- calendars -----------------------------------------------------------------------


def test_calendar_manager_creates_changes_lists_and_deletes(make_user):
    api = token_client(make_user(*CALENDAR_PERMS))

    created = api.post(
        CALENDARS,
        {
            "name": "de-by",
            "title": "Bavaria",
            "country": "DE",
            "subdivision": "BY",
            "workdays": [1, 2, 3, 4, 5],
            "extra_holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["extra_holidays"] == [
        {"date": "2026-12-24", "name": "Christmas Eve"}
    ]

    changed = api.patch(f"{CALENDARS}{pk}/", {"title": "Munich"}, format="json")
    assert changed.status_code == 200
    assert Calendar.objects.get(pk=pk).title == "Munich"

    listing = api.get(CALENDARS).json()
    assert listing["count"] == 1
    assert listing["results"][0]["name"] == "de-by"

    assert api.delete(f"{CALENDARS}{pk}/").status_code == 204
    assert not Calendar.objects.exists()
    assert AuditEntry.objects.filter(target_type="scheduler_jobs.calendar").count() >= 3


def test_calendar_days_lists_holidays_in_a_range(make_user):
    calendar = bavaria()
    api = token_client(make_user("scheduler_jobs.view_calendar"))

    response = api.get(
        f"{CALENDARS}{calendar.pk}/days/", {"from": "2026-12-24", "to": "2026-12-27"}
    )

    assert response.status_code == 200
    days = {(d["date"], d["kind"]): d["name"] for d in response.json()}
    assert days[("2026-12-25", "holiday")] == "Christmas Day"
    assert ("2026-12-26", "holiday") in days
    assert ("2026-12-27", "weekend") in days


def test_calendar_days_with_a_bad_date_names_the_parameter(make_user):
    calendar = bavaria()
    api = token_client(make_user("scheduler_jobs.view_calendar"))

    response = api.get(f"{CALENDARS}{calendar.pk}/days/", {"from": "24.12.2026"})
    at_the_end = api.get(f"{CALENDARS}{calendar.pk}/days/", {"from": "9999-12-31"})

    assert response.status_code == 400
    assert "from" in response.json()
    assert at_the_end.status_code == 400
    assert "from" in at_the_end.json()


def test_calendar_viewer_may_not_create_one(make_user):
    api = token_client(make_user("scheduler_jobs.view_calendar"))

    response = api.post(CALENDARS, {"name": "x"}, format="json")

    assert response.status_code == 403
    assert not Calendar.objects.exists()


def test_calendar_with_an_unknown_country_names_the_field(make_user):
    api = token_client(make_user(*CALENDAR_PERMS))

    response = api.post(CALENDARS, {"name": "x", "country": "XX"}, format="json")

    assert response.status_code == 400
    assert "country" in response.json()


def test_calendar_patch_with_an_entry_without_a_date_names_the_entry(make_user):
    calendar = bavaria()
    api = token_client(make_user(*CALENDAR_PERMS))

    response = api.patch(
        f"{CALENDARS}{calendar.pk}/",
        {"extra_workdays": [{"name": "Bridge day"}]},
        format="json",
    )

    assert response.status_code == 400
    assert "0" in response.json()["extra_workdays"]


def test_calendar_with_a_bad_workday_names_the_field(make_user):
    api = token_client(make_user(*CALENDAR_PERMS))

    response = api.post(CALENDARS, {"name": "x", "workdays": [8]}, format="json")

    assert response.status_code == 400
    assert "workdays" in response.json()


def test_deleting_a_calendar_in_use_is_a_400_naming_the_job(make_user):
    calendar = bavaria()
    morning_job(calendar="de-by", calendar_rule="business_days")
    api = token_client(make_user(*CALENDAR_PERMS))

    response = api.delete(f"{CALENDARS}{calendar.pk}/")

    assert response.status_code == 400
    assert "Morning report" in str(response.json())
    assert Calendar.objects.filter(pk=calendar.pk).exists()


# --- blackout windows ----------------------------------------------------------------


def test_window_manager_creates_a_recurring_window(make_user):
    api = token_client(make_user(*WINDOW_PERMS))

    response = api.post(
        WINDOWS,
        {
            "name": "Saturday backups",
            "reason": "The backup saturates the disks",
            "scope": "global",
            "cron": "0 22 * * 6",
            "duration_minutes": 120,
            "timezone": "Europe/Berlin",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    window = BlackoutWindow.objects.get()
    assert window.recurring
    assert window.duration_minutes == 120
    assert api.get(WINDOWS).json()["count"] == 1


def test_window_viewer_may_not_delete_one(make_user):
    window = timeplan.window_create(
        actor=SYSTEM,
        data={
            "name": "Freeze",
            "reason": "Year end",
            "starts_at": datetime(2026, 12, 31, 17, tzinfo=UTC),
            "ends_at": datetime(2027, 1, 1, 5, tzinfo=UTC),
        },
    )
    api = token_client(make_user("scheduler_jobs.view_blackoutwindow"))

    assert api.delete(f"{WINDOWS}{window.pk}/").status_code == 403
    assert BlackoutWindow.objects.filter(pk=window.pk).exists()


def test_window_with_neither_times_nor_cron_is_a_400_naming_a_field(make_user):
    api = token_client(make_user(*WINDOW_PERMS))

    response = api.post(WINDOWS, {"name": "Empty", "reason": "?"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert {"starts_at", "ends_at", "cron", "non_field_errors"} & set(body)
    assert not BlackoutWindow.objects.exists()


def test_window_with_a_bad_scope_names_the_field(make_user):
    api = token_client(make_user(*WINDOW_PERMS))

    response = api.post(
        WINDOWS,
        {"name": "W", "reason": "r", "scope": "planet", "cron": "0 1 * * *"},
        format="json",
    )

    assert response.status_code == 400
    assert "scope" in response.json()


# --- the maintenance pause -----------------------------------------------------------


def test_pause_and_resume_through_the_api(make_user):
    api = token_client(make_user("scheduler_jobs.pause_scheduler"))

    paused = api.post(
        PAUSE,
        {"reason": "Database upgrade", "resume_at": "2030-01-01T06:00:00Z"},
        format="json",
    )
    assert paused.status_code == 200
    assert paused.json()["active"] is True
    assert paused.json()["paused_by"].startswith("api-user")
    assert api.get(PAUSE).json()["reason"] == "Database upgrade"

    resumed = api.delete(PAUSE)
    assert resumed.status_code == 200
    assert resumed.json()["active"] is False
    assert timeplan.pause_state() is None


def test_staff_without_the_pause_right_reads_but_may_not_pause(make_user):
    api = token_client(make_user("scheduler_jobs.view_dynamicjob"))

    assert api.get(PAUSE).json()["active"] is False
    assert api.post(PAUSE, {"reason": "no"}, format="json").status_code == 403
    assert api.delete(PAUSE).status_code == 403
    assert timeplan.pause_state() is None


def test_pause_without_a_reason_names_the_field(make_user):
    api = token_client(make_user("scheduler_jobs.pause_scheduler"))

    response = api.post(PAUSE, {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()


# --- the simulator -------------------------------------------------------------------


def test_simulate_one_job_lists_skipped_holidays(make_user):
    bavaria()
    job = morning_job(calendar="de-by", calendar_rule="business_days")
    api = token_client(make_user("scheduler_jobs.view_dynamicjob"))

    response = api.post(
        SIMULATE,
        {
            "job_ids": [job.pk],
            "start": "2026-12-24T00:00:00Z",
            "end": "2026-12-29T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    slots = response.json()["slots"]
    assert slots[0]["outcome"] == "runs"
    assert slots[0]["at"].startswith("2026-12-24T06:00:00")
    skipped = [s for s in slots if s["outcome"] == "skipped"]
    assert skipped
    assert "Christmas Day" in skipped[0]["reason"]


def test_simulate_needs_the_view_jobs_right(make_user):
    api = token_client(make_user("scheduler_jobs.view_calendar"))

    response = api.post(
        SIMULATE,
        {"start": "2026-12-24T00:00:00Z", "end": "2026-12-29T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2026-12-24T00:00:00Z"}, "end"),
        ({"start": "2026-12-24T00:00:00Z", "end": "2026-12-23T00:00:00Z"}, "end"),
        (
            {
                "start": "2026-12-24T00:00:00Z",
                "end": "2026-12-29T00:00:00Z",
                "down_from": "2026-12-25T00:00:00Z",
            },
            "down_to",
        ),
        (
            {
                "start": "2026-12-24T00:00:00Z",
                "end": "2026-12-29T00:00:00Z",
                "job_ids": [999999],
            },
            "job_ids",
        ),
        ({"start": "9999-12-30T00:00:00Z", "end": "9999-12-31T00:00:00Z"}, "start"),
    ],
)
def test_simulate_bad_input_names_the_field(make_user, body, field):
    api = token_client(make_user("scheduler_jobs.view_dynamicjob"))

    response = api.post(SIMULATE, body, format="json")

    assert response.status_code == 400
    assert field in response.json()


# --- the schedule preview ------------------------------------------------------------


def test_schedule_preview_lists_the_holiday_it_skips(api, time_machine):
    time_machine.move_to(datetime(2026, 12, 23, 12, 0, tzinfo=UTC))
    bavaria()

    response = api.post(
        "/api/v1/schedule-preview/",
        {
            "schedule": {
                "type": "cron",
                "cron": "0 7 * * *",
                "timezone": "Europe/Berlin",
                "calendar": "de-by",
                "calendar_rule": "business_days",
            },
            "job_name": "Morning report",
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["next_runs"][:2] == [
        "2026-12-24T06:00:00+00:00",
        "2026-12-28T06:00:00+00:00",
    ]
    skipped = body["slots"][1]
    assert skipped["outcome"] == "skipped"
    assert skipped["reason"] == "Public holiday: Christmas Day (DE-BY)"


def test_schedule_preview_with_an_unknown_calendar_names_the_field(api):
    response = api.post(
        "/api/v1/schedule-preview/",
        {"schedule": {"type": "cron", "cron": "0 7 * * *", "calendar": "nope"}},
        format="json",
    )

    assert response.status_code == 400
    assert "calendar" in response.json()["schedule"]
