"""Legacy jobs hard-coded in CELERY_BEAT_SCHEDULE (the seed's three plus one)."""

from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import ModelEntry

from audit.models import AuditEntry
from config.celery import app as celery_app
from job_templates.registry import registry
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.legacy.conftest import run

pytestmark = pytest.mark.django_db


def test_plan_lists_every_seed_job_with_its_mapping_or_reason(seed_settings):
    out = run("legacy_jobs", "plan", "--source", "settings")

    lines = out.splitlines()
    assert lines[0].split() == [
        "LEGACY", "JOB", "SOURCE", "LEGACY", "SCHEDULE", "TEMPLATE", "NEW", "SCHEDULE",
        "STATUS",
    ]  # fmt: skip
    row = next(line for line in lines if line.startswith("test_scheduler "))
    assert row.split()[-5:] == ["60s", "heartbeat", "Every", "minute", "ready"]
    assert "send_weekly_digest  (unmappable)" in out
    assert (
        "reason:     no mapping rule for name 'send_weekly_digest' or task "
        "'newsletter.tasks.send_weekly_digest'; add one to SCHEDULER_LEGACY_RULES"
    ) in out
    assert "reason:     SCHEDULER_LEGACY_TICKETS_MODEL is empty" in out
    assert '"every_seconds": 60, "type": "interval"' in out
    assert "4 legacy job(s):" in out
    assert "Nothing was changed." in out
    assert DynamicJob.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_migrate_creates_a_disabled_job_through_the_services_and_audits(
    seed_settings,
):
    out = run("legacy_jobs", "migrate", "test_scheduler")

    job = DynamicJob.objects.get()
    assert (job.name, job.legacy_name, job.template_type) == (
        "test_scheduler",
        "test_scheduler",
        "heartbeat",
    )
    assert job.enabled is False
    assert job.next_run_at is None
    assert job.schedule == {"type": "interval", "every_seconds": 60}
    assert job.parameters == {
        "message": "Scheduler is alive",
        "fail": False,
        "sleep_seconds": 0,
    }
    assert job.retry_policy["max_retries"] == 0
    assert "legacy.tasks.test_scheduler" in job.description
    assert (
        f"test_scheduler: created dynamic job 'test_scheduler' (#{job.pk}): "
        "heartbeat, Every minute, disabled."
    ) in out
    entries = AuditEntry.objects.order_by("id")
    assert [e.action for e in entries] == ["create", "migrate"]
    migrate = entries[1]
    assert migrate.actor_repr.endswith(" via legacy_jobs")
    assert migrate.source == "command"
    assert migrate.target_id == str(job.pk)
    assert (
        migrate.changes["legacy"]["origin"] == "CELERY_BEAT_SCHEDULE['test_scheduler']"
    )
    assert migrate.changes["actions"] == ["created"]


def test_second_migrate_changes_nothing_and_says_so(seed_settings):
    run("legacy_jobs", "migrate", "test_scheduler", "--enable")
    job = DynamicJob.objects.get()
    audit_count = AuditEntry.objects.count()

    out = run("legacy_jobs", "migrate", "test_scheduler", "--enable")

    assert (
        f"test_scheduler: already migrated to 'test_scheduler' (#{job.pk}, enabled); "
        "nothing to change."
    ) in out
    assert "Done: 0 changed, 1 unchanged." in out
    job.refresh_from_db()
    assert job.version == 1
    assert AuditEntry.objects.count() == audit_count


def test_migrate_again_with_enable_enables_the_existing_job(seed_settings):
    run("legacy_jobs", "migrate", "test_scheduler")

    out = run("legacy_jobs", "migrate", "test_scheduler", "--enable")

    job = DynamicJob.objects.get()
    assert job.enabled is True
    assert job.next_run_at is not None
    assert f"test_scheduler: enabled dynamic job 'test_scheduler' (#{job.pk})." in out
    # The settings entry has no switch, so both sides now run.
    assert "runs on both sides (double runs)" in out
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "create",
        "migrate",
        "enable",
        "migrate",
    ]


def test_migrate_all_migrates_the_mappable_lists_the_rest_and_exits_zero(
    seed_settings,
):
    out = run("legacy_jobs", "migrate", "--all", "--source", "settings")

    expected = {"test_scheduler"}
    if "database_cleanup" in registry:
        expected.add("data_cleanup")
    assert set(DynamicJob.objects.values_list("legacy_name", flat=True)) == expected
    assert "send_weekly_digest: not migrated: no mapping rule" in out
    assert (
        "auto_delete_resolved_tickets: not migrated: SCHEDULER_LEGACY_TICKETS_MODEL "
        "is empty"
    ) in out
    assert "unmappable." in out.splitlines()[-1]


def test_naming_an_unmappable_job_fails_and_changes_nothing(seed_settings):
    with pytest.raises(CommandError) as excinfo:
        run("legacy_jobs", "migrate", "test_scheduler", "send_weekly_digest")

    message = str(excinfo.value)
    assert message.startswith("Cannot migrate; nothing was changed:")
    assert (
        "send_weekly_digest: no mapping rule for name 'send_weekly_digest'" in message
    )
    assert DynamicJob.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_naming_an_unknown_job_lists_the_known_ones(seed_settings):
    with pytest.raises(CommandError, match="No legacy job named 'nope'") as excinfo:
        run("legacy_jobs", "migrate", "nope")

    assert "Known: auto_delete_resolved_tickets, data_cleanup" in str(excinfo.value)


def test_migrate_needs_names_or_all(seed_settings):
    with pytest.raises(CommandError, match="Name the legacy jobs to migrate, or pass"):
        run("legacy_jobs", "migrate")


def test_dry_run_changes_nothing_and_says_what_it_would_do(seed_settings):
    out = run("legacy_jobs", "migrate", "test_scheduler", "--enable", "--dry-run")

    assert out.splitlines()[0] == "Dry run: nothing will be changed."
    assert (
        "test_scheduler: would create dynamic job 'test_scheduler': heartbeat, "
        "Every minute, enabled."
    ) in out
    assert "Done: 1 would change, 0 unchanged." in out
    assert DynamicJob.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_disable_legacy_says_a_settings_entry_cannot_be_disabled(seed_settings):
    out = run("legacy_jobs", "migrate", "test_scheduler", "--disable-legacy")

    assert (
        "test_scheduler: it is defined in CELERY_BEAT_SCHEDULE and cannot be disabled "
        "from a command: remove it from settings and restart beat."
    ) in out


def _mirror_settings_into_beat_rows(schedule: dict) -> None:
    """What DatabaseScheduler.setup_schedule does with CELERY_BEAT_SCHEDULE."""
    for name, entry in schedule.items():
        ModelEntry.from_entry(name, app=celery_app, **entry)


def test_settings_entry_mirrored_by_database_scheduler_is_switched_by_its_row(
    seed_settings,
):
    _mirror_settings_into_beat_rows(seed_settings.CELERY_BEAT_SCHEDULE)
    row = PeriodicTask.objects.get(name="test_scheduler")
    before = PeriodicTasks.last_change()

    out = run(
        "legacy_jobs", "migrate", "test_scheduler", "--enable", "--disable-legacy"
    )

    row.refresh_from_db()
    assert row.enabled is False
    assert PeriodicTasks.last_change() > before  # a running beat notices
    assert f"test_scheduler: disabled legacy PeriodicTask #{row.pk}." in out
    assert "DatabaseScheduler keeps the row disabled across restarts" in out
    assert "double runs" not in out
    # A beat restart re-reads settings into the rows but keeps `enabled`.
    _mirror_settings_into_beat_rows(seed_settings.CELERY_BEAT_SCHEDULE)
    row.refresh_from_db()
    assert row.enabled is False
    status = run("legacy_jobs", "status")
    line = next(x for x in status.splitlines() if x.startswith("test_scheduler "))
    assert line.split()[-1] == "dynamic"
    # The row is the settings entry's switch, not a second legacy job.
    assert status.count("test_scheduler") == 1


def test_crontab_entries_use_celery_timezone_and_keep_their_fields(seed_settings):
    seed_settings.CELERY_TIMEZONE = "Europe/Berlin"
    seed_settings.CELERY_BEAT_SCHEDULE = {
        "test_scheduler": {
            "task": "ops.test_scheduler",
            "schedule": crontab(minute="*/5", hour="8-18", day_of_week="mon-fri"),
        }
    }

    run("legacy_jobs", "migrate", "test_scheduler")

    assert DynamicJob.objects.get().schedule == {
        "type": "cron",
        "cron": "*/5 8-18 * * mon-fri",
        "timezone": "Europe/Berlin",
    }


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        (
            timedelta(seconds=5),
            "schedule: every 5 seconds is shorter than the minimum of 10 seconds "
            "(SCHEDULER_MIN_INTERVAL_SECONDS)",
        ),
        (2.5, "schedule: every 2.5 seconds is not whole"),
        ("tomorrow", "unsupported schedule 'tomorrow'"),
    ],
)
def test_schedules_without_an_equivalent_are_unmappable_with_the_reason(
    seed_settings, schedule, reason
):
    seed_settings.CELERY_BEAT_SCHEDULE = {
        "test_scheduler": {"task": "ops.test_scheduler", "schedule": schedule}
    }

    out = run("legacy_jobs", "plan")

    assert "test_scheduler  (unmappable)" in out
    assert f"reason:     {reason}" in out
    with pytest.raises(CommandError, match="Cannot migrate"):
        run("legacy_jobs", "migrate", "test_scheduler")
    assert DynamicJob.objects.count() == 0


def test_heartbeat_rule_refuses_kwargs_it_does_not_know(seed_settings):
    seed_settings.CELERY_BEAT_SCHEDULE = {
        "test_scheduler": {
            "task": "ops.test_scheduler",
            "schedule": 60,
            "kwargs": {"message": "hi", "notify": "ops@example.com"},
        }
    }

    out = run("legacy_jobs", "plan")

    assert (
        "reason:     legacy kwargs notify have no mapping in the rule; add a "
        "SCHEDULER_LEGACY_RULES entry that maps or ignores them"
    ) in out


def test_name_clash_with_a_hand_made_job_is_reported_not_overwritten(
    seed_settings, job_editor
):
    services.job_create(
        user=job_editor,
        data={
            "name": "test_scheduler",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 300},
        },
    )

    with pytest.raises(CommandError, match="a dynamic job named 'test_scheduler'"):
        run("legacy_jobs", "migrate", "test_scheduler")

    assert DynamicJob.objects.get().schedule["every_seconds"] == 300


def test_plan_notes_when_the_migrated_job_was_changed_since(seed_settings):
    run("legacy_jobs", "migrate", "test_scheduler")
    job = DynamicJob.objects.get()
    services.job_update(
        job=job,
        user=SYSTEM,
        data={"schedule": {"type": "interval", "every_seconds": 120}},
        expected_version=job.version,
    )

    out = run("legacy_jobs", "plan")
    again = run("legacy_jobs", "migrate", "test_scheduler")

    assert (
        "note:       the dynamic job differs from this mapping in schedule (changed "
        "since, or --live); migrate never overwrites it"
    ) in out
    assert "nothing to change" in again
    assert DynamicJob.objects.get().schedule["every_seconds"] == 120


def test_a_job_the_services_refuse_fails_the_command_with_the_reason(seed_settings):
    seed_settings.SCHEDULER_MAX_JOBS = 0

    with pytest.raises(CommandError) as excinfo:
        run("legacy_jobs", "migrate", "--all")

    assert str(excinfo.value).startswith(
        "Some jobs failed:\ndata_cleanup: The system holds its maximum of 0 jobs"
    )
    assert DynamicJob.objects.count() == 0
    assert AuditEntry.objects.count() == 0
