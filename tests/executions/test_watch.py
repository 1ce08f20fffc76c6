"""The watch: late, missed, slow and too-fast runs, recorded once and alerted once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from executions import services, watch
from executions.models import JobExecution, WatchEvent
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM, AccessDenied
from scheduler_jobs.forms.options import options_fieldsets
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.pause import pause, resume
from tests.api.conftest import token_client
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
WATCHED = ["late", "missed", "slow", "too_fast"]


def make_job(name="job", *, every=60, next_run_at=T0, watch_options=None, **more):
    data = {
        "name": name,
        "template_type": "heartbeat",
        "schedule": {"type": "interval", "every_seconds": every},
        "notifications": {"emails": ["ops@example.com"], "on": WATCHED},
        "watch": watch_options or {},
        **more,
    }
    job = job_services.job_create(user=SYSTEM, data=data)
    DynamicJob.objects.filter(pk=job.pk).update(next_run_at=next_run_at)
    job.refresh_from_db()
    return job


def run(job, *, status=Status.QUEUED, slot=T0, queued_at=None, **fields):
    execution = JobExecution.objects.create(
        job=job,
        job_name=job.name,
        template_type=job.template_type,
        scheduled_for=slot,
        status=status,
        **fields,
    )
    # Queued on time unless said otherwise (created_at is set on insert).
    execution.created_at = queued_at or slot
    JobExecution.objects.filter(pk=execution.pk).update(created_at=execution.created_at)
    return execution


def events(kind=None):
    found = WatchEvent.objects.order_by("slot", "kind")
    return list(found.filter(kind=kind) if kind else found)


# --- Options ------------------------------------------------------------------------


def test_a_job_without_watch_options_gets_the_defaults(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 60
    job = make_job()
    DynamicJob.objects.filter(pk=job.pk).update(watch={})  # a row from before
    job.refresh_from_db()
    assert watch.options(job.watch) == {
        "grace_seconds": 0,
        "expected_duration_seconds": 0,
        "slow_factor": 3.0,
        "min_duration_seconds": 0,
        "failure_threshold": 3,
        "realert_minutes": 60,
    }
    assert watch.grace(job.watch) == timedelta(seconds=60)
    # A job's own grace is at least five seconds.
    assert watch.grace({"grace_seconds": 1}) == timedelta(seconds=5)
    assert watch.grace({"grace_seconds": 300}) == timedelta(seconds=300)


def test_a_bad_watch_option_is_refused_under_its_name():
    with pytest.raises(ValidationError) as caught:
        make_job(watch_options={"slow_factor": 1, "grace_seconds": -3})
    errors = caught.value.message_dict
    assert "watch.slow_factor" in errors
    assert "watch.grace_seconds" in errors
    with pytest.raises(ValidationError) as caught:
        make_job(watch_options={"sometimes": True})
    assert "watch.sometimes" in caught.value.message_dict or "watch" in str(
        caught.value
    )


def test_the_options_forms_have_a_watching_section():
    sections = dict(options_fieldsets())
    fields = sections["Watching"]["fields"]
    flat = {
        name for row in fields for name in (row if isinstance(row, tuple) else [row])
    }
    assert {
        "grace_seconds",
        "expected_duration_seconds",
        "slow_factor",
        "min_duration_seconds",
        "failure_threshold",
        "realert_minutes",
    } <= flat


# --- Late and missed: beat behind -----------------------------------------------------


def test_a_slot_not_dispatched_within_its_grace_is_late_once(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 60
    job = make_job(every=300)
    assert watch.watch_pass(T0 + timedelta(seconds=59)).found == 0
    report = watch.watch_pass(T0 + timedelta(seconds=61))
    assert report.alerted == 1
    [late] = events()
    assert (late.job_id, late.kind, late.slot) == (job.pk, "late", T0)
    assert "has not dispatched it" in late.detail
    assert late.alerted_at is not None
    [email] = mail.outbox
    assert email.to == ["ops@example.com"]
    assert "late" in email.subject
    assert "2026-07-01 12:00:00 UTC" in email.subject
    # The next passes find it again and record and send nothing more.
    watch.watch_pass(T0 + timedelta(seconds=65))
    watch.watch_pass(T0 + timedelta(seconds=70))
    assert len(events()) == 1
    assert len(mail.outbox) == 1


def test_a_slot_still_not_dispatched_at_its_next_slot_is_missed_too(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    make_job(every=60)
    watch.watch_pass(T0 + timedelta(seconds=61))
    assert [e.kind for e in events()] == ["late", "missed"]
    assert len(mail.outbox) == 2


def test_each_job_has_its_own_grace(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    make_job("patient", every=3600, watch_options={"grace_seconds": 600})
    hasty = make_job("hasty", every=3600)
    watch.watch_pass(T0 + timedelta(seconds=120))
    assert [e.job_id for e in events()] == [hasty.pk]


def test_a_disabled_job_is_never_late(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    job = make_job()
    DynamicJob.objects.filter(pk=job.pk).update(enabled=False)
    watch.watch_pass(T0 + timedelta(hours=1))
    assert events() == []


def test_jobs_held_by_the_maintenance_pause_are_not_late(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    make_job(every=3600)
    pause(actor=SYSTEM, reason="database upgrade")
    assert watch.undispatched_events(timezone.now(), timezone.now()) == []
    resume(actor=SYSTEM)
    assert [e.kind for e in watch.undispatched_events(timezone.now(), timezone.now())]


# --- Late and missed: workers down ----------------------------------------------------


def test_a_queued_run_no_worker_took_is_late(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 30
    job = make_job(every=600, next_run_at=T0 + timedelta(seconds=600))
    queued = run(job, queue="reports")
    watch.watch_pass(T0 + timedelta(seconds=31))
    [late] = events()
    assert (late.kind, late.slot, late.execution_id) == ("late", T0, queued.pk)
    assert "no worker has taken it" in late.detail
    assert "“reports”" in late.detail
    assert len(mail.outbox) == 1


def test_a_catch_up_run_is_late_only_if_no_worker_takes_it_once_queued(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 30
    job = make_job(every=60, next_run_at=T0 + timedelta(minutes=6))
    queued_at = T0 + timedelta(minutes=5)
    catch_up = run(job, queued_at=queued_at)
    watch.watch_pass(queued_at + timedelta(seconds=29))
    assert events() == []  # its slot's lateness was beat's: the missed event says so
    watch.watch_pass(queued_at + timedelta(seconds=31))
    [late] = events()
    assert (late.kind, late.execution_id) == ("late", catch_up.pk)


def test_retries_and_manual_runs_are_not_late(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 30
    job = make_job(every=600, next_run_at=T0 + timedelta(seconds=600))
    run(job, attempt=2)
    run(job, slot=T0 + timedelta(seconds=1), triggered_by="manual")
    watch.watch_pass(T0 + timedelta(seconds=300))
    assert events() == []


# --- Missed: the dispatcher after downtime --------------------------------------------


def test_catch_up_after_downtime_records_the_folded_slots_as_one_missed_event():
    job = make_job(every=60)
    services.dispatch_due(now=T0 + timedelta(minutes=5, seconds=30))
    [catch_up] = JobExecution.objects.all()
    assert catch_up.scheduled_for == T0
    [missed] = events()
    assert missed.kind == "missed"
    assert missed.slot == T0 + timedelta(minutes=1)
    assert (
        "5 runs planned from 2026-07-01 12:01:00 UTC to 2026-07-01 12:05:00 UTC"
        in missed.detail
    )
    assert "catch-up run" in missed.detail
    # Recorded by the dispatch; alerted by the next watch pass, once.
    assert mail.outbox == []
    watch.deliver(now=T0 + timedelta(minutes=6))
    watch.deliver(now=T0 + timedelta(minutes=6))
    assert len(mail.outbox) == 1
    assert missed.job_id == job.pk


def test_a_slot_skipped_by_the_misfire_policy_is_missed():
    make_job(every=60, misfire_policy="skip")
    services.dispatch_due(now=T0 + timedelta(minutes=2, seconds=30))
    [skipped] = JobExecution.objects.all()
    [missed] = events()
    assert (missed.slot, missed.execution_id) == (T0, skipped.pk)
    assert "skipped" in missed.detail
    assert "Also not run: the 2 runs" in missed.detail


def test_a_dispatch_on_time_records_nothing():
    make_job(every=60)
    services.dispatch_due(now=T0 + timedelta(seconds=1))
    assert events() == []


def test_only_slots_that_passed_count_as_folded():
    """A next run far ahead (a calendar skipped the weekend) is not all missed."""
    job = make_job(every=60)
    row = {
        "id": job.pk,
        "name": job.name,
        "template_type": job.template_type,
        "next_run_at": T0,
        "schedule": job.schedule,
    }
    now = T0 + timedelta(minutes=3, seconds=10)
    watch.note_dispatch([row], {job.pk: T0 + timedelta(days=2)}, [], now)
    [missed] = events()
    assert "the 3 runs planned from 2026-07-01 12:01:00 UTC to" in missed.detail


def test_cron_slots_folded_away_are_counted():
    schedule = {"type": "cron", "cron": "*/15 * * * *", "timezone": "Europe/Berlin"}
    count, first, last = watch.folded_slots(
        schedule, T0, T0 + timedelta(hours=2, minutes=15)
    )
    assert (count, first, last) == (
        8,
        T0 + timedelta(minutes=15),
        T0 + timedelta(hours=2),
    )
    assert watch.folded_slots(schedule, T0, T0 + timedelta(minutes=15))[0] == 0


def test_slots_a_calendar_excludes_are_not_counted_as_folded():
    """An outage over a holiday misses the runs around it, not the holiday's."""
    from scheduler_jobs.models import Calendar
    from scheduler_jobs.services import timeplan

    Calendar.objects.create(
        name="ops", extra_holidays=[{"date": "2026-07-02", "name": "Ops day"}]
    )
    schedule = {
        "type": "cron",
        "cron": "0 * * * *",
        "timezone": "UTC",
        "calendar": "ops",
        "calendar_rule": "never",
    }
    until = datetime(2026, 7, 3, 0, 0, tzinfo=UTC)
    job = make_job(every=60)
    ref = timeplan.job_ref(job)
    rules = timeplan.time_rules(T0)
    count, first, last = watch.folded_slots(schedule, T0, until, rules=rules, job=ref)
    assert (count, first, last) == (
        11,
        T0 + timedelta(hours=1),
        datetime(2026, 7, 1, 23, 0, tzinfo=UTC),
    )
    # Without the calendar the holiday's 24 runs would have been counted too.
    assert watch.folded_slots(schedule, T0, until)[0] == 35


# --- Slow and too fast ----------------------------------------------------------------


def test_a_run_past_its_slow_mark_is_slow_once_while_it_runs():
    job = make_job(every=3600, next_run_at=T0 + timedelta(hours=1))
    running = run(
        job,
        status=Status.RUNNING,
        started_at=T0,
        slow_at=T0 + timedelta(seconds=30),
        timeout_seconds=120,
    )
    assert watch.watch_pass(T0 + timedelta(seconds=29)).found == 0
    assert watch.watch_pass(T0 + timedelta(seconds=31)).alerted == 1
    [slow] = events()
    assert (slow.kind, slow.execution_id) == ("slow", running.pk)
    assert "Still running after 31 s" in slow.detail
    assert "2 min" in slow.detail
    running.refresh_from_db()
    assert running.slow_at is None  # not read again
    watch.watch_pass(T0 + timedelta(seconds=60))
    assert len(events()) == 1
    assert len(mail.outbox) == 1
    assert "slow" in mail.outbox[0].subject


def _started(job, timeout=600, slot=T0) -> JobExecution:
    return run(
        job, status=Status.RUNNING, slot=slot, started_at=T0, timeout_seconds=timeout
    )


def test_the_slow_mark_comes_from_the_usual_duration_given():
    job = make_job(watch_options={"expected_duration_seconds": 10, "slow_factor": 2})
    execution = _started(job)
    assert watch.run_started(execution, job).options["slow_factor"] == 2
    assert watch.set_slow_mark(execution.pk, job.pk, watch.options(job.watch)) == (
        T0 + timedelta(seconds=20)
    )
    execution.refresh_from_db()
    assert execution.slow_at == T0 + timedelta(seconds=20)
    # Never at or past the timeout: the timeout reports that run.
    late_mark = _started(job, timeout=20, slot=T0 + timedelta(seconds=1))
    assert watch.set_slow_mark(late_mark.pk, job.pk, watch.options(job.watch)) is None
    assert JobExecution.objects.get(pk=late_mark.pk).slow_at is None


def test_a_finished_run_gets_no_slow_mark():
    job = make_job(watch_options={"expected_duration_seconds": 10})
    done = run(job, status=Status.COMPLETED, started_at=T0, duration_seconds=1)
    assert watch.set_slow_mark(done.pk, job.pk, watch.options(job.watch)) is None


def test_the_slow_mark_is_learned_from_five_or_more_successful_runs():
    job = make_job()
    for i, seconds in enumerate([4, 5, 6, 100]):
        run(
            job,
            status=Status.COMPLETED,
            slot=T0 - timedelta(hours=i + 1),
            started_at=T0 - timedelta(hours=i + 1),
            duration_seconds=seconds,
        )
    assert watch.learned_duration(job.pk) is None  # four: too few
    run(
        job,
        status=Status.COMPLETED,
        slot=T0 - timedelta(hours=9),
        started_at=T0 - timedelta(hours=9),
        duration_seconds=8,
    )
    assert watch.learned_duration(job.pk) == 100  # p95 of five is the largest
    assert watch.slow_mark(job.pk, watch.options({})) == 300
    # A learned mark is never sooner than the floor.
    assert watch.slow_mark(job.pk, watch.options({"slow_factor": 1.5})) == 150


def test_a_successful_run_under_the_minimum_is_too_fast():
    job = make_job(watch_options={"min_duration_seconds": 30})
    execution = _started(job)
    watching = watch.run_started(execution, job)
    execution.completed_at = T0 + timedelta(seconds=0.2)
    event = watch.run_ended(execution, Status.COMPLETED, watching)
    assert event.kind == "too_fast"
    assert "0.20 s" in event.detail
    assert len(mail.outbox) == 1
    assert "fast" in mail.outbox[0].subject
    # Redelivered: recorded once, alerted once.
    assert watch.run_ended(execution, Status.COMPLETED, watching) is None
    assert len(mail.outbox) == 1


def test_failures_dry_runs_and_long_enough_runs_are_not_too_fast():
    job = make_job(watch_options={"min_duration_seconds": 30})
    execution = _started(job)
    watching = watch.run_started(execution, job)
    execution.completed_at = T0 + timedelta(seconds=1)
    assert watch.run_ended(execution, Status.FAILED, watching) is None
    execution.completed_at = T0 + timedelta(seconds=31)
    assert watch.run_ended(execution, Status.COMPLETED, watching) is None
    execution.completed_at, execution.dry_run = T0 + timedelta(seconds=1), True
    assert watch.run_ended(execution, Status.COMPLETED, watching) is None
    assert events() == []


# --- One alert per event --------------------------------------------------------------


def test_an_event_is_alerted_by_whoever_claims_it_first(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    make_job(every=3600)
    found = watch.undispatched_events(T0 + timedelta(seconds=20), T0)
    # Two beats found the same slot and both insert it.
    WatchEvent.objects.bulk_create(found, ignore_conflicts=True)
    WatchEvent.objects.bulk_create(
        watch.undispatched_events(T0 + timedelta(seconds=20), T0), ignore_conflicts=True
    )
    assert len(events()) == 1
    assert watch.deliver() + watch.deliver() == 1
    assert len(mail.outbox) == 1


def test_an_event_the_job_does_not_subscribe_to_is_recorded_not_sent(settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    make_job(every=3600, notifications={"emails": ["ops@example.com"], "on": []})
    watch.watch_pass(T0 + timedelta(seconds=20))
    [late] = events()
    assert late.alerted_at is not None
    assert mail.outbox == []


# --- Reading --------------------------------------------------------------------------


def test_who_may_see_runs_may_see_watch_events(django_user_model, settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    job = make_job(every=3600)
    watch.watch_pass(T0 + timedelta(seconds=20))
    viewer = staff_with(
        django_user_model,
        "viewer",
        "scheduler_jobs.view_dynamicjob",
        "executions.view_jobexecution",
    )
    assert [e.kind for e in watch.watch_events(user=viewer, job_id=job.pk)] == ["late"]
    assert list(watch.watch_events(user=viewer, kind="slow")) == []
    stranger = staff_with(
        django_user_model, "stranger", "scheduler_jobs.view_dynamicjob"
    )
    with pytest.raises(AccessDenied):
        watch.watch_events(user=stranger)


def test_the_api_lists_a_jobs_watch_events(django_user_model, settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    job = make_job(every=3600)
    other = make_job("other", every=3600)
    watch.watch_pass(T0 + timedelta(seconds=20))
    viewer = staff_with(
        django_user_model,
        "viewer",
        "scheduler_jobs.view_dynamicjob",
        "executions.view_jobexecution",
    )
    api = token_client(viewer)
    body = api.get(f"/api/v1/watch-events/?job={job.pk}").json()
    [late] = body["results"]
    assert late["job"] == job.pk
    assert late["kind"] == "late"
    assert late["kind_label"] == "Late start"
    assert late["slot"].startswith("2026-07-01T12:00:00")
    assert "has not dispatched it" in late["detail"]
    everything = api.get("/api/v1/watch-events/?kind=late").json()["results"]
    assert {e["job"] for e in everything} == {job.pk, other.pk}
    assert api.get("/api/v1/watch-events/?kind=slow").json()["results"] == []


def test_the_api_refuses_bad_filters_and_who_may_not_see_runs(django_user_model):
    viewer = staff_with(
        django_user_model,
        "viewer",
        "scheduler_jobs.view_dynamicjob",
        "executions.view_jobexecution",
    )
    api = token_client(viewer)
    response = api.get("/api/v1/watch-events/?kind=sideways&job=x1")
    assert response.status_code == 400
    assert set(response.json()) >= {"kind", "job"}
    for job in ("0", "9" * 30, "9223372036854775808", "-1"):
        response = api.get(f"/api/v1/watch-events/?job={job}")
        assert response.status_code == 400, job
        assert "job" in response.json()
    stranger = staff_with(
        django_user_model, "stranger", "scheduler_jobs.view_dynamicjob"
    )
    assert token_client(stranger).get("/api/v1/watch-events/").status_code == 403


def test_the_job_page_shows_its_watch_events_to_who_may_see_runs(
    client, django_user_model, settings
):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 10
    job = make_job(every=3600)
    watch.watch_pass(T0 + timedelta(seconds=20))
    page = f"/admin/scheduler_jobs/dynamicjob/{job.pk}/change/"
    client.force_login(
        staff_with(
            django_user_model,
            "viewer",
            "scheduler_jobs.view_dynamicjob",
            "executions.view_jobexecution",
        )
    )
    html = client.get(page).content.decode()
    assert "Late, missed and slow runs" in html
    assert "Late start" in html
    assert "has not dispatched it" in html
    client.force_login(
        staff_with(django_user_model, "jobs-only", "scheduler_jobs.view_dynamicjob")
    )
    response = client.get(page)
    assert response.status_code == 200
    assert "Late, missed and slow runs" not in response.content.decode()


def test_the_read_only_job_page_says_how_the_job_is_watched(
    client, django_user_model, settings
):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 60
    job = make_job(watch_options={"min_duration_seconds": 2, "realert_minutes": 0})
    client.force_login(
        staff_with(django_user_model, "viewer", "scheduler_jobs.view_dynamicjob")
    )
    html = client.get(f"/admin/scheduler_jobs/dynamicjob/{job.pk}/change/").content
    assert (
        "Late after 60 s; slow after 3× the usual duration (learned); too fast "
        "under 2 s; incident after 3 failures in a row, no reminders."
    ) in html.decode()
