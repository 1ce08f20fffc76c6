"""The address of the client behind the reverse proxies this deployment trusts.

Login lockout (django-axes, through AXES_CLIENT_IP_CALLABLE) and the audit log
both need the client's address. Behind a reverse proxy REMOTE_ADDR is the proxy's,
shared by every user, so one attacker could lock everyone out; X-Forwarded-For
names the client, but its left part is whatever the client chose to send. Only
the entries appended by proxies listed in SCHEDULER_TRUSTED_PROXIES are believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """Parsed once per distinct setting; raises ValueError on a malformed entry."""
    return tuple(
        ipaddress.ip_network(proxy.strip(), strict=False)
        for proxy in proxies
        if proxy.strip()
    )


def parse_address(value: str) -> Address | None:
    """An address as a proxy may write it, or None for anything else.

    Some proxies add the client's port ("203.0.113.9:51234", "[2001:db8::1]:443");
    an IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d and must match
    the same IPv4 networks and lockout records as a plain IPv4 one.
    """
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_ip(request_or_meta: Any) -> str | None:
    """The client's address: REMOTE_ADDR, or the forwarded one behind trusted proxies.

    When REMOTE_ADDR is a trusted proxy, X-Forwarded-For is read from the right,
    past the trusted proxies, up to the first address that is not one: that is
    the peer the outermost trusted proxy saw. Addresses further left were written
    by the client and are ignored. Without trusted proxies X-Forwarded-For is never
    read. Takes a request or its META (axes passes a request; None gives None).
    """
    if request_or_meta is None:
        return None
    if isinstance(request_or_meta, Mapping):
        meta = request_or_meta
    else:
        meta = getattr(request_or_meta, "META", None) or {}
    remote = parse_address(str(meta.get("REMOTE_ADDR") or ""))
    if remote is None:
        return None
    networks = trusted_networks(
        tuple(getattr(settings, "SCHEDULER_TRUSTED_PROXIES", None) or ())
    )
    if not any(remote in network for network in networks):
        return str(remote)
    hop = remote
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR") or "")
    for entry in reversed(forwarded.split(",") if forwarded else []):
        address = parse_address(entry)
        if address is None:
            # A trusted proxy always appends a valid address, so garbage here was
            # passed along unchecked: the chain cannot be followed past it.
            break
        hop = address
        if not any(address in network for network in networks):
            return str(address)
    # Every hop is a trusted proxy (e.g. a health check sent by the proxy itself).
    return str(hop)
