"""Upcoming runs: when each enabled job runs next, within a window, in time order.

The first run of a job is its `next_run_at`, read through the
(enabled, next_run_at) index, so jobs whose next run is after the window are
never loaded. The runs after it come from the schedule's `plan()`, the walk the
dispatcher and the simulator use, judged by the calendars and blackout windows
read once for the whole page; slots a calendar or a window skips are left out,
deferred ones appear at the time they will run. The jobs' walks are merged
lazily and stopped at `limit` runs, and a job joins the merge only when its
next run is due before the runs already found, so a full page reads only the
jobs it shows.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from scheduler_jobs.access import Action, authorize
from scheduler_jobs.labels import job_zone_name
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import jitter_offset
from scheduler_jobs.schedules.plan import DEFERRED
from scheduler_jobs.services.timerules import job_ref, time_rules

MAX_RUNS = 2000
MAX_DAYS = 31


@dataclass(frozen=True)
class UpcomingRun:
    at: datetime  # UTC
    job_id: int
    job_name: str
    template_type: str
    zone_name: str  # the job's own zone
    deferred: str = ""  # why it runs later than its slot, if it does


@dataclass(frozen=True)
class Upcoming:
    start: datetime
    end: datetime
    runs: tuple[UpcomingRun, ...]
    truncated: bool  # more runs fall in the window than `limit`


def upcoming_runs(
    *, user: Any, start: datetime, end: datetime, limit: int = MAX_RUNS
) -> Upcoming:
    """The runs of enabled jobs from `start` (inclusive) to `end` (exclusive).

    Viewing jobs is enough: the page shows names and times, which the job
    list shows too.
    """
    authorize(user, Action.VIEW)
    end = min(end, start + timedelta(days=MAX_DAYS))
    jobs = (
        DynamicJob.objects.filter(
            enabled=True, next_run_at__isnull=False, next_run_at__lt=end
        )
        .order_by("next_run_at", "id")
        .only("id", "name", "template_type", "schedule", "next_run_at")
    )
    rules = time_rules(start)
    runs = _merged(jobs.iterator(chunk_size=500), start, end, rules, limit)
    return Upcoming(start, end, tuple(runs[:limit]), truncated=len(runs) > limit)


def _merged(
    jobs: Iterator[DynamicJob],
    start: datetime,
    end: datetime,
    rules: Any,
    limit: int,
) -> list[UpcomingRun]:
    """The jobs' runs in time order, one more than `limit` at most.

    The jobs come in next_run_at order, and no run of a job is before its
    next_run_at (or the window's start): a job's walk joins the merge only once
    the earliest run waiting is not before it, so a page that fills up in the
    first hour never reads or walks the jobs due later in the week.
    """
    heap: list[tuple[datetime, str, int, int, UpcomingRun, Iterator]] = []
    order = count()

    def push(walk: Iterator[UpcomingRun]) -> None:
        run = next(walk, None)
        if run is not None:
            heapq.heappush(
                heap, (run.at, run.job_name, run.job_id, next(order), run, walk)
            )

    waiting = next(jobs, None)
    runs: list[UpcomingRun] = []
    while len(runs) <= limit:
        while waiting is not None and (
            not heap or max(waiting.next_run_at, start) <= heap[0][0]
        ):
            push(_job_runs(waiting, start, end, rules))
            waiting = next(jobs, None)
        if not heap:
            break
        *_, run, walk = heapq.heappop(heap)
        runs.append(run)
        push(walk)
    return runs


def _job_runs(
    job: DynamicJob, start: datetime, end: datetime, rules: Any
) -> Iterator[UpcomingRun]:
    """One job's runs in the window: its next_run_at, then its plan after it."""
    try:
        schedule = job.get_schedule()
    except (KeyError, TypeError, ValueError):
        return
    zone_name = job_zone_name(job)

    def run(at: datetime, deferred: str = "") -> UpcomingRun:
        return UpcomingRun(at, job.pk, job.name, job.template_type, zone_name, deferred)

    first = job.next_run_at
    if first >= start:
        yield run(first)
    # An overdue job's walk starts at the window, not at its old slot.
    after = max(first, start - timedelta(microseconds=1))
    ref = job_ref(job)
    if schedule.type == "interval":
        # Counted from the next run, as the dispatcher counts (jitter included).
        offset = jitter_offset(job.name, schedule.options.jitter_seconds)
        slots = schedule.plan(after, rules=rules, job=ref, phase=first - offset)
    else:
        slots = schedule.plan(after, rules=rules, job=ref)
    last = first
    for slot in slots:
        if slot.at >= end:
            return
        # heapq.merge needs each walk in order; a slot deferred past the next
        # one is the rare exception, left out rather than shown out of order.
        if slot.runs and slot.at > last and slot.at >= start:
            last = slot.at
            yield run(slot.at, slot.reason if slot.outcome == DEFERRED else "")
