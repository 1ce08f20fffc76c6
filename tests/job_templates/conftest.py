"""Real parts for template tests: SMTP and HTTP servers, tmp folders, contexts."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from job_templates.context import BoundedLogHandler, ExecutionContext, make_logger
from job_templates.registry import registry


@pytest.fixture
def make_ctx():
    """Build an ExecutionContext like the executor does; returns (ctx, handler)."""

    def build(*, dry_run: bool = False, key: str = "ds-7-20260101T000000000000Z", **kw):
        handler = BoundedLogHandler(max_entries=500)
        ctx = ExecutionContext(
            logger=make_logger("dynamic_scheduler.templates.test", handler),
            dry_run=dry_run,
            execution_id=kw.pop("execution_id", 1),
            job_id=kw.pop("job_id", 7),
            job_name=kw.pop("job_name", "nightly"),
            idempotency_key=key,
            **kw,
        )
        return ctx, handler

    return build


def run(template_type: str, params: dict[str, Any], ctx: ExecutionContext) -> dict:
    """Validate then execute, as the executor does."""
    template = registry.get(template_type)
    return template.execute(template.validate_params(params), ctx)


def log_text(handler: BoundedLogHandler) -> str:
    return "\n".join(entry["message"] for entry in handler.entries())


@pytest.fixture
def roots(settings, tmp_path):
    """Export, report and backup folders in a tmp dir."""
    paths = {}
    for folder, setting in (
        ("exports", "SCHEDULER_EXPORT_ROOT"),
        ("reports", "SCHEDULER_REPORT_ROOT"),
        ("backups", "SCHEDULER_BACKUP_ROOT"),
    ):
        path = tmp_path / folder
        path.mkdir()
        setattr(settings, setting, str(path))
        paths[folder] = path
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf-8", errors="replace"),
            }
        )
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1; Django's SMTP backend points at it."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    yield inbox
    controller.stop()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HTTPServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers by route.

    routes: path -> (status, headers, body) or a callable(handler) -> same.
    """

    server: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)
    routes: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _start_server() -> HTTPServer:
    holder: dict[str, HTTPServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            srv = holder["srv"]
            path = self.path.split("?", 1)[0]
            srv.requests.append(
                Recorded(self.command, self.path, dict(self.headers.items()), body)
            )
            route = srv.routes.get(path, (200, {}, b'{"ok": true}'))
            if callable(route):
                route = route(self)
            status, headers, payload = route
            if isinstance(payload, dict | list):
                payload = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    # A client that stops reading after 4 KB is expected here, not an error.
    server.handle_error = lambda request, client_address: None
    srv = HTTPServer(server=server)
    holder["srv"] = srv
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return srv


@pytest.fixture
def http_server():
    srv = _start_server()
    yield srv
    srv.server.shutdown()
    srv.server.server_close()


@pytest.fixture
def canary():
    """A second server that must never be reached: SSRF refusals send nothing."""
    srv = _start_server()
    yield srv
    time.sleep(0.05)
    srv.server.shutdown()
    srv.server.server_close()


@pytest.fixture
def allow_local(settings):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def self_signed_cert(tmp_path) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed certificate naming only localhost."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
