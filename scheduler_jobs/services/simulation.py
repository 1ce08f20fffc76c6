"""Previews of a schedule and the simulator: what runs when, and why not.

Both walk the same `plan()` as the dispatcher's `following()`, with the rules
`time_rules()` reads, so what they show is what beat will do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from scheduler_jobs.access import Action, authorize
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import (
    JobRef,
    Schedule,
    Slot,
    TimeRules,
    jitter_offset,
)
from scheduler_jobs.schedules.plan import RUNS, SKIPPED
from scheduler_jobs.services.timerules import job_ref, schedule_clean, time_rules

# Skipped slots a preview lists beyond the runs it was asked for.
PREVIEW_EXTRA_SLOTS = 50


def slot_preview(
    schedule: dict[str, Any],
    *,
    job_name: str,
    template_category: str = "",
    job_id: int | None = None,
    n: int = 5,
    after: datetime | None = None,
) -> list[Slot]:
    """The next `n` runs of a schedule as it would run, with the skipped and
    deferred slots between them and why.

    Raises ValidationError keyed inside the schedule for a bad one.
    """
    parsed = schedule_clean(schedule)
    after = after or timezone.now()
    job = JobRef(job_name, job_id, template_category)
    slots: list[Slot] = []
    runs = 0
    for slot in islice(
        parsed.plan(after, rules=time_rules(after), job=job), n + PREVIEW_EXTRA_SLOTS
    ):
        slots.append(slot)
        runs += slot.runs
        if runs >= n:
            break
    return slots


@dataclass(frozen=True)
class SimulatedJob:
    """One job's slots between the simulation's start and end."""

    job_id: int
    job_name: str
    schedule: str
    misfire_policy: str
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class Simulation:
    """What runs between `start` and `end`, job by job; `truncated` when the
    slot limit stopped the listing early."""

    start: datetime
    end: datetime
    down: tuple[datetime, datetime] | None
    jobs: tuple[SimulatedJob, ...]
    truncated: bool

    @property
    def slot_count(self) -> int:
        return sum(len(job.slots) for job in self.jobs)


def simulate(
    *,
    actor: Any,
    start: datetime,
    end: datetime,
    jobs: Iterable[DynamicJob] | None = None,
    down: tuple[datetime, datetime] | None = None,
    limit: int = 5000,
) -> Simulation:
    """Every slot of the jobs (default: all enabled ones) from `start` to `end`.

    The slots come from the same `plan()` the dispatcher's `following()`
    walks. With `down` (the scheduler stopped from down[0] to down[1]), the
    slots due meanwhile get what the dispatcher does at recovery: the first
    one runs once at down[1] (misfire policy run once, or late by no more
    than the grace) or is skipped (policy skip); the others are not run. Each
    run is assumed to end before the job's next slot (the overlap policy only
    matters when one does not).
    """
    authorize(actor, Action.SIMULATE)
    _check_simulation(start, end, down)
    rules = time_rules(start)
    chosen = DynamicJob.objects.filter(enabled=True) if jobs is None else jobs
    remaining, simulated = limit, []
    for job in chosen:
        if remaining <= 0:
            break
        slots = _job_slots(job, start, end, rules, remaining, down)
        remaining -= len(slots)
        simulated.append(
            SimulatedJob(
                job.pk, job.name, job.schedule_description, job.misfire_policy, slots
            )
        )
    return Simulation(start, end, down, tuple(simulated), remaining <= 0)


def _check_simulation(
    start: datetime, end: datetime, down: tuple[datetime, datetime] | None
) -> None:
    errors: dict[str, list[str]] = {}
    if not isinstance(start, datetime) or timezone.is_naive(start):
        errors["start"] = ["Must be a date and time with its zone."]
    if not isinstance(end, datetime) or timezone.is_naive(end):
        errors["end"] = ["Must be a date and time with its zone."]
    elif "start" not in errors and end <= start:
        errors["end"] = ["Must be after the start."]
    elif "start" not in errors and end - start > timedelta(days=366):
        errors["end"] = ["Simulate at most one year at a time."]
    if down is not None and (
        len(down) != 2
        or any(not isinstance(t, datetime) or timezone.is_naive(t) for t in down)
        or down[1] <= down[0]
    ):
        errors["down"] = ["Give when the scheduler stopped and when it came back."]
    if errors:
        raise ValidationError(errors)


def _job_slots(
    job: DynamicJob,
    start: datetime,
    end: datetime,
    rules: TimeRules,
    limit: int,
    down: tuple[datetime, datetime] | None,
) -> tuple[Slot, ...]:
    try:
        schedule = job.get_schedule()
    except (KeyError, TypeError, ValueError):
        return ()
    walk = _walk(schedule, job, start, rules)
    slots = []
    for slot in walk:
        if slot.at > end or len(slots) >= limit:
            break
        slots.append(slot)
    if down is not None:
        slots = _after_outage(slots, down, job.misfire_policy)
    return tuple(slots)


def _walk(
    schedule: Schedule, job: DynamicJob, start: datetime, rules: TimeRules
) -> Iterator[Slot]:
    """The job's slots from `start`, as its own next_run_at counts them."""
    ref = job_ref(job)
    after = start - timedelta(microseconds=1)
    if schedule.type == "interval" and job.next_run_at is not None:
        every = timedelta(seconds=schedule.every_seconds)
        # An earlier slot in the same phase, so the walk counts as dispatch does.
        periods = math.ceil((job.next_run_at - after) / every)
        phase = job.next_run_at - periods * every
        offset = _offset(schedule, ref)
        return schedule.plan(after, rules=rules, job=ref, phase=phase - offset)
    return schedule.plan(after, rules=rules, job=ref)


def _offset(schedule: Schedule, job: JobRef) -> timedelta:
    return jitter_offset(job.name, schedule.options.jitter_seconds)


def _after_outage(
    slots: list[Slot], down: tuple[datetime, datetime], misfire_policy: str
) -> list[Slot]:
    """The slots as the dispatcher leaves them after an outage from down[0] to
    down[1]: the first one due meanwhile catches up (or is skipped), the rest
    never run."""
    stopped, back = down
    grace = timedelta(seconds=settings.SCHEDULER_MISFIRE_GRACE_SECONDS)
    result: list[Slot] = []
    caught_up = False
    for slot in slots:
        if not (slot.runs and stopped <= slot.at < back):
            result.append(slot)
            continue
        if caught_up:
            reason = "Due while the scheduler was down; not run (one catch-up at most)"
            result.append(Slot(slot.at, slot.nominal, SKIPPED, reason, slot.note))
            continue
        caught_up = True
        late = back - slot.at
        if late <= grace or misfire_policy == DynamicJob.MisfirePolicy.RUN_ONCE:
            reason = (
                f"Due while the scheduler was down; runs once when it is back "
                f"({_late_words(late)} late)"
            )
            result.append(Slot(back, slot.nominal, RUNS, reason, slot.note))
        else:
            reason = "Due while the scheduler was down; missed (misfire policy: skip)"
            result.append(Slot(slot.at, slot.nominal, SKIPPED, reason, slot.note))
    return result


def _late_words(late: timedelta) -> str:
    seconds = int(late.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
