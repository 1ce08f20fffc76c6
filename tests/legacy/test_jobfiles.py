"""export_jobs / import_jobs: job definitions as YAML or JSON files."""

import json
from typing import Any

import pytest
import yaml
from django.core.management.base import CommandError

from audit.models import AuditEntry
from job_templates import secrets
from job_templates.base import JobTemplate
from job_templates.registry import registry
from job_templates.secrets import SECRET_MASK
from scheduler_jobs import jobfiles, services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob
from tests.legacy.conftest import run

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.slack.com/services/T000/B000/very-secret-path"


class SignedPingTemplate(JobTemplate):
    """Test-only: a template with a secret parameter."""

    type = "signed_ping"
    name = "Signed ping"
    parameters_schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "token": {"type": "string", "writeOnly": True},
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def execute(self, params: dict[str, Any], ctx) -> dict[str, Any]:
        return {}


@pytest.fixture
def signed_ping():
    registry.register(SignedPingTemplate)
    yield
    registry.unregister("signed_ping")


def _create(name: str, **data: Any) -> DynamicJob:
    values = {
        "name": name,
        "template_type": "heartbeat",
        "schedule": {"type": "interval", "every_seconds": 60},
        **data,
    }
    return services.job_create(user=SYSTEM, data=values, source="test")


@pytest.fixture
def jobs(signed_ping):
    return [
        _create(
            "nightly ping",
            template_type="signed_ping",
            parameters={"url": "https://example.com/ping", "token": "s3cr3t"},
            schedule={"type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"},
            notifications={"emails": ["ops@example.com"], "slack_webhook": WEBHOOK},
        ),
        _create("heartbeat", enabled=False),
    ]


def test_export_writes_every_job_with_secrets_masked(jobs):
    out = run("export_jobs")

    document = yaml.safe_load(out)
    assert out.startswith("# Dynamic Scheduler job definitions.")
    assert document["version"] == 1
    assert [job["name"] for job in document["jobs"]] == ["heartbeat", "nightly ping"]
    ping = document["jobs"][1]
    assert ping["parameters"] == {
        "url": "https://example.com/ping",
        "token": SECRET_MASK,
    }
    assert ping["notifications"]["slack_webhook"] == (
        f"https://hooks.slack.com/{SECRET_MASK}"
    )
    assert ping["schedule"] == {
        "type": "cron",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
    }
    assert "s3cr3t" not in out
    assert "very-secret-path" not in out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_of_the_same_file_changes_nothing(jobs, tmp_path, fmt):
    path = tmp_path / f"jobs.{fmt}"
    assert run("export_jobs", "--output", str(path)) == (
        f"Exported 2 job(s) to {path}.\n"
    )
    versions = list(DynamicJob.objects.values_list("version", flat=True))
    audit_count = AuditEntry.objects.count()

    out = run("import_jobs", str(path))

    assert out.splitlines() == [
        f"Plan for {path} (2 job(s) in the file):",
        "  unchanged  heartbeat",
        "  unchanged  nightly ping",
        "Nothing to change (0 create, 0 update, 2 unchanged, 0 delete).",
    ]
    assert list(DynamicJob.objects.values_list("version", flat=True)) == versions
    assert AuditEntry.objects.count() == audit_count
    ping = DynamicJob.objects.get(name="nightly ping")
    assert secrets.unseal_value(ping.parameters["token"]) == "s3cr3t"
    assert secrets.unseal_value(ping.notifications["slack_webhook"]) == WEBHOOK


def test_export_json_by_format_and_selected_names(jobs):
    out = run("export_jobs", "--format", "json", "heartbeat")

    document = json.loads(out)
    assert [job["name"] for job in document["jobs"]] == ["heartbeat"]


def test_export_of_an_unknown_job_fails(jobs):
    with pytest.raises(CommandError, match="No job named 'nope'"):
        run("export_jobs", "heartbeat", "nope")


def test_import_creates_updates_and_prunes_in_one_audited_step(jobs, tmp_path):
    document = jobfiles.jobs_export(actor=SYSTEM)
    heartbeat = document["jobs"][0]
    heartbeat["schedule"] = {"type": "interval", "every_seconds": 300}
    heartbeat["enabled"] = True
    document["jobs"] = [
        heartbeat,
        {
            "name": "new check",
            "template_type": "heartbeat",
            "parameters": {"message": "from git"},
            "schedule": {"type": "cron", "cron": "*/5 * * * *"},
            "legacy_name": "old_check",
        },
    ]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(document))

    out = run("import_jobs", str(path), "--prune")

    assert out.splitlines() == [
        f"Plan for {path} (2 job(s) in the file):",
        "  update  heartbeat: schedule, enabled",
        "      schedule.every_seconds: 60 → 300",
        "      enabled: false → true",
        "  create  new check",
        "  delete  nightly ping",
        "Imported: 1 created, 1 updated, 0 unchanged, 1 deleted.",
    ]
    assert sorted(DynamicJob.objects.values_list("name", flat=True)) == [
        "heartbeat",
        "new check",
    ]
    updated = DynamicJob.objects.get(name="heartbeat")
    assert updated.schedule["every_seconds"] == 300
    assert updated.enabled is True
    assert DynamicJob.objects.get(name="new check").legacy_name == "old_check"
    entry = AuditEntry.objects.get(action="import")
    assert entry.actor_repr.endswith(" via import_jobs")
    assert entry.changes["created"] == ["new check"]
    assert entry.changes["updated"] == {"heartbeat": ["schedule", "enabled"]}
    assert entry.changes["deleted"] == ["nightly ping"]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"create", "update", "delete", "import"} <= actions
    assert [
        (v.number, v.source)
        for v in DynamicJob.objects.get(name="heartbeat").versions.all()
    ] == [(2, "import"), (1, "other")]


def test_import_dry_run_prints_the_plan_and_changes_nothing(jobs, tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([{"name": "heartbeat", "timeout_seconds": 90}]))

    out = run("import_jobs", str(path), "--dry-run", "--prune")

    assert out.splitlines() == [
        f"Plan for {path} (1 job(s) in the file):",
        "  update  heartbeat: timeout_seconds",
        "      timeout_seconds: 1800 → 90",
        "  delete  nightly ping",
        "Dry run: 0 create, 1 update, 0 unchanged, 1 delete; nothing was changed.",
    ]
    assert DynamicJob.objects.count() == 2
    assert DynamicJob.objects.get(name="heartbeat").timeout_seconds == 1800


def test_one_invalid_job_fails_the_whole_file_naming_job_and_field(jobs, tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jobs": [
                    {
                        "name": "fine",
                        "template_type": "heartbeat",
                        "schedule": {"type": "interval", "every_seconds": 60},
                    },
                    {
                        "name": "broken",
                        "template_type": "no_such_template",
                        "schedule": {"type": "cron", "cron": "0 25 * * *"},
                        "colour": "red",
                    },
                    {"name": "heartbeat", "schedule": {"type": "interval"}},
                ]
            }
        )
    )

    with pytest.raises(CommandError) as excinfo:
        run("import_jobs", str(path))

    lines = str(excinfo.value).splitlines()
    assert lines[0] == f"{path}: 4 error(s); nothing was imported:"
    assert lines[1] == "  jobs[1] (broken): colour: unknown field."
    assert lines[2].startswith(
        "  jobs[1] (broken): template_type: Unknown template 'no_such_template'."
    )
    assert lines[3] == (
        "  jobs[1] (broken): schedule.cron: hour field: 25 is out of range 0-23"
    )
    assert lines[4] == (
        "  jobs[2] (heartbeat): schedule.every_seconds: Must be a whole number of "
        "seconds."
    )
    assert not DynamicJob.objects.filter(name="fine").exists()
    assert DynamicJob.objects.get(name="heartbeat").schedule["every_seconds"] == 60


def test_malformed_yaml_reports_the_line_and_imports_nothing(jobs, tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  - name: a\n    schedule: {type: interval\n")

    with pytest.raises(CommandError, match=r"jobs\.yaml: line 4, column 1: not valid"):
        run("import_jobs", str(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("42", "expected a list of jobs under 'jobs'"),
        ("version: 2\njobs: []\n", "version 2 is not supported"),
        ("jobz: []\n", "unknown top-level field(s) jobz"),
        ("- just a string\n", "jobs[0]: must be an object of job fields."),
        ("- {template_type: heartbeat}\n", "jobs[0]: name: required."),
        ("- {name: a}\n- {name: a}\n", "jobs[1] (a): name: also used by jobs[0]."),
    ],
)
def test_structural_errors_are_named(jobs, tmp_path, text, message):
    path = tmp_path / "jobs.yaml"
    path.write_text(text)

    with pytest.raises(CommandError) as excinfo:
        run("import_jobs", str(path))

    assert message in str(excinfo.value)


def test_masked_secret_for_a_new_job_is_refused(jobs, tmp_path):
    document = jobfiles.jobs_export(names=["nightly ping"], actor=SYSTEM)
    document["jobs"][0]["name"] = "copied ping"
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(CommandError) as excinfo:
        run("import_jobs", str(path))

    message = str(excinfo.value)
    assert (
        f"jobs[0] (copied ping): parameters.token: The value is masked ({SECRET_MASK})"
        in message
    )
    assert (
        "jobs[0] (copied ping): notifications.slack_webhook: The value is masked"
        in (message)
    )
    assert not DynamicJob.objects.filter(name="copied ping").exists()


def test_a_changed_secret_is_applied(jobs, tmp_path):
    document = jobfiles.jobs_export(names=["nightly ping"], actor=SYSTEM)
    document["jobs"][0]["parameters"]["token"] = "rotated"
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(document))

    out = run("import_jobs", str(path))

    assert "  update  nightly ping: parameters" in out
    stored = DynamicJob.objects.get(name="nightly ping").parameters["token"]
    assert secrets.unseal_value(stored) == "rotated"


def test_a_failure_while_applying_rolls_back_every_change(jobs, tmp_path):
    definitions = [
        {
            "name": "created first",
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 60},
        },
        {"name": "heartbeat", "timeout_seconds": 99},
    ]
    plan = jobfiles.import_plan(definitions, source="jobs.yaml")
    # Someone edits the job between the plan and the apply.
    heartbeat = DynamicJob.objects.get(name="heartbeat")
    services.job_update(
        job=heartbeat, user=SYSTEM, data={"timeout_seconds": 42}, expected_version=1
    )

    with pytest.raises(services.VersionConflict):
        jobfiles.import_apply(plan, actor="tester")

    assert not DynamicJob.objects.filter(name="created first").exists()
    assert DynamicJob.objects.get(name="heartbeat").timeout_seconds == 42
    assert not AuditEntry.objects.filter(action="import").exists()


def test_import_from_stdin(jobs, monkeypatch):
    import io
    import sys

    text = run("export_jobs", "heartbeat").replace(
        "every_seconds: 60", "every_seconds: 120"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    out = run("import_jobs", "-")

    assert "  update  heartbeat: schedule" in out
    assert DynamicJob.objects.get(name="heartbeat").schedule["every_seconds"] == 120


def test_masked_webhook_pointing_elsewhere_is_refused(jobs, tmp_path):
    document = jobfiles.jobs_export(names=["nightly ping"], actor=SYSTEM)
    document["jobs"][0]["notifications"]["slack_webhook"] = (
        f"https://evil.example.com/{SECRET_MASK}"
    )
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(
        CommandError, match=r"notifications\.slack_webhook: The value is masked"
    ):
        run("import_jobs", str(path))

    ping = DynamicJob.objects.get(name="nightly ping")
    assert secrets.unseal_value(ping.notifications["slack_webhook"]) == WEBHOOK


def test_prune_with_an_empty_file_deletes_nothing(jobs, tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs: []\n")

    with pytest.raises(CommandError, match="refusing to delete all 2 job"):
        run("import_jobs", str(path), "--prune")

    assert DynamicJob.objects.count() == 2


def test_legacy_name_of_an_existing_job_is_not_silently_changed(jobs, tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text("- {name: heartbeat, legacy_name: test_scheduler}\n")

    with pytest.raises(CommandError) as excinfo:
        run("import_jobs", str(path))

    assert (
        "jobs[0] (heartbeat): legacy_name: is '' in the database; it is set only "
        "when a job is created."
    ) in str(excinfo.value)
