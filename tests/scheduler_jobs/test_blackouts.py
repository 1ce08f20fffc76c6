"""Blackout windows: one-off and recurring, their scope, skip or defer."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM, AccessDenied
from scheduler_jobs.models import BlackoutWindow, DynamicJob
from scheduler_jobs.services import timeplan
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 7, 1, 12, tzinfo=UTC)
EVERY_10 = {"type": "cron", "cron": "*/10 * * * *", "timezone": "UTC"}


def window(**data) -> BlackoutWindow:
    defaults = {
        "name": "DB upgrade",
        "reason": "database migration",
        "starts_at": NOON,
        "ends_at": NOON + timedelta(minutes=30),
    }
    return timeplan.window_create(actor=SYSTEM, data={**defaults, **data})


def preview(schedule=EVERY_10, *, n=2, after=NOON - timedelta(minutes=5), **job):
    return timeplan.slot_preview(
        schedule, job_name=job.pop("job_name", "nightly"), n=n, after=after, **job
    )


def plain(slots) -> list[tuple[str, str, str]]:
    return [(f"{s.nominal:%H:%M}", s.outcome, f"{s.at:%H:%M}") for s in slots]


def test_a_one_off_window_skips_the_slots_inside_and_says_why():
    window()
    slots = preview()
    assert plain(slots) == [
        ("12:00", "skipped", "12:00"),
        ("12:30", "runs", "12:30"),  # the end is not inside
        ("12:40", "runs", "12:40"),
    ]
    assert slots[0].reason == "Blackout window 'DB upgrade': database migration"


def test_defer_runs_once_at_the_window_end_however_many_slots_fell_inside():
    window()
    slots = preview({**EVERY_10, "in_blackout": "defer"})
    assert plain(slots) == [("12:00", "deferred", "12:30"), ("12:40", "runs", "12:40")]
    assert slots[0].reason == "Blackout window 'DB upgrade': database migration"


def test_a_category_window_holds_only_that_category():
    window(scope="category", category="maintenance")
    assert preview(template_category="maintenance")[0].outcome == "skipped"
    assert preview(template_category="diagnostics")[0].outcome == "runs"


def test_a_job_window_holds_only_that_job():
    data = {"template_type": "heartbeat", "schedule": EVERY_10}
    held = job_services.job_create(user=SYSTEM, data={"name": "held", **data})
    other = job_services.job_create(user=SYSTEM, data={"name": "other", **data})
    window(scope="job", job=held.pk)
    assert preview(job_id=held.pk)[0].outcome == "skipped"
    assert preview(job_id=other.pk)[0].outcome == "runs"


def test_a_recurring_window_holds_every_night():
    window(
        starts_at=None,
        ends_at=None,
        cron="0 2 * * *",
        duration_minutes=60,
        timezone="Europe/Berlin",
    )
    schedule = {"type": "cron", "cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    for night in (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC)):
        slots = preview(schedule, n=1, after=night - timedelta(minutes=1))
        # 02:00 and 02:30 Berlin (CEST, 00:00 and 00:30 UTC) are held; 03:00 runs.
        assert plain(slots) == [
            ("00:00", "skipped", "00:00"),
            ("01:00", "runs", "01:00"),
        ]


def test_a_recurring_window_over_the_autumn_change_lasts_its_real_duration():
    """01:30 Berlin on 25 October 2026 plus 120 real minutes ends at 02:30 CET
    (the clock went back at 03:00 CEST), not at 03:30 wall-clock time."""
    window(
        starts_at=None,
        ends_at=None,
        cron="30 1 * * *",
        duration_minutes=120,
        timezone="Europe/Berlin",
    )
    schedule = {"type": "cron", "cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    start = datetime(2026, 10, 24, 23, 29, tzinfo=UTC)  # 01:29 CEST
    slots = preview(schedule, n=1, after=start)
    assert [(s.nominal, s.outcome) for s in slots] == [
        (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), "skipped"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "runs"),  # 02:30 CET
    ]


def test_a_recurring_window_in_the_spring_gap_starts_when_the_clock_resumes():
    """02:30 does not exist in Berlin on 29 March 2026: a fixed-time window
    starts at 03:00 CEST, as a cron job would."""
    window(
        starts_at=None,
        ends_at=None,
        cron="30 2 * * *",
        duration_minutes=30,
        timezone="Europe/Berlin",
    )
    schedule = {"type": "cron", "cron": "*/15 * * * *", "timezone": "Europe/Berlin"}
    slots = preview(schedule, n=1, after=datetime(2026, 3, 29, 0, 59, tzinfo=UTC))
    assert [(s.nominal, s.outcome) for s in slots] == [
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "skipped"),  # 03:00 CEST
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "runs"),  # 03:30 CEST
    ]


def test_disabled_and_ended_windows_hold_nothing():
    window(enabled=False)
    window(starts_at=NOON - timedelta(days=2), ends_at=NOON - timedelta(days=1))
    assert timeplan.time_rules(NOON).windows == ()
    assert preview()[0].outcome == "runs"


def test_creating_and_deleting_a_window_moves_the_next_run(time_machine):
    time_machine.move_to(NOON - timedelta(minutes=5))
    job = job_services.job_create(
        user=SYSTEM,
        data={"name": "ten", "template_type": "heartbeat", "schedule": EVERY_10},
    )
    assert job.next_run_at == NOON
    created = window()
    assert DynamicJob.objects.get().next_run_at == NOON + timedelta(minutes=30)
    timeplan.window_delete(actor=SYSTEM, window=created)
    assert DynamicJob.objects.get().next_run_at == NOON


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"reason": ""}, "reason"),
        ({"ends_at": NOON}, "ends_at"),
        ({"starts_at": datetime(2026, 7, 1, 12)}, "starts_at"),  # no zone
        ({"starts_at": None, "ends_at": None}, "starts_at"),
        ({"cron": "61 * * * *", "duration_minutes": 5}, "cron"),
        ({"cron": "0 2 * * *"}, "duration_minutes"),
        ({"cron": "*/10 * * * *", "duration_minutes": 10}, "duration_minutes"),
        ({"cron": "0 2 * * *", "duration_minutes": 5, "timezone": "Mars"}, "timezone"),
        ({"scope": "category", "category": "nope"}, "category"),
        ({"scope": "job"}, "job"),
        ({"scope": "job", "job": 999999}, "job"),
        ({"scope": "planet"}, "scope"),
    ],
)
def test_window_errors_name_the_field(data, key):
    with pytest.raises(ValidationError) as caught:
        window(**data)
    assert key in caught.value.message_dict


def test_window_writes_need_their_permission_and_are_audited(django_user_model):
    viewer = staff_with(
        django_user_model, "viewer", "scheduler_jobs.view_blackoutwindow"
    )
    keeper = staff_with(
        django_user_model,
        "keeper",
        "scheduler_jobs.view_blackoutwindow",
        "scheduler_jobs.add_blackoutwindow",
        "scheduler_jobs.change_blackoutwindow",
    )
    data = {
        "name": "w",
        "reason": "r",
        "starts_at": NOON,
        "ends_at": NOON + timedelta(1),
    }
    with pytest.raises(AccessDenied, match="add_blackoutwindow"):
        timeplan.window_create(actor=viewer, data=data)
    created = timeplan.window_create(actor=keeper, data=data)
    timeplan.window_update(actor=keeper, window=created, data={"reason": "longer"})
    with pytest.raises(AccessDenied, match="delete_blackoutwindow"):
        timeplan.window_delete(actor=keeper, window=created)
    entries = AuditEntry.objects.filter(target_type="scheduler_jobs.blackoutwindow")
    assert list(entries.order_by("id").values_list("action", flat=True)) == [
        "create",
        "update",
    ]
    assert entries.order_by("id").last().changes == {
        "reason": {"before": "r", "after": "longer"}
    }
