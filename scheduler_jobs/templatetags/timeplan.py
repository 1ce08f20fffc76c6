"""The maintenance-pause banner shown on every admin page while scheduling is paused.

A template tag rather than a context processor: only pages that show the banner
(the admin's base_site.html) ask for the pause, and the answer is cached for a
few seconds, so a busy admin costs one small query per cache period, not one per
page.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError
from django.urls import NoReverseMatch, reverse

from scheduler_jobs.labels import format_datetime

register = template.Library()

BANNER_CACHE_KEY = "scheduler-jobs-pause-banner"
BANNER_CACHE_SECONDS = 5
_NOT_PAUSED = "not paused"


def forget_pause_banner() -> None:
    """Drop the cached banner, so a pause or resume shows on the very next page."""
    cache.delete(BANNER_CACHE_KEY)


def pause_banner_facts() -> dict[str, Any] | None:
    """The pause's facts for the banner, or None when scheduling runs.

    Cached for BANNER_CACHE_SECONDS; a database that is down shows no banner
    (the page itself reports it).
    """
    cached = cache.get(BANNER_CACHE_KEY)
    if cached is not None:
        return None if cached == _NOT_PAUSED else cached
    from scheduler_jobs.services.timeplan import pause_state

    try:
        state = pause_state()
    except (DatabaseError, InterfaceError):
        return None
    facts = None
    if state is not None and state.active:
        facts = {
            "since": format_datetime(state.paused_at),
            "by": str(state.paused_by or "system"),
            "reason": state.reason,
            "resumes": format_datetime(state.resume_at) if state.resume_at else "",
        }
    cache.set(BANNER_CACHE_KEY, facts or _NOT_PAUSED, BANNER_CACHE_SECONDS)
    return facts


@register.inclusion_tag(
    "admin/scheduler_jobs/timeplan/pause_banner.html", takes_context=True
)
def pause_banner(context: template.Context) -> dict[str, Any]:
    """The banner's context: nothing for anonymous or non-staff visitors."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if not (user and user.is_active and user.is_staff):
        return {"pause": None}
    facts = pause_banner_facts()
    if facts is None:
        return {"pause": None}
    from scheduler_jobs import access

    try:
        url = reverse("admin:scheduler_jobs_maintenancepause_changelist")
    except NoReverseMatch:  # pragma: no cover - the admin is always installed
        url = ""
    return {
        "pause": facts,
        "pause_url": url,
        "can_resume": access.allowed(user, access.Action.PAUSE),
    }
