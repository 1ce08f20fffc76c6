from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from job_templates import secrets
from scheduler_jobs import services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db


def job_data(**overrides) -> dict:
    data = {
        "name": "nightly heartbeat",
        "template_type": "heartbeat",
        "parameters": {"message": "hi"},
        "schedule": {"type": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin"},
    }
    data.update(overrides)
    return data


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        call()
    return excinfo.value.message_dict


def test_create_fills_defaults_and_schedules_the_next_run(job_editor):
    with time_machine.travel(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=False):
        job = services.job_create(user=job_editor, data=job_data())
    assert job.parameters == {"message": "hi", "fail": False, "sleep_seconds": 0}
    assert job.timeout_seconds == 1800
    assert job.retry_policy == {"max_retries": 3, "delay_seconds": 60, "backoff": 2.0}
    assert job.overlap_policy == "skip"
    assert job.misfire_policy == "run_once"
    assert job.next_run_at == datetime(2026, 7, 2, 0, 0, tzinfo=UTC)  # 02:00 CEST
    assert job.version == 1
    assert job.created_by == job_editor
    assert job.schedule_description == "At 02:00, Europe/Berlin"


def test_create_is_audited_with_the_values(job_editor):
    job = services.job_create(user=job_editor, data=job_data(), source="api")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (
        "create",
        job_editor,
        str(job.pk),
    )
    assert entry.changes["after"]["name"] == "nightly heartbeat"
    assert entry.source == "api"


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"template_type": "nope"}, "template_type", "Unknown template 'nope'"),
        (
            {"parameters": {"sleep_seconds": 99999}},
            "parameters.sleep_seconds",
            "≤ 3600",
        ),
        ({"parameters": {"colour": "red"}}, "parameters.colour", "Unknown parameter"),
        ({"parameters": "text"}, "parameters", "JSON object"),
        (
            {"schedule": {"type": "cron", "cron": "61 * * * *"}},
            "schedule.cron",
            "minute field: 61 is out of range 0-59",
        ),
        (
            {"schedule": {"type": "interval", "every_seconds": 1}},
            "schedule.every_seconds",
            "at least 10 seconds",
        ),
        ({"schedule": None}, "schedule", "JSON object"),
        ({"name": "  "}, "name", "needs a name"),
        ({"timeout_seconds": 0}, "timeout_seconds", "from 1 to 86400"),
        ({"retry_policy": {"max_retries": 99}}, "retry_policy.max_retries", "0 to 10"),
        ({"retry_policy": {"backoff": 0.5}}, "retry_policy.backoff", "1 to 10"),
        ({"overlap_policy": "sometimes"}, "overlap_policy", "skip, queue, allow"),
        ({"misfire_policy": "never"}, "misfire_policy", "run_once, skip"),
        (
            {"notifications": {"emails": ["not-an-email"]}},
            "notifications.emails.0",
            "not a valid email",
        ),
        (
            {"notifications": {"on": ["sometimes"]}},
            "notifications.on",
            "success, failure",
        ),
        (
            {"notifications": {"slack_webhook": "ftp://x"}},
            "notifications.slack_webhook",
            "https",
        ),
        ({"queue": "bad queue!"}, "queue", "Letters, digits"),
        ({"enabled": "yes"}, "enabled", "true or false"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_field(overrides, key, fragment):
    errors = errors_of(
        lambda: services.job_create(user=SYSTEM, data=job_data(**overrides))
    )
    assert key in errors, errors
    assert any(fragment in message for message in errors[key]), errors[key]
    assert DynamicJob.objects.count() == 0


def test_duplicate_name_is_a_field_error():
    services.job_create(user=SYSTEM, data=job_data())
    errors = errors_of(lambda: services.job_create(user=SYSTEM, data=job_data()))
    assert errors == {"name": ["A job with this name already exists."]}


def test_control_characters_are_stripped_from_text():
    job = services.job_create(
        user=SYSTEM, data=job_data(name="ni\x00ght\x1bly", description="a\x07b\nc")
    )
    assert job.name == "nightly"
    assert job.description == "ab\nc"


def test_update_needs_the_current_version_and_bumps_it(job_editor):
    job = services.job_create(user=job_editor, data=job_data())
    updated = services.job_update(
        job=job, user=job_editor, data={"description": "new"}, expected_version=1
    )
    assert updated.version == 2
    assert updated.description == "new"
    with pytest.raises(services.VersionConflict) as excinfo:
        services.job_update(
            job=job, user=job_editor, data={"description": "stale"}, expected_version=1
        )
    assert excinfo.value.current_version == 2
    assert DynamicJob.objects.get().description == "new"
    entry = AuditEntry.objects.filter(action="update").get()
    assert entry.changes == {
        "description": {"before": "", "after": "new"},
        "definition_version": 2,
    }


def test_update_without_changes_keeps_the_version():
    job = services.job_create(user=SYSTEM, data=job_data())
    same = services.job_update(
        job=job, user=SYSTEM, data={"name": job.name}, expected_version=1
    )
    assert same.version == 1


def test_update_does_not_overwrite_run_state_written_meanwhile():
    job = services.job_create(user=SYSTEM, data=job_data())
    DynamicJob.objects.filter(pk=job.pk).update(last_status="completed")
    services.job_update(
        job=job, user=SYSTEM, data={"description": "x"}, expected_version=1
    )
    assert DynamicJob.objects.get().last_status == "completed"


def test_disable_clears_next_run_and_reenabling_a_cron_job_waits_for_its_slot():
    with time_machine.travel(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=False):
        job = services.job_create(user=SYSTEM, data=job_data())
        job = services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
        assert job.next_run_at is None
    with time_machine.travel(datetime(2026, 7, 5, 1, 59, tzinfo=UTC), tick=False):
        job = services.job_set_enabled(job=job, user=SYSTEM, enabled=True)
    # Missed slots while disabled do not fire at once: next is 02:00 Berlin on the 6th.
    assert job.next_run_at == datetime(2026, 7, 6, 0, 0, tzinfo=UTC)
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["create", "disable", "enable"]


def test_changing_the_schedule_recomputes_the_next_run():
    with time_machine.travel(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=False):
        job = services.job_create(user=SYSTEM, data=job_data())
        job = services.job_update(
            job=job,
            user=SYSTEM,
            data={"schedule": {"type": "interval", "every_seconds": 600}},
            expected_version=1,
        )
    assert job.next_run_at == datetime(2026, 7, 1, 12, 10, tzinfo=UTC)


def test_duplicate_creates_a_disabled_copy_with_a_free_name(job_editor):
    job = services.job_create(user=job_editor, data=job_data())
    copy1 = services.job_duplicate(job=job, user=job_editor)
    copy2 = services.job_duplicate(job=job, user=job_editor)
    assert (copy1.name, copy2.name) == (
        "nightly heartbeat (copy)",
        "nightly heartbeat (copy 2)",
    )
    assert not copy1.enabled
    assert copy1.next_run_at is None
    assert copy1.parameters == job.parameters


def test_delete_is_audited_and_keeps_the_name_in_the_entry(job_editor):
    job = services.job_create(user=job_editor, data=job_data())
    services.job_delete(job=job, user=job_editor)
    assert DynamicJob.objects.count() == 0
    entry = AuditEntry.objects.get(action="delete")
    assert entry.target_repr == "nightly heartbeat"


def test_quota_per_user_and_system(settings, job_editor):
    settings.SCHEDULER_MAX_JOBS_PER_USER = 1
    services.job_create(user=job_editor, data=job_data())
    with pytest.raises(services.QuotaExceeded, match="maximum per user"):
        services.job_create(user=job_editor, data=job_data(name="second"))
    settings.SCHEDULER_MAX_JOBS = 1
    with pytest.raises(services.QuotaExceeded, match="SCHEDULER_MAX_JOBS"):
        services.job_create(user=SYSTEM, data=job_data(name="third"))


def test_slack_webhook_is_masked_and_kept_when_sent_back_masked():
    job = services.job_create(
        user=SYSTEM,
        data=job_data(
            notifications={
                "slack_webhook": "https://hooks.slack.com/services/T0/B0/xoxSlackPath",
                "on": ["failure"],
            }
        ),
    )
    masked = services.masked_notifications(job.notifications)
    assert masked["slack_webhook"] == "https://hooks.slack.com/••••••••"
    job = services.job_update(
        job=job,
        user=SYSTEM,
        data={"notifications": masked, "description": "x"},
        expected_version=1,
    )
    stored = job.notifications["slack_webhook"]
    assert stored.startswith(secrets.SEALED_PREFIX)
    assert secrets.unseal_value(stored).endswith("/T0/B0/xoxSlackPath")
    assert "xoxSlackPath" not in str(
        AuditEntry.objects.values_list("changes", flat=True)[::1]
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://2130706433/hook",
        "https://a@127.0.0.1/hook",
    ],
)
def test_slack_webhook_to_internal_addresses_is_refused_on_save(url):
    errors = errors_of(
        lambda: services.job_create(
            user=SYSTEM, data=job_data(notifications={"slack_webhook": url})
        )
    )
    assert "notifications.slack_webhook" in errors


def test_nul_characters_in_parameters_are_refused_with_their_path():
    errors = errors_of(
        lambda: services.job_create(
            user=SYSTEM, data=job_data(parameters={"message": "a\x00b"})
        )
    )
    assert errors["parameters.message"] == ["Contains a NUL character."]


def test_timeout_reaching_the_brokers_redelivery_window_is_refused_on_save(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = 30
    errors = errors_of(
        lambda: services.job_create(user=SYSTEM, data=job_data(timeout_seconds=570))
    )
    assert "visibility_timeout = 600s" in errors["timeout_seconds"][0]
    assert services.job_create(user=SYSTEM, data=job_data(timeout_seconds=569))


def test_a_job_that_no_longer_validates_can_still_be_disabled(settings):
    job = services.job_create(
        user=SYSTEM,
        data=job_data(schedule={"type": "interval", "every_seconds": 30}),
    )
    settings.SCHEDULER_MIN_INTERVAL_SECONDS = 60  # stricter rules since it was saved
    disabled = services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
    assert not disabled.enabled
    assert disabled.next_run_at is None
    assert disabled.version == 2
    assert AuditEntry.objects.filter(action="disable").count() == 1
    errors = errors_of(
        lambda: services.job_set_enabled(job=job, user=SYSTEM, enabled=True)
    )
    assert "schedule.every_seconds" in errors
