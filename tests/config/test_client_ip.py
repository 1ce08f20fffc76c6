"""The client's address behind reverse proxies: forwarded addresses are believed
only as far as trusted proxies vouch for them."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory
from django.utils.module_loading import import_string

from audit import services
from audit.client_ip import client_ip

PROXY = "10.0.0.5"
CLIENT = "198.51.100.7"


def _request(remote_addr: str = PROXY, forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/admin/login/", **extra)


@pytest.fixture
def behind_proxies(settings):
    settings.SCHEDULER_TRUSTED_PROXIES = ["10.0.0.0/24", "192.0.2.1", "2001:db8::/32"]


def test_without_trusted_proxies_forwarded_for_is_never_read(settings):
    settings.SCHEDULER_TRUSTED_PROXIES = []
    assert client_ip(_request(PROXY, CLIENT)) == PROXY
    assert client_ip(_request("203.0.113.1", "1.2.3.4, 5.6.7.8")) == "203.0.113.1"


@pytest.mark.usefixtures("behind_proxies")
class TestBehindTrustedProxies:
    def test_the_address_the_proxy_appended(self):
        assert client_ip(_request(PROXY, CLIENT)) == CLIENT

    def test_addresses_the_client_wrote_itself_are_ignored(self):
        forged = f"127.0.0.1, 10.0.0.9, {CLIENT}"
        assert client_ip(_request(PROXY, forged)) == CLIENT

    def test_a_chain_of_trusted_proxies_is_walked_from_the_right(self):
        # client -> 192.0.2.1 (CDN) -> 10.0.0.7 (load balancer) -> 10.0.0.5 (app)
        chain = f"203.0.113.66, {CLIENT}, 192.0.2.1, 10.0.0.7"
        assert client_ip(_request(PROXY, chain)) == CLIENT

    def test_a_direct_client_cannot_pretend_to_be_forwarded(self):
        assert client_ip(_request("203.0.113.9", CLIENT)) == "203.0.113.9"

    def test_no_forwarded_header_gives_the_proxy_itself(self):
        assert client_ip(_request(PROXY)) == PROXY
        assert client_ip(_request(PROXY, "")) == PROXY

    def test_only_trusted_hops_gives_the_farthest(self):
        assert client_ip(_request(PROXY, "10.0.0.8, 10.0.0.7")) == "10.0.0.8"

    def test_garbage_stops_the_walk_at_the_last_valid_hop(self):
        assert client_ip(_request(PROXY, f"{CLIENT}, unknown, 10.0.0.7")) == "10.0.0.7"
        assert client_ip(_request(PROXY, "not-an-ip")) == PROXY

    @pytest.mark.parametrize(
        ("forwarded", "expected"),
        [
            (f"{CLIENT}:51234", CLIENT),
            ("[2001:db9::1]:443", "2001:db9::1"),
            ("2001:DB9:0::1", "2001:db9::1"),
            (f"::ffff:{CLIENT}", CLIENT),
        ],
    )
    def test_ports_brackets_and_mapped_ipv4_are_normalised(self, forwarded, expected):
        assert client_ip(_request(PROXY, forwarded)) == expected

    def test_an_ipv6_proxy_and_an_ipv4_mapped_proxy(self):
        assert client_ip(_request("2001:db8::10", CLIENT)) == CLIENT
        assert client_ip(_request("::ffff:10.0.0.5", CLIENT)) == CLIENT

    def test_meta_mapping_or_none(self):
        assert client_ip({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT}) == (
            CLIENT
        )
        assert client_ip(None) is None


@pytest.mark.parametrize("remote_addr", ["", "unix:/run/gunicorn.sock", "nonsense"])
def test_no_usable_remote_addr_gives_none(remote_addr):
    assert client_ip({"REMOTE_ADDR": remote_addr}) is None
    assert client_ip({}) is None


def test_axes_asks_the_same_function():
    assert import_string(django_settings.AXES_CLIENT_IP_CALLABLE) is client_ip


@pytest.mark.django_db
@pytest.mark.usefixtures("behind_proxies")
def test_audit_entries_record_the_forwarded_client(staff_user):
    entry = services.record(
        actor=staff_user,
        action="update",
        target=staff_user,
        request=_request(PROXY, f"6.6.6.6, {CLIENT}"),
    )
    assert entry.ip_address == CLIENT
