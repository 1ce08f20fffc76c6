"""Jitter: a stable per-job offset from a hash of the job's name."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.schedules import jitter_offset, schedule_from_json
from scheduler_jobs.schedules.plan import JobRef
from scheduler_jobs.services import timeplan

HOURLY = {"type": "cron", "cron": "0 * * * *", "timezone": "UTC", "jitter_seconds": 600}
T0 = datetime(2026, 7, 1, 11, 30, tzinfo=UTC)


def test_offset_is_stable_within_bounds_and_spread():
    offsets = [jitter_offset(f"job {i}", 600) for i in range(1000)]
    assert all(timedelta(0) <= o <= timedelta(seconds=600) for o in offsets)
    assert len(set(offsets)) > 400  # spread, not bunched at :00
    # The same name gives the same offset in every process (no salted hash()).
    assert jitter_offset("nightly report", 600) == timedelta(seconds=379)
    assert jitter_offset("nightly report", 0) == timedelta(0)


def test_a_rename_moves_the_offset():
    assert jitter_offset("nightly report", 600) != jitter_offset("Nightly report", 600)


@pytest.mark.django_db
def test_preview_shows_each_run_at_its_slot_plus_the_offset():
    slots = timeplan.slot_preview(HOURLY, job_name="nightly report", n=3, after=T0)
    assert [s.nominal for s in slots] == [
        T0 + timedelta(minutes=30 + 60 * i) for i in range(3)
    ]
    assert all(s.at - s.nominal == timedelta(seconds=379) for s in slots)


def test_a_slot_whose_jittered_run_is_still_ahead_is_the_next_run():
    """At 12:03 the 12:00 slot runs at 12:06:19: it is still the next run."""
    schedule = schedule_from_json(HOURLY)
    job = JobRef("nightly report")
    now = datetime(2026, 7, 1, 12, 3, tzinfo=UTC)
    assert schedule.first_run(now, job=job) == datetime(
        2026, 7, 1, 12, 6, 19, tzinfo=UTC
    )
    # The dispatcher, after running it, goes on to 13:06:19.
    later = schedule.following(
        datetime(2026, 7, 1, 12, 6, 19, tzinfo=UTC), now, job=job
    )
    assert later == datetime(2026, 7, 1, 13, 6, 19, tzinfo=UTC)


def test_an_interval_job_keeps_its_rhythm_with_jitter():
    schedule = schedule_from_json(
        {"type": "interval", "every_seconds": 300, "jitter_seconds": 60}
    )
    job = JobRef("poller")
    offset = jitter_offset("poller", 60)
    first = schedule.first_run(T0, job=job)
    assert first == T0 + timedelta(seconds=300) + offset
    assert schedule.following(first, first, job=job) == first + timedelta(seconds=300)


@pytest.mark.django_db
def test_a_new_job_is_due_at_its_jittered_time(time_machine):
    time_machine.move_to(T0)
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": "nightly report",
            "template_type": "heartbeat",
            "schedule": HOURLY,
        },
    )
    assert job.next_run_at == datetime(2026, 7, 1, 12, 6, 19, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [-1, 3601, 1.5, True, "60"])
def test_jitter_outside_0_to_3600_seconds_is_refused_on_its_field(bad):
    with pytest.raises(ValidationError) as caught:
        job_services.job_create(
            user=SYSTEM,
            data={
                "name": "j",
                "template_type": "heartbeat",
                "schedule": {**HOURLY, "jitter_seconds": bad},
            },
        )
    assert caught.value.message_dict["schedule.jitter_seconds"] == [
        "Must be a whole number from 0 to 3600."
    ]
