import csv
import email
import io
import json
from datetime import timedelta
from email import policy

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from job_templates.registry import registry
from tests.factories import DynamicJobFactory, JobExecutionFactory
from tests.job_templates.conftest import run
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    backup = DynamicJobFactory(name="backup")
    ping = DynamicJobFactory(name="ping")
    for seconds in (1, 2, 3, 4, 100):
        JobExecutionFactory(job=backup, status="completed", duration_seconds=seconds)
    JobExecutionFactory(job=backup, status="failed", duration_seconds=5)
    JobExecutionFactory(job=ping, status="completed", duration_seconds=0.5)
    JobExecutionFactory(job=ping, status="skipped")
    old = JobExecutionFactory(job=ping, status="failed")
    old.created_at = timezone.now() - timedelta(days=30)
    old.save(update_fields=["created_at"])


def errors_for(params):
    with pytest.raises(ValidationError) as info:
        registry.get("report_generation").validate_params(params)
    return info.value.message_dict


def test_execution_summary_html_has_a_table_and_an_inline_chart(
    history, roots, make_ctx
):
    ctx, _ = make_ctx()
    result = run("report_generation", {"kind": "execution_summary"}, ctx)
    assert result["summary"] == {
        "jobs": 2,
        "runs": 7,
        "completed": 6,
        "failed": 1,
        "success_rate": 85.7,
    }
    html = (roots["reports"] / result["path"]).read_text()
    assert result["path"].startswith("nightly/")
    assert result["path"].endswith(".html")
    assert "<table>" in html
    assert "<svg" in html
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert (
        "<td>backup</td><td>6</td><td>5</td><td>1</td><td>0</td><td>83.3</td>" in html
    )


def test_execution_summary_json_gives_percentiles(history, roots, make_ctx):
    ctx, _ = make_ctx()
    result = run(
        "report_generation", {"kind": "execution_summary", "format": "json"}, ctx
    )
    data = json.loads((roots["reports"] / result["path"]).read_text())
    rows = {r["job"]: r for r in data["rows"]}
    assert rows["backup"]["p50_seconds"] == 3  # nearest rank of 1, 2, 3, 4, 5, 100
    assert rows["backup"]["p95_seconds"] == 100
    assert rows["ping"]["skipped"] == 1
    assert rows["ping"]["runs"] == 1


def test_model_counts_csv_by_field_and_day(roots, make_ctx):
    for status in ("open", "open", "closed"):
        Ticket.objects.create(title="t", status=status)
    ctx, _ = make_ctx()
    result = run(
        "report_generation",
        {
            "kind": "model_counts",
            "collection": "testapp.Ticket",
            "group_by": "status",
            "format": "csv",
            "window_days": 2,
        },
        ctx,
    )
    rows = list(
        csv.DictReader(io.StringIO((roots["reports"] / result["path"]).read_text()))
    )
    assert [(r["value"], r["total"]) for r in rows] == [("open", "2"), ("closed", "1")]
    today = timezone.now().date().isoformat()
    assert rows[0][today] == "2"
    assert result["summary"]["total"] == 3


def test_report_is_emailed_as_an_attachment(history, roots, smtp, make_ctx):
    ctx, _ = make_ctx()
    result = run(
        "report_generation",
        {
            "kind": "execution_summary",
            "recipients": ["boss@example.com"],
            "subject": "Weekly",
        },
        ctx,
    )
    assert result["emailed"] == 1
    message = email.message_from_string(smtp.messages[0]["data"], policy=policy.default)
    assert message["Subject"] == "Weekly"
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "text/html"
    assert "<svg" in attachment.get_content()


def test_dry_run_writes_and_sends_nothing(history, roots, smtp, make_ctx):
    ctx, _ = make_ctx(dry_run=True)
    result = run("report_generation", {"recipients": ["boss@example.com"]}, ctx)
    assert result["summary"]["runs"] == 7
    assert list(roots["reports"].iterdir()) == []
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("params", "key"),
    [
        (
            {"kind": "model_counts", "collection": "auth.User", "group_by": "id"},
            "collection",
        ),
        (
            {
                "kind": "model_counts",
                "collection": "testapp.Ticket",
                "group_by": "api_token",
            },
            "group_by",
        ),
        (
            {
                "kind": "model_counts",
                "collection": "testapp.Ticket",
                "group_by": "nope",
            },
            "group_by",
        ),
        (
            {
                "kind": "model_counts",
                "collection": "testapp.Ticket",
                "group_by": "status",
                "date_field": "title",
            },
            "date_field",
        ),
        ({"kind": "weekly"}, "kind"),
        ({"format": "pdf"}, "format"),
        ({"destination": "../up.html"}, "destination"),
        ({"recipients": ["nope"]}, "recipients.0"),
        ({"subject": "a\r\nBcc: x@y.z"}, "subject"),
        ({"window_days": 0}, "window_days"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params, key):
    assert key in errors_for(params)


def test_model_counts_refuses_a_denied_model_even_when_listed(settings):
    settings.SCHEDULER_EXPORT_MODELS = [*settings.SCHEDULER_EXPORT_MODELS, "auth.User"]
    errors = errors_for(
        {"kind": "model_counts", "collection": "auth.User", "group_by": "is_staff"}
    )
    assert "can never be exported or reported on" in errors["collection"][0]


def test_model_counts_refuses_to_group_by_a_field_that_may_hold_secrets():
    errors = errors_for(
        {
            "kind": "model_counts",
            "collection": "executions.JobExecution",
            "group_by": "error",
        }
    )
    assert "may hold secrets" in errors["group_by"][0]


@pytest.mark.parametrize(
    ("params", "needed"),
    [
        (
            {"kind": "model_counts", "collection": "testapp.Ticket"},
            ["testapp.view_ticket"],
        ),
        (
            {"kind": "model_counts", "collection": "audit.AuditEntry"},
            ["audit.view_auditentry"],
        ),
        ({"kind": "model_counts", "collection": ""}, []),
        ({"kind": "execution_summary", "collection": "testapp.Ticket"}, []),
        ({}, []),
    ],
)
def test_model_counts_needs_the_view_permission_of_its_model(params, needed):
    template = registry.get("report_generation")
    assert template.required_permissions(params) == needed
