import csv
import gzip
import hashlib
import io
import json
import os

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from job_templates.base import TemplateError
from job_templates.registry import registry
from tests.factories import DynamicJobFactory, JobExecutionFactory, UserFactory
from tests.job_templates.conftest import log_text, run
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets():
    Ticket.objects.create(
        title='=HYPERLINK("http://evil")',
        status="open",
        api_token="tok-1",
        password_hint="dog",
        metadata={"a": 1},
    )
    Ticket.objects.create(title="Printer", status="closed", priority=1)
    Ticket.objects.create(title="-1+2", status="open", priority=5)


def errors_for(params):
    with pytest.raises(ValidationError) as info:
        registry.get("data_export").validate_params(params)
    return info.value.message_dict


def test_csv_export_escapes_formulas_and_leaves_out_secrets(tickets, roots, make_ctx):
    ctx, handler = make_ctx()
    result = run(
        "data_export",
        {
            "collection": "testapp.Ticket",
            "filters": {"status": "open"},
            "destination": "tickets/{date}.{ext}",
        },
        ctx,
    )
    path = roots["exports"] / result["path"]
    data = path.read_bytes()
    assert result["rows"] == 2
    assert result["bytes"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["path"].startswith("tickets/")
    assert result["path"].endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    header = rows[0]
    assert "api_token" not in header
    assert "password_hint" not in header
    assert header[:4] == ["id", "title", "status", "priority"]
    assert [r[1] for r in rows[1:]] == ['\'=HYPERLINK("http://evil")', "'-1+2"]
    assert "tok-1" not in data.decode()
    assert "Wrote 2 rows" in log_text(handler)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_formats_parse_back(tickets, roots, make_ctx, fmt):
    ctx, _ = make_ctx()
    result = run(
        "data_export",
        {
            "collection": "testapp.Ticket",
            "format": fmt,
            "fields": ["id", "title", "metadata"],
        },
        ctx,
    )
    text = (roots["exports"] / result["path"]).read_text()
    rows = (
        json.loads(text)
        if fmt == "json"
        else [json.loads(line) for line in text.splitlines()]
    )
    assert [r["title"] for r in rows] == [
        '=HYPERLINK("http://evil")',
        "Printer",
        "-1+2",
    ]
    assert rows[0]["metadata"] == {"a": 1}
    assert set(rows[0]) == {"id", "title", "metadata"}


def test_empty_json_export_is_valid_json(roots, make_ctx):
    ctx, _ = make_ctx()
    result = run("data_export", {"collection": "testapp.Ticket", "format": "json"}, ctx)
    assert json.loads((roots["exports"] / result["path"]).read_text()) == []
    assert result["rows"] == 0


def test_gzip_export(tickets, roots, make_ctx):
    ctx, _ = make_ctx()
    result = run(
        "data_export",
        {
            "collection": "testapp.Ticket",
            "format": "jsonl",
            "compress": True,
            "destination": "t/{job}.jsonl",
        },
        ctx,
    )
    assert result["path"] == "t/nightly.jsonl.gz"
    lines = gzip.decompress(
        (roots["exports"] / result["path"]).read_bytes()
    ).splitlines()
    assert len(lines) == 3


def test_existing_file_is_never_overwritten(tickets, roots, make_ctx):
    (roots["exports"] / "fixed.csv").write_text("keep me")
    ctx, _ = make_ctx()
    result = run(
        "data_export", {"collection": "testapp.Ticket", "destination": "fixed.csv"}, ctx
    )
    assert result["path"] != "fixed.csv"
    assert (roots["exports"] / "fixed.csv").read_text() == "keep me"


def test_dry_run_writes_nothing(tickets, roots, make_ctx):
    ctx, handler = make_ctx(dry_run=True)
    result = run("data_export", {"collection": "testapp.Ticket"}, ctx)
    assert result["rows"] == 3
    assert list(roots["exports"].iterdir()) == []
    assert "would export 3 rows" in log_text(handler)


def test_symlink_out_of_the_export_root_is_refused(tickets, roots, tmp_path, make_ctx):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, roots["exports"] / "out")
    ctx, _ = make_ctx()
    with pytest.raises(TemplateError, match="destination"):
        run(
            "data_export",
            {"collection": "testapp.Ticket", "destination": "out/x.csv"},
            ctx,
        )
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"collection": "auth.User"}, "collection"),
        ({"collection": "testapp.TicketComment"}, "collection"),
        ({"fields": ["api_token"]}, "fields.0"),
        ({"fields": ["title", "password_hint"]}, "fields.1"),
        ({"fields": ["title", "nope"]}, "fields.1"),
        ({"fields": ["title", "title"]}, "fields.1"),
        ({"filters": {"api_token": "x"}}, "filters.api_token"),
        ({"filters": {"title__regex": "x"}}, "filters.title__regex"),
        ({"filters": {"metadata__k": "x"}}, "filters.metadata__k"),
        ({"filters": {"_q": "x"}}, "filters._q"),
        ({"format": "xlsx"}, "format"),
        ({"destination": "/tmp/x.csv"}, "destination"),
        ({"destination": "../x.csv"}, "destination"),
        ({"destination": "a/../../x.csv"}, "destination"),
        ({"destination": "a\x00.csv"}, "destination"),
        ({"destination": "{date.__class__}.csv"}, "destination"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(change, key):
    assert key in errors_for({"collection": "testapp.Ticket", **change})


SIGNING_SECRET = "whsec-signing-0123456789"
BEARER = "Bearer header-token-abcdef"
SLACK_PATH = "T000/B000/slackpathsecret"


@pytest.fixture
def scheduler_rows():
    """A webhook job whose parameters and notifications hold secrets, one run of
    it that echoed them, and an audit entry that recorded its headers."""
    job = DynamicJobFactory(
        name="notify-crm",
        template_type="webhook_trigger",
        parameters={
            "url": "https://crm.example.com/hook?token=querytoken-xyz",
            "headers": {"Authorization": BEARER},
            "signing_secret": SIGNING_SECRET,
        },
        notifications={
            "emails": [],
            "slack_webhook": f"https://hooks.slack.com/services/{SLACK_PATH}",
            "on": ["failure"],
        },
    )
    JobExecutionFactory(
        job=job,
        status="failed",
        result={"url": "https://crm.example.com/hook?token=querytoken-xyz"},
        logs=[{"message": f"POST with {BEARER}"}],
        error="HTTP 401 from https://crm.example.com/hook?token=querytoken-xyz",
    )
    AuditEntry.objects.create(
        actor_repr="alice",
        action="update",
        target_type="scheduler_jobs.dynamicjob",
        target_id=str(job.pk),
        target_repr=job.name,
        changes={"parameters": {"after": {"headers": {"Authorization": BEARER}}}},
    )
    return job


SECRETS = (SIGNING_SECRET, BEARER, SLACK_PATH, "querytoken-xyz")


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
@pytest.mark.parametrize(
    "collection",
    ["scheduler_jobs.DynamicJob", "executions.JobExecution", "audit.AuditEntry"],
)
def test_scheduler_tables_export_without_their_secrets(
    scheduler_rows, roots, make_ctx, collection, fmt
):
    ctx, _ = make_ctx()
    result = run("data_export", {"collection": collection, "format": fmt}, ctx)
    text = (roots["exports"] / result["path"]).read_text()
    assert result["rows"] == 1
    for secret in SECRETS:
        assert secret not in text
    assert not {"parameters", "notifications", "result", "logs", "error"} & set(
        result["fields"]
    )
    assert "changes" not in result["fields"]


def test_a_job_export_keeps_the_harmless_columns(scheduler_rows, roots, make_ctx):
    ctx, _ = make_ctx()
    result = run("data_export", {"collection": "scheduler_jobs.DynamicJob"}, ctx)
    rows = list(
        csv.DictReader(io.StringIO((roots["exports"] / result["path"]).read_text()))
    )
    assert rows[0]["name"] == "notify-crm"
    assert rows[0]["template_type"] == "webhook_trigger"
    assert "schedule" in rows[0]


@pytest.mark.parametrize(
    ("collection", "change", "key"),
    [
        ("scheduler_jobs.DynamicJob", {"fields": ["name", "parameters"]}, "fields.1"),
        ("scheduler_jobs.DynamicJob", {"fields": ["notifications"]}, "fields.0"),
        ("executions.JobExecution", {"fields": ["parameters"]}, "fields.0"),
        ("executions.JobExecution", {"fields": ["id", "result"]}, "fields.1"),
        ("executions.JobExecution", {"fields": ["logs"]}, "fields.0"),
        ("executions.JobExecution", {"fields": ["error"]}, "fields.0"),
        ("audit.AuditEntry", {"fields": ["changes"]}, "fields.0"),
        (
            "executions.JobExecution",
            {"filters": {"error__contains": "token="}},
            "filters.error__contains",
        ),
        (
            "executions.JobExecution",
            {"filters": {"parameters__isnull": False}},
            "filters.parameters__isnull",
        ),
    ],
)
def test_fields_that_may_hold_secrets_cannot_be_asked_for(collection, change, key):
    errors = errors_for({"collection": collection, **change})
    assert key in errors
    assert "never exported" in errors[key][0]


def test_execute_checks_the_fields_again(scheduler_rows, roots, make_ctx):
    """Parameters saved before a field was declared secret are refused at run time."""
    template = registry.get("data_export")
    params = template.validate_params(
        {"collection": "executions.JobExecution", "fields": ["id"]}
    )
    params["fields"] = ["id", "error"]
    ctx, _ = make_ctx()
    with pytest.raises(ValidationError):
        template.execute(params, ctx)
    assert list(roots["exports"].iterdir()) == []


def test_execute_refuses_a_denied_model_saved_before_it_was_denied(
    settings, roots, make_ctx
):
    settings.SCHEDULER_EXPORT_MODELS = [*settings.SCHEDULER_EXPORT_MODELS, "auth.User"]
    template = registry.get("data_export")
    params = template.validate_params({"collection": "testapp.Ticket"})
    params["collection"] = "auth.User"
    ctx, _ = make_ctx()
    with pytest.raises(ValidationError, match="can never be exported"):
        template.execute(params, ctx)
    assert list(roots["exports"].iterdir()) == []


@pytest.mark.parametrize(
    ("collection", "needed"),
    [
        ("testapp.Ticket", ["testapp.view_ticket"]),
        ("audit.AuditEntry", ["audit.view_auditentry"]),
        ("executions.JobExecution", ["executions.view_jobexecution"]),
        ("scheduler_jobs.DynamicJob", ["scheduler_jobs.view_dynamicjob"]),
        ("nope.Nothing", []),
        ("", []),
        (None, []),
        (42, []),
    ],
)
def test_export_needs_the_view_permission_of_its_model(collection, needed):
    template = registry.get("data_export")
    assert template.required_permissions({"collection": collection}) == needed


def test_a_user_without_view_permission_on_audit_entries_may_not_export_them():
    needed = registry.get("data_export").required_permissions(
        {"collection": "audit.AuditEntry"}
    )
    user = UserFactory()
    assert not user.has_perms(needed)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="audit", codename="view_auditentry"
        )
    )
    user = type(user).objects.get(pk=user.pk)
    assert user.has_perms(needed)


def test_templates_that_touch_no_table_need_no_permission():
    assert registry.get("heartbeat").required_permissions({}) == []
