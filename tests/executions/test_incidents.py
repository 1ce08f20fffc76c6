"""Failure streaks: one incident, one alert, reminders, one recovery.

Runs go through the real executor (`execution_run`); alerts go to Django's
test mail outbox, one message per alert.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from executions import incidents, services
from executions.models import Incident, JobExecution
from job_templates import secrets
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM, AccessDenied
from scheduler_jobs.models import DynamicJob
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
VIEW = "executions.view_jobexecution"
ACK = "executions.acknowledge_incident"
RESOLVE = "executions.resolve_incident"


def make_job(*, retries: int = 0, threshold: int | None = None, **options):
    data = {
        "name": "nightly",
        "template_type": "heartbeat",
        "parameters": {"fail": True},
        "schedule": {"type": "interval", "every_seconds": 60},
        "retry_policy": {"max_retries": retries, "delay_seconds": 0, "backoff": 1.0},
        "notifications": {
            "emails": ["ops@example.com"],
            "on": ["incident", "recovered"],
        },
        **options,
    }
    job = job_services.job_create(user=SYSTEM, data=data)
    if threshold is not None:
        watch = {**(getattr(job, "watch", None) or {}), "failure_threshold": threshold}
        DynamicJob.objects.filter(pk=job.pk).update(watch=watch)
        job.refresh_from_db()
    return job


def run(job, *, fail: bool) -> JobExecution:
    """One manual run to its end, retries included."""
    execution = services.run_now(job=job, user=SYSTEM, parameters={"fail": fail})
    services.execution_run(execution_id=execution.pk)
    while True:
        retry = JobExecution.objects.filter(status=Status.RETRY_PENDING).first()
        if retry is None:
            break
        JobExecution.objects.filter(pk=retry.pk).update(status=Status.QUEUED)
        services.execution_run(execution_id=retry.pk)
    return JobExecution.objects.filter(job=job).order_by("-id").first()


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


def test_three_failures_in_a_row_open_one_incident_and_alert_once():
    job = make_job()
    run(job, fail=True)
    run(job, fail=True)
    assert Incident.objects.count() == 0
    assert mail.outbox == []

    last = run(job, fail=True)

    incident = Incident.objects.get()
    assert (incident.failures, incident.last_execution_id) == (3, last.pk)
    assert incident.is_open
    assert incident.alerts_sent == 1
    assert subjects() == ["[Dynamic Scheduler] nightly: failing, 3 runs in a row"]
    assert "Heartbeat asked to fail" in mail.outbox[0].body
    # The alert's outcome is in the log of the run that opened the incident.
    assert last.logs[-1]["message"] == "Alert (incident) emailed to 1 recipient(s)."


def test_further_failures_raise_the_count_without_another_alert():
    job = make_job()
    for _ in range(5):
        run(job, fail=True)
    incident = Incident.objects.get()
    assert incident.failures == 5
    assert len(mail.outbox) == 1


def test_the_first_success_closes_the_incident_and_sends_recovered_once():
    job = make_job()
    for _ in range(3):
        run(job, fail=True)
    success = run(job, fail=False)
    run(job, fail=False)

    incident = Incident.objects.get()
    assert not incident.is_open
    assert incident.resolution == Incident.Resolution.RECOVERED
    assert incident.resolved_by is None
    assert incident.last_execution_id == success.pk
    assert subjects()[1:] == [
        "[Dynamic Scheduler] nightly: recovered after 3 failed runs"
    ]


def test_a_success_breaks_the_streak_before_the_threshold():
    job = make_job()
    run(job, fail=True)
    run(job, fail=True)
    run(job, fail=False)
    run(job, fail=True)
    run(job, fail=True)
    assert Incident.objects.count() == 0
    assert mail.outbox == []


def test_a_retried_failure_counts_once():
    job = make_job(retries=2)
    run(job, fail=True)  # three attempts, one run
    run(job, fail=True)
    assert JobExecution.objects.filter(job=job).count() == 6
    assert Incident.objects.count() == 0

    run(job, fail=True)

    assert Incident.objects.get().failures == 3
    assert len(mail.outbox) == 1


def test_the_threshold_is_the_jobs_own():
    job = make_job(threshold=1)
    run(job, fail=True)
    assert Incident.objects.get().failures == 1
    assert len(mail.outbox) == 1


def test_a_streak_after_a_recovery_opens_a_new_incident():
    job = make_job(threshold=1)
    run(job, fail=True)
    run(job, fail=False)
    run(job, fail=True)
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1
    assert Incident.objects.count() == 2
    assert len(mail.outbox) == 3  # opened, recovered, opened


def test_nothing_is_sent_to_a_job_not_subscribed_but_the_incident_opens():
    job = make_job(
        threshold=1, notifications={"emails": ["ops@example.com"], "on": ["late"]}
    )
    run(job, fail=True)
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1
    assert mail.outbox == []


# --- reminders -------------------------------------------------------------------


def open_incident(*, threshold: int = 1, realert: int | None = None) -> Incident:
    job = make_job(threshold=threshold)
    if realert is not None:
        DynamicJob.objects.filter(pk=job.pk).update(
            watch={**job.watch, "realert_minutes": realert}
        )
    run(job, fail=True)
    mail.outbox.clear()
    return Incident.objects.get()


def test_a_reminder_goes_out_once_per_interval():
    incident = open_incident(realert=30)
    opened = incident.last_alert_at

    assert incidents.remind(opened + timedelta(minutes=29)) == 0
    assert incidents.remind(opened + timedelta(minutes=30)) == 1
    assert incidents.remind(opened + timedelta(minutes=31)) == 0
    assert incidents.remind(opened + timedelta(minutes=60)) == 1

    assert (
        subjects() == ["[Dynamic Scheduler] nightly: still failing, 1 run in a row"] * 2
    )
    incident.refresh_from_db()
    assert incident.alerts_sent == 3
    assert incident.last_alert_at == opened + timedelta(minutes=60)
    keys = {m.extra_headers["Message-ID"] for m in mail.outbox}
    assert len(keys) == 2


def test_the_default_interval_is_an_hour():
    incident = open_incident()
    assert incidents.remind(incident.last_alert_at + timedelta(minutes=59)) == 0
    assert incidents.remind(incident.last_alert_at + timedelta(minutes=60)) == 1


def test_no_reminders_when_the_interval_is_zero():
    incident = open_incident(realert=0)
    assert incidents.remind(incident.last_alert_at + timedelta(days=3)) == 0
    assert mail.outbox == []


def test_an_acknowledged_incident_gets_no_reminders():
    incident = open_incident()
    incidents.incident_acknowledge(incident=incident, user=SYSTEM, note="on it")
    assert incidents.remind(incident.last_alert_at + timedelta(hours=5)) == 0
    assert mail.outbox == []


def test_a_disabled_jobs_incident_gets_no_reminders():
    incident = open_incident()
    DynamicJob.objects.filter(pk=incident.job_id).update(enabled=False)
    assert incidents.remind(incident.last_alert_at + timedelta(hours=5)) == 0


@pytest.mark.django_db(transaction=True)
def test_two_beats_reminding_at_once_send_one_reminder():
    incident = open_incident()
    later = incident.last_alert_at + timedelta(hours=1)
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def beat() -> None:
        barrier.wait()
        try:
            sent.append(incidents.remind(later))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == [0, 1]
    assert len(mail.outbox) == 1


def test_a_reminder_claim_lost_to_another_beat_sends_nothing():
    """The compare-and-set itself: a beat that read the incident before another
    beat's reminder finds last_alert_at changed and sends nothing."""
    incident = open_incident()
    later = incident.last_alert_at + timedelta(hours=1)
    stale = Incident.objects.get(pk=incident.pk)
    assert incidents.remind(later) == 1
    assert incidents._claim_reminder(stale, later) is False
    assert len(mail.outbox) == 1


# --- people ----------------------------------------------------------------------


def test_acknowledge_records_who_when_and_the_note_and_is_audited(django_user_model):
    user = staff_with(django_user_model, "oncall", VIEW, ACK)
    incident = open_incident()
    done = incidents.incident_acknowledge(incident=incident, user=user, note="looking")
    assert done.acknowledged_by == user
    assert done.acknowledged_at is not None
    assert done.note == "looking"
    assert done.state == "Acknowledged"
    entry = AuditEntry.objects.get(action="acknowledge")
    assert entry.actor == user
    assert entry.target_type == "executions.incident"
    assert entry.changes["note"]["after"] == "looking"


def test_acknowledge_needs_its_permission(django_user_model):
    user = staff_with(django_user_model, "viewer", VIEW, RESOLVE)
    incident = open_incident()
    with pytest.raises(AccessDenied, match=r"executions\.acknowledge_incident"):
        incidents.incident_acknowledge(incident=incident, user=user)
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert not AuditEntry.objects.filter(action="acknowledge").exists()


def test_resolve_by_hand_closes_it_without_a_recovered_alert(django_user_model):
    user = staff_with(django_user_model, "lead", VIEW, RESOLVE)
    incident = open_incident()
    done = incidents.incident_resolve(incident=incident, user=user, note="fixed")
    assert done.resolution == Incident.Resolution.BY_HAND
    assert done.resolved_by == user
    assert done.state == "Resolved"
    assert AuditEntry.objects.filter(action="resolve", actor=user).count() == 1
    assert mail.outbox == []
    # The job's next success has nothing left to close.
    run(done.job, fail=False)
    assert mail.outbox == []


def test_resolve_needs_its_permission(django_user_model):
    user = staff_with(django_user_model, "oncall", VIEW, ACK)
    incident = open_incident()
    with pytest.raises(AccessDenied, match=r"executions\.resolve_incident"):
        incidents.incident_resolve(incident=incident, user=user)
    incident.refresh_from_db()
    assert incident.is_open


def test_a_resolved_incident_cannot_be_acknowledged_or_resolved_again():
    incident = open_incident()
    incidents.incident_resolve(incident=incident, user=SYSTEM)
    with pytest.raises(incidents.IncidentClosed):
        incidents.incident_acknowledge(incident=incident, user=SYSTEM)
    with pytest.raises(incidents.IncidentClosed):
        incidents.incident_resolve(incident=incident, user=SYSTEM)
    assert AuditEntry.objects.filter(action="resolve").count() == 1


def test_only_one_incident_per_job_and_kind_may_be_open():
    from django.db import IntegrityError, transaction

    incident = open_incident()
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(job=incident.job, opened_at=timezone.now())


def test_a_reminder_that_cannot_be_sent_does_not_stop_beat(caplog):
    incident = open_incident()
    # A stored secret no key opens any more: the channel cannot even start.
    DynamicJob.objects.filter(pk=incident.job_id).update(
        notifications={
            "slack_webhook": f"{secrets.SEALED_PREFIX}not-a-token",
            "on": ["incident"],
        }
    )
    later = incident.last_alert_at + timedelta(hours=1)
    assert incidents.remind(later) == 1
    assert "Reminder for incident" in caplog.text
    incident.refresh_from_db()
    assert incident.alerts_sent == 2  # claimed, so the next beat does not retry it


# --- not running: late or missed runs --------------------------------------------


def test_a_late_run_opens_one_not_running_incident_and_a_success_recovers_it():
    from executions import watch
    from executions.models import WatchEvent

    job = make_job(
        notifications={"emails": ["ops@example.com"], "on": ["late", "recovered"]}
    )
    slots = [timezone.now() - timedelta(minutes=m) for m in (10, 9)]
    for slot in slots:
        WatchEvent.objects.create(job=job, kind="late", slot=slot, detail="Late.")
    watch.deliver()
    watch.deliver()

    incident = Incident.objects.get()
    assert (incident.kind, incident.opened_at, incident.alerts_sent) == (
        Incident.Kind.NOT_RUNNING,
        slots[0],
        1,
    )
    # Two late alerts, no alert of the incident's own.
    assert len(subjects()) == 2
    assert all(": late" in subject for subject in subjects())

    run(job, fail=False)
    run(job, fail=False)

    incident.refresh_from_db()
    assert incident.resolution == Incident.Resolution.RECOVERED
    assert subjects()[2:] == ["[Dynamic Scheduler] nightly: recovered: it runs again"]
    assert "Not running since:" in mail.outbox[2].body


def test_a_not_running_incident_reminds_in_its_own_words():
    job = make_job(notifications={"emails": ["ops@example.com"], "on": ["incident"]})
    opened = timezone.now() - timedelta(hours=2)
    assert incidents.not_running(job_id=job.pk, since=opened)
    assert not incidents.not_running(job_id=job.pk, since=opened)
    Incident.objects.update(last_alert_at=opened)

    assert incidents.remind() == 1

    assert subjects() == ["[Dynamic Scheduler] nightly: still not running"]
    assert "Not running since:" in mail.outbox[0].body
