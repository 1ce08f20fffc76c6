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
4. follows at most 3 redirects, each checked the same way; a redirect to
   another origin carries only headers that describe the request (Accept,
   Content-Type, User-Agent), never API keys, signatures or cookies;
5. reads at most the first 4 KB of the body;
6. ends by one deadline for the whole call, redirects included: every send
   and receive gets only the time that is left, so a server that drips one
   byte at a time cannot hold the call open past its timeout.

Refusals name the host the user typed and why in general terms, but never the
address an internal name resolves to: that would map the private network for
whoever can save a URL.
"""

from __future__ import annotations

import http.client
import io
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
# The only caller headers a redirect to another origin carries along: they
# describe the request, not who sends it. Custom headers (X-Api-Key, the
# webhook signature, idempotency keys) are as good as credentials and stay
# with the origin the caller named.
CROSS_ORIGIN_HEADERS = frozenset(
    {"accept", "accept-language", "content-type", "user-agent"}
)
DEFAULT_PORTS = {"http": 80, "https": 443}
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
    if not allowed and any(address_problem(a) for a in addresses):
        raise UnsafeURL(
            f"{host!r} is not allowed: it resolves to an internal or non-public "
            "address."
        )
    return addresses


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class _DeadlineReader(io.RawIOBase):
    """The receiving side of a _DeadlineSocket, for http.client's buffered reads."""

    def __init__(self, sock: _DeadlineSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """A connected socket on which every send and receive ends by one deadline.

    A plain socket timeout bounds each operation on its own, so a server that
    sends a byte just before it runs out keeps the request open indefinitely;
    here each operation only gets the time left for the whole request.
    http.client needs no more than sendall, makefile and close. close leaves
    the socket open: the response may still be reading it, and the caller
    closes the real socket once done.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            _arm(self._sock, self._deadline)
            sent = self._sock.send(view[:65536])
            view = view[sent:]

    def recv_into(self, buffer: Any) -> int:
        _arm(self._sock, self._deadline)
        return self._sock.recv_into(buffer)

    def makefile(
        self, mode: str = "rb", *args: Any, **kwargs: Any
    ) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"Only binary reading is supported, not {mode!r}.")
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        pass


def _arm(sock: socket.socket, deadline: float) -> None:
    """Give the next operation on sock only the time left before the deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("The deadline has passed.")
    sock.settimeout(remaining)


def _open_socket(address: str, port: int, deadline: float) -> socket.socket:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("The deadline has passed.")
    sock = socket.create_connection((address, port), remaining)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a given address; Host header stays the name in the URL."""

    def __init__(self, host: str, port: int, *, address: str, deadline: float) -> None:
        super().__init__(host, port)
        self._address = address
        self._deadline = deadline
        self.raw_sock: socket.socket | None = None

    def connect(self) -> None:
        self.raw_sock = _open_socket(self._address, self.port, self._deadline)
        self.sock = _DeadlineSocket(self.raw_sock, self._deadline)

    def close_socket(self) -> None:
        """Close the real socket; close() only lets go of http.client's handle."""
        self.close()
        if self.raw_sock is not None:
            self.raw_sock.close()
            self.raw_sock = None


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to a given address, with SNI and certificate check for the host name."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self,
        host: str,
        port: int,
        *,
        address: str,
        deadline: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, address=address, deadline=deadline)
        self._ssl_context = context

    def connect(self) -> None:
        self.raw_sock = _open_socket(self._address, self.port, self._deadline)
        tls = self._ssl_context.wrap_socket(
            self.raw_sock, server_hostname=self.host, do_handshake_on_connect=False
        )
        # The TLS socket owns the descriptor now.
        self.raw_sock = tls
        _arm(tls, self._deadline)
        tls.do_handshake()
        self.sock = _DeadlineSocket(tls, self._deadline)


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
    Any status code is returned, not raised; `Response.ok` means 2xx. The
    timeout covers the whole call: connecting, TLS, sending, the status line,
    headers and body, on every hop.
    """
    started = time.monotonic()
    deadline = started + timeout
    context = ssl_context or ssl.create_default_context()
    method = method.upper()
    send_headers = dict(headers or {})
    redirects: list[str] = []
    current = url
    while True:
        target = check_url(current)
        status, response_headers, prefix = _send_once(
            target,
            method,
            send_headers,
            body,
            deadline=deadline,
            timeout=timeout,
            max_body_bytes=max_body_bytes,
            context=context,
        )
        location = response_headers.get("location")
        if status not in REDIRECT_STATUSES or not location:
            return Response(
                status=status,
                headers=response_headers,
                body_prefix=prefix.decode("utf-8", errors="replace"),
                latency_ms=round((time.monotonic() - started) * 1000),
                final_url=current,
                redirects=redirects,
            )
        if len(redirects) >= max_redirects:
            raise RequestFailed(
                f"Stopped after {max_redirects} redirects (next: {location[:200]})."
            )
        current, method, body, send_headers = _follow_redirect(
            current, location, status, method, body, send_headers
        )
        redirects.append(current)


def _follow_redirect(
    current: str,
    location: str,
    status: int,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
) -> tuple[str, str, bytes | None, dict[str, str]]:
    """The next hop's URL, method, body and headers.

    A hop to another origin keeps only the headers that describe the request,
    so credentials the caller meant for one server never reach another; a 303,
    or a 301/302 after anything but GET or HEAD, drops the body and becomes a
    GET (a HEAD stays a HEAD), as browsers do.
    """
    following = urljoin(current, location)
    if _origin(following) != _origin(current):
        # Once dropped, they stay dropped, even if a later hop comes back.
        headers = {
            k: v for k, v in headers.items() if k.lower() in CROSS_ORIGIN_HEADERS
        }
    if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
        method, body = ("HEAD" if method == "HEAD" else "GET"), None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return following, method, body, headers


def _read_prefix(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """At most max_bytes of the body; the socket enforces the deadline."""
    chunks: list[bytes] = []
    size = 0
    while size < max_bytes:
        chunk = response.read1(max_bytes - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return (scheme, (parts.hostname or "").lower(), port)


def _too_slow(host: str, timeout: float) -> str:
    return f"Timed out: {host} did not answer within {timeout:g} s."


def _send_once(
    target: Target,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    deadline: float,
    timeout: float,
    max_body_bytes: int,
    context: ssl.SSLContext,
) -> tuple[int, dict[str, str], bytes]:
    last_error: OSError | None = None
    for address in target.addresses:
        if deadline - time.monotonic() <= 0:
            break
        conn = _pinned_connection(target, address, deadline, context)
        try:
            try:
                conn.connect()
            except (TimeoutError, ssl.SSLError):
                raise
            except OSError as exc:
                # Only a refused connect moves on to the next (already checked)
                # address; once connected the request is never sent twice.
                last_error = exc
                continue
            return _exchange(conn, target, method, headers, body, max_body_bytes)
        except TimeoutError:
            raise RequestFailed(_too_slow(target.host, timeout)) from None
        except ssl.SSLError as exc:
            raise RequestFailed(f"TLS error with {target.host}: {exc}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise RequestFailed(f"Request to {target.host} failed: {exc}") from None
        finally:
            conn.close_socket()
    if last_error is None:
        raise RequestFailed(_too_slow(target.host, timeout))
    raise RequestFailed(f"Could not connect to {target.host}: {last_error}")


def _pinned_connection(
    target: Target, address: str, deadline: float, context: ssl.SSLContext
) -> _PinnedHTTPConnection:
    """A connection to the checked address, not to whatever the host name
    resolves to by the time it connects (DNS rebinding)."""
    if target.scheme == "https":
        return _PinnedHTTPSConnection(
            target.host,
            target.port,
            address=address,
            deadline=deadline,
            context=context,
        )
    return _PinnedHTTPConnection(
        target.host, target.port, address=address, deadline=deadline
    )


def _exchange(
    conn: _PinnedHTTPConnection,
    target: Target,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    max_body_bytes: int,
) -> tuple[int, dict[str, str], bytes]:
    """Send the request on a connected socket and read the status, headers and
    the body's start; headers that frame the request are the client's alone, so
    a caller's value cannot smuggle a second request."""
    conn.putrequest(method, target.path, skip_accept_encoding=True)
    for name, value in headers.items():
        if name.lower() not in _MANAGED_HEADERS:
            conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    prefix = b"" if method == "HEAD" else _read_prefix(response, max_body_bytes)
    return (
        response.status,
        {k.lower(): v for k, v in response.getheaders()},
        prefix,
    )
