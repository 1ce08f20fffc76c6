"""The mapping table: built-in cleanup rules and SCHEDULER_LEGACY_RULES."""

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from executions.models import JobExecution
from executions.services import execution_run, run_now
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.legacy.conftest import run
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets_model(seed_settings):
    seed_settings.SCHEDULER_LEGACY_TICKETS_MODEL = "testapp.Ticket"
    return seed_settings


def test_resolved_tickets_cleanup_maps_to_a_dry_run_on_the_tickets_model(
    tickets_model,
):
    out = run("legacy_jobs", "migrate", "auto_delete_resolved_tickets")

    job = DynamicJob.objects.get()
    assert job.template_type == "database_cleanup"
    assert job.parameters["collection"] == "testapp.Ticket"
    assert job.parameters["condition"] == {
        "status": "resolved",
        "resolved_at__lt": {"ago": "14d"},  # kwargs {"days": 14}
    }
    assert job.parameters["dry_run"] is True
    assert job.schedule == {"type": "cron", "cron": "30 2 * * *", "timezone": "UTC"}
    assert ", disabled, dry run." in out
    assert "the dynamic job is a dry run (counts, deletes nothing)" in out


def test_resolved_tickets_age_defaults_to_30_days(tickets_model):
    entry = dict(tickets_model.CELERY_BEAT_SCHEDULE["auto_delete_resolved_tickets"])
    entry.pop("kwargs")
    tickets_model.CELERY_BEAT_SCHEDULE = {"auto_delete_resolved_tickets": entry}

    run("legacy_jobs", "migrate", "auto_delete_resolved_tickets")

    condition = DynamicJob.objects.get().parameters["condition"]
    assert condition["resolved_at__lt"] == {"ago": "30d"}


def test_resolved_tickets_bad_age_is_unmappable(tickets_model):
    entry = dict(tickets_model.CELERY_BEAT_SCHEDULE["auto_delete_resolved_tickets"])
    entry["kwargs"] = {"days": "two weeks"}
    tickets_model.CELERY_BEAT_SCHEDULE = {"auto_delete_resolved_tickets": entry}

    with pytest.raises(CommandError, match="days must be a whole number of days"):
        run("legacy_jobs", "migrate", "auto_delete_resolved_tickets")


def test_tickets_model_outside_the_cleanup_allowlist_is_unmappable(tickets_model):
    tickets_model.SCHEDULER_LEGACY_TICKETS_MODEL = "auth.User"

    out = run("legacy_jobs", "plan")

    assert "auto_delete_resolved_tickets  (unmappable)" in out
    assert "reason:     the mapped job is invalid: parameters.collection:" in out


def test_migrated_tickets_cleanup_counts_then_deletes_after_live(tickets_model):
    old = timezone.now() - timezone.timedelta(days=20)
    Ticket.objects.create(title="old", status="resolved", resolved_at=old)
    Ticket.objects.create(title="recent", status="resolved", resolved_at=timezone.now())
    Ticket.objects.create(title="open", status="open")
    run("legacy_jobs", "migrate", "auto_delete_resolved_tickets", "--enable")
    job = DynamicJob.objects.get()

    execution_run(execution_id=run_now(job=job, user=SYSTEM).pk)

    assert Ticket.objects.count() == 3  # dry run: counted only
    assert JobExecution.objects.get().status == JobExecution.Status.COMPLETED

    out = run("legacy_jobs", "migrate", "auto_delete_resolved_tickets", "--live")

    job.refresh_from_db()
    assert job.parameters["dry_run"] is False
    assert (
        "auto_delete_resolved_tickets: set dry_run false on "
        "'auto_delete_resolved_tickets': it deletes from now on."
    ) in out
    execution_run(execution_id=run_now(job=job, user=SYSTEM).pk)
    assert sorted(Ticket.objects.values_list("title", flat=True)) == [
        "open",
        "recent",
    ]


def test_data_cleanup_maps_model_and_age_from_kwargs(seed_settings):
    run("legacy_jobs", "migrate", "data_cleanup")

    job = DynamicJob.objects.get()
    assert job.parameters["collection"] == "executions.JobExecution"
    assert job.parameters["condition"] == {"created_at__lt": {"ago": "90d"}}
    assert job.parameters["dry_run"] is True


def test_data_cleanup_without_a_model_is_not_guessed(seed_settings):
    entry = dict(seed_settings.CELERY_BEAT_SCHEDULE["data_cleanup"], kwargs={})
    seed_settings.CELERY_BEAT_SCHEDULE = {"data_cleanup": entry}

    out = run("legacy_jobs", "plan")

    assert (
        "reason:     the legacy kwargs name no model ('model' or 'collection'); add a "
        "SCHEDULER_LEGACY_RULES entry for data_cleanup"
    ) in out


def test_settings_rule_maps_a_task_path_with_args_and_kwargs(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "newsletter.tasks.send_weekly_digest": {
            "template": "heartbeat",
            "args": ["message"],
            "options": {"timeout_seconds": 300},
        }
    }

    out = run("legacy_jobs", "plan")

    assert (
        "rule:       task 'newsletter.tasks.send_weekly_digest' "
        "(SCHEDULER_LEGACY_RULES)"
    ) in out
    assert '"message": "staff@example.com"' in out
    run("legacy_jobs", "migrate", "send_weekly_digest")
    job = DynamicJob.objects.get()
    assert job.schedule == {"type": "cron", "cron": "0 8 * * mon", "timezone": "UTC"}
    assert job.timeout_seconds == 300


def test_name_rules_win_over_task_rules(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "legacy.tasks.test_scheduler": {"unmappable": "task rule must not be used"},
    }

    out = run("legacy_jobs", "plan")

    assert "test_scheduler  (ready)" in out
    assert "rule:       name 'test_scheduler' (built-in)" in out


def test_settings_can_override_or_remove_a_built_in_rule(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "test_scheduler": {"unmappable": "replaced by the uptime monitor"},
        "data_cleanup": None,
    }

    out = run("legacy_jobs", "plan")

    assert "reason:     replaced by the uptime monitor" in out
    assert "reason:     no mapping rule for name 'data_cleanup'" in out


def test_rule_with_an_unknown_template_is_reported_with_the_field(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "send_weekly_digest": {"template": "newsletter", "args": ["recipients"]},
    }

    with pytest.raises(CommandError) as excinfo:
        run("legacy_jobs", "migrate", "send_weekly_digest")

    assert (
        "send_weekly_digest: the mapped job is invalid: template_type: Unknown "
        "template 'newsletter'."
    ) in str(excinfo.value)
    assert DynamicJob.objects.count() == 0


def test_rule_that_leaves_legacy_arguments_unmapped_is_refused(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "send_weekly_digest": {"template": "heartbeat"},
    }

    out = run("legacy_jobs", "plan")

    assert (
        "reason:     legacy positional args ['staff@example.com'] have no mapping in "
        "the rule for name 'send_weekly_digest' (SCHEDULER_LEGACY_RULES); name their "
        "parameters under 'args'"
    ) in out


def test_rule_with_a_typo_is_reported(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "send_weekly_digest": {"template": "heartbeat", "paramters": {}},
    }

    out = run("legacy_jobs", "plan")

    assert "unknown rule key(s) paramters" in out


def test_rule_can_point_to_a_mapper_function(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "send_weekly_digest": "tests.legacy.mappers.digest_as_heartbeat",
    }

    run("legacy_jobs", "migrate", "send_weekly_digest")

    job = DynamicJob.objects.get()
    assert job.parameters["message"] == "digest for staff@example.com"


def test_status_says_a_parallel_dry_run_changes_no_data(seed_settings):
    run("legacy_jobs", "migrate", "data_cleanup", "--enable")

    out = run("legacy_jobs", "status")

    line = next(x for x in out.splitlines() if x.startswith("data_cleanup "))
    assert line.split()[-4:] == ["enabled,", "dry", "run", "BOTH"]
    assert (
        "WARNING: data_cleanup is enabled on both sides: every run happens twice; the "
        "dynamic job is a dry run, so only the legacy job changes data. When its "
        "counts match, switch: `legacy_jobs migrate data_cleanup --live "
        "--disable-legacy`."
    ) in out


def test_rule_can_rename_the_job_and_replace_the_schedule(seed_settings):
    seed_settings.SCHEDULER_LEGACY_RULES = {
        "send_weekly_digest": {
            "template": "heartbeat",
            "ignore": [],
            "args": ["message"],
            "name": "Weekly digest (heartbeat stand-in)",
            "schedule": {
                "type": "cron",
                "cron": "0 9 * * 1",
                "timezone": "Europe/Paris",
            },
        }
    }

    run("legacy_jobs", "migrate", "send_weekly_digest")
    again = run("legacy_jobs", "migrate", "send_weekly_digest")

    job = DynamicJob.objects.get()
    assert job.name == "Weekly digest (heartbeat stand-in)"
    assert job.legacy_name == "send_weekly_digest"
    assert job.schedule == {
        "type": "cron",
        "cron": "0 9 * * 1",
        "timezone": "Europe/Paris",
    }
    assert "already migrated to 'Weekly digest (heartbeat stand-in)'" in again


def test_going_live_through_legacy_migration_waits_for_a_second_person(
    tickets_model, settings, django_user_model
):
    from scheduler_jobs import services
    from scheduler_jobs.models import JobApproval
    from tests.conftest import staff_with

    settings.SCHEDULER_APPROVALS = "high-risk"
    Ticket.objects.create(title="old", status="resolved", resolved_at=timezone.now())
    run("legacy_jobs", "migrate", "auto_delete_resolved_tickets", "--enable")

    out = run("legacy_jobs", "migrate", "auto_delete_resolved_tickets", "--live")

    job = DynamicJob.objects.get()
    assert job.parameters["dry_run"] is True  # nothing changed yet
    assert "waits for another person's approval" in out
    approval = JobApproval.objects.get(job=job)
    reviewer = staff_with(
        django_user_model,
        "reviewer",
        "scheduler_jobs.view_dynamicjob",
        "scheduler_jobs.approve_dynamicjob",
        "job_templates.use_high_risk_template",
        "testapp.delete_ticket",
    )
    services.approval_decide(
        approval=approval, user=reviewer, approve=True, comment="migration checked"
    )
    job.refresh_from_db()
    assert job.parameters["dry_run"] is False
    assert job.versions.get(number=job.definition_version).source == "approval"
