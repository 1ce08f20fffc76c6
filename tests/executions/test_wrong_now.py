"""The dashboard's "what is wrong right now" panel and the job list's health column."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from executions import selectors
from executions.models import BeatHeartbeat, Incident, JobExecution, WatchEvent
from scheduler_jobs.models import DynamicJob
from tests.conftest import staff_with
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db
Status = JobExecution.Status


@pytest.fixture
def beat_ticking():
    now = timezone.now()
    return BeatHeartbeat.objects.create(
        instance="beat/1", started_at=now, ticked_at=now
    )


def _late_job(name: str = "nightly-report", minutes: int = 10) -> DynamicJob:
    return DynamicJobFactory(
        name=name, next_run_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_all_good_when_nothing_is_late_missed_slow_or_open(beat_ticking):
    DynamicJobFactory()  # due in a minute

    wrong = selectors.wrong_now()

    assert wrong["all_good"] is True
    assert wrong["late_count"] == 0


def test_a_job_past_its_grace_is_late_and_a_disabled_one_is_not(beat_ticking):
    late = _late_job()
    _late_job("paused-one").__class__.objects.filter(name="paused-one").update(
        enabled=False
    )

    wrong = selectors.wrong_now()

    assert wrong["all_good"] is False
    assert wrong["late_count"] == 1
    assert wrong["late"][0]["id"] == late.pk
    assert wrong["late"][0]["due"] == late.next_run_at


def test_a_job_with_a_longer_grace_of_its_own_is_not_late_yet(beat_ticking):
    job = _late_job(minutes=2)
    job.watch = {**(job.watch or {}), "grace_seconds": 600}
    job.save(update_fields=["watch"])

    assert selectors.wrong_now()["late_count"] == 0


def test_a_queued_first_attempt_nobody_took_makes_its_job_late(beat_ticking):
    job = DynamicJobFactory()
    JobExecutionFactory(
        job=job,
        status=Status.QUEUED,
        scheduled_for=timezone.now() - timedelta(minutes=5),
    )

    late = selectors.wrong_now()["late"]

    assert [row["id"] for row in late] == [job.pk]


def test_missed_slots_of_the_last_day_are_listed(beat_ticking):
    job = DynamicJobFactory(name="backup")
    now = timezone.now()
    WatchEvent.objects.create(job=job, kind="missed", slot=now - timedelta(hours=2))
    WatchEvent.objects.create(job=job, kind="missed", slot=now - timedelta(days=3))
    WatchEvent.objects.create(job=job, kind="late", slot=now - timedelta(hours=1))

    missed = selectors.wrong_now()["missed"]

    assert [row["job_name"] for row in missed] == ["backup"]


def test_a_running_run_past_its_slow_mark_is_slow(beat_ticking):
    now = timezone.now()
    slow = JobExecutionFactory(
        status=Status.RUNNING,
        started_at=now - timedelta(minutes=30),
        slow_at=now - timedelta(minutes=5),
    )
    reported = JobExecutionFactory(
        status=Status.RUNNING, started_at=now - timedelta(minutes=20)
    )
    WatchEvent.objects.create(
        job=reported.job, kind="slow", slot=reported.scheduled_for, execution=reported
    )
    JobExecutionFactory(status=Status.RUNNING, started_at=now)  # a normal one

    rows = selectors.wrong_now()["slow"]

    assert [row["execution"].pk for row in rows] == [slow.pk, reported.pk]


def test_open_incidents_are_counted_and_resolved_ones_are_not(beat_ticking):
    job = DynamicJobFactory()
    now = timezone.now()
    Incident.objects.create(job=job, opened_at=now, failures=3)
    Incident.objects.create(
        job=DynamicJobFactory(), opened_at=now, failures=3, resolved_at=now
    )

    wrong = selectors.wrong_now()

    assert wrong["incident_count"] == 1
    assert wrong["incidents"][0].job_id == job.pk


def test_a_scheduler_that_never_ticked_is_wrong():
    wrong = selectors.wrong_now()

    assert wrong["all_good"] is False
    assert "never ticked" in wrong["scheduler"]["problems"][0]


def test_the_panel_reads_as_many_queries_for_twenty_late_jobs_as_for_one(
    beat_ticking,
):
    _late_job("late-0")
    with CaptureQueriesContext(connection) as one:
        selectors.wrong_now()
    for n in range(1, 20):
        _late_job(f"late-{n}")
    with CaptureQueriesContext(connection) as twenty:
        wrong = selectors.wrong_now()

    assert wrong["late_count"] == 20
    assert len(twenty) == len(one)


def test_dashboard_shows_the_late_job_first_with_a_link(client, django_user_model):
    job = _late_job("nightly-report")
    viewer = staff_with(django_user_model, "viewer", "executions.view_jobexecution")
    client.force_login(viewer)

    page = client.get(reverse("admin:executions_dashboard")).content.decode()

    panel = page.index('id="wrong-now"')
    assert panel < page.index("ds-cards-metrics")
    assert "1 late job" in page
    assert reverse("admin:scheduler_jobs_dynamicjob_change", args=[job.pk]) in page


def test_dashboard_says_all_good(client, superuser, beat_ticking):
    client.force_login(superuser)

    page = client.get(reverse("admin:executions_dashboard")).content.decode()

    assert "All good" in page


# --- health column ---


def test_health_of_each_kind_of_job(django_assert_num_queries):
    now = timezone.now()
    ok = DynamicJobFactory(last_run_at=now, last_status=Status.COMPLETED)
    never = DynamicJobFactory()
    paused = DynamicJobFactory(enabled=False, next_run_at=now - timedelta(hours=1))
    late = _late_job("late")
    failed = DynamicJobFactory(last_run_at=now, last_status=Status.FAILED)
    incident = DynamicJobFactory(last_run_at=now, last_status=Status.COMPLETED)
    Incident.objects.create(job=incident, opened_at=now, failures=3)
    waiting = DynamicJobFactory(last_run_at=now, last_status=Status.COMPLETED)
    JobExecutionFactory(
        job=waiting, status=Status.QUEUED, scheduled_for=now - timedelta(minutes=5)
    )
    jobs = list(DynamicJob.objects.order_by("id"))

    with django_assert_num_queries(2):
        selectors.attach_health(jobs)

    health = {job.pk: job.health for job in jobs}
    assert health == {
        ok.pk: "ok",
        never.pk: "never",
        paused.pk: "paused",
        late.pk: "late",
        failed.pk: "failing",
        incident.pk: "failing",
        waiting.pk: "late",
    }


def test_job_list_shows_health_as_words(client, job_editor):
    _late_job("late-one")
    DynamicJobFactory(name="off", enabled=False)
    client.force_login(job_editor)

    page = client.get(reverse("admin:scheduler_jobs_dynamicjob_changelist"))

    text = page.content.decode()
    assert page.status_code == 200
    assert 'ds-health-late">Late</span>' in text
    assert 'ds-health-paused">Paused</span>' in text
