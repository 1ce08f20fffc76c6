import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from job_templates import net
from job_templates.net import RequestFailed, UnsafeURL, check_url_for_save, safe_request

REFUSED = [
    ("http://2130706433:{port}/", "unusual spelling"),
    ("http://0177.0.0.1:{port}/", "unusual spelling"),
    ("http://0x7f.1:{port}/", "unusual spelling"),
    ("http://0x7f000001:{port}/", "unusual spelling"),
    ("http://127.1:{port}/", "unusual spelling"),
    ("http://127.0.0.1:{port}/", "loopback"),
    ("http://127.0.0.1.:{port}/", "loopback"),
    ("http://[::1]:{port}/", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/", "embeds 127.0.0.1"),
    ("http://[::ffff:7f00:1]:{port}/", "embeds 127.0.0.1"),
    ("http://[64:ff9b::7f00:1]:{port}/", "embeds 127.0.0.1"),
    ("http://[2002:7f00:1::]:{port}/", "embeds 127.0.0.1"),
    ("http://a@127.0.0.1:{port}/", "User names"),
    ("http://a:b@example.com@127.0.0.1:{port}/", "User names"),
    ("http://localhost:{port}/", "loopback"),
    ("http://api.localhost:{port}/", "loopback"),
    ("http://0.0.0.0:{port}/", "unspecified"),
    ("http://[::]:{port}/", "unspecified"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "shared"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://%31%32%37.0.0.1:{port}/", "not a valid host"),
    ("http://127.0.0.1\\@example.com/", "backslashes"),
    ("ftp://example.com/", "http and https"),
    ("file:///etc/passwd", "http and https"),
    ("http:///nohost", "no host"),
    ("http://example.com:99999/", "port"),
]


@pytest.mark.parametrize(("template", "says"), REFUSED)
def test_ssrf_refusals_send_no_request(canary, template, says):
    url = template.format(port=canary.port)
    with pytest.raises(UnsafeURL) as info:
        safe_request("POST", url, body=b"{}", timeout=2)
    assert says in str(info.value)
    with pytest.raises(UnsafeURL):
        check_url_for_save(url)
    assert canary.requests == []


def test_allowlisted_host_is_called_and_answers(http_server, allow_local):
    http_server.routes["/hook"] = (
        201,
        {"Content-Type": "application/json"},
        b'{"a": 1}',
    )
    response = safe_request(
        "POST",
        http_server.url("/hook?x=1"),
        headers={"X-Test": "yes"},
        body=b'{"k": 2}',
    )
    assert response.status == 201
    assert response.ok
    assert response.body_prefix == '{"a": 1}'
    assert response.headers["content-type"] == "application/json"
    assert response.latency_ms >= 0
    (request,) = http_server.requests
    assert request.method == "POST"
    assert request.path == "/hook?x=1"
    assert request.body == b'{"k": 2}'
    assert request.headers["X-Test"] == "yes"
    assert request.headers["Host"] == f"127.0.0.1:{http_server.port}"


def test_only_the_first_4_kb_of_the_body_is_read(http_server, allow_local):
    http_server.routes["/big"] = (200, {}, b"x" * 100_000)
    response = safe_request("GET", http_server.url("/big"))
    assert len(response.body_prefix) == 4096


def test_up_to_three_redirects_are_followed(http_server, allow_local):
    for n in range(3):
        http_server.routes[f"/r{n}"] = (302, {"Location": f"/r{n + 1}"}, b"")
    http_server.routes["/r3"] = (200, {}, b"done")
    response = safe_request("GET", http_server.url("/r0"))
    assert response.body_prefix == "done"
    assert response.final_url == http_server.url("/r3")
    assert len(response.redirects) == 3


def test_a_fourth_redirect_is_refused(http_server, allow_local):
    for n in range(4):
        http_server.routes[f"/r{n}"] = (302, {"Location": f"/r{n + 1}"}, b"")
    with pytest.raises(RequestFailed, match="after 3 redirects"):
        safe_request("GET", http_server.url("/r0"))
    assert [r.path for r in http_server.requests] == ["/r0", "/r1", "/r2", "/r3"]


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{port}/",
        "http://2130706433:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://169.254.169.254/",
    ],
)
def test_redirects_are_checked_like_the_first_url(
    http_server, canary, allow_local, target
):
    location = target.format(port=canary.port)
    http_server.routes["/go"] = (307, {"Location": location}, b"")
    with pytest.raises(UnsafeURL):
        safe_request("POST", http_server.url("/go"), body=b"{}")
    assert canary.requests == []


def test_redirect_to_another_origin_drops_credentials(http_server, canary, settings):
    """Custom headers are as good as credentials; only Accept and the like go on."""
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.routes["/go"] = (302, {"Location": canary.url("/landing")}, b"")
    safe_request(
        "GET",
        http_server.url("/go"),
        headers={"Authorization": "Bearer abc", "X-A": "1", "Accept": "text/plain"},
    )
    (landed,) = canary.requests
    assert "Authorization" not in landed.headers
    assert "X-A" not in landed.headers
    assert landed.headers["Accept"] == "text/plain"


def test_303_after_post_becomes_a_get_without_body(http_server, allow_local):
    http_server.routes["/post"] = (303, {"Location": "/result"}, b"")
    response = safe_request("POST", http_server.url("/post"), body=b"payload")
    assert response.status == 200
    second = http_server.requests[1]
    assert (second.method, second.body) == ("GET", b"")


def test_a_slow_server_times_out(http_server, allow_local):
    def slow(handler):
        time.sleep(3)
        return (200, {}, b"late")

    http_server.routes["/slow"] = slow
    started = time.monotonic()
    with pytest.raises(RequestFailed, match="Timed out"):
        safe_request("GET", http_server.url("/slow"), timeout=1)
    assert time.monotonic() - started < 2.5


def test_the_checked_address_is_the_one_connected_to(
    http_server, settings, monkeypatch
):
    """One DNS answer per hop: a rebinding resolver gets no second chance."""
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host == "localhost":
            lookups.append(host)
            if len(lookups) > 1:  # a second lookup would be sent to the metadata IP
                return real("169.254.169.254", *args, **kwargs)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(net.socket, "getaddrinfo", rebinding)
    response = safe_request("GET", f"http://localhost:{http_server.port}/")
    assert response.status == 200
    assert lookups == ["localhost"]
    assert http_server.requests[0].headers["Host"] == f"localhost:{http_server.port}"


def test_unresolvable_host_is_accepted_at_save_but_fails_on_send():
    target = check_url_for_save("https://no-such-host.invalid/hook")
    assert target.host == "no-such-host.invalid"
    with pytest.raises(RequestFailed, match="Could not resolve"):
        safe_request("POST", "https://no-such-host.invalid/hook", body=b"{}")


@pytest.fixture
def tls_server(self_signed_cert):
    """An HTTPS server on 127.0.0.1 whose certificate names only 'localhost'."""
    cert, key = self_signed_cert
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    client = ssl.create_default_context(cafile=str(cert))
    yield server.server_address[1], client, seen
    server.shutdown()
    server.server_close()


def test_https_uses_the_host_name_for_sni_and_certificate(tls_server, settings):
    port, client, seen = tls_server
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    response = safe_request("GET", f"https://localhost:{port}/", ssl_context=client)
    assert (response.status, response.body_prefix) == (200, "ok")
    assert seen == [f"localhost:{port}"]
    # Same server, same certificate, but the URL names the IP: the check fails.
    with pytest.raises(RequestFailed, match="TLS"):
        safe_request("GET", f"https://127.0.0.1:{port}/", ssl_context=client)
