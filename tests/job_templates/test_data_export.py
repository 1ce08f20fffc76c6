import csv
import gzip
import hashlib
import io
import json
import os

import pytest
from django.core.exceptions import ValidationError

from job_templates.base import TemplateError
from job_templates.registry import registry
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
