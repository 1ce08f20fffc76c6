"""The dispatcher: django-celery-beat's DatabaseScheduler plus dynamic jobs.

`celery -A config beat -S executions.beat:DynamicJobScheduler`

django-celery-beat's own periodic tasks keep running through the parent class.
Dynamic jobs are not loaded into beat's in-memory schedule at all: each tick asks
the database for the earliest `next_run_at` (one index lookup, the same cost with
ten jobs or a million), dispatches what is due, and sleeps until the next job is
due or the tick interval ends, whichever comes first. A change made in the admin
or API therefore takes effect at the next tick and nothing is ever reloaded
wholesale. Claims are compare-and-set, so two beats can run at once.

After dispatching, a tick runs the watch pass (executions.watch: late, missed
and slow runs, at most every SCHEDULER_WATCH_INTERVAL_SECONDS). Each tick also
writes beat's heartbeat (executions.health.Heartbeat: one UPDATE
of this process's own row, at most once a second), which /health/, the admin
banner and /metrics read to tell that beat is alive.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


def next_due_at() -> datetime | None:
    """The earliest `next_run_at` of an enabled job, read from the index alone.

    `enabled__in=[True]` rather than `enabled=True`: Django renders the latter
    as a bare `WHERE "enabled"`, which SQLite cannot match to the (enabled,
    next_run_at) index, so it scanned the whole table on every tick.
    """
    from scheduler_jobs.models import DynamicJob

    return (
        DynamicJob.objects.filter(enabled__in=[True], next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )


def _ensure_run_counters() -> None:
    """Put back the run-counting triggers if a table rebuild dropped them.

    SQLite rebuilds job_executions for most schema changes, and its triggers go
    with it; checked once per beat start, since beat runs after migrations.
    """
    from django.db import connection

    from executions import counters

    try:
        counters.ensure_triggers(connection)
    except (DatabaseError, InterfaceError, NotImplementedError) as exc:
        logger.warning("Could not check the run-counting triggers: %s", exc)


class DynamicJobScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs) -> None:
        from executions.health import Heartbeat

        self._next_reap = 0.0
        self._next_watch = 0.0
        self._sender: threading.Thread | None = None
        self.heartbeat = Heartbeat()
        super().__init__(*args, **kwargs)
        _ensure_run_counters()

    def tick(self, *args, **kwargs) -> float:
        delay = super().tick(*args, **kwargs)
        delay = min(delay, self.dispatch_dynamic_jobs())
        self.watch_schedule()
        # After the pass, so a heartbeat means a tick went through.
        self.heartbeat.beat()
        return delay

    def dispatch_dynamic_jobs(self) -> float:
        """One dispatcher pass; returns the seconds until the next one is useful."""
        from executions import incidents, services

        close_old_connections()
        tick = settings.SCHEDULER_TICK_SECONDS
        report = services.DispatchReport()
        try:
            now = timezone.now()
            upcoming = next_due_at()
            if upcoming is not None and upcoming <= now:
                report = services.dispatch_due(now=now)
            retries = services.dispatch_retries(now=now)
            if time.monotonic() >= self._next_reap:
                reaped = services.reap(now=now)
                incidents.remind(now)
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
            # More may be due (a full batch, or slots that fell due meanwhile):
            # look again at once; an idle look costs one index lookup.
            return 0.0
        if upcoming is None or upcoming <= now:
            # Nothing enabled, or due rows another beat holds locked right now.
            return tick
        # Wake at the next slot rather than up to a whole tick after it.
        return max(0.0, min(tick, (upcoming - timezone.now()).total_seconds()))

    def watch_schedule(self) -> None:
        """The watch pass (executions.watch), at most every few seconds.

        After the dispatch, so a slot dispatched in this tick is not reported
        late. Its reads cost what is wrong, not the number of jobs.
        """
        from executions import watch

        if time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + settings.SCHEDULER_WATCH_INTERVAL_SECONDS
        try:
            watch.watch_pass(send=False)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("The watch pass could not use the database: %s", exc)
            close_old_connections()
            return
        # Alerts go out from a thread of their own: a slow mail server must
        # never hold up dispatching. One sender at a time; the next pass
        # starts another once it is done.
        if self._sender is None or not self._sender.is_alive():
            self._sender = threading.Thread(
                target=watch.deliver_in_thread, name="watch-alerts", daemon=True
            )
            self._sender.start()
