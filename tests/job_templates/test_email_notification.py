import email
from email import policy

import pytest
from django.core.exceptions import ValidationError

from job_templates.base import TemplateError
from job_templates.registry import registry
from tests.factories import JobExecutionFactory
from tests.job_templates.conftest import log_text, run

pytestmark = pytest.mark.django_db


def parse(message):
    return email.message_from_string(message["data"], policy=policy.default)


def errors_for(params):
    with pytest.raises(ValidationError) as info:
        registry.get("email_notification").validate_params(params)
    return info.value.message_dict


BASE = {"recipients": ["ops@example.com"], "subject": "Hello", "body": "Hi"}


def test_sends_one_message_per_recipient_through_smtp(smtp, make_ctx):
    ctx, handler = make_ctx()
    result = run(
        "email_notification",
        {
            "recipients": ["a@example.com", "b@example.com"],
            "subject": "Report for {{ job.name }}",
            "body": "Job {{ job.name }} at {{ now|date:'Y' }}",
            "html_body": "<p>{{ job.name }}</p>",
        },
        ctx,
    )
    assert result["sent"] == 2
    assert sorted(m["to"][0] for m in smtp.messages) == [
        "a@example.com",
        "b@example.com",
    ]
    first = parse(smtp.messages[0])
    assert first["Subject"] == "Report for nightly"
    assert first["To"] == smtp.messages[0]["to"][0]  # nobody sees the other recipients
    assert first["Cc"] is None
    assert first.get_body(("plain",)).get_content().startswith("Job nightly at 20")
    assert first.get_body(("html",)).get_content().strip() == "<p>nightly</p>"
    assert "Sent 'Report for nightly' to 2 of 2" in log_text(handler)


def test_message_ids_come_from_the_idempotency_key_and_repeat_on_retry(smtp, make_ctx):
    ctx, _ = make_ctx(key="ds-7-20260101T000000000000Z")
    first = run("email_notification", BASE, ctx)
    again = run(
        "email_notification", BASE, make_ctx(key="ds-7-20260101T000000000000Z")[0]
    )
    assert first["message_ids"] == again["message_ids"]
    assert first["message_ids"][0].startswith("<ds-7-20260101T000000000000Z.")
    received = [parse(m)["Message-ID"] for m in smtp.messages]
    assert received == first["message_ids"] * 2


def test_digest_counts_executions_by_status_over_the_window(smtp, make_ctx):
    JobExecutionFactory.create_batch(3, status="completed")
    JobExecutionFactory(status="failed")
    JobExecutionFactory(status="timeout")
    ctx, _ = make_ctx()
    run(
        "email_notification",
        {
            **BASE,
            "body": (
                "{{ digest.total }} runs, {{ digest.failed }} failed, "
                "{{ counts.completed }} completed in {{ window_hours }}h"
            ),
        },
        ctx,
    )
    body = parse(smtp.messages[0]).get_body(("plain",)).get_content()
    assert body.strip() == "5 runs, 2 failed, 3 completed in 24h"


def test_html_body_escapes_values(smtp, make_ctx):
    ctx, _ = make_ctx(job_name="<script>x</script>")
    run("email_notification", {**BASE, "html_body": "<b>{{ job.name }}</b>"}, ctx)
    html = parse(smtp.messages[0]).get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html


def test_attachments_come_from_the_export_folder(smtp, roots, make_ctx):
    (roots["exports"] / "tickets").mkdir()
    (roots["exports"] / "tickets" / "today.csv").write_text("a,b\r\n1,2\r\n")
    ctx, _ = make_ctx()
    result = run(
        "email_notification",
        {**BASE, "attachments": [{"folder": "exports", "path": "tickets/today.csv"}]},
        ctx,
    )
    assert result["attachments"] == ["today.csv"]
    (attachment,) = parse(smtp.messages[0]).iter_attachments()
    assert attachment.get_filename() == "today.csv"
    assert attachment.get_content() == "a,b\r\n1,2\r\n"


def test_missing_attachment_fails_the_run_without_sending(smtp, roots, make_ctx):
    ctx, _ = make_ctx()
    with pytest.raises(TemplateError, match=r"attachments\.0"):
        run(
            "email_notification",
            {**BASE, "attachments": [{"folder": "reports", "path": "nope.html"}]},
            ctx,
        )
    assert smtp.messages == []


def test_dry_run_sends_nothing(smtp, make_ctx):
    ctx, handler = make_ctx(dry_run=True)
    result = run(
        "email_notification", {**BASE, "recipients": ["a@x.org", "b@x.org"]}, ctx
    )
    assert result["would_send"] == 2
    assert smtp.messages == []
    assert "Dry run: would send" in log_text(handler)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"recipients": []}, "recipients"),
        ({"recipients": [f"u{i}@example.com" for i in range(101)]}, "recipients"),
        ({"recipients": ["ok@example.com", "not-an-address"]}, "recipients.1"),
        ({"recipients": ["a@example.com", "A@example.com"]}, "recipients.1"),
        ({"recipients": ["a@example.com\nBcc: x@evil.com"]}, "recipients.0"),
        ({"subject": "two\nlines"}, "subject"),
        ({"subject": "carriage\rreturn"}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"body": "{% if %}"}, "body"),
        ({"body": "{% debug %}"}, "body"),
        ({"body": "{% load static %}"}, "body"),
        ({"html_body": "{% include 'admin/base.html' %}"}, "html_body"),
        ({"body": "{% lorem 2000000 w %}"}, "body"),
        ({"subject": '{{ job.name|ljust:"100000000" }}'}, "subject"),
        (
            {
                "body": "{% for a in 'abc'|ljust:999|make_list %}" * 3
                + "{% endfor %}" * 3
            },
            "body",
        ),
        (
            {"attachments": [{"folder": "exports", "path": "../secrets.txt"}]},
            "attachments.0.path",
        ),
        (
            {"attachments": [{"folder": "exports", "path": "/etc/passwd"}]},
            "attachments.0.path",
        ),
        (
            {"attachments": [{"folder": "backups", "path": "b.jsonl.gz"}]},
            "attachments.0.folder",
        ),
        ({"window_hours": 0}, "window_hours"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(change, key):
    assert key in errors_for({**BASE, **change})


def test_symlinked_attachment_outside_the_folder_is_refused(
    smtp, roots, tmp_path, make_ctx
):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    (roots["exports"] / "link.txt").symlink_to(secret)
    ctx, _ = make_ctx()
    with pytest.raises(TemplateError, match="outside"):
        run(
            "email_notification",
            {**BASE, "attachments": [{"folder": "exports", "path": "link.txt"}]},
            ctx,
        )
    assert smtp.messages == []
