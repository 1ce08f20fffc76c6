"""Legacy jobs stored as django-celery-beat PeriodicTask rows."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
    SolarSchedule,
)

from audit.models import AuditEntry
from scheduler_jobs.models import DynamicJob
from tests.legacy.conftest import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat_rows(no_settings_jobs):
    """The seed's jobs as an admin would have set them up in django-celery-beat."""
    every_minute = IntervalSchedule.objects.create(
        every=1, period=IntervalSchedule.MINUTES
    )
    nightly = CrontabSchedule.objects.create(
        minute="0", hour="3", timezone=ZoneInfo("Europe/Berlin")
    )
    rows = {
        "test_scheduler": PeriodicTask.objects.create(
            name="test_scheduler",
            task="legacy.tasks.test_scheduler",
            interval=every_minute,
            kwargs=json.dumps({"message": "beat is alive"}),
        ),
        "cleanup sessions": PeriodicTask.objects.create(
            name="cleanup sessions",
            task="legacy.tasks.clear_sessions",
            crontab=nightly,
        ),
        "launch": PeriodicTask.objects.create(
            name="launch",
            task="legacy.tasks.launch",
            clocked=ClockedSchedule.objects.create(
                clocked_time=timezone.now() + timedelta(days=3)
            ),
            one_off=True,
        ),
        "lights": PeriodicTask.objects.create(
            name="lights",
            task="legacy.tasks.lights_on",
            solar=SolarSchedule.objects.create(
                event="sunset", latitude=52.5, longitude=13.4
            ),
        ),
    }
    return rows


def test_plan_reads_interval_and_crontab_rows_and_explains_the_rest(beat_rows):
    out = run("legacy_jobs", "plan", "--source", "beat")

    assert "test_scheduler  (ready)" in out
    assert "legacy:     task legacy.tasks.test_scheduler, beat row #" in out
    assert 'parameters: {"fail": false, "message": "beat is alive"' in out
    assert (
        "cleanup sessions  (unmappable)\n  legacy:     task legacy.tasks.clear_sessions"
    ) in out
    assert "crontab(0 3 * * *, Europe/Berlin)" in out
    assert (
        "reason:     clocked schedules run once at a set time; dynamic jobs are "
        "recurring"
    ) in out
    assert "reason:     solar schedules (sunrise, sunset) have no equivalent" in out
    assert "4 legacy job(s): 1 ready, 3 unmappable." in out


def test_rows_with_broken_json_or_cron_are_unmappable(no_settings_jobs):
    PeriodicTask.objects.create(
        name="test_scheduler",
        task="legacy.tasks.test_scheduler",
        interval=IntervalSchedule.objects.create(every=1, period="minutes"),
        kwargs="{not json",
    )
    PeriodicTask.objects.create(
        name="data_cleanup",
        task="legacy.tasks.data_cleanup",
        crontab=CrontabSchedule.objects.create(minute="75", hour="3"),
    )

    out = run("legacy_jobs", "plan", "--source", "beat")

    assert "reason:     kwargs is not valid JSON: '{not json'" in out
    assert "reason:     schedule: cron: minute field: 75 is out of range 0-59" in out


def test_disable_legacy_then_rollback_switches_sides_and_audits(beat_rows):
    row = beat_rows["test_scheduler"]
    changed_before = PeriodicTasks.last_change()

    out = run(
        "legacy_jobs", "migrate", "test_scheduler", "--enable", "--disable-legacy"
    )

    job = DynamicJob.objects.get(legacy_name="test_scheduler")
    row.refresh_from_db()
    assert job.enabled is True
    assert job.parameters["message"] == "beat is alive"
    assert row.enabled is False
    assert PeriodicTasks.last_change() > changed_before
    assert f"test_scheduler: disabled legacy PeriodicTask #{row.pk}." in out
    migrate = AuditEntry.objects.get(action="migrate")
    assert migrate.changes["actions"] == ["created", "legacy disabled"]
    assert migrate.changes["legacy"]["periodic_task_id"] == row.pk

    out = run("legacy_jobs", "rollback", "test_scheduler")

    job.refresh_from_db()
    row.refresh_from_db()
    assert job.enabled is False
    assert row.enabled is True
    assert out.splitlines() == [
        f"test_scheduler: disabled dynamic job 'test_scheduler' (#{job.pk}).",
        f"test_scheduler: re-enabled legacy PeriodicTask #{row.pk}.",
    ]
    rollback = AuditEntry.objects.get(action="rollback")
    assert rollback.changes["actions"] == ["dynamic job disabled", "legacy enabled"]
    assert rollback.target_id == str(job.pk)

    again = run("legacy_jobs", "rollback", "test_scheduler")
    assert again == "test_scheduler: already rolled back; nothing to change.\n"
    assert AuditEntry.objects.filter(action="rollback").count() == 1


def test_migrate_after_rollback_switches_back_without_a_second_job(beat_rows):
    run("legacy_jobs", "migrate", "test_scheduler", "--enable", "--disable-legacy")
    run("legacy_jobs", "rollback", "test_scheduler")

    out = run(
        "legacy_jobs", "migrate", "test_scheduler", "--enable", "--disable-legacy"
    )

    assert DynamicJob.objects.count() == 1
    assert DynamicJob.objects.get().enabled is True
    assert PeriodicTask.objects.get(name="test_scheduler").enabled is False
    assert "enabled dynamic job 'test_scheduler'" in out
    assert "disabled legacy PeriodicTask" in out


def test_rollback_of_a_job_never_migrated_fails(beat_rows):
    with pytest.raises(
        CommandError,
        match="No dynamic job was migrated from legacy job 'test_scheduler'",
    ):
        run("legacy_jobs", "rollback", "test_scheduler")


def test_rollback_dry_run_changes_nothing(beat_rows):
    run("legacy_jobs", "migrate", "test_scheduler", "--enable", "--disable-legacy")

    out = run("legacy_jobs", "rollback", "test_scheduler", "--dry-run")

    assert "would disable dynamic job 'test_scheduler'" in out
    assert "would re-enable legacy PeriodicTask" in out
    assert DynamicJob.objects.get().enabled is True
    assert PeriodicTask.objects.get(name="test_scheduler").enabled is False


def test_status_warns_while_both_sides_are_enabled(beat_rows):
    run("legacy_jobs", "migrate", "test_scheduler", "--enable")

    out = run("legacy_jobs", "status", "--source", "beat")

    line = next(x for x in out.splitlines() if x.startswith("test_scheduler "))
    assert "enabled" in line
    assert line.split()[-1] == "BOTH"
    assert (
        "WARNING: test_scheduler is enabled on both sides: every run happens twice; "
        "disable one: `legacy_jobs migrate test_scheduler --disable-legacy` or "
        "`legacy_jobs rollback test_scheduler`."
    ) in out
    assert out.splitlines()[-1] == (
        "1 of 4 legacy job(s) migrated; 1 running on both sides."
    )

    run("legacy_jobs", "migrate", "test_scheduler", "--disable-legacy")
    out = run("legacy_jobs", "status", "--source", "beat")

    line = next(x for x in out.splitlines() if x.startswith("test_scheduler "))
    assert line.split()[-1] == "dynamic"
    assert "WARNING" not in out


def test_status_shows_migrated_jobs_whose_legacy_definition_is_gone(beat_rows):
    run("legacy_jobs", "migrate", "test_scheduler", "--enable", "--disable-legacy")
    beat_rows["test_scheduler"].delete()

    out = run("legacy_jobs", "status")
    only_beat = run("legacy_jobs", "status", "--source", "beat")

    job = DynamicJob.objects.get()
    line = next(x for x in out.splitlines() if x.startswith("test_scheduler "))
    assert line.split() == [
        "test_scheduler", "-", "removed", f"#{job.pk}", "enabled", "dynamic",
    ]  # fmt: skip
    line = next(x for x in only_beat.splitlines() if x.startswith("test_scheduler "))
    assert "not in source" in line


def test_disabled_legacy_row_is_noted_and_not_counted_as_running(beat_rows):
    PeriodicTask.objects.filter(name="test_scheduler").update(enabled=False)

    plan = run("legacy_jobs", "plan", "--source", "beat")
    status = run("legacy_jobs", "status", "--source", "beat")

    assert "note:       the legacy job is disabled" in plan
    line = next(x for x in status.splitlines() if x.startswith("test_scheduler "))
    assert line.split()[-1] == "neither"


def test_custom_rule_maps_a_row_by_task_path(beat_rows, settings):
    settings.SCHEDULER_LEGACY_RULES = {
        "legacy.tasks.clear_sessions": {
            "template": "heartbeat",
            "parameters": {"message": "sessions would be cleared here"},
            "options": {"timeout_seconds": 120},
        }
    }

    run("legacy_jobs", "migrate", "cleanup sessions")

    job = DynamicJob.objects.get(legacy_name="cleanup sessions")
    assert job.schedule == {
        "type": "cron",
        "cron": "0 3 * * *",
        "timezone": "Europe/Berlin",
    }
    assert job.parameters["message"] == "sessions would be cleared here"
    assert job.timeout_seconds == 120


def test_celery_housekeeping_rows_are_not_legacy_jobs(no_settings_jobs):
    PeriodicTask.objects.create(
        name="celery.backend_cleanup",
        task="celery.backend_cleanup",
        crontab=CrontabSchedule.objects.create(minute="0", hour="4"),
    )

    out = run("legacy_jobs", "plan")

    assert out == "No legacy jobs found in the chosen source(s).\n"


def test_settings_and_file_may_not_define_the_same_name(seed_settings):
    from tests.legacy.test_file_source import YAML

    with pytest.raises(CommandError, match="'test_scheduler' is also defined in"):
        run("legacy_jobs", "plan", "--source", "settings", "file", YAML)
