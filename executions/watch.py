"""Watching the schedule: late and missed slots, slow and suspiciously fast runs.

The scheduler knows when every job should run, so it can tell when something
did not happen. What it finds becomes a WatchEvent in the job's history and an
alert (executions.alerts) to the job's channels, if the job subscribes:

- late: a slot not started within the job's grace, because beat has not
  dispatched it (beat down or behind) or no worker has taken it (workers down
  or busy);
- missed: a slot still not started when its next slot came, or one the
  dispatcher skipped or folded into a catch-up run after the scheduler was down;
- slow: a run still running past its slow mark (its usual duration, given or
  learned, times the job's slow factor), reported once while it runs;
- too_fast: a successful run shorter than the job's minimum duration.

Beat calls `watch_pass` after each dispatch, at most every
SCHEDULER_WATCH_INTERVAL_SECONDS. Its cost follows what is wrong, not the number
of jobs: each of its reads is a range on an index that holds only late, queued,
turning-slow or unsent rows (an idle pass is four small probes). The
dispatcher records skipped and folded slots in the same transaction as its
claim (`note_dispatch`); the worker sets a run's slow mark shortly after it
starts and checks its duration when it ends (`run_started`, `run_ended`).

Two beats may run at once. Every event is inserted under the unique (job, kind,
slot) constraint, and its alert goes out only from whoever moves its
`alerted_at` from empty to a time (`deliver`): one alert per event, whoever
found it first.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from executions import alerts, incidents
from executions.models import JobExecution, WatchEvent
from scheduler_jobs import access
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import (
    NO_JOB,
    NO_RULES,
    JobRef,
    TimeRules,
    schedule_from_json,
)
from scheduler_jobs.services import timeplan
from scheduler_jobs.spec import JOB_SPEC

logger = logging.getLogger(__name__)
Status = JobExecution.Status
Kind = WatchEvent.Kind

# A job's own grace is never shorter: a tick or two of normal dispatch delay.
MIN_GRACE_SECONDS = 5
# The usual duration is learned from this many recent successful runs, once
# there are at least LEARN_AT_LEAST of them.
LEARN_FROM = 20
LEARN_AT_LEAST = 5
# A learned slow mark is never sooner than this after the start: runs of a
# fraction of a second vary too much in relative terms to call one slow.
LEARNED_SLOW_FLOOR_SECONDS = 5.0
# A run's slow mark is set this long after its start, so shorter runs (most
# of them) cost the watch nothing.
SLOW_MARK_AFTER_SECONDS = 2.0
# Rows each read of a pass takes; more are left to the next pass.
BATCH = 500
# Folded slots counted one by one up to this many (cron schedules).
COUNT_LIMIT = 1000


# --- Options ------------------------------------------------------------------------


def options(watch: dict[str, Any] | None) -> dict[str, Any]:
    """A job's watch options with the spec's defaults for any not set."""
    return {**JOB_SPEC.default("watch"), **(watch or {})}


def site_grace_seconds() -> float:
    return float(settings.SCHEDULER_LATE_GRACE_SECONDS)


def grace(watch: dict[str, Any] | None) -> timedelta:
    """The job's grace: its own (at least MIN_GRACE_SECONDS), else the site's."""
    own = int(options(watch)["grace_seconds"] or 0)
    seconds = max(MIN_GRACE_SECONDS, own) if own else site_grace_seconds()
    return timedelta(seconds=seconds)


def min_grace() -> timedelta:
    """No job's grace is shorter: the watch pass's reads start here."""
    return timedelta(seconds=min(MIN_GRACE_SECONDS, site_grace_seconds()))


# --- Words ------------------------------------------------------------------------


def when(moment: datetime) -> str:
    """A date-time with its zone, as alerts and the history show it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_words(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


SUBJECTS = {
    Kind.LATE: "late: the run planned for {slot} has not started",
    Kind.MISSED: "missed: the run planned for {slot} did not run on time",
    Kind.SLOW: "slow: the run planned for {slot} is still running",
    Kind.TOO_FAST: "suspiciously fast: the run planned for {slot} ended at once",
}


# --- The beat's pass ----------------------------------------------------------------


@dataclass
class WatchReport:
    found: int = 0  # late, missed and slow slots seen (recorded once each)
    alerted: int = 0


def watch_pass(now: datetime | None = None, *, send: bool = True) -> WatchReport:
    """Find late, missed and slow slots, record them, send their alerts.

    Finding and recording share one transaction, so a slow run's mark is
    cleared only if its event was recorded. Beat passes `send=False` and
    sends from a thread of its own (`deliver_in_thread`).
    """
    now = now or timezone.now()
    cutoff = now - min_grace()
    with transaction.atomic():
        found = [
            *undispatched_events(now, cutoff),
            *unstarted_events(now, cutoff),
            *slow_events(now),
        ]
        if found:
            WatchEvent.objects.bulk_create(found, ignore_conflicts=True)
    return WatchReport(found=len(found), alerted=deliver(now=now) if send else 0)


def _event(
    job_id: int,
    kind: str,
    slot: datetime,
    detail: str,
    execution_id: int | None = None,
) -> WatchEvent:
    return WatchEvent(
        job_id=job_id, kind=kind, slot=slot, detail=detail, execution_id=execution_id
    )


def _next_slot(schedule: dict[str, Any], slot: datetime) -> datetime | None:
    try:
        return schedule_from_json(schedule).next_after(slot)
    except (KeyError, TypeError, ValueError):
        return None


def undispatched_events(now: datetime, cutoff: datetime) -> list[WatchEvent]:
    """Slots beat has not dispatched in time: beat down, behind, or stuck.

    A range on the (enabled, next_run_at) index that dispatch itself uses;
    in a healthy scheduler it is empty.
    """
    rows = list(
        DynamicJob.objects.filter(enabled__in=[True], next_run_at__lte=cutoff)
        .order_by()
        .values("id", "next_run_at", "schedule", "watch")[:BATCH]
    )
    # Held on purpose by the maintenance pause: not late (read only when
    # something is overdue). Slots that pass meanwhile are missed on resume.
    if not rows or timeplan.pause_state(now) is not None:
        return []
    events = []
    for row in rows:
        slot = row["next_run_at"]
        late_by = now - slot
        if late_by < grace(row["watch"]):
            continue
        events.append(
            _event(
                row["id"],
                Kind.LATE,
                slot,
                f"Not started {duration_words(late_by.total_seconds())} after its "
                f"planned time ({when(slot)}): the scheduler has not dispatched it. "
                "Is beat running and keeping up?",
            )
        )
        following = _next_slot(row["schedule"], slot)
        if following is not None and following <= now:
            events.append(
                _event(
                    row["id"],
                    Kind.MISSED,
                    slot,
                    f"The run planned for {when(slot)} had not started when its "
                    f"next run was due ({when(following)}): the scheduler has not "
                    "dispatched it.",
                )
            )
    return events


def unstarted_events(now: datetime, cutoff: datetime) -> list[WatchEvent]:
    """Scheduled first attempts queued past their grace: no worker took them.

    A range on the partial index of queued runs by slot; the grace counts
    from when the run was queued. Retries are left out (their slot did
    start), and so are manual runs (no slot was planned).
    """
    rows = list(
        JobExecution.objects.filter(
            status=Status.QUEUED,
            scheduled_for__lte=cutoff,
            attempt=1,
            triggered_by=JobExecution.Trigger.SCHEDULER,
            job__isnull=False,
        )
        .order_by()
        .values("id", "job_id", "scheduled_for", "created_at", "queue")[:BATCH]
    )
    if not rows:
        return []
    jobs = {
        job["id"]: job
        for job in DynamicJob.objects.filter(
            pk__in={row["job_id"] for row in rows}
        ).values("id", "schedule", "watch")
    }
    return [
        event
        for row in rows
        if row["job_id"] in jobs
        for event in _waiting_for_a_worker(row, jobs[row["job_id"]], now)
    ]


def _waiting_for_a_worker(
    row: dict[str, Any], job: dict[str, Any], now: datetime
) -> list[WatchEvent]:
    """A queued run's late event, and its missed one if its next slot came.

    The wait counts from when it was queued: a catch-up run queued long after
    its slot was late because of beat (its slot is in the missed event of that
    dispatch), not because of the workers.
    """
    slot = row["scheduled_for"]
    queued = max(slot, row["created_at"])
    if now - queued < grace(job["watch"]):
        return []
    waited = duration_words((now - slot).total_seconds())
    queue = row["queue"] or settings.CELERY_TASK_DEFAULT_QUEUE
    events = [
        _event(
            row["job_id"],
            Kind.LATE,
            slot,
            f"Queued but not started {waited} after its planned time "
            f"({when(slot)}): no worker has taken it. Are the workers running "
            f"and consuming the queue “{queue}”?",
            row["id"],
        )
    ]
    following = _next_slot(job["schedule"], slot)
    if following is not None and queued < following <= now:
        events.append(
            _event(
                row["job_id"],
                Kind.MISSED,
                slot,
                f"The run planned for {when(slot)} was still waiting for a "
                f"worker when its next run was due ({when(following)}).",
                row["id"],
            )
        )
    return events


def slow_events(now: datetime) -> list[WatchEvent]:
    """Runs still running past their slow mark, each reported once.

    A range on the partial index of running runs by slow mark; the mark is
    cleared once the event is recorded, so a run is not read again.
    """
    rows = list(
        JobExecution.objects.filter(status=Status.RUNNING, slow_at__lte=now)
        .order_by()
        .values(
            "id", "job_id", "scheduled_for", "started_at", "slow_at", "timeout_seconds"
        )[:BATCH]
    )
    if not rows:
        return []
    JobExecution.objects.filter(pk__in=[row["id"] for row in rows]).update(slow_at=None)
    events = []
    for row in rows:
        if row["job_id"] is None or row["started_at"] is None:
            continue
        running = (now - row["started_at"]).total_seconds()
        mark = (row["slow_at"] - row["started_at"]).total_seconds()
        events.append(
            _event(
                row["job_id"],
                Kind.SLOW,
                row["scheduled_for"],
                f"Still running after {duration_words(running)}, past the "
                f"{duration_words(mark)} after which it counts as slow (its usual "
                "duration times the job's slow factor). It is stopped at its "
                f"timeout, {duration_words(row['timeout_seconds'])} after its start.",
                row["id"],
            )
        )
    return events


def deliver(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Send the alert of each event not yet alerted; returns how many were sent.

    Each event is claimed first, by moving its `alerted_at` from empty to now
    in one compare-and-set UPDATE; only the claim's winner sends, so two beats
    (or a beat and a worker) never send one alert twice. An event whose job
    does not subscribe to its kind is settled the same way, with nothing sent.
    """
    now = now or timezone.now()
    pending = list(
        WatchEvent.objects.filter(alerted_at__isnull=True)
        .select_related("job")
        .order_by("created_at")[:limit]
    )
    sent = 0
    for event in pending:
        won = WatchEvent.objects.filter(pk=event.pk, alerted_at__isnull=True).update(
            alerted_at=now
        )
        if not won:
            continue
        if event.kind in (Kind.LATE, Kind.MISSED):
            incidents.not_running(job_id=event.job_id, since=event.slot)
        if _send(event):
            sent += 1
    return sent


def deliver_in_thread() -> int:
    """`deliver` on this thread's own connection, closed afterwards (beat's sender)."""
    try:
        sent = deliver()
    except DatabaseError as exc:
        logger.warning("Watch alerts not sent yet: %s", exc)
        return 0
    finally:
        connection.close()
    if sent:
        logger.info("Watch: %s alert(s) sent", sent)
    return sent


def _send(event: WatchEvent) -> bool:
    slot = when(event.slot)
    notes = alerts.send_alert(
        job=event.job,
        event=event.kind,
        subject=SUBJECTS[event.kind].format(slot=slot),
        lines=[f"Planned start: {slot}", "", event.detail],
        key=f"{event.kind}-{event.job_id}-{event.slot:%Y%m%dT%H%M%S%fZ}",
    )
    for note in notes:
        logger.log(
            logging.ERROR if note["level"] == "ERROR" else logging.INFO,
            "Watch event %s: %s",
            event.pk,
            note["message"],
        )
    return bool(notes)


# --- The dispatcher's side ----------------------------------------------------------


def note_dispatch(
    won: list[dict[str, Any]],
    following: dict[int, datetime | None],
    created: list[JobExecution],
    now: datetime,
    rules: TimeRules = NO_RULES,
) -> None:
    """Record the slots a dispatch skipped or folded into one run as missed.

    Called inside the dispatch's transaction, so the record stands or falls
    with the claim. After the scheduler was down, the misfire policy either
    skips the overdue slot (a skipped execution) or runs it once for all the
    slots that passed; either way the slots between it and the next one
    planned did not run. One event per job and dispatch, however many slots:
    one alert for one outage. Only rows overdue by at least the shortest
    interval a schedule may have can have folded slots, so a dispatch on time
    reads no schedule.
    """
    skipped = {
        execution.job_id: execution
        for execution in created
        if execution.status == Status.SKIPPED
        and (execution.result or {}).get("skipped") == "misfire"
    }
    shortest = timedelta(seconds=settings.SCHEDULER_MIN_INTERVAL_SECONDS)
    events = []
    for row in won:
        slot, skip = row["next_run_at"], skipped.get(row["id"])
        folded = (0, None, None)
        if now - slot >= shortest and following.get(row["id"]) is not None:
            # Only slots that passed: later ones before the next run are the
            # calendars' and windows' exclusions, not misses.
            upper = min(following[row["id"]], now + timedelta(microseconds=1))
            folded = folded_slots(
                row["schedule"], slot, upper, rules=rules, job=timeplan.job_ref(row)
            )
        if skip is None and not folded[0]:
            continue
        events.append(_missed_event(row["id"], slot, skip, folded))
    if events:
        WatchEvent.objects.bulk_create(events, ignore_conflicts=True)


def _missed_event(
    job_id: int,
    slot: datetime,
    skip: JobExecution | None,
    folded: tuple[int, datetime | None, datetime | None],
) -> WatchEvent:
    count, first, last = folded
    more = ""
    if count == 1:
        more = f"the run planned for {when(first)}"
    elif count:
        runs = f"{count} runs" if count < COUNT_LIMIT else f"over {COUNT_LIMIT} runs"
        more = f"the {runs} planned from {when(first)} to {when(last)}"
    if skip is not None:
        detail = (
            f"The run planned for {when(slot)} was skipped: the scheduler reached "
            "it after its grace and the job's misfire policy is to skip missed "
            "runs."
        )
        if more:
            detail += f" Also not run: {more}."
        return _event(job_id, Kind.MISSED, slot, detail, skip.pk)
    detail = (
        f"Not run: {more}, while the scheduler was not dispatching. One catch-up "
        f"run (for {when(slot)}) ran instead, as the job's misfire policy says."
    )
    return _event(job_id, Kind.MISSED, first or slot, detail)


def folded_slots(
    schedule: dict[str, Any],
    slot: datetime,
    following: datetime,
    *,
    rules: TimeRules = NO_RULES,
    job: JobRef = NO_JOB,
) -> tuple[int, datetime | None, datetime | None]:
    """How many planned runs lie strictly between `slot` and `following`, and
    the first and last of them: the ones one dispatch folded away.

    A cron job's slots come from its plan under the tick's rules, so a day its
    calendar excludes or a slot a window holds is not counted as missed.
    """
    try:
        parsed = schedule_from_json(schedule)
    except (KeyError, TypeError, ValueError):
        return 0, None, None
    every = getattr(parsed, "every_seconds", None)
    if every:
        count = math.ceil((following - slot).total_seconds() / every) - 1
        if count <= 0:
            return 0, None, None
        step = timedelta(seconds=every)
        return count, slot + step, slot + count * step
    count, first, last = 0, None, None
    for planned in parsed.plan(slot, rules=rules, job=job):
        if planned.at >= following or count >= COUNT_LIMIT:
            break
        if planned.outcome == "runs":
            first, last, count = first or planned.at, planned.at, count + 1
    return count, first, last


# --- The worker's side --------------------------------------------------------------


@dataclass
class Watching:
    """A run's watch options, and the timer that will set its slow mark."""

    options: dict[str, Any] | None
    timer: threading.Timer | None = None

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def run_started(execution: JobExecution, job: DynamicJob | None = None) -> Watching:
    """Arrange the run's slow mark; returns what `run_ended` needs.

    `job` is the job as the claim read it (PostgreSQL), else the one loaded
    with the execution: its options cost no query. The mark itself (which may
    read the job's recent durations) is set by a timer after
    SLOW_MARK_AFTER_SECONDS, on its own connection, so a run shorter than that,
    most of them, costs the watch no query at all. A run inside a transaction
    (an in-process run in a test) gets no timer: another connection could not
    see its claim.
    """
    if job is None and JobExecution.job.is_cached(execution):
        job = execution.job
    watching = Watching(options(job.watch) if job is not None else None)
    if watching.options is None or execution.started_at is None:
        return watching
    if not connection.in_atomic_block:
        watching.timer = threading.Timer(
            SLOW_MARK_AFTER_SECONDS,
            _mark_in_thread,
            args=(execution.pk, execution.job_id, watching.options),
        )
        watching.timer.daemon = True
        watching.timer.start()
    return watching


def _mark_in_thread(
    execution_id: int, job_id: int, watch: dict[str, Any]
) -> datetime | None:
    try:
        return set_slow_mark(execution_id, job_id, watch)
    except DatabaseError as exc:  # never breaks the run it watches
        logger.warning(
            "Execution %s is not watched for slowness: %s", execution_id, exc
        )
        return None
    finally:
        connection.close()  # this thread's own connection


def set_slow_mark(
    execution_id: int, job_id: int, watch: dict[str, Any]
) -> datetime | None:
    """Store when the running execution turns slow; None if no mark applies.

    A mark at or past the timeout is not set: the timeout reports that run.
    """
    mark = slow_mark(job_id, watch)
    row = (
        JobExecution.objects.filter(pk=execution_id, status=Status.RUNNING)
        .values("started_at", "timeout_seconds")
        .first()
    )
    if mark is None or row is None or mark >= row["timeout_seconds"]:
        return None
    slow_at = row["started_at"] + timedelta(seconds=mark)
    JobExecution.objects.filter(pk=execution_id, status=Status.RUNNING).update(
        slow_at=slow_at
    )
    return slow_at


def slow_mark(job_id: int, watch: dict[str, Any]) -> float | None:
    """Seconds after its start at which a run of the job is slow; None: unknown."""
    factor = float(watch["slow_factor"])
    expected = float(watch["expected_duration_seconds"] or 0)
    if expected > 0:
        return expected * factor
    learned = learned_duration(job_id)
    if learned is None:
        return None
    return max(LEARNED_SLOW_FLOOR_SECONDS, learned * factor)


def learned_duration(job_id: int) -> float | None:
    """The 95th percentile of the job's last LEARN_FROM successful runs.

    One read on the (job, -started_at) index. None until LEARN_AT_LEAST runs
    have succeeded: too few to tell what is usual.
    """
    durations = sorted(
        JobExecution.objects.filter(
            job_id=job_id,
            status=Status.COMPLETED,
            started_at__isnull=False,
            duration_seconds__isnull=False,
        )
        .order_by("-started_at")
        .values_list("duration_seconds", flat=True)[:LEARN_FROM]
    )
    if len(durations) < LEARN_AT_LEAST:
        return None
    # Nearest rank: the smallest value at or above 95 % of the runs.
    return durations[math.ceil(0.95 * len(durations)) - 1]


def run_ended(
    execution: JobExecution, status: str | None, watching: Watching
) -> WatchEvent | None:
    """Report a successful real run shorter than the job's minimum duration.

    Recorded and alerted by the worker at once: the insert under the unique
    constraint and `deliver`'s claim keep a redelivered run from alerting twice.
    """
    watching.stop()
    watch = watching.options
    if watch is None or status != Status.COMPLETED or execution.dry_run:
        return None
    minimum = float(watch.get("min_duration_seconds") or 0)
    if not minimum or execution.started_at is None:
        return None
    ended = execution.completed_at or timezone.now()
    took = (ended - execution.started_at).total_seconds()
    if took >= minimum:
        return None
    event = _event(
        execution.job_id,
        Kind.TOO_FAST,
        execution.scheduled_for,
        f"Succeeded in {took:.2f} s, under the {minimum:g} s a run of this job "
        "should take at least: it may have done nothing.",
        execution.pk,
    )
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return None
    except DatabaseError as exc:
        logger.warning("Too-fast run %s not recorded: %s", execution.pk, exc)
        return None
    if WatchEvent.objects.filter(pk=event.pk, alerted_at__isnull=True).update(
        alerted_at=timezone.now()
    ):
        _send(event)
    return event


# --- Reading ------------------------------------------------------------------------


def watch_events(
    *, user: Any, job_id: int | None = None, kind: str | None = None
) -> QuerySet[WatchEvent]:
    """The watch events `user` may see (those who may see executions), newest first."""
    access.authorize(user, access.Action.VIEW_EXECUTIONS)
    events = WatchEvent.objects.all()
    if job_id is not None:
        events = events.filter(job_id=job_id)
    if kind:
        events = events.filter(kind=kind)
    return events


def recent_events(job: DynamicJob, limit: int = 10) -> list[WatchEvent]:
    """The job's latest watch events, for its page's history."""
    return list(WatchEvent.objects.filter(job=job).order_by("-slot", "-id")[:limit])
