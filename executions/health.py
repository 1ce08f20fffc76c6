"""The scheduler's own health: beat's heartbeat, /health/, the admin banner, gauges.

Beat writes a heartbeat as it ticks (`Heartbeat`, one UPDATE of its own row, no
read). Everything else here reads: when beat last ticked, how long the oldest
queued run has waited for a worker, which jobs are late and which workers were
seen lately. Each read is one small indexed query, so /health/ can be polled by
load balancers every few seconds and /metrics scraped as often as wanted.

Settings (config/settings.py, each from the environment variable of its name):

- SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS (60): /health/ answers 503 once the
  newest heartbeat is older; the admin shows a banner.
- SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS (300): the queue counts as stuck when
  its oldest run has waited longer; the admin shows a banner.
- SCHEDULER_HEARTBEAT_SECONDS (1): beat writes its heartbeat at most this often,
  so a busy beat ticking back to back does not write on every pass.
- SCHEDULER_LATE_GRACE_SECONDS (SCHEDULER_MISFIRE_GRACE_SECONDS, 60): a slot not
  started this long after it was due is late.
- SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS (300): a worker counts as seen when it
  started a run within this window or is running one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, connection
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu import Connection

from executions.models import BeatHeartbeat, JobExecution, RunCount
from scheduler_jobs.models import DynamicJob

logger = logging.getLogger(__name__)
Status = JobExecution.Status

# Heartbeat rows of beats gone for this long are deleted when a beat starts.
FORGET_BEATS_AFTER = timedelta(days=1)
BANNER_CACHE_KEY = "scheduler-health-banner"
BANNER_CACHE_SECONDS = 10
BROKER_CHECK_SECONDS = 15.0
# Check verdicts that make /health/ answer 503 ("stuck" for the queue does not).
FAILING = ("fail", "stale", "never")


def setting(name: str) -> float:
    """A watch setting, read at each use so an override applies at once."""
    return float(getattr(settings, name))


# --- Beat's side ------------------------------------------------------------------


class Heartbeat:
    """Beat's heartbeat: its own row, updated at most every SCHEDULER_HEARTBEAT_SECONDS.

    A tick costs one UPDATE and no read. The row is created the first time the
    UPDATE finds none (start-up, or after someone deleted it), which is also
    when rows of beats gone for a day are cleared away.
    """

    def __init__(self, instance: str | None = None) -> None:
        self.instance = (instance or f"{socket.gethostname()}/{os.getpid()}")[:255]
        self._next = 0.0

    def beat(self, now: datetime | None = None) -> bool:
        """Record a tick; False when skipped (too soon) or the database failed."""
        if time.monotonic() < self._next:
            return False
        now = now or timezone.now()
        try:
            if not self._touch(now):
                self._register(now)
        except (DatabaseError, InterfaceError) as exc:
            # /health/ turns 503 when this keeps failing; beat itself carries on.
            logger.warning("Beat could not record its heartbeat: %s", exc)
            return False
        self._next = time.monotonic() + setting("SCHEDULER_HEARTBEAT_SECONDS")
        return True

    def _touch(self, now: datetime) -> int:
        """The UPDATE; on PostgreSQL committed without waiting for the WAL flush.

        A heartbeat lost in a database crash costs nothing (the next tick
        writes another), and waiting for the flush was most of an idle tick's
        time. `set_config(..., true)` turns synchronous_commit off for this
        statement's own transaction only, inside the one round trip; the
        session's other writes keep their setting.
        """
        if connection.vendor != "postgresql":
            return BeatHeartbeat.objects.filter(instance=self.instance).update(
                ticked_at=now
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE beat_heartbeats SET ticked_at = %s WHERE instance = %s "
                "AND set_config('synchronous_commit', 'off', true) = 'off'",
                [now, self.instance],
            )
            return cursor.rowcount

    def _register(self, now: datetime) -> None:
        BeatHeartbeat.objects.update_or_create(
            instance=self.instance, defaults={"ticked_at": now, "started_at": now}
        )
        BeatHeartbeat.objects.filter(ticked_at__lt=now - FORGET_BEATS_AFTER).delete()


# --- Reads ------------------------------------------------------------------------


def last_tick(*, now: datetime, window: timedelta) -> tuple[datetime | None, int]:
    """The newest heartbeat, and how many beats ticked within `window`.

    The table holds one row per beat process (rows of beats gone for a day are
    deleted), so all of it is read: a few rows, whatever the rest of the
    database holds.
    """
    ticks = list(BeatHeartbeat.objects.values_list("ticked_at", flat=True)[:100])
    alive = sum(1 for at in ticks if at >= now - window)
    return max(ticks, default=None), alive


def oldest_queued_since() -> datetime | None:
    """Since when the run that has waited longest for a worker has been waiting.

    One lookup on the (status, id) index: queued rows are created in id order,
    so the first sent one is the oldest. A retry counts from when it fell due
    (`due_at`), not from when the failed attempt created it. Runs held unsent on
    purpose behind a running one (overlap policy `queue`) are left out: they
    wait for that run, not for a worker.
    """
    return (
        JobExecution.objects.filter(status=Status.QUEUED, sent_at__isnull=False)
        .order_by("id")
        .values_list(Coalesce("due_at", "created_at"), flat=True)
        .first()
    )


def late_job_ids(*, now: datetime, grace: timedelta, limit: int = 10_000) -> set[int]:
    """Jobs with a slot due more than `grace` ago that has not started.

    Two range reads on indexes, so the cost follows the number of late jobs,
    not of jobs: slots not yet dispatched (the (enabled, next_run_at) index:
    beat down or behind) and first attempts still queued (the queued rows of
    the (status, id) index: workers down or busy). Retries are left out: their
    slot did start.
    """
    cutoff = now - grace
    # order_by(): no sort by the models' default ordering; any rows will do.
    undispatched = (
        DynamicJob.objects.filter(enabled__in=[True], next_run_at__lt=cutoff)
        .order_by()
        .values_list("id", flat=True)[:limit]
    )
    unstarted = (
        JobExecution.objects.filter(
            status=Status.QUEUED, attempt=1, scheduled_for__lt=cutoff, job__isnull=False
        )
        .order_by()
        .values_list("job_id", flat=True)[:limit]
    )
    return set(undispatched) | set(unstarted)


def workers_seen(
    *, now: datetime, window: timedelta, sample: int = 500
) -> dict[str, int]:
    """Worker machines and processes that started a run lately or are running one.

    Read from what a worker already writes when it claims a run
    (`execution_host`, "host/pid"): no extra write, and only workers that really
    take work count. Bounded: the latest `sample` starts within `window` (the
    started_at index) plus the runs running now.
    """
    recent = JobExecution.objects.filter(started_at__gte=now - window).order_by(
        "-started_at"
    )
    hosts = set(recent.values_list("execution_host", flat=True)[:sample])
    running = JobExecution.objects.filter(status=Status.RUNNING).order_by()
    hosts |= set(running.values_list("execution_host", flat=True)[:sample])
    hosts.discard("")
    return {
        "machines": len({host.rsplit("/", 1)[0] for host in hosts}),
        "processes": len(hosts),
    }


def run_counts() -> list[dict[str, Any]]:
    """Runs ended since the counters began, by status and template (shards summed)."""
    return list(
        RunCount.objects.values("status", "template_type")
        .annotate(runs=Sum("runs"))
        .order_by("template_type", "status")
    )


# --- What the readers make of it --------------------------------------------------


def _age(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else round(max(0.0, (now - since).total_seconds()), 3)


@dataclass
class Snapshot:
    """Beat's last tick and the queue's oldest run, with the verdicts on them."""

    now: datetime
    ticked_at: datetime | None
    beats_ticking: int
    queued_since: datetime | None

    @property
    def last_tick_age(self) -> float | None:
        return _age(self.now, self.ticked_at)

    @property
    def oldest_queued_age(self) -> float:
        return _age(self.now, self.queued_since) or 0.0

    @property
    def beat_state(self) -> str:
        age = self.last_tick_age
        if age is None:
            return "never"
        return (
            "ok" if age <= setting("SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS") else "stale"
        )

    @property
    def queue_stuck(self) -> bool:
        limit = setting("SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS")
        return self.oldest_queued_age > limit


def snapshot(now: datetime | None = None) -> Snapshot:
    """Two small queries: the heartbeats and the oldest queued run."""
    now = now or timezone.now()
    window = timedelta(seconds=setting("SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS"))
    ticked_at, beats = last_tick(now=now, window=window)
    return Snapshot(now, ticked_at, beats, oldest_queued_since())


def problems(state: Snapshot) -> list[str]:
    """What is wrong, in words for an operator; no job name, host or secret."""
    found = []
    limit = setting("SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS")
    if state.beat_state == "never":
        found.append(
            "The scheduler (beat) has never ticked: no scheduled job is dispatched."
        )
    elif state.beat_state == "stale":
        found.append(
            f"The scheduler (beat) last ticked {_words(state.last_tick_age)} ago "
            f"(limit {_words(limit)}): scheduled jobs are not being dispatched."
        )
    if state.queue_stuck:
        limit = setting("SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS")
        found.append(
            f"The oldest queued run has waited {_words(state.oldest_queued_age)} "
            f"for a worker (limit {_words(limit)}): are the workers running and "
            "consuming every queue?"
        )
    return found


def _words(seconds: float | None) -> str:
    seconds = float(seconds or 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def admin_warnings() -> list[str]:
    """The banner's lines for admin pages, cached a few seconds per cache.

    Every admin page shows them, so the two queries behind them run at most
    once per BANNER_CACHE_SECONDS, not on every page.
    """
    cached = cache.get(BANNER_CACHE_KEY)
    if cached is not None:
        return cached
    try:
        lines = problems(snapshot())
    except (DatabaseError, InterfaceError):
        lines = []  # the page itself reports a database that is down
    cache.set(BANNER_CACHE_KEY, lines, BANNER_CACHE_SECONDS)
    return lines


# --- /health/ ---------------------------------------------------------------------


def check_cache() -> bool:
    """Write and read back a short-lived key in the default cache."""
    key, token = f"scheduler-health-{uuid.uuid4().hex}", uuid.uuid4().hex
    try:
        cache.set(key, token, 5)
        return cache.get(key) == token
    except Exception as exc:  # any backend's connection error
        logger.warning("Health: the cache failed: %s", exc)
        return False


_broker_verdict: dict[str, Any] = {"until": 0.0, "ok": False}


def check_broker() -> bool:
    """Whether the broker takes connections; a network check is reused for 15 s.

    The filesystem broker is its folder, which must exist and be writable; a
    network broker (Redis, RabbitMQ) gets one connection attempt with a short
    timeout, not one per probe of every load balancer.
    """
    url = str(settings.CELERY_BROKER_URL)
    if url.startswith("memory://"):
        return True
    if url.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}
        folder = Path(options.get("data_folder_in", ""))
        return folder.is_dir() and os.access(folder, os.W_OK)
    if time.monotonic() < _broker_verdict["until"]:
        return _broker_verdict["ok"]
    try:
        with Connection(
            url,
            connect_timeout=2,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS or {},
        ) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        ok = True
    except Exception as exc:  # kombu raises the transport's own errors
        logger.warning("Health: the broker is unreachable: %s", exc)
        ok = False
    _broker_verdict.update(until=time.monotonic() + BROKER_CHECK_SECONDS, ok=ok)
    return ok


def health_report(*, scope: str = "full") -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for /health/: 200 when healthy, else 503.

    `scope="web"` checks only what a web process needs to serve pages (the
    database and the cache), for a web readiness probe that must not take
    every web process out of rotation because beat stopped. The full check
    also fails on the broker and on a last tick older than
    SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS. A stuck queue is reported but does
    not fail the check: restarting web or beat would not help it.
    Public: counts and ages only, never a job name, host name or error text.
    """
    body: dict[str, Any] = {"status": "ok", "checks": {}}
    checks = body["checks"]
    try:
        state = snapshot()
        checks["database"] = "ok"
    except (DatabaseError, InterfaceError) as exc:
        logger.warning("Health: the database failed: %s", exc)
        checks["database"] = "fail"
        state = None
    checks["cache"] = "ok" if check_cache() else "fail"
    if scope != "web":
        checks["broker"] = "ok" if check_broker() else "fail"
        if state is not None:
            _add_scheduler_state(body, state)
    failed = [name for name, verdict in checks.items() if verdict in FAILING]
    if failed:
        body["status"] = "fail"
    return (503 if failed else 200), body


def _add_scheduler_state(body: dict[str, Any], state: Snapshot) -> None:
    body["checks"]["beat"] = state.beat_state
    body["checks"]["queue"] = "stuck" if state.queue_stuck else "ok"
    grace = timedelta(seconds=setting("SCHEDULER_LATE_GRACE_SECONDS"))
    window = timedelta(seconds=setting("SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS"))
    workers = workers_seen(now=state.now, window=window)
    body.update(
        last_tick_age_seconds=state.last_tick_age,
        max_tick_age_seconds=setting("SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS"),
        beats_ticking=state.beats_ticking,
        oldest_queued_age_seconds=state.oldest_queued_age,
        max_queued_age_seconds=setting("SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS"),
        late_jobs=len(late_job_ids(now=state.now, grace=grace)),
        workers_seen=workers["machines"],
        worker_processes_seen=workers["processes"],
        problems=problems(state),
    )


def gauges() -> dict[str, Any]:
    """The figures /metrics exposes as gauges, read like /health/ reads them."""
    state = snapshot()
    grace = timedelta(seconds=setting("SCHEDULER_LATE_GRACE_SECONDS"))
    window = timedelta(seconds=setting("SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS"))
    return {
        "ticked_at": state.ticked_at,
        "last_tick_age_seconds": state.last_tick_age,
        "beats_ticking": state.beats_ticking,
        "oldest_queued_age_seconds": state.oldest_queued_age,
        "late_jobs": len(late_job_ids(now=state.now, grace=grace)),
        "workers_seen": workers_seen(now=state.now, window=window)["machines"],
    }
