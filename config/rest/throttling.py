"""Per-user write and run rate limits, read from settings at each request."""

from __future__ import annotations

import math

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle


class SettingRateThrottle(SimpleRateThrottle):
    """A per-user throttle whose rate is read from settings at each request.

    Not through DRF's DEFAULT_THROTTLE_RATES, which is read once at import: tests
    and operators change SCHEDULER_THROTTLE_* without a restart of the module.
    """

    setting_name = ""

    def get_rate(self) -> str | None:
        rate = getattr(settings, self.setting_name, None)
        return rate or None

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class WriteThrottle(SettingRateThrottle):
    scope = "writes"
    setting_name = "SCHEDULER_THROTTLE_WRITES"


class RunThrottle(SettingRateThrottle):
    scope = "runs"
    setting_name = "SCHEDULER_THROTTLE_RUNS"


def check_throttle(request, view, throttle_class: type[SettingRateThrottle]) -> None:
    """Apply one scoped throttle now; raises Throttled (429 with Retry-After).

    Views call this after the request validated, which is the security chain's order:
    template, schema and sanitisation come before the rate limit, so a refused
    request does not use up the user's allowance.
    """
    throttle = throttle_class()
    if not throttle.allow_request(request, view):
        wait = throttle.wait()
        raise exceptions.Throttled(wait=max(1, math.ceil(wait or 0)))
