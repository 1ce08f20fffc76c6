"""Template context for admin pages: the scheduler-health banner."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from executions import health


def scheduler_health(request: HttpRequest) -> dict[str, Any]:
    """`scheduler_health_warnings`, for staff only, read only if a page shows it.

    Given as a callable: templates call it when they use it (the admin's
    base_site.html does), so other pages never pay for the query, and the
    answer is cached for a few seconds (executions.health.admin_warnings).
    """
    user = getattr(request, "user", None)
    if not (user and user.is_active and user.is_staff):
        return {}
    return {"scheduler_health_warnings": health.admin_warnings}
