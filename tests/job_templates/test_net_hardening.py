"""Outbound HTTP against hostile servers: one deadline for the whole exchange,
headers that stay with the origin they were meant for, and refusals that do not
tell the user where an internal name points.

The servers are real sockets on 127.0.0.1, reached through the allowlist.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from executions.alerts import slack_channel
from executions.models import JobExecution
from executions.notifications import run_message
from job_templates import net
from job_templates.base import TemplateError
from job_templates.net import RequestFailed, UnsafeURL, check_url_for_save, safe_request
from job_templates.registry import registry
from tests.job_templates.conftest import HTTPServer, _start_server, run

TIMEOUT = 2
# Headroom for a loaded machine; a request that is not bounded as a whole runs
# for as long as the server keeps dripping.
SLACK = 1.5


class TrickleServer:
    """A raw TCP server that reads a request, sends `head` at once, then one byte
    of `drip` every `interval` seconds until stopped.

    With head=None it reads nothing at all, so the client's send stalls once
    the socket buffers are full. With `tls` it speaks TLS after accepting. The
    drip ends by itself after `give_up` seconds so that a client without a
    total deadline fails the test instead of hanging the suite.
    """

    def __init__(
        self,
        head: bytes | None,
        drip: Callable[[], Iterator[bytes]],
        *,
        interval: float = 0.5,
        give_up: float = 20.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.head = head
        self.tls = tls
        self.drip = drip
        self.interval = interval
        self.give_up = give_up
        self.connections = 0
        self.bytes_dripped = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        if self.head is None:
            with conn:
                self._stop.wait(self.give_up)
            return
        with conn:
            conn.settimeout(1)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                conn.sendall(self.head)
                ends = time.monotonic() + self.give_up
                for byte in self.drip():
                    if self._stop.wait(self.interval) or time.monotonic() > ends:
                        return
                    conn.sendall(byte)
                    self.bytes_dripped += 1
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._accepting.join(timeout=2)
        self._listener.close()
        for worker in self._threads:
            worker.join(timeout=2)
        assert not self._accepting.is_alive()
        assert not any(worker.is_alive() for worker in self._threads)


def _forever(data: bytes) -> Callable[[], Iterator[bytes]]:
    def bytes_of() -> Iterator[bytes]:
        while True:
            for value in data:
                yield bytes([value])

    return bytes_of


def _then_forever(first: bytes, rest: bytes) -> Callable[[], Iterator[bytes]]:
    def bytes_of() -> Iterator[bytes]:
        for value in first:
            yield bytes([value])
        yield from _forever(rest)()

    return bytes_of


TRICKLES = {
    # The status line and headers never finish.
    "headers": (b"", _then_forever(b"HTTP/1.1 200 OK\r\nX-Pad: ", b"a")),
    # Headers arrive at once; the declared body never does.
    "body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", _forever(b"x")),
    "chunked body": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        _forever(b"1\r\nx\r\n"),
    ),
}


@pytest.fixture(params=sorted(TRICKLES))
def trickle(request, allow_local):
    head, drip = TRICKLES[request.param]
    server = TrickleServer(head, drip)
    yield server
    server.stop()


def _timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# --- 1. one deadline for the whole request ---------------------------------------


def test_a_trickling_server_cannot_outlast_the_timeout(trickle):
    error, elapsed = _timed(
        lambda: safe_request("GET", trickle.url("/hook"), timeout=TIMEOUT)
    )
    assert isinstance(error, RequestFailed), error
    assert f"did not answer within {TIMEOUT} s" in str(error)
    assert elapsed < TIMEOUT + SLACK
    assert trickle.connections == 1
    assert trickle.bytes_dripped >= 2  # it really was dripping, not silent


def test_the_deadline_spans_redirects(http_server, trickle):
    http_server.routes["/go"] = (307, {"Location": trickle.url("/slow")}, b"")
    error, elapsed = _timed(
        lambda: safe_request(
            "POST", http_server.url("/go"), body=b"{}", timeout=TIMEOUT
        )
    )
    assert isinstance(error, RequestFailed), error
    assert elapsed < TIMEOUT + SLACK
    assert trickle.connections == 1


def test_a_trickling_server_cannot_outlast_a_webhook_job(trickle, make_ctx):
    ctx, _ = make_ctx()
    error, elapsed = _timed(
        lambda: run(
            "webhook_trigger",
            {"url": trickle.url("/hook"), "timeout_seconds": TIMEOUT},
            ctx,
        )
    )
    assert isinstance(error, TemplateError), error
    assert "did not answer within" in str(error)
    assert elapsed < TIMEOUT + SLACK


def test_a_trickling_server_cannot_outlast_a_slack_notification(trickle, settings):
    settings.SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS = TIMEOUT
    execution = JobExecution(
        job_name="nightly",
        template_type="heartbeat",
        status=JobExecution.Status.FAILED,
        scheduled_for=timezone.now(),
    )
    started = time.monotonic()
    note = slack_channel(trickle.url("/slack"), run_message(execution, "failure"))
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert note["level"] == "ERROR"
    assert "did not answer within" in note["message"]


def test_a_server_that_stops_reading_cannot_stall_the_send(allow_local):
    server = TrickleServer(None, _forever(b""))
    try:
        error, elapsed = _timed(
            lambda: safe_request(
                "POST", server.url("/hook"), body=b"x" * 64_000_000, timeout=TIMEOUT
            )
        )
    finally:
        server.stop()
    assert isinstance(error, RequestFailed), error
    assert "did not answer within" in str(error)
    assert elapsed < TIMEOUT + SLACK


@pytest.fixture
def tls_contexts(self_signed_cert) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for a self-signed certificate naming localhost."""
    cert, key = self_signed_cert
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


def test_a_trickling_tls_server_cannot_outlast_the_timeout(tls_contexts, settings):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    server_context, client_context = tls_contexts
    head, drip = TRICKLES["headers"]
    server = TrickleServer(head, drip, tls=server_context)
    try:
        error, elapsed = _timed(
            lambda: safe_request(
                "GET",
                server.url("/hook", host="localhost"),
                timeout=TIMEOUT,
                ssl_context=client_context,
            )
        )
    finally:
        server.stop()
    assert isinstance(error, RequestFailed), error
    assert "did not answer within" in str(error)
    assert elapsed < TIMEOUT + SLACK
    assert server.bytes_dripped >= 2


def test_a_prompt_server_still_answers_within_the_deadline(http_server, allow_local):
    http_server.routes["/hook"] = (200, {}, b"y" * 10_000)
    response = safe_request("GET", http_server.url("/hook"), timeout=TIMEOUT)
    assert (response.status, len(response.body_prefix)) == (200, 4096)


# --- 2. caller headers stay with their origin ------------------------------------

SECRETS = {
    "Authorization": "Bearer auth-secret",
    "Proxy-Authorization": "Basic proxy-secret",
    "Cookie": "session=cookie-secret",
    "X-Api-Key": "api-key-secret",
    "X-Auth-Token": "auth-token-secret",
    "X-Scheduler-Signature": "sha256=signature-secret",
    "X-Scheduler-Timestamp": "1767225600",
    "X-Idempotency-Key": "ds-7-idempotency",
}
HARMLESS = {"Accept": "application/json", "User-Agent": "dynamic-scheduler-test/1"}


@pytest.fixture
def elsewhere():
    """A second real server: another port of 127.0.0.1 is another origin."""
    server = _start_server()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _leaked(headers: dict[str, str]) -> list[str]:
    text = "\n".join(f"{k}: {v}" for k, v in headers.items()).lower()
    return [name for name, value in SECRETS.items() if value.lower() in text]


@pytest.mark.parametrize(
    ("status", "method"),
    [
        (301, "GET"),
        (302, "GET"),
        (302, "POST"),
        (303, "POST"),
        (307, "POST"),
        (308, "PUT"),
    ],
)
def test_a_redirect_to_another_origin_carries_no_caller_credentials(
    http_server: HTTPServer, elsewhere: HTTPServer, allow_local, status, method
):
    http_server.routes["/go"] = (status, {"Location": elsewhere.url("/land")}, b"")
    body = b'{"a": 1}' if method != "GET" else None
    headers = {**SECRETS, **HARMLESS}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = safe_request(method, http_server.url("/go"), headers=headers, body=body)
    assert response.status == 200
    assert response.final_url == elsewhere.url("/land")
    (first,) = http_server.requests
    assert _leaked(first.headers) == list(SECRETS)  # the origin named got them all
    (landed,) = elsewhere.requests
    assert _leaked(landed.headers) == []
    assert {k: landed.headers[k] for k in HARMLESS} == HARMLESS
    if status in (307, 308):
        assert (landed.method, landed.body) == (method, body)
        assert landed.headers["Content-Type"] == "application/json"


def test_another_host_name_on_the_same_port_is_another_origin(
    http_server: HTTPServer, settings
):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    target = http_server.url("/land", host="localhost")
    http_server.routes["/go"] = (302, {"Location": target}, b"")
    safe_request("GET", http_server.url("/go"), headers={**SECRETS, **HARMLESS})
    first, landed = http_server.requests
    assert _leaked(first.headers) == list(SECRETS)
    assert _leaked(landed.headers) == []


@pytest.mark.parametrize("absolute", [True, False])
def test_a_same_origin_redirect_keeps_every_header(
    http_server: HTTPServer, allow_local, absolute
):
    location = http_server.url("/land") if absolute else "/land"
    http_server.routes["/go"] = (307, {"Location": location}, b"")
    safe_request(
        "POST", http_server.url("/go"), headers={**SECRETS, **HARMLESS}, body=b"{}"
    )
    _, landed = http_server.requests
    assert landed.path == "/land"
    assert _leaked(landed.headers) == list(SECRETS)


def test_headers_dropped_once_stay_dropped_on_the_way_back(
    http_server: HTTPServer, elsewhere: HTTPServer, allow_local
):
    """A hop elsewhere may send the request back; the credentials do not return."""
    http_server.routes["/go"] = (302, {"Location": elsewhere.url("/bounce")}, b"")
    elsewhere.routes["/bounce"] = (302, {"Location": http_server.url("/land")}, b"")
    safe_request("GET", http_server.url("/go"), headers=dict(SECRETS))
    _, back = http_server.requests
    assert back.path == "/land"
    assert _leaked(back.headers) == []


WEBHOOK_SECRET = "whsec-hardening"


@pytest.mark.parametrize("status", [302, 307])
def test_a_webhook_job_redirected_elsewhere_sends_no_signature_or_keys(
    http_server: HTTPServer, elsewhere: HTTPServer, allow_local, make_ctx, status
):
    http_server.routes["/hook"] = (status, {"Location": elsewhere.url("/x")}, b"")
    ctx, _ = make_ctx()
    run(
        "webhook_trigger",
        {
            "url": http_server.url("/hook"),
            "headers": {
                "X-Api-Key": "api-key-secret",
                "X-Auth-Token": "auth-token-secret",
                "Authorization": "Bearer auth-secret",
            },
            "json_body": {"event": "nightly"},
            "signing_secret": WEBHOOK_SECRET,
        },
        ctx,
    )
    (first,) = http_server.requests
    assert first.headers["X-Api-Key"] == "api-key-secret"
    assert first.headers["X-Scheduler-Signature"].startswith("sha256=")
    (landed,) = elsewhere.requests
    sent = {name.lower() for name in landed.headers}
    for name in (
        "x-api-key",
        "x-auth-token",
        "authorization",
        "x-scheduler-signature",
        "x-scheduler-timestamp",
        "x-idempotency-key",
    ):
        assert name not in sent
    assert landed.headers["User-Agent"] == "dynamic-scheduler-webhook/1"
    if status == 307:
        assert landed.headers["Content-Type"] == "application/json"
        assert landed.body == b'{"event":"nightly"}'


def test_a_webhook_job_redirected_within_its_origin_keeps_the_signature(
    http_server: HTTPServer, allow_local, make_ctx
):
    http_server.routes["/hook"] = (307, {"Location": "/moved"}, b"")
    ctx, _ = make_ctx()
    run(
        "webhook_trigger",
        {
            "url": http_server.url("/hook"),
            "headers": {"X-Api-Key": "api-key-secret"},
            "signing_secret": WEBHOOK_SECRET,
        },
        ctx,
    )
    first, landed = http_server.requests
    assert landed.path == "/moved"
    for name in ("X-Api-Key", "X-Scheduler-Signature", "X-Scheduler-Timestamp"):
        assert landed.headers[name] == first.headers[name]


# --- 3. refusals do not reveal what an internal name resolves to -----------------

INTERNAL_ANSWERS = [
    ["127.0.0.1"],
    ["10.20.30.40"],
    ["169.254.169.254"],
    ["::ffff:10.20.30.40"],
    ["fd12:3456::7"],
    ["93.184.215.14", "192.168.77.88"],  # one public answer does not excuse the other
]


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for names ending in .corp.test; every other name resolves for real."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            infos = []
            for address in answers[host]:
                infos += real(address, port, *args, **kwargs)
            return infos
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(net.socket, "getaddrinfo", getaddrinfo)
    return answers


def _revealed(message: str, addresses: list[str]) -> list[str]:
    pieces = set(addresses)
    for address in addresses:
        pieces.add(address.removeprefix("::ffff:"))
    return [piece for piece in pieces if piece in message]


@pytest.mark.parametrize("addresses", INTERNAL_ANSWERS, ids=lambda a: "+".join(a))
def test_a_refused_name_does_not_reveal_its_address(
    fake_dns, settings, canary, addresses
):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = []
    fake_dns["intranet.corp.test"] = addresses
    url = f"http://intranet.corp.test:{canary.port}/hook"
    for check in (
        lambda: safe_request("POST", url, body=b"{}", timeout=TIMEOUT),
        lambda: check_url_for_save(url),
    ):
        with pytest.raises(UnsafeURL) as info:
            check()
        message = str(info.value)
        assert "intranet.corp.test" in message
        assert "not allowed" in message
        assert "internal" in message
        assert _revealed(message, addresses) == []
    with pytest.raises(ValidationError) as invalid:
        registry.get("webhook_trigger").validate_params({"url": url})
    assert _revealed(str(invalid.value.message_dict), addresses) == []
    assert canary.requests == []


def test_a_redirect_to_a_refused_name_does_not_reveal_its_address(
    http_server: HTTPServer, fake_dns, settings, make_ctx
):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    fake_dns["metadata.corp.test"] = ["169.254.169.254"]
    http_server.routes["/hook"] = (
        302,
        {"Location": "http://metadata.corp.test/latest/meta-data/"},
        b"",
    )
    ctx, _ = make_ctx()
    with pytest.raises(TemplateError) as info:
        run("webhook_trigger", {"url": http_server.url("/hook")}, ctx)
    assert "metadata.corp.test" in str(info.value)
    assert "169.254" not in str(info.value)


def test_this_machines_own_name_is_refused_without_its_address(settings):
    """Resolved by the system resolver (/etc/hosts), with no stand-in."""
    name = socket.gethostname().lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except socket.gaierror:
        pytest.skip(f"{name!r} does not resolve here")
    if name == "localhost" or name.endswith(".localhost"):
        pytest.skip("refused by name before any lookup")
    if any(net.address_problem(a) is None for a in addresses):
        pytest.skip(f"{name!r} resolves to a public address here")
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeURL) as info:
        check_url_for_save(f"http://{name}/")
    assert "not allowed" in str(info.value)
    assert _revealed(str(info.value), sorted(addresses)) == []


@pytest.mark.parametrize(
    ("url", "typed"),
    [
        ("http://10.20.30.40/", "10.20.30.40"),
        ("http://[::ffff:10.20.30.40]/", "10.20.30.40"),
        ("http://169.254.169.254/", "169.254.169.254"),
    ],
)
def test_an_address_the_user_typed_is_still_named(settings, url, typed):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeURL) as info:
        check_url_for_save(url)
    assert typed in str(info.value)
