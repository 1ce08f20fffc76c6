from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEntry
from executions.models import JobExecution
from job_templates.registry import registry
from tests.factories import JobExecutionFactory
from tests.job_templates.conftest import log_text, run
from tests.testapp.models import Ticket, TicketComment

pytestmark = pytest.mark.django_db
OLD = {"status": "closed", "created_at__lt": {"ago": "30d"}}


def make_tickets(old=5, new=2, comments=2):
    now = timezone.now()
    for i in range(old):
        ticket = Ticket.objects.create(title=f"old {i}", status="closed")
        Ticket.objects.filter(pk=ticket.pk).update(created_at=now - timedelta(days=40))
        for j in range(comments):
            TicketComment.objects.create(ticket=ticket, body=f"c{j}")
    for i in range(new):
        Ticket.objects.create(title=f"new {i}", status="closed")


def errors_for(params):
    with pytest.raises(ValidationError) as info:
        registry.get("database_cleanup").validate_params(params)
    return info.value.message_dict


def test_dry_run_is_the_default_and_deletes_nothing(make_ctx):
    make_tickets()
    params = registry.get("database_cleanup").validate_params(
        {"collection": "testapp.Ticket", "condition": OLD}
    )
    assert params["dry_run"] is True
    ctx, handler = make_ctx(dry_run=params["dry_run"])
    result = registry.get("database_cleanup").execute(params, ctx)
    assert result["matched"] == 5
    assert result["would_delete"] == 5
    assert result["cascade"] == {"testapp.TicketComment": 10}
    assert result["total_with_cascade"] == 15
    assert result["deleted"] == 0
    assert Ticket.objects.count() == 7
    assert TicketComment.objects.count() == 10
    assert "would delete 5 rows" in log_text(handler)


def test_template_reads_ctx_dry_run_not_the_parameter(make_ctx):
    make_tickets(old=2, comments=0)
    ctx, _ = make_ctx(dry_run=True)
    result = run(
        "database_cleanup",
        {"collection": "testapp.Ticket", "condition": OLD, "dry_run": False},
        ctx,
    )
    assert result["dry_run"] is True
    assert Ticket.objects.count() == 4


def test_real_run_deletes_in_batches_with_cascade(make_ctx):
    make_tickets(old=5, new=2, comments=1)
    ctx, handler = make_ctx(dry_run=False)
    result = run(
        "database_cleanup",
        {
            "collection": "testapp.Ticket",
            "condition": OLD,
            "dry_run": False,
            "batch_size": 2,
        },
        ctx,
    )
    assert result["deleted"] == 5
    assert result["batches"] == 3
    assert result["capped"] is False
    assert result["cascade"] == {"testapp.TicketComment": 5}
    assert set(Ticket.objects.values_list("title", flat=True)) == {"new 0", "new 1"}
    assert TicketComment.objects.count() == 0
    assert "Batch 3: deleted 1 rows" in log_text(handler)


def test_real_run_stops_at_max_rows_and_says_so(make_ctx):
    make_tickets(old=5, comments=0)
    ctx, handler = make_ctx(dry_run=False)
    result = run(
        "database_cleanup",
        {
            "collection": "testapp.Ticket",
            "condition": OLD,
            "batch_size": 2,
            "max_rows": 3,
        },
        ctx,
    )
    assert (result["deleted"], result["capped"], result["remaining"]) == (3, True, 2)
    assert "Stopped at max_rows=3; 2 matching rows remain" in log_text(handler)


def test_dry_run_reports_the_cap(make_ctx):
    make_tickets(old=5, comments=1)
    ctx, _ = make_ctx(dry_run=True)
    result = run(
        "database_cleanup",
        {"collection": "testapp.Ticket", "condition": OLD, "max_rows": 3},
        ctx,
    )
    assert (result["matched"], result["would_delete"], result["capped"]) == (5, 3, True)
    assert result["cascade"] == {"testapp.TicketComment": 3}


def test_default_allowlist_cleans_execution_history(make_ctx):
    old = JobExecutionFactory(status="completed")
    JobExecution.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=100)
    )
    JobExecutionFactory(status="completed")
    ctx, _ = make_ctx(dry_run=False)
    result = run(
        "database_cleanup",
        {
            "collection": "executions.JobExecution",
            "condition": {"status": "completed", "created_at__lt": {"ago": "90d"}},
        },
        ctx,
    )
    assert result["deleted"] == 1
    assert JobExecution.objects.count() == 1


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"collection": "auth.User", "condition": {"id": 1}}, "collection"),
        ({"collection": "testapp.TicketComment", "condition": {"id": 1}}, "collection"),
        ({"collection": "testapp.Ticket", "condition": {}}, "condition"),
        ({"collection": "testapp.Ticket"}, "condition"),
        (
            {"collection": "testapp.Ticket", "condition": {"api_token": "x"}},
            "condition.api_token",
        ),
        (
            {"collection": "testapp.Ticket", "condition": {"title__regex": ".*"}},
            "condition.title__regex",
        ),
        (
            {"collection": "testapp.Ticket", "condition": {"metadata__a": 1}},
            "condition.metadata__a",
        ),
        ({"collection": "testapp.Ticket", "condition": {"_x": 1}}, "condition._x"),
        (
            {"collection": "testapp.Ticket", "condition": {"comments__body": 1}},
            "condition.comments__body",
        ),
        (
            {"collection": "testapp.Ticket", "condition": {"id": 1}, "batch_size": 0},
            "batch_size",
        ),
        (
            {"collection": "testapp.Ticket", "condition": {"id": 1}, "max_rows": 10**9},
            "max_rows",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params, key):
    assert key in errors_for(params)


def test_schema_lists_the_allowlist_for_the_form():
    schema = registry.get("database_cleanup").get_schema()
    assert schema["properties"]["collection"]["enum"] == [
        "executions.JobExecution",
        "testapp.Ticket",
    ]


@pytest.mark.parametrize(
    "label", ["audit.AuditEntry", "auth.User", "sessions.Session", "axes.AccessLog"]
)
def test_denied_models_are_refused_even_when_listed(settings, label):
    settings.SCHEDULER_CLEANUP_MODELS = [*settings.SCHEDULER_CLEANUP_MODELS, label]
    errors = errors_for({"collection": label, "condition": {"id": 1}})
    assert "can never be cleaned" in errors["collection"][0]
    enum = registry.get("database_cleanup").get_schema()["properties"]["collection"]
    assert label not in enum["enum"]


def test_execute_refuses_a_denied_model_saved_before_it_was_denied(settings, make_ctx):
    AuditEntry.objects.create(actor_repr="alice", action="create", target_type="x")
    settings.SCHEDULER_CLEANUP_MODELS = [
        *settings.SCHEDULER_CLEANUP_MODELS,
        "audit.AuditEntry",
    ]
    template = registry.get("database_cleanup")
    params = template.validate_params(
        {"collection": "testapp.Ticket", "condition": {"id__gte": 0}, "dry_run": False}
    )
    params["collection"] = "audit.AuditEntry"
    ctx, _ = make_ctx(dry_run=False)
    with pytest.raises(ValidationError, match="append-only"):
        template.execute(params, ctx)
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("collection", "needed"),
    [
        ("testapp.Ticket", ["testapp.delete_ticket"]),
        ("executions.JobExecution", ["executions.delete_jobexecution"]),
        ("testapp.Nope", []),
        (None, []),
    ],
)
def test_cleanup_needs_the_delete_permission_of_its_model(collection, needed):
    template = registry.get("database_cleanup")
    assert template.required_permissions({"collection": collection}) == needed
    assert template.required_permissions({}) == []
