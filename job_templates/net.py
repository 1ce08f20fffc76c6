"""Outgoing HTTP with an SSRF guard, for webhook_trigger and the Slack notifier.

A URL typed by a staff user must not reach the machine's own services, the
private network or a cloud metadata endpoint. Each request:

1. parses the URL strictly (http/https, no user:password@, no odd encodings
   of IP addresses such as 2130706433, 0177.0.0.1 or 0x7f.1);
2. resolves the host once and refuses it if any address is loopback, private,
   link-local, shared (100.64.0.0/10), multicast, reserved, unspecified or a
   metadata address, unless the host is in SCHEDULER_WEBHOOK_ALLOWED_HOSTS;
3. connects to exactly the address that was checked (no second DNS answer,
   so DNS rebinding cannot swap it), while the Host header and the TLS SNI and
   certificate check still use the host name;
4. follows at most 3 redirects, each checked the same way;
5. reads at most the first 4 KB of the body, within one overall timeout.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 3
MAX_BODY_BYTES = 4096
MAX_URL_CHARS = 2000
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Headers a redirect to another origin must not carry along.
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")
# Set by the client itself; a caller's value would confuse the request framing.
_MANAGED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_HOST_CHARS = re.compile(r"^[a-z0-9_.-]+$")


class UnsafeURL(ValueError):
    """The URL is refused; the message says why, in words a user understands."""


class RequestFailed(OSError):
    """The request could not be completed (connection, timeout, redirects)."""


@dataclass
class Target:
    """A checked URL: where to connect and what to call the host."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: list[str] = field(default_factory=list)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body_prefix: str
    latency_ms: int
    final_url: str
    redirects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def allowed_hosts() -> set[str]:
    from django.conf import settings

    return {
        h.lower().rstrip(".")
        for h in getattr(settings, "SCHEDULER_WEBHOOK_ALLOWED_HOSTS", [])
    }


def address_problem(address: str) -> str | None:
    """Why an IP address may not be contacted, or None for a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if ip in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo:
            embedded = ip.teredo[1]
        if embedded is None and ip in NAT64_NETWORK:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(str(embedded))
            if inner:
                return f"embeds {embedded}, which {inner}"
    checks = (
        (ip.is_unspecified, "is unspecified"),
        (ip.is_loopback, "is a loopback address"),
        (ip.is_link_local, "is a link-local address"),
        (ip.is_multicast, "is a multicast address"),
        (ip in SHARED_NETWORK, "is a shared (carrier-grade NAT) address"),
        (ip.is_reserved, "is a reserved address"),
        (ip.is_private, "is a private address"),
        (not ip.is_global, "is not a public address"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    return None


def parse_url(url: Any) -> Target:
    """Check the URL's shape (no DNS); raise UnsafeURL saying what is wrong."""
    if not isinstance(url, str) or not url:
        raise UnsafeURL("Give an http or https URL.")
    if len(url) > MAX_URL_CHARS:
        raise UnsafeURL(f"The URL is longer than {MAX_URL_CHARS} characters.")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url) or "\\" in url:
        raise UnsafeURL("The URL contains spaces, control characters or backslashes.")
    if not url.isascii():
        raise UnsafeURL("Write the URL in ASCII (punycode for international names).")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("Only http and https URLs are allowed.")
    if "@" in parts.netloc:
        raise UnsafeURL(
            "User names and passwords in the URL (user@host) are not allowed."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("The URL has no host.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("The URL's port is not a number between 1 and 65535.") from None
    if not 0 < port < 65536:
        raise UnsafeURL("The URL's port is not a number between 1 and 65535.")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise UnsafeURL(f"{host!r} is not a valid IPv6 address.") from None
        if "%" in host:
            raise UnsafeURL("IPv6 zone identifiers (%…) are not allowed.")
    else:
        if not _HOST_CHARS.match(host) or ".." in host:
            raise UnsafeURL(f"{host!r} is not a valid host name.")
        labels = host.split(".")
        if _NUMERIC_LABEL.match(labels[-1]):
            # Only the canonical dotted quad is accepted; 2130706433, 0177.0.0.1,
            # 0x7f.1 or 127.1 are other spellings of 127.0.0.1 that resolvers accept.
            try:
                canonical = str(ipaddress.IPv4Address(host))
            except ValueError:
                canonical = ""
            if canonical != host:
                raise UnsafeURL(
                    f"{host!r} is an unusual spelling of an IP address; write it as "
                    "a dotted quad (e.g. 93.184.215.14) or use a host name."
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url=url, scheme=scheme, host=host.lower(), port=port, path=path)


def check_url(url: Any, *, resolve: bool = True) -> Target:
    """The save-time and send-time check; returns the target with its addresses.

    Raises UnsafeURL when refused, RequestFailed when the name does not
    resolve. With resolve=False only the URL's shape, "localhost" names and IP
    literals are checked.
    """
    target = parse_url(url)
    allowed = target.host in allowed_hosts()
    if not allowed and (
        target.host == "localhost" or target.host.endswith(".localhost")
    ):
        raise UnsafeURL(f"{target.host!r} is this machine (loopback).")
    literal = _ip_literal(target.host)
    if literal is not None:
        if not allowed:
            problem = address_problem(literal)
            if problem:
                raise UnsafeURL(f"{target.host} {problem}.")
        target.addresses = [literal]
        return target
    if not resolve:
        return target
    target.addresses = resolve_host(target.host, target.port, allowed=allowed)
    return target


def check_url_for_save(url: Any) -> Target:
    """Save-time check: everything check_url does, but a name that does not
    resolve right now is accepted (DNS may be down; it is checked again on send).
    """
    try:
        return check_url(url)
    except RequestFailed:
        return check_url(url, resolve=False)


def resolve_host(host: str, port: int, *, allowed: bool = False) -> list[str]:
    """Every address the host resolves to; UnsafeURL if any of them is refused.

    All answers are checked, not just the first, so a name that also resolves
    to an internal address is refused.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RequestFailed(f"Could not resolve {host!r}: {exc}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RequestFailed(f"{host!r} has no address.")
    if not allowed:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise UnsafeURL(f"{host!r} resolves to {address}, which {problem}.")
    return addresses


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a given address; Host header stays the name in the URL."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a given address, with SNI and certificate check for the host name."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        address: str,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


def safe_request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    max_redirects: int = MAX_REDIRECTS,
    max_body_bytes: int = MAX_BODY_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """Send one HTTP request through the SSRF guard; see the module docstring.

    Raises UnsafeURL when the URL (or a redirect) is refused, RequestFailed when
    the request cannot complete (DNS, connection, timeout, too many redirects).
    Any status code is returned, not raised; `Response.ok` means 2xx.
    """
    deadline = time.monotonic() + timeout
    context = ssl_context or ssl.create_default_context()
    method = method.upper()
    send_headers = dict(headers or {})
    redirects: list[str] = []
    started = time.monotonic()
    current = url
    while True:
        target = check_url(current)
        response = _send_once(target, method, send_headers, body, deadline, context)
        status, response_headers, prefix = response
        location = response_headers.get("location")
        if status not in REDIRECT_STATUSES or not location:
            return Response(
                status=status,
                headers=response_headers,
                body_prefix=prefix[:max_body_bytes].decode("utf-8", errors="replace"),
                latency_ms=round((time.monotonic() - started) * 1000),
                final_url=current,
                redirects=redirects,
            )
        if len(redirects) >= max_redirects:
            raise RequestFailed(
                f"Stopped after {max_redirects} redirects (next: {location[:200]})."
            )
        following = urljoin(current, location)
        if _origin(following) != _origin(current):
            send_headers = {
                k: v
                for k, v in send_headers.items()
                if k.lower() not in CREDENTIAL_HEADERS
            }
        if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
            method, body = ("HEAD" if method == "HEAD" else "GET"), None
            send_headers = {
                k: v for k, v in send_headers.items() if k.lower() != "content-type"
            }
        redirects.append(following)
        current = following


def _read_prefix(
    conn: http.client.HTTPConnection,
    response: http.client.HTTPResponse,
    deadline: float,
) -> bytes:
    """At most MAX_BODY_BYTES, within the deadline even if the server drips bytes."""
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if conn.sock is not None:
            conn.sock.settimeout(remaining)
        chunk = response.read1(MAX_BODY_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def _send_once(
    target: Target,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    deadline: float,
    context: ssl.SSLContext,
) -> tuple[int, dict[str, str], bytes]:
    last_error: Exception | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if target.scheme == "https":
            conn: http.client.HTTPConnection = _PinnedHTTPSConnection(
                target.host,
                target.port,
                address=address,
                timeout=remaining,
                context=context,
            )
        else:
            conn = _PinnedHTTPConnection(
                target.host, target.port, address=address, timeout=remaining
            )
        try:
            try:
                conn.connect()
            except ssl.SSLError as exc:
                raise RequestFailed(f"TLS error with {target.host}: {exc}") from None
            except OSError as exc:
                # Only a failed connect moves on to the next (already checked)
                # address; once connected the request is never sent twice.
                last_error = exc
                continue
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
            conn.putrequest(method, target.path, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _MANAGED_HEADERS:
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            prefix = b"" if method == "HEAD" else _read_prefix(conn, response, deadline)
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                prefix,
            )
        except TimeoutError:
            raise RequestFailed(f"Timed out talking to {target.host}.") from None
        except ssl.SSLError as exc:
            raise RequestFailed(f"TLS error with {target.host}: {exc}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise RequestFailed(f"Request to {target.host} failed: {exc}") from None
        finally:
            conn.close()
    if last_error is None:
        raise RequestFailed(f"Timed out before connecting to {target.host}.")
    raise RequestFailed(f"Could not connect to {target.host}: {last_error}")
