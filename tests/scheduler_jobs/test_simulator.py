"""The simulator: what runs between A and B, and after an outage."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM, AccessDenied
from scheduler_jobs.models import DynamicJob, MaintenancePause
from scheduler_jobs.schedules import schedule_from_json
from scheduler_jobs.services import timeplan
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 7, 1, 12, tzinfo=UTC)
EVERY_10 = {"type": "cron", "cron": "*/10 * * * *", "timezone": "UTC"}


def make_job(name="job", schedule=EVERY_10, **extra) -> DynamicJob:
    return job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "schedule": schedule,
            **extra,
        },
    )


def outcomes(simulated) -> list[tuple[str, str, str]]:
    return [(f"{s.nominal:%H:%M}", s.outcome, f"{s.at:%H:%M}") for s in simulated.slots]


def test_every_slot_between_start_and_end_with_its_outcome():
    job = make_job()
    timeplan.window_create(
        actor=SYSTEM,
        data={
            "name": "Backup",
            "reason": "disk snapshot",
            "starts_at": T0 + timedelta(minutes=15),
            "ends_at": T0 + timedelta(minutes=35),
        },
    )
    result = timeplan.simulate(
        actor=SYSTEM, start=T0, end=T0 + timedelta(minutes=50), jobs=[job]
    )
    [simulated] = result.jobs
    assert simulated.job_name == "job"
    assert outcomes(simulated) == [
        ("12:00", "runs", "12:00"),
        ("12:10", "runs", "12:10"),
        ("12:20", "skipped", "12:20"),
        ("12:40", "runs", "12:40"),
        ("12:50", "runs", "12:50"),
    ]
    assert simulated.slots[2].reason == "Blackout window 'Backup': disk snapshot"
    assert not result.truncated


def test_an_outage_under_run_once_gives_one_late_run_at_recovery():
    job = make_job()
    result = timeplan.simulate(
        actor=SYSTEM,
        start=T0,
        end=T0 + timedelta(minutes=40),
        jobs=[job],
        down=(T0 + timedelta(minutes=5), T0 + timedelta(minutes=27)),
    )
    assert outcomes(result.jobs[0]) == [
        ("12:00", "runs", "12:00"),
        ("12:10", "runs", "12:27"),  # one catch-up when the scheduler is back
        ("12:20", "skipped", "12:20"),
        ("12:30", "runs", "12:30"),
        ("12:40", "runs", "12:40"),
    ]
    assert result.jobs[0].slots[1].reason == (
        "Due while the scheduler was down; runs once when it is back (17 min late)"
    )
    assert result.jobs[0].slots[2].reason == (
        "Due while the scheduler was down; not run (one catch-up at most)"
    )


def test_an_outage_under_skip_runs_nothing_missed():
    job = make_job(misfire_policy="skip")
    result = timeplan.simulate(
        actor=SYSTEM,
        start=T0,
        end=T0 + timedelta(minutes=30),
        jobs=[job],
        down=(T0 + timedelta(minutes=5), T0 + timedelta(minutes=27)),
    )
    assert [s.outcome for s in result.jobs[0].slots] == [
        "runs",
        "skipped",
        "skipped",
        "runs",
    ]
    assert result.jobs[0].slots[1].reason == (
        "Due while the scheduler was down; missed (misfire policy: skip)"
    )


def test_a_slot_late_by_less_than_the_grace_still_runs_under_skip(settings):
    settings.SCHEDULER_MISFIRE_GRACE_SECONDS = 60
    job = make_job(misfire_policy="skip")
    result = timeplan.simulate(
        actor=SYSTEM,
        start=T0,
        end=T0 + timedelta(minutes=10),
        jobs=[job],
        down=(T0 + timedelta(minutes=9), T0 + timedelta(minutes=10, seconds=30)),
    )
    assert outcomes(result.jobs[0]) == [
        ("12:00", "runs", "12:00"),
        ("12:10", "runs", "12:10"),
    ]


def test_the_simulation_follows_the_dispatchers_next_runs():
    """Walking following() from the first run, as beat does tick after tick,
    gives exactly the runs the simulator lists."""
    calendar = {
        "calendar": "ops",
        "calendar_rule": "business_days",
        "jitter_seconds": 900,
    }
    timeplan.calendar_create(actor=SYSTEM, data={"name": "ops", "country": "DE"})
    job = make_job(schedule={**EVERY_10, "cron": "0 9,17 * * *", **calendar})
    end = T0 + timedelta(days=40)
    result = timeplan.simulate(actor=SYSTEM, start=T0, end=end, jobs=[job])
    simulated = [s.at for s in result.jobs[0].slots if s.outcome == "runs"]

    schedule, rules = schedule_from_json(job.schedule), timeplan.time_rules(T0)
    ref = timeplan.job_ref(job)
    walked, at = [], schedule.first_run(T0, rules=rules, job=ref)
    while at <= end:
        walked.append(at)
        at = schedule.following(at, at, rules=rules, job=ref)
    assert simulated == walked
    assert len(walked) > 40


def test_simulating_all_jobs_respects_the_limit():
    for i in range(3):
        make_job(f"job {i}")
    make_job("off", enabled=False)
    result = timeplan.simulate(
        actor=SYSTEM, start=T0, end=T0 + timedelta(hours=10), limit=100
    )
    assert result.truncated
    assert result.slot_count == 100
    assert "off" not in {job.job_name for job in result.jobs}


def test_simulation_needs_view_and_checks_its_times(django_user_model):
    nobody = staff_with(django_user_model, "nobody")
    with pytest.raises(AccessDenied, match="view_dynamicjob"):
        timeplan.simulate(actor=nobody, start=T0, end=T0 + timedelta(hours=1))
    with pytest.raises(ValidationError) as caught:
        timeplan.simulate(actor=SYSTEM, start=T0, end=T0, down=(T0, T0))
    assert set(caught.value.message_dict) == {"end", "down"}


def test_pause_needs_its_right_is_audited_and_ends_at_its_resume_time(
    django_user_model,
):
    operator = staff_with(django_user_model, "op", "scheduler_jobs.view_dynamicjob")
    with pytest.raises(AccessDenied, match="pause_scheduler"):
        timeplan.pause(actor=operator, reason="upgrade")
    pauser = staff_with(django_user_model, "pauser", "scheduler_jobs.pause_scheduler")
    with pytest.raises(ValidationError) as caught:
        timeplan.pause(actor=pauser, reason=" ", resume_at=T0)
    assert set(caught.value.message_dict) == {"reason", "resume_at"}

    resume_at = datetime.now(UTC) + timedelta(hours=1)
    state = timeplan.pause(actor=pauser, reason="DB upgrade", resume_at=resume_at)
    assert (state.active, state.paused_by, state.reason) == (True, pauser, "DB upgrade")
    assert timeplan.pause_state() == state
    assert timeplan.pause_state(resume_at) is None  # over by itself then
    timeplan.resume(actor=pauser)
    assert timeplan.pause_state() is None
    assert MaintenancePause.objects.get().resumed_by == pauser
    changes = AuditEntry.objects.filter(
        target_type="scheduler_jobs.maintenancepause"
    ).order_by("id")
    assert [c.changes["paused"]["after"] for c in changes] == [True, False]
