"""Caps how many jobs exist; checked under a lock so concurrent creates cannot pass."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from scheduler_jobs.models import DynamicJob


class QuotaExceeded(Exception):
    code = "quota_exceeded"


def lock_job_creation() -> None:
    """Serialise job creation so quota checks cannot be raced past.

    SQLite transactions here are IMMEDIATE and already serialised; PostgreSQL
    takes a transaction-scoped advisory lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x5C4ED])


def check_quota(user: Any) -> None:
    total = DynamicJob.objects.count()
    if total >= settings.SCHEDULER_MAX_JOBS:
        raise QuotaExceeded(
            f"The system holds its maximum of {settings.SCHEDULER_MAX_JOBS} jobs "
            "(SCHEDULER_MAX_JOBS)."
        )
    if user is not None and getattr(user, "pk", None):
        mine = DynamicJob.objects.filter(created_by=user).count()
        if mine >= settings.SCHEDULER_MAX_JOBS_PER_USER:
            raise QuotaExceeded(
                f"You already have {mine} jobs, the maximum per user "
                "(SCHEDULER_MAX_JOBS_PER_USER)."
            )
