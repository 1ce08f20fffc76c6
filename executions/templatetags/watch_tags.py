"""The job page's watch events: late, missed, slow and too-fast runs.

A tag rather than a line of the job admin's context, so the watch's table is
one include on the page; shown to those who may see the job's runs.
"""

from __future__ import annotations

from typing import Any

from django import template

from executions import watch
from executions.models import WatchEvent
from scheduler_jobs import access

register = template.Library()


@register.simple_tag
def job_watch_events(job: Any, user: Any, limit: int = 10) -> list[WatchEvent]:
    """The job's latest watch events, or none for who may not see its runs."""
    if job is None or not access.allowed(user, access.Action.VIEW_EXECUTIONS):
        return []
    return watch.recent_events(job, limit)
