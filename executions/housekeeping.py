"""Housekeeping: keep the execution history from growing without bound.

A job every 10 seconds leaves 8,640 executions a day. Executions that ended
more than SCHEDULER_EXECUTION_RETENTION_DAYS ago are deleted in small batches,
each in its own short transaction, so pruning a large backlog never holds long
locks or one huge transaction against the dispatcher and the workers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from executions.models import JobExecution

logger = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 1000
# One housekeeping pass stops after this long; the next pass goes on from there.
PRUNE_MAX_SECONDS = 120.0


@dataclass
class PruneReport:
    cutoff: datetime | None
    deleted: int = 0
    batches: int = 0
    finished: bool = True  # False when the pass stopped at max_seconds


def executions_prune(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    batch_size: int = PRUNE_BATCH_SIZE,
    max_seconds: float = PRUNE_MAX_SECONDS,
) -> PruneReport:
    """Delete finished executions created more than the retention ago, in batches.

    Executions still queued, running or waiting for a retry are never deleted,
    however old. A retention of 0 or less keeps everything. Returns how many
    rows went, in how many batches.
    """
    days = (
        settings.SCHEDULER_EXECUTION_RETENTION_DAYS
        if retention_days is None
        else retention_days
    )
    if days <= 0:
        return PruneReport(cutoff=None)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    report = PruneReport(cutoff=cutoff)
    old = JobExecution.objects.filter(
        created_at__lt=cutoff, status__in=JobExecution.FINISHED
    )
    started = time.monotonic()
    while True:
        # Oldest rows have the lowest ids, so walking the primary key finds a
        # batch without scanning the whole table.
        ids = list(old.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            # Later attempts point at their first attempt (SET NULL on delete).
            JobExecution.objects.filter(first_attempt_id__in=ids).update(
                first_attempt=None
            )
            # A raw DELETE: the collector would load every row (logs and all)
            # only to find nothing else to cascade to.
            deleted = JobExecution.objects.filter(pk__in=ids)._raw_delete(
                JobExecution.objects.db
            )
        report.deleted += deleted
        report.batches += 1
        if len(ids) < batch_size:
            break
        if time.monotonic() - started > max_seconds:
            report.finished = False
            break
    if report.deleted:
        logger.info(
            "Housekeeping: deleted %s execution(s) created before %s "
            "in %s batch(es)%s.",
            report.deleted,
            cutoff.isoformat(),
            report.batches,
            "" if report.finished else "; more remain for the next pass",
        )
    return report


def housekeeping_run(*, now: datetime | None = None) -> dict[str, int]:
    """Everything the periodic housekeeping task does; returns counts for its log."""
    report = executions_prune(now=now)
    return {"executions_deleted": report.deleted, "batches": report.batches}
