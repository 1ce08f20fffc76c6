"""The dispatcher: django-celery-beat's DatabaseScheduler plus dynamic jobs.

`celery -A config beat -S executions.beat:DynamicJobScheduler`

django-celery-beat's own periodic tasks keep running through the parent class.
Dynamic jobs are not loaded into beat's in-memory schedule at all: each tick asks
the database for the few jobs that are due (one indexed query), so a change made
in the admin or API takes effect at the next tick and nothing is ever reloaded
wholesale. Claims are compare-and-set, so two beats can run at once.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


class DynamicJobScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs) -> None:
        self._next_reap = 0.0
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        delay = super().tick(*args, **kwargs)
        return min(delay, self.dispatch_dynamic_jobs())

    def dispatch_dynamic_jobs(self) -> float:
        """One dispatcher pass; returns the seconds until the next one is useful."""
        from executions import services

        close_old_connections()
        tick = settings.SCHEDULER_TICK_SECONDS
        try:
            report = services.dispatch_due()
            retries = services.dispatch_retries()
            if time.monotonic() >= self._next_reap:
                reaped = services.reap()
                self._next_reap = (
                    time.monotonic() + settings.SCHEDULER_REAPER_INTERVAL_SECONDS
                )
                if any(reaped.values()):
                    logger.info("Reaper: %s", reaped)
        except (DatabaseError, InterfaceError) as exc:
            # Keep beat alive through a database outage; the next tick retries.
            logger.warning("Dispatcher could not use the database: %s", exc)
            close_old_connections()
            return max(tick, 1.0)
        if report.claimed or retries:
            logger.info(
                "Dispatched %s job(s): %s queued, %s held, %s skipped; %s retr%s",
                report.claimed,
                report.queued,
                report.held,
                report.skipped,
                retries,
                "y" if retries == 1 else "ies",
            )
        if report.due >= settings.SCHEDULER_DISPATCH_BATCH:
            return 0.01  # more jobs are due than one batch took
        return tick
