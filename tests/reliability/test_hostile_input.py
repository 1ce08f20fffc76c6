"""Items 10 and 11: SSRF, header, formula, path and condition injection corpora.

Each hostile value is refused with a ValidationError naming the parameter, or
neutralised; for SSRF a canary server on loopback must receive nothing, even
when validation is skipped and the template is executed directly.
"""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from job_templates.base import TemplateError, apply_defaults
from job_templates.context import BoundedLogHandler, ExecutionContext, make_logger
from job_templates.registry import registry
from tests.reliability.canary import Canary

pytestmark = pytest.mark.reliability

PUBLIC_ADDRESS = "93.184.216.34"  # documentation-style public address, unreachable here
_real_getaddrinfo = socket.getaddrinfo


def _ctx() -> ExecutionContext:
    return ExecutionContext(
        logger=make_logger("dynamic_scheduler.templates.test", BoundedLogHandler()),
        dry_run=False,
        execution_id=1,
        job_id=1,
        job_name="hostile",
        idempotency_key="ds-1-test",
    )


def _answers(*addresses: str, port: int = 80) -> list:
    return [
        (
            socket.AF_INET6 if ":" in a else socket.AF_INET,
            socket.SOCK_STREAM,
            6,
            "",
            (a, port, 0, 0) if ":" in a else (a, port),
        )
        for a in addresses
    ]


class FakeResolver:
    """A DNS server under the test's control, for names that do not exist."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.names = {
            # allowlisted, so it may be contacted: the "public" redirector
            "redirector.example": ["127.0.0.1"],
            # answers public, then loopback (DNS rebinding)
            "rebind.example": [PUBLIC_ADDRESS],
            # one answer holding both
            "mixed.example": [PUBLIC_ADDRESS, "127.0.0.1"],
            "internal.example": ["10.0.0.8"],
        }

    def __call__(self, host, port, *args, **kwargs):
        name = str(host).lower().rstrip(".")
        if name not in self.names:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.calls[name] = self.calls.get(name, 0) + 1
        addresses = self.names[name]
        if name == "rebind.example" and self.calls[name] > 1:
            addresses = ["127.0.0.1"]
        return _answers(*addresses, port=int(port or 80))


@pytest.fixture
def canaries():
    with Canary("127.0.0.1") as v4, Canary("::1") as v6:
        yield v4, v6


@pytest.fixture
def resolver(monkeypatch):
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def _ssrf_corpus(port: int, port6: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://LOCALHOST.:{port}/",
        f"http://127.1:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://0:{port}/",
        f"http://2130706433:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://0x7f.1:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://[::1]:{port6}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
        f"http://a@127.0.0.1:{port}/",
        f"http://user:pass@127.0.0.1:{port}/",
        f"http://example.com@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}#@example.com/",
        f"http://127.0.0.1%2f@example.com:{port}/",
        f"https://127.0.0.1:{port}/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/",
        "http://100.100.100.200/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://internal.example/",
        f"http://mixed.example:{port}/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/_GET%20/",
        f"ftp://127.0.0.1:{port}/",
        f"dict://127.0.0.1:{port}/",
        "javascript:alert(1)",
        f"//127.0.0.1:{port}/",
        f"http:/127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}\r\nX-Injected: 1/",
        f" http://127.0.0.1:{port}/",
    ]


def _refusal(template, params: dict) -> tuple[dict | None, dict | None]:
    """(cleaned parameters, None) or (None, the ValidationError's message_dict)."""
    try:
        return template.validate_params(params), None
    except ValidationError as exc:
        return None, exc.message_dict


def _attempt(url: str) -> str:
    """Validate then execute; returns how the URL was stopped."""
    template = registry.get("webhook_trigger")
    params = {"url": url, "timeout_seconds": 1}
    outcome = ""
    _, errors = _refusal(template, params)
    if errors is not None:
        assert "url" in errors, errors
        outcome = "refused on save"
    # Executed even when refused, as for a job saved before the rules tightened.
    raw = apply_defaults(template.parameters_schema, dict(params))
    try:
        template.execute(raw, _ctx())
    except (TemplateError, ValueError, KeyError, TypeError) as exc:
        return outcome or f"refused on send: {exc}"
    return outcome or "SENT"


def test_ssrf_corpus_never_reaches_the_loopback_canary(canaries, resolver, figures):
    v4, v6 = canaries
    corpus = _ssrf_corpus(v4.port, v6.port)
    outcomes = {url: _attempt(url) for url in corpus}
    figures["hostile inputs"] += len(corpus)
    assert [url for url, how in outcomes.items() if how == "SENT"] == []
    assert v4.hits == []
    assert v6.hits == []


def test_public_looking_host_that_redirects_to_loopback_is_stopped(
    canaries, resolver, settings, figures
):
    v4, _ = canaries
    with (
        Canary("127.0.0.1", redirect_to=f"http://127.0.0.1:{v4.port}/") as first,
        Canary("127.0.0.1", redirect_to=f"http://localhost:{v4.port}/") as second,
    ):
        settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["redirector.example"]
        template = registry.get("webhook_trigger")
        for hop in (first, second):
            params = template.validate_params(
                {"url": f"http://redirector.example:{hop.port}/", "timeout_seconds": 2}
            )
            with pytest.raises(TemplateError):
                template.execute(params, _ctx())
            assert len(hop.hits) == 1  # the allowed host was called …
    figures["hostile inputs"] += 2
    assert v4.hits == []  # … and its redirect to loopback was not followed


def test_resolver_answering_public_then_loopback_connects_to_the_checked_address(
    canaries, resolver, figures
):
    v4, _ = canaries
    template = registry.get("webhook_trigger")
    params = template.validate_params(
        {"url": f"http://rebind.example:{v4.port}/", "timeout_seconds": 1}
    )
    with pytest.raises(TemplateError):
        template.execute(params, _ctx())  # the public address is unreachable here
    figures["hostile inputs"] += 1
    assert v4.hits == []


def test_canary_control_an_allowlisted_loopback_call_does_arrive(canaries, settings):
    """An allowed loopback call reaches the canary, so its silence means something."""
    v4, _ = canaries
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    template = registry.get("webhook_trigger")
    params = template.validate_params({"url": f"http://127.0.0.1:{v4.port}/hook"})
    result = template.execute(params, _ctx())
    assert result["status"] == 200
    [hit] = v4.hits
    assert hit["headers"]["X-Idempotency-Key"] == "ds-1-test"


# --- Email header injection -----------------------------------------------------

HEADER_INJECTIONS = [
    "Hello\r\nBcc: victim@example.com",
    "Hello\nBcc: victim@example.com",
    "Hello\rBcc: victim@example.com",
    "Hello\u2028Bcc: victim@example.com",
    "=?utf-8?q?Hello=0D=0ABcc=3A_victim=40example=2Ecom?=",
]
RECIPIENT_INJECTIONS = [
    "ops@example.com\r\nBcc: victim@example.com",
    "ops@example.com\nCc: victim@example.com",
    "ops@example.com, victim@example.com",
    "ops@example.com;victim@example.com",
    "Ops <ops@example.com>, victim@example.com",
    '"victim@example.com" <ops@example.com>\r\n',
    "ops@example.com%0d%0aBcc:victim@example.com",
]


@pytest.mark.django_db
@pytest.mark.parametrize("subject", HEADER_INJECTIONS)
def test_email_subject_cannot_add_headers(subject, figures):
    _email_is_refused_or_clean(
        {"recipients": ["ops@example.com"], "subject": subject, "body": "hi"}, "subject"
    )
    figures["hostile inputs"] += 1


@pytest.mark.django_db
@pytest.mark.parametrize("recipient", RECIPIENT_INJECTIONS)
def test_email_recipient_cannot_add_recipients_or_headers(recipient, figures):
    _email_is_refused_or_clean(
        {"recipients": [recipient], "subject": "Report", "body": "hi"}, "recipients.0"
    )
    figures["hostile inputs"] += 1


def _email_is_refused_or_clean(params: dict, key: str) -> None:
    template = registry.get("email_notification")
    cleaned, errors = _refusal(template, params)
    if errors is not None:
        assert key in errors, errors
        return
    template.execute(cleaned, _ctx())
    for message in mail.outbox:
        raw = message.message()
        assert raw["Bcc"] is None
        assert raw["Cc"] is None
        assert "victim@example.com" not in message.recipients()
        assert "\n" not in str(raw["Subject"])


# --- CSV formula injection ------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=already-quoted",
]


@pytest.mark.django_db
def test_csv_export_neutralises_formula_cells(settings, tmp_path, figures):
    from tests.testapp.models import Ticket

    settings.SCHEDULER_EXPORT_ROOT = str(tmp_path)
    for title in FORMULAS:
        Ticket.objects.create(title=title)
    template = registry.get("data_export")
    params = template.validate_params(
        {
            "collection": "testapp.Ticket",
            "fields": ["title"],
            "format": "csv",
            "destination": "tickets.csv",
        }
    )
    template.execute(params, _ctx())
    text = (Path(tmp_path) / "tickets.csv").read_text(encoding="utf-8-sig")
    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    figures["hostile inputs"] += len(FORMULAS)
    assert len(cells) == len(FORMULAS)
    for value in cells:
        assert value[:1] not in ("=", "+", "-", "@", "\t", "\r"), value


# --- Export path traversal ------------------------------------------------------

TRAVERSALS = [
    "../outside.csv",
    "../../etc/passwd",
    "/etc/passwd",
    "/tmp/x.csv",
    "a/../../b.csv",
    "..\\..\\windows\\win.ini",
    "{job}/../../x.csv",
    "%2e%2e/x.csv",
    "x/\x00.csv",
    "~/x.csv",
    "C:\\x.csv",
    "a/./../../x.csv",
    "",
]


@pytest.mark.django_db
@pytest.mark.parametrize("destination", TRAVERSALS)
def test_export_destination_outside_the_export_folder_is_refused(
    destination, settings, tmp_path, figures
):
    settings.SCHEDULER_EXPORT_ROOT = str(tmp_path / "exports")
    template = registry.get("data_export")
    figures["hostile inputs"] += 1
    params, errors = _refusal(
        template, {"collection": "testapp.Ticket", "destination": destination}
    )
    if errors is not None:
        assert "destination" in errors, errors
        return
    # Accepted only if it stays inside the folder once written.
    result = template.execute(params, _ctx())
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written, result
    for path in written:
        assert (tmp_path / "exports") in path.parents, path


# --- Cleanup condition injection ------------------------------------------------

CONDITIONS = [
    {"status; DROP TABLE job_executions; --": "x"},
    {"status__regex": ".*"},
    {"status__iregex": ".*"},
    {"job__created_by__password__startswith": "pbkdf2"},
    {"triggered_by_user__password__startswith": "md5"},
    {"job__parameters__contains": {"x": 1}},
    {"__class__": "x"},
    {"pk__in": "SELECT id FROM auth_user"},
    {"status": {"$ne": "x"}},
    {"status__in": "completed"},
    {"created_at__lt": "now() OR 1=1"},
    {"created_at__lt": {"ago": "1d; DROP TABLE x"}},
    {"status__extra": "1=1"},
    {"": "x"},
    {"id__gt": "1 OR 1=1"},
    {},
]


@pytest.mark.django_db
@pytest.mark.parametrize("condition", CONDITIONS, ids=repr)
def test_cleanup_condition_injection_is_refused(condition, figures):
    template = registry.get("database_cleanup")
    figures["hostile inputs"] += 1
    with pytest.raises(ValidationError) as caught:
        template.validate_params(
            {"collection": "executions.JobExecution", "condition": condition}
        )
    assert any(key.startswith("condition") for key in caught.value.message_dict), (
        caught.value.message_dict
    )


@pytest.mark.django_db
def test_cleanup_value_that_looks_like_sql_is_matched_literally():
    from tests.testapp.models import Ticket

    Ticket.objects.create(title="keep me", status="open")
    template = registry.get("database_cleanup")
    params = template.validate_params(
        {
            "collection": "testapp.Ticket",
            "condition": {"status": "open' OR '1'='1"},
            "dry_run": False,
        }
    )
    template.execute(params, _ctx())
    assert Ticket.objects.count() == 1
