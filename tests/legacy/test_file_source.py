"""Legacy jobs from a JSON or YAML file, for schedulers that are neither kind."""

from pathlib import Path

import pytest
from django.core.management.base import CommandError

from audit.models import AuditEntry
from job_templates.registry import registry
from scheduler_jobs.models import DynamicJob
from tests.legacy.conftest import run

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
YAML = str(FIXTURES / "legacy_jobs.yaml")
JSON = str(FIXTURES / "legacy_jobs.json")


def test_yaml_file_plan_reads_every_schedule_form(no_settings_jobs):
    out = run("legacy_jobs", "plan", "--source", "file", YAML)

    rows = {line.split()[0]: line for line in out.splitlines()[1:5]}
    assert rows["test_scheduler"].split()[-5:] == [
        "heartbeat", "Every", "minute,", "UTC", "ready",
    ]  # fmt: skip
    assert "crontab(30 2 * * *, Europe/Berlin)" in rows["auto_delete_resolved_tickets"]
    assert "every 6 hours" in rows["data_cleanup"]
    assert "@daily (UTC)" in rows["rebuild_search_index"]
    assert "legacy:     task ops.cron.test_scheduler, legacy_jobs.yaml jobs[0]" in out
    assert 'parameters: {"fail": false, "message": "old cron is alive"' in out
    assert "rebuild_search_index  (unmappable)" in out
    assert "disabled in file" in out


def test_json_file_migrates_and_keeps_the_legacy_positional_age(
    no_settings_jobs, settings
):
    settings.SCHEDULER_LEGACY_TICKETS_MODEL = "testapp.Ticket"

    out = run("legacy_jobs", "plan", "--source", "file", JSON)

    assert "test_scheduler  (ready)" in out
    assert (
        "reason:     schedule: every 5 seconds is shorter than the minimum of 10 "
        "seconds (SCHEDULER_MIN_INTERVAL_SECONDS)"
    ) in out
    if "database_cleanup" in registry:  # args [7]: resolved more than 7 days ago
        assert '"resolved_at__lt": {"ago": "7d"}' in out

    run("legacy_jobs", "migrate", "test_scheduler", "--source", "file", JSON)

    job = DynamicJob.objects.get()
    assert job.schedule == {"type": "interval", "every_seconds": 60}
    assert job.legacy_name == "test_scheduler"
    assert job.description == (
        "heartbeat of the old scheduler\n\nMigrated from legacy job test_scheduler "
        "(task ops.cron.test_scheduler, legacy_jobs.json)."
    )


def test_file_source_has_no_switch_to_disable(no_settings_jobs):
    out = run(
        "legacy_jobs",
        "migrate",
        "test_scheduler",
        "--enable",
        "--disable-legacy",
        "--source",
        "file",
        YAML,
    )

    assert (
        "test_scheduler: the file source has no switch: disable 'test_scheduler' in "
        "the scheduler that runs it."
    ) in out
    assert "runs on both sides (double runs)" in out
    status = run("legacy_jobs", "status", "--source", "file", YAML)
    assert "WARNING: test_scheduler is enabled on both sides" in status


def test_malformed_entries_fail_the_whole_file_naming_entry_and_field(
    no_settings_jobs,
):
    bad = str(FIXTURES / "legacy_jobs_bad.yaml")

    with pytest.raises(CommandError) as excinfo:
        run("legacy_jobs", "migrate", "--all", "--source", "file", bad)

    assert str(excinfo.value).splitlines() == [
        "legacy_jobs_bad.yaml: jobs[1] (data_cleanup): kwags: unknown field; allowed: "
        "args, description, enabled, kwargs, name, options, schedule, task, timezone.",
        "legacy_jobs_bad.yaml: jobs[1] (data_cleanup): task: required, a non-empty "
        "string.",
    ]
    assert DynamicJob.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_bad_schedule_in_a_file_names_the_entry(no_settings_jobs, tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "- name: test_scheduler\n"
        "  task: ops.test_scheduler\n"
        "  schedule: {every: 6, period: fortnights}\n"
    )

    with pytest.raises(CommandError) as excinfo:
        run("legacy_jobs", "plan", "--source", "file", str(path))

    assert str(excinfo.value) == (
        "jobs.yaml: jobs[0] (test_scheduler): schedule: period 'fortnights' is not "
        "one of days, hours, minutes, seconds, microseconds."
    )


def test_broken_yaml_reports_the_line(no_settings_jobs):
    broken = str(FIXTURES / "legacy_jobs_broken.yaml")

    with pytest.raises(CommandError, match=r"line 4, column \d+: not valid YAML"):
        run("legacy_jobs", "plan", "--source", "file", broken)


def test_broken_json_reports_line_and_column(no_settings_jobs, tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text('[\n  {"name": "x",\n   "task": }\n]')

    with pytest.raises(CommandError) as excinfo:
        run("legacy_jobs", "plan", "--source", "file", str(path))

    assert str(excinfo.value).startswith(f"{path}: line 3, column 12: not valid JSON")


def test_missing_file_and_missing_path_are_clear_errors(no_settings_jobs):
    with pytest.raises(CommandError, match=r"nope\.yaml: no such file"):
        run("legacy_jobs", "plan", "--source", "file", "nope.yaml")
    with pytest.raises(CommandError, match="--source file needs a PATH"):
        run("legacy_jobs", "plan", "--source", "file")
    with pytest.raises(CommandError, match="Unknown source 'cron'"):
        run("legacy_jobs", "plan", "--source", "cron")
