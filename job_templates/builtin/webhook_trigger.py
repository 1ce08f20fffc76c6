from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from job_templates.base import JobTemplate, TemplateError
from job_templates.context import ExecutionContext
from job_templates.net import (
    RequestFailed,
    Response,
    UnsafeURL,
    check_url,
    check_url_for_save,
    safe_request,
)

METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
# RFC 7230 token characters for header names.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
# Set by the client itself from the request it sends.
MANAGED = {"host", "content-length"}
SIGNATURE_HEADER = "X-Scheduler-Signature"
TIMESTAMP_HEADER = "X-Scheduler-Timestamp"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
MAX_BODY_BYTES = 1024 * 1024


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>", hex: what receivers recompute."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookTriggerTemplate(JobTemplate):
    """Calls an HTTP endpoint through the SSRF-guarded client (job_templates.net).

    The URL is checked when the job is saved and again on every send; the
    connection goes to the address that was checked. With a signing secret
    the request carries X-Scheduler-Timestamp and X-Scheduler-Signature
    (sha256=HMAC(secret, timestamp + "." + body)); the secret is never shown
    back nor logged.
    """

    type = "webhook_trigger"
    name = "Webhook trigger"
    description = (
        "Calls an external HTTP(S) endpoint with an optional JSON body and HMAC "
        "signature, and checks the response status. Internal and private "
        "addresses are refused."
    )
    category = "integrations"
    icon = "🔗"
    risk_level = "medium"
    resource_usage = "low"
    estimated_duration = "seconds"
    guidance = "Call external API?"
    supports_dry_run = True
    secrets_destination = "url"
    parameters_schema = {
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "title": "URL",
                "description": (
                    "http or https. Private, loopback and metadata addresses are "
                    "refused unless an administrator allowed that host."
                ),
                "minLength": 1,
                "maxLength": 2000,
            },
            "method": {
                "type": "string",
                "title": "Method",
                "enum": list(METHODS),
                "default": "POST",
            },
            "headers": {
                "type": "object",
                "title": "Headers",
                "description": (
                    "Extra request headers (no hop-by-hop headers). Values are "
                    "secrets: stored encrypted, never shown again after saving."
                ),
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 4000,
                    "writeOnly": True,
                },
                "default": {},
                "maxProperties": 50,
            },
            "json_body": {
                "type": "object",
                "title": "JSON body",
                "description": (
                    "Sent as application/json with POST, PUT and PATCH. May be empty."
                ),
                "default": {},
            },
            "timeout_seconds": {
                "type": "integer",
                "title": "Timeout (seconds)",
                "description": "For the whole call, redirects included.",
                "default": 10,
                "minimum": 1,
                "maximum": 60,
            },
            "expected_status": {
                "type": "array",
                "title": "Expected status codes",
                "description": "Status codes that count as success. Empty: any 2xx.",
                "items": {"type": "integer", "minimum": 100, "maximum": 599},
                "default": [],
                "maxItems": 20,
            },
            "signing_secret": {
                "type": "string",
                "title": "Signing secret",
                "description": (
                    "Optional. Adds X-Scheduler-Signature: sha256=HMAC-SHA256(secret, "
                    "timestamp + '.' + body). Never shown again after saving."
                ),
                "default": "",
                "maxLength": 500,
                "writeOnly": True,
            },
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def high_risk_reason(self, params: dict[str, Any]) -> str | None:
        return "it sends data, and any stored credentials, to another server"

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        try:
            check_url_for_save(params["url"])
        except UnsafeURL as exc:
            errors["url"] = [str(exc)]
        for name, value in params["headers"].items():
            problem = header_problem(name, value)
            if problem:
                errors[f"headers.{name}"] = [problem]
        try:
            body = _body(params)
        except (TypeError, ValueError) as exc:
            errors["json_body"] = [f"Cannot be sent as JSON: {exc}"]
        else:
            if body is not None and len(body) > MAX_BODY_BYTES:
                errors["json_body"] = [
                    f"The body is larger than {MAX_BODY_BYTES} bytes."
                ]
        if errors:
            raise ValidationError(errors)
        return params

    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        method, url = params["method"], params["url"]
        body = _body(params)
        headers = _request_headers(params, ctx, body)
        if ctx.dry_run:
            return _dry_run_report(method, url, headers, body, ctx)
        # Header names only: values may hold credentials.
        ctx.logger.info(
            "%s %s (headers: %s, %s body bytes)",
            method,
            url,
            ", ".join(sorted(headers)),
            len(body or b""),
        )
        try:
            response = safe_request(
                method,
                url,
                headers=headers,
                body=body,
                timeout=params["timeout_seconds"],
            )
        except UnsafeURL as exc:
            raise TemplateError(f"Refused: {exc}") from None
        except RequestFailed as exc:
            raise TemplateError(str(exc)) from None
        return _judge_response(response, params["expected_status"], ctx)


def _request_headers(
    params: dict[str, Any], ctx: ExecutionContext, body: bytes | None
) -> dict[str, str]:
    """The job's headers, defaults it may override, and the scheduler's own
    (clean() refuses those in a job): the idempotency key lets a receiver drop a
    retried delivery, the signature proves the body came from here."""
    headers = dict(params["headers"])
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    headers.setdefault("User-Agent", "dynamic-scheduler-webhook/1")
    if ctx.idempotency_key:
        headers[IDEMPOTENCY_HEADER] = ctx.idempotency_key
    if params["signing_secret"]:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = "sha256=" + sign(
            params["signing_secret"], timestamp, body or b""
        )
    return headers


def _dry_run_report(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    ctx: ExecutionContext,
) -> dict[str, Any]:
    """What a send would do, without sending: the URL is still checked so a
    preview refuses what a run would refuse, and only header names are shown
    because values may hold credentials."""
    try:
        addresses = ", ".join(check_url(url).addresses)
    except UnsafeURL as exc:
        raise TemplateError(f"url: {exc}") from None
    except RequestFailed as exc:
        # A preview should still show what would be sent.
        ctx.logger.warning("Dry run: %s", exc)
        addresses = "unresolved"
    ctx.logger.info(
        "Dry run: would %s %s (%s) with headers %s and %s body bytes",
        method,
        url,
        addresses,
        ", ".join(sorted(headers)),
        len(body or b""),
    )
    return {
        "dry_run": True,
        "method": method,
        "url": url,
        "addresses": addresses,
        "headers": sorted(headers),
    }


def _judge_response(
    response: Response, expected: list[int], ctx: ExecutionContext
) -> dict[str, Any]:
    """The call's result, or a failed run when the status is not one the job
    counts as success; the error quotes the body's start so the cause is visible
    without the receiver's logs."""
    for hop in response.redirects:
        ctx.logger.info("Redirected to %s", hop)
    ctx.logger.info("HTTP %s in %s ms", response.status, response.latency_ms)
    result = {
        "status": response.status,
        "latency_ms": response.latency_ms,
        "final_url": response.final_url,
        "redirects": response.redirects,
        "content_type": response.headers.get("content-type", ""),
        "body": response.body_prefix,
    }
    ok = response.status in expected if expected else response.ok
    if not ok:
        wanted = ", ".join(map(str, expected)) if expected else "2xx"
        ctx.logger.error("Unexpected status %s (expected %s)", response.status, wanted)
        raise TemplateError(
            f"HTTP {response.status} from {response.final_url} "
            f"(expected {wanted}). "
            f"Body: {response.body_prefix[:500]}"
        )
    return result


def _body(params: dict[str, Any]) -> bytes | None:
    if params["method"] not in ("POST", "PUT", "PATCH"):
        return None
    return json.dumps(
        params["json_body"],
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        allow_nan=False,
    ).encode()


def header_problem(name: str, value: Any) -> str | None:
    """Why a request header is refused, or None."""
    if not _TOKEN.match(name):
        return f"{name!r} is not a valid header name."
    lowered = name.lower()
    if lowered in HOP_BY_HOP:
        return f"{name} is a hop-by-hop header and cannot be set."
    if lowered in MANAGED:
        return f"{name} is set by the client and cannot be set."
    if lowered in (
        SIGNATURE_HEADER.lower(),
        TIMESTAMP_HEADER.lower(),
        IDEMPOTENCY_HEADER.lower(),
    ):
        return f"{name} is set by the scheduler."
    if not isinstance(value, str):
        return "Header values must be strings."
    if "\r" in value or "\n" in value or "\x00" in value:
        return "Header values cannot contain CR, LF or NUL."
    if any(ord(c) < 32 and c != "\t" for c in value) or not value.isascii():
        return "Header values must be printable ASCII."
    return None
