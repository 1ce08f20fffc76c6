"""Issue 16, words: one name, a branded site, plain labels, one time format.

The browser tests (tests/browser/test_admin_words_and_layout.py) check what a
person sees; these check the rules behind it quickly and for every case.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.utils import formats

from executions.models import JobExecution
from scheduler_jobs import labels
from scheduler_jobs.models import DynamicJob
from tests.admin.conftest import (
    HEARTBEAT_PARAMS,
    OPTIONS_DEFAULT,
    SCHEDULE_DAILY,
    wizard_post,
)
from tests.factories import DynamicJobFactory, JobExecutionFactory
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db

WINTER = datetime(2026, 12, 1, 13, 34, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 13, 34, tzinfo=UTC)


# --- names ----------------------------------------------------------------------


def test_one_name_for_a_scheduled_job():
    assert DynamicJob._meta.verbose_name == "scheduled job"
    assert DynamicJob._meta.verbose_name_plural == "scheduled jobs"
    assert DynamicJob._meta.app_config.verbose_name == "Scheduled jobs"
    assert JobExecution._meta.verbose_name_plural == "executions"


def test_the_site_is_branded_and_has_no_dead_view_site_link():
    assert admin.site.site_header == "Dynamic Scheduler"
    assert admin.site.site_title == "Dynamic Scheduler"
    assert admin.site.site_url is None
    assert admin.site.enable_nav_sidebar is False


def test_job_list_is_titled_by_its_name(admin_client_):
    html = admin_client_.get("/admin/scheduler_jobs/dynamicjob/").content.decode()
    assert "<h1>Scheduled jobs</h1>" in html
    assert "<title>Scheduled jobs | Dynamic Scheduler</title>" in html
    assert "Add scheduled job" in html
    assert "dynamic job" not in html.lower()
    assert "Django administration" not in html


def test_home_page_groups_the_scheduler_first_and_library_screens_last(
    admin_client_,
):
    html = admin_client_.get("/admin/").content.decode()
    scheduler = html.index('id="group-scheduler-rows"')
    access = html.index('id="group-access-rows"')
    advanced = html.index('id="group-advanced"')
    assert scheduler < access < advanced
    # celery-beat's screens sit under Advanced only, after the hint.
    assert html.index("Periodic tasks") > advanced
    assert "Not for jobs: use Scheduled jobs" in html
    assert "\uff0b" not in html  # the fullwidth plus drawn as a box
    assert 'class="addlink"' in html[scheduler:access]


def test_home_page_shows_only_what_the_user_may_see(editor_client):
    html = editor_client.get("/admin/").content.decode()
    assert "Scheduled jobs" in html
    assert "Dashboard" in html  # editor may view executions
    assert 'id="group-advanced"' not in html
    assert 'id="group-access-rows"' not in html


# --- labels ----------------------------------------------------------------------


def test_plain_values_never_show_python_or_json_literals():
    assert labels.plain_value(True) == "Yes"
    assert labels.plain_value(False) == "No"
    assert labels.plain_value("") == "not set"
    assert labels.plain_value(None) == "not set"
    assert labels.plain_value({}) == "none"
    assert labels.plain_value([]) == "none"
    assert labels.plain_value(["a", "b"]) == "a, b"
    assert labels.plain_value({"testapp.Comment": 3}) == "testapp.Comment: 3"
    assert labels.plain_value(12345) == "12\u202f345"
    assert labels.plain_value("jsonl") == "JSON Lines"


def test_a_cleanup_result_reads_in_words():
    rows = dict(
        (label, value)
        for label, value, _ in labels.result_rows(
            {"would_batches": 1, "capped": False, "cascade": {}, "would_delete": 12}
        )
    )
    assert rows == {
        "Batches it would take": "1",
        "Stopped at the row limit": "No",
        "Related rows deleted with them": "none",
        "Rows it would delete": "12",
    }


def test_every_result_key_of_the_builtin_templates_has_a_label():
    # The keys the built-in templates return (their execute and preview).
    keys = {
        *("dry_run", "collection", "path", "bytes", "ext", "format", "job"),
        *("summary", "kind", "matched", "deleted", "batches", "capped", "max_rows"),
        *("remaining", "stopped_early", "would_delete", "would_batches", "cascade"),
        *("total_with_cascade", "blocked", "method", "kept", "models", "tables"),
        *("objects", "restore", "rotated", "would_rotate", "verified", "rows"),
        *("compressed", "fields", "sent", "would_send", "subject", "body_preview"),
        *("attachments", "message_ids", "message", "host", "time", "slept_seconds"),
        *("url", "final_url", "status", "latency_ms", "redirects", "content_type"),
        *("headers", "body", "addresses", "emailed", "csv", "html", "json"),
    }
    assert keys <= set(labels.RESULT_LABELS)


def test_parameters_are_titled_as_the_form_titles_them():
    from job_templates.registry import registry

    schema = registry.get("webhook_trigger").get_schema()
    rows = labels.parameter_rows(schema, {"signing_secret": "", "timeout_seconds": 10})
    assert rows == [
        ("Signing secret", "not set", False),
        ("Timeout (seconds)", "10", False),
    ]


def test_counts_agree_with_their_number():
    assert labels.plural(1, "retry", "retries") == "1 retry"
    assert labels.plural(2, "retry", "retries") == "2 retries"
    assert labels.plural(0, "run") == "0 runs"


def test_execution_titles_say_status_in_words():
    execution = JobExecutionFactory(status="retry_pending", attempt=2)
    assert labels.execution_subtitle(execution) == "Retry pending, attempt 2"
    assert labels.execution_title(execution) == (
        f"Run #{execution.pk} of {execution.job_name}"
    )


# --- times ----------------------------------------------------------------------


def test_one_datetime_format_with_the_zone():
    assert labels.format_datetime(WINTER) == "2026-12-01 13:34 UTC"
    assert labels.format_datetime(WINTER, seconds=True) == "2026-12-01 13:34:05 UTC"
    assert labels.format_datetime(WINTER, "Europe/Berlin") == "2026-12-01 14:34 CET"
    assert labels.format_datetime(SUMMER, "Europe/Berlin") == "2026-07-01 15:34 CEST"
    assert labels.format_datetime(WINTER, "Asia/Dubai") == "2026-12-01 17:34 UTC+04"
    assert labels.format_datetime(None) == "—"
    assert labels.format_datetime(WINTER, "Not/AZone") == "2026-12-01 13:34 UTC"


def test_djangos_own_date_format_matches():
    assert formats.localize(WINTER) == "2026-12-01 13:34 UTC"


def test_a_jobs_zone_is_its_cron_zone():
    berlin = DynamicJobFactory(
        schedule={"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    )
    assert labels.job_zone_name(berlin) == "Europe/Berlin"
    assert labels.job_zone_name(DynamicJobFactory()) == "UTC"
    assert labels.job_zone_name(None) == "UTC"


def test_seconds_read_as_time():
    assert labels.format_seconds(1800) == "30 minutes"
    assert labels.format_seconds(60) == "1 minute"
    assert labels.format_seconds(90) == "90 seconds"
    assert labels.format_seconds(7200) == "2 hours"


# --- pages ----------------------------------------------------------------------


def _through_review(client, *, template: str, parameters: str, name: str) -> str:
    wizard_post(client, "template", {"template_type": template})
    wizard_post(client, "parameters", {"name": name, "parameters": parameters})
    wizard_post(client, "schedule", SCHEDULE_DAILY)
    return wizard_post(client, "options", OPTIONS_DEFAULT).content.decode()


RAW = re.compile(r"\b(dry_run|run_once|would_batches|timeout_seconds)\b|Capped")


def test_the_review_says_everything_in_words(admin_client_):
    for i in range(3):
        Ticket.objects.create(title=f"t{i}", status="resolved")
    html = _through_review(
        admin_client_,
        template="database_cleanup",
        name="Purge",
        parameters='{"collection": "testapp.Ticket", "condition": '
        '"{\\"status\\": \\"resolved\\"}", "dry_run": true}',
    )
    review = html[html.index('class="ds-review"') : html.index('class="submit-row"')]
    assert not RAW.search(re.sub(r"<[^>]+>", " ", review)), RAW.search(review)
    for words in (
        "Run once to catch up, however many slots were missed",
        "Skip the new run while one is running",
        "30 minutes",
        "Up to 3, the first after 1 minute",
        "Rows it would delete",
        "Stopped at the row limit",
    ):
        assert words in review, words
    assert re.search(r"\d{4}-\d{2}-\d{2} 02:30 CES?T", review)


def test_the_confirmation_gives_the_next_run_in_the_jobs_zone(admin_client_):
    _through_review(
        admin_client_, template="heartbeat", name="Berlin", parameters=HEARTBEAT_PARAMS
    )
    response = wizard_post(admin_client_, "review", {"enabled": "on"})
    assert response.status_code == 302
    page = admin_client_.get(response["Location"]).content.decode()
    assert re.search(r"Next run: \d{4}-\d{2}-\d{2} 02:30 CES?T\.", page)


def test_an_execution_page_is_titled_in_words(admin_client_):
    execution = JobExecutionFactory(
        status="retry_pending",
        attempt=2,
        job=DynamicJobFactory(
            name="Nightly",
            schedule={
                "type": "cron",
                "cron": "30 2 * * *",
                "timezone": "Europe/Berlin",
            },
        ),
        scheduled_for=WINTER,
    )
    html = admin_client_.get(
        f"/admin/executions/jobexecution/{execution.pk}/change/"
    ).content.decode()
    assert f"Run #{execution.pk} of Nightly" in html
    assert "Retry pending, attempt 2" in html
    assert "retry_pending, attempt" not in html
    assert "2026-12-01 14:34:05 CET" in html  # scheduled for, in Berlin time
