"""Login lockout through the real admin login view and django-axes.

Behind a reverse proxy every request comes from the proxy's address. Unless the
forwarded client address is used, an attacker's failed logins lock the victim out
too; and unless the proxy is trusted explicitly, a forged X-Forwarded-For would let
an attacker escape the lockout by changing it on every attempt.
"""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.5"
ATTACKER = "198.51.100.66"
ADMIN = "203.0.113.9"


@pytest.fixture
def admin_user(django_user_model, settings):
    # The test settings switch django-axes off for Client.login(); on here.
    settings.AXES_ENABLED = True
    return django_user_model.objects.create_superuser(
        "admin", "admin@example.com", PASSWORD
    )


def _login(password: str, *, remote_addr: str, forwarded_for: str | None = None):
    client = Client()
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": password},
        **headers,
    )
    return response, "_auth_user_id" in client.session


def _attack(times: int = 10, **where) -> None:
    for _ in range(times):
        _login("wrong password", **where)


@pytest.mark.usefixtures("admin_user")
def test_behind_a_trusted_proxy_an_attacker_does_not_lock_out_the_admin(settings):
    settings.SCHEDULER_TRUSTED_PROXIES = ["10.0.0.0/24"]
    _attack(remote_addr=PROXY, forwarded_for=ATTACKER)

    response, logged_in = _login(PASSWORD, remote_addr=PROXY, forwarded_for=ADMIN)
    assert (response.status_code, logged_in) == (302, True)

    # The attacker's own address is locked, even with the right password.
    response, logged_in = _login(PASSWORD, remote_addr=PROXY, forwarded_for=ATTACKER)
    assert logged_in is False
    assert response.status_code in (403, 429)

    failures = AuditEntry.objects.filter(action="login_failed")
    assert set(failures.values_list("ip_address", flat=True)) == {ATTACKER}


@pytest.mark.usefixtures("admin_user")
def test_behind_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_lockout(
    settings,
):
    settings.SCHEDULER_TRUSTED_PROXIES = ["10.0.0.0/24"]
    for n in range(10):
        # The client writes a different address each time; the proxy appends its own.
        _login(
            "wrong password",
            remote_addr=PROXY,
            forwarded_for=f"192.0.2.{n}, {ATTACKER}",
        )
    _, logged_in = _login(
        PASSWORD, remote_addr=PROXY, forwarded_for=f"192.0.2.99, {ATTACKER}"
    )
    assert logged_in is False


@pytest.mark.usefixtures("admin_user")
def test_without_trusted_proxies_forwarded_for_is_ignored(settings):
    settings.SCHEDULER_TRUSTED_PROXIES = []
    # A direct client changing X-Forwarded-For on every attempt is still one address.
    for n in range(10):
        _login("wrong password", remote_addr=ATTACKER, forwarded_for=f"192.0.2.{n}")
    _, logged_in = _login(PASSWORD, remote_addr=ATTACKER, forwarded_for=ADMIN)
    assert logged_in is False

    assert set(
        AuditEntry.objects.filter(action="login_failed").values_list(
            "ip_address", flat=True
        )
    ) == {ATTACKER}

    # Someone else, at another address, is not locked out.
    response, logged_in = _login(PASSWORD, remote_addr=ADMIN)
    assert (response.status_code, logged_in) == (302, True)
