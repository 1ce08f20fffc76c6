import gzip
import json
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from job_templates.registry import registry
from tests.factories import DynamicJobFactory
from tests.job_templates.conftest import log_text, run
from tests.testapp.models import Ticket, TicketComment

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    get_user_model().objects.create_user(username="alice", password="pw-123456")
    ticket = Ticket.objects.create(title="keep me", metadata={"k": [1, 2]})
    TicketComment.objects.create(ticket=ticket, body="hello")
    DynamicJobFactory(name="nightly-export")


def errors_for(params):
    with pytest.raises(ValidationError) as info:
        registry.get("backup").validate_params(params)
    return info.value.message_dict


def read_lines(path):
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_backup_writes_verified_gzip_json_lines(data, roots, make_ctx):
    ctx, handler = make_ctx()
    result = run("backup", {}, ctx)
    path = roots["backups"] / result["path"]
    assert result["path"].startswith("backup-")
    assert result["path"].endswith(".jsonl.gz")
    assert result["verified"] is True
    assert result["bytes"] == path.stat().st_size
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    objects = read_lines(path)
    assert len(objects) == result["objects"]
    labels = {o["model"] for o in objects}
    assert {"testapp.ticket", "testapp.ticketcomment", "auth.user"} <= labels
    assert "scheduler_jobs.dynamicjob" in labels
    assert not any(label.startswith(("sessions.", "contenttypes.")) for label in labels)
    assert result["models"]["testapp.Ticket"] == 1
    assert result["restore"] == f"python manage.py loaddata {path}"
    assert "verified by reading it back" in log_text(handler)


def test_backup_restores_with_loaddata(data, roots, make_ctx):
    ctx, _ = make_ctx()
    result = run("backup", {"apps": ["testapp"]}, ctx)
    Ticket.objects.all().delete()
    assert TicketComment.objects.count() == 0
    call_command("loaddata", str(roots["backups"] / result["path"]), verbosity=0)
    ticket = Ticket.objects.get()
    assert ticket.title == "keep me"
    assert ticket.metadata == {"k": [1, 2]}
    assert ticket.comments.get().body == "hello"


def test_selection_by_apps_models_and_exclude(data, roots, make_ctx):
    ctx, _ = make_ctx()
    result = run(
        "backup",
        {
            "apps": ["testapp"],
            "models": ["auth.User"],
            "exclude": ["testapp.TicketComment"],
        },
        ctx,
    )
    assert set(result["models"]) == {"testapp.Ticket", "auth.User"}


def test_keep_last_rotates_only_this_templates_files(data, roots, make_ctx):
    folder = roots["backups"]
    old = [
        "backup-20200101T000000Z.jsonl.gz",
        "backup-20200102T000000Z.jsonl.gz",
        "backup-20200103T000000Z.jsonl.gz",
    ]
    for name in old:
        (folder / name).write_bytes(b"old")
    (folder / "backup-notes.txt").write_text("not ours")
    (folder / "other-20200101T000000Z.jsonl.gz").write_bytes(b"other prefix")
    ctx, _ = make_ctx()
    result = run("backup", {"apps": ["testapp"], "keep_last": 2}, ctx)
    assert result["rotated"] == old[:2]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [old[2], result["path"], "backup-notes.txt", "other-20200101T000000Z.jsonl.gz"]
    )


def test_dry_run_counts_and_writes_nothing(data, roots, make_ctx):
    (roots["backups"] / "backup-20200101T000000Z.jsonl.gz").write_bytes(b"old")
    ctx, handler = make_ctx(dry_run=True)
    result = run("backup", {"apps": ["testapp"], "keep_last": 1}, ctx)
    assert result["objects"] == 2
    assert result["would_rotate"] == ["backup-20200101T000000Z.jsonl.gz"]
    assert [p.name for p in roots["backups"].iterdir()] == [
        "backup-20200101T000000Z.jsonl.gz"
    ]
    assert "Dry run: would back up 2 objects" in log_text(handler)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"apps": ["nope"]}, "apps.0"),
        ({"models": ["testapp.Nope"]}, "models.0"),
        ({"models": ["testapp"]}, "models.0"),
        ({"exclude": ["sessions", "nope.Model"]}, "exclude.1"),
        ({"prefix": "../x"}, "prefix"),
        ({"prefix": "Upper"}, "prefix"),
        ({"keep_last": -1}, "keep_last"),
        ({"method": "tar"}, "method"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params, key):
    assert key in errors_for(params)


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="checks the non-PostgreSQL refusal"
)
def test_pg_dump_is_refused_when_the_database_is_not_postgresql():
    assert "PostgreSQL" in errors_for({"method": "pg_dump"})["method"][0]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_dump needs PostgreSQL"
)
def test_pg_dump_backup_is_listed_back_by_pg_restore(data, roots, make_ctx):
    ctx, _ = make_ctx()
    result = run("backup", {"method": "pg_dump", "keep_last": 1}, ctx)
    assert result["method"] == "pg_dump"
    assert result["verified"] is True
    assert result["tables"] > 5
    assert (roots["backups"] / result["path"]).read_bytes()[:5] == b"PGDMP"
    assert result["restore"].startswith("pg_restore")
