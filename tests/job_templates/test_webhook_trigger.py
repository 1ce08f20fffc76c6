import hashlib
import hmac
import json

import pytest
from django.core.exceptions import ValidationError

from job_templates.base import TemplateError, mask_parameters
from job_templates.registry import registry
from job_templates.secrets import SECRET_MASK
from tests.job_templates.conftest import log_text, run

SECRET = "whsec-very-secret-value"


def errors_for(params):
    with pytest.raises(ValidationError) as info:
        registry.get("webhook_trigger").validate_params(params)
    return info.value.message_dict


def test_posts_signed_json_with_the_idempotency_key(http_server, allow_local, make_ctx):
    http_server.routes["/hook"] = (202, {"Content-Type": "text/plain"}, b"queued")
    ctx, handler = make_ctx(key="ds-7-20260101T000000000000Z")
    result = run(
        "webhook_trigger",
        {
            "url": http_server.url("/hook"),
            "headers": {"Authorization": "Bearer abc", "X-Team": "ops"},
            "json_body": {"event": "nightly", "n": 1},
            "signing_secret": SECRET,
        },
        ctx,
    )
    assert result["status"] == 202
    assert result["body"] == "queued"
    assert result["latency_ms"] >= 0
    (request,) = http_server.requests
    assert request.method == "POST"
    assert json.loads(request.body) == {"event": "nightly", "n": 1}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Idempotency-Key"] == "ds-7-20260101T000000000000Z"
    assert request.headers["X-Team"] == "ops"
    timestamp = request.headers["X-Scheduler-Timestamp"]
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-Scheduler-Signature"] == f"sha256={expected}"
    logs = log_text(handler)
    assert SECRET not in logs
    assert "Bearer abc" not in logs
    assert "HTTP 202" in logs


def test_the_signing_secret_is_masked_for_display():
    template = registry.get("webhook_trigger")
    masked = mask_parameters(
        template, {"url": "https://x.example", "signing_secret": SECRET}
    )
    assert masked["signing_secret"] == SECRET_MASK


def test_get_sends_no_body(http_server, allow_local, make_ctx):
    ctx, _ = make_ctx()
    run("webhook_trigger", {"url": http_server.url("/ping"), "method": "GET"}, ctx)
    (request,) = http_server.requests
    assert (request.method, request.body) == ("GET", b"")


def test_unexpected_status_fails_the_run_with_the_status(
    http_server, allow_local, make_ctx
):
    http_server.routes["/hook"] = (500, {}, b"boom")
    ctx, handler = make_ctx()
    with pytest.raises(TemplateError, match=r"HTTP 500 .*expected 2xx.*boom"):
        run("webhook_trigger", {"url": http_server.url("/hook")}, ctx)
    assert "Unexpected status 500" in log_text(handler)


def test_expected_status_list_is_honoured(http_server, allow_local, make_ctx):
    http_server.routes["/gone"] = (410, {}, b"")
    ctx, _ = make_ctx()
    result = run(
        "webhook_trigger",
        {"url": http_server.url("/gone"), "expected_status": [410]},
        ctx,
    )
    assert result["status"] == 410
    with pytest.raises(TemplateError, match="expected 200"):
        run(
            "webhook_trigger",
            {"url": http_server.url("/gone"), "expected_status": [200, 201]},
            ctx,
        )


def test_dry_run_sends_nothing(http_server, allow_local, make_ctx):
    ctx, handler = make_ctx(dry_run=True)
    result = run(
        "webhook_trigger",
        {"url": http_server.url("/hook"), "signing_secret": SECRET},
        ctx,
    )
    assert result["dry_run"] is True
    assert http_server.requests == []
    assert SECRET not in log_text(handler)


def test_url_refused_on_save_is_refused_again_on_send(canary, settings, make_ctx):
    url = canary.url("/hook")
    assert "url" in errors_for({"url": url})
    # Saved while allowed, then the allowlist changed: the send is refused too.
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    params = registry.get("webhook_trigger").validate_params({"url": url})
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = []
    ctx, _ = make_ctx()
    with pytest.raises(TemplateError, match="Refused"):
        registry.get("webhook_trigger").execute(params, ctx)
    assert canary.requests == []


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "http://2130706433/"}, "url"),
        ({"url": "http://0177.0.0.1/"}, "url"),
        ({"url": "http://[::ffff:127.0.0.1]/"}, "url"),
        ({"url": "http://user@127.0.0.1/"}, "url"),
        ({"url": "http://10.0.0.5/"}, "url"),
        ({"url": "http://100.64.1.1/"}, "url"),
        ({"method": "TRACE"}, "method"),
        ({"headers": {"X-Foo": "a\r\nX-Injected: 1"}}, "headers.X-Foo"),
        ({"headers": {"X-Foo": "a\nb"}}, "headers.X-Foo"),
        ({"headers": {"Connection": "close"}}, "headers.Connection"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "headers.Transfer-Encoding"),
        ({"headers": {"Upgrade": "h2c"}}, "headers.Upgrade"),
        ({"headers": {"Proxy-Authorization": "x"}}, "headers.Proxy-Authorization"),
        ({"headers": {"Host": "evil"}}, "headers.Host"),
        ({"headers": {"Bad Header": "x"}}, "headers.Bad Header"),
        (
            {"headers": {"X-Scheduler-Signature": "forged"}},
            "headers.X-Scheduler-Signature",
        ),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 61}, "timeout_seconds"),
        ({"expected_status": [700]}, "expected_status.0"),
        ({"json_body": {"x": "y" * 1_100_000}}, "json_body"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(change, key):
    assert key in errors_for({"url": "https://hooks.example.com/x", **change})


def test_preview_of_an_unresolvable_host_still_shows_the_request():
    template = registry.get("webhook_trigger")
    preview = template.preview(
        template.validate_params(
            {"url": "https://hooks.invalid/x", "signing_secret": SECRET}
        )
    )
    assert preview["result"]["addresses"] == "unresolved"
    assert "X-Scheduler-Signature" in preview["result"]["headers"]
    assert SECRET not in str(preview)
