"""Plan, migrate, roll back and report status: the services of legacy_jobs.

Every write goes through ``scheduler_jobs.services`` and ``audit.services``, so a
migrated job is validated and audited like one made in the API. One transaction
per legacy job keeps the new job, its audit entries and the legacy switch in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from audit import services as audit
from scheduler_jobs import services
from scheduler_jobs.legacy.base import LegacyError, LegacyJob
from scheduler_jobs.legacy.rules import PlanEntry, legacy_rules, plan_one
from scheduler_jobs.models import DynamicJob


@dataclass
class Outcome:
    """What one migrate or rollback did (or, in a dry run, would do)."""

    name: str
    lines: list[str] = field(default_factory=list)
    changed: bool = False
    failed: bool = False
    job: DynamicJob | None = None


# Plan ------------------------------------------------------------------------------


def build_plan(jobs: list[LegacyJob]) -> list[PlanEntry]:
    """Map each legacy job; the data is validated exactly as job_create would."""
    rules = legacy_rules()
    migrated = _migrated_jobs([job.name for job in jobs])
    return [plan_one(job, rules, migrated.get(job.name)) for job in jobs]


def _migrated_jobs(names: list[str]) -> dict[str, DynamicJob]:
    found: dict[str, DynamicJob] = {}
    for job in DynamicJob.objects.filter(legacy_name__in=names).order_by("pk"):
        found.setdefault(job.legacy_name, job)
    return found


def select(plan: list[PlanEntry], names: list[str]) -> list[PlanEntry]:
    by_name = {entry.legacy.name: entry for entry in plan}
    missing = [name for name in names if name not in by_name]
    if missing:
        known = ", ".join(sorted(by_name)) or "none"
        raise LegacyError(
            f"No legacy job named {', '.join(repr(n) for n in missing)} "
            f"in the chosen source(s). Known: {known}."
        )
    return [by_name[name] for name in names]


# Migrate, status, rollback ---------------------------------------------------------


def migrate_entry(
    entry: PlanEntry,
    *,
    actor: str,
    enable: bool = False,
    disable_legacy: bool = False,
    live: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Create (or bring up to the flags) the dynamic job for one mappable entry.

    One transaction per legacy job: the job, its audit entries and the legacy
    switch change together. Running it again with the same flags changes nothing.
    """
    legacy = entry.legacy
    outcome = Outcome(name=legacy.name, job=entry.job)
    if entry.job is None and not entry.mappable:
        outcome.failed = True
        outcome.lines.append(f"{legacy.name}: cannot be migrated: {entry.reason}")
        return outcome
    flags = Flags(actor=actor, enable=enable, live=live, dry_run=dry_run)
    actions: list[str] = []
    with transaction.atomic():
        if entry.job is None:
            job = _create_job(entry, outcome, actions, flags)
        else:
            job = _bring_up_to_flags(entry, outcome, actions, flags)
        if disable_legacy:
            outcome.lines.extend(_disable_legacy(legacy, actions, dry_run=dry_run))
        if actions and not dry_run:
            audit.record(
                actor=actor,
                action="migrate",
                target=job,
                changes={"legacy": _legacy_view(legacy), "actions": actions},
                source="command",
            )
    outcome.job = job
    outcome.changed = bool(actions)
    _add_warnings(outcome, legacy, job)
    return outcome


@dataclass(frozen=True)
class Flags:
    """What migrate was asked to do for each job."""

    actor: str
    enable: bool
    live: bool
    dry_run: bool


def _create_job(
    entry: PlanEntry, outcome: Outcome, actions: list[str], flags: Flags
) -> DynamicJob | None:
    """The new dynamic job (None in a dry run), its line in the outcome."""
    legacy = entry.legacy
    data = dict(entry.data, enabled=flags.enable)
    if flags.live:
        data["parameters"] = _live_parameters(data["parameters"])
    job = None
    if not flags.dry_run:
        job = services.job_create(
            user=flags.actor,
            data=data,
            source="command",
            origin="legacy",
            legacy_name=legacy.name,
        )
    state = "enabled" if flags.enable else "disabled"
    actions.append("created")
    ident = f" (#{job.pk})" if job else ""
    outcome.lines.append(
        f"{legacy.name}: {_verb(flags.dry_run, 'create', 'created')}"
        f"dynamic job {data['name']!r}{ident}: "
        f"{data['template_type']}, {entry.schedule_description}, "
        f"{state}{_mode(data)}.{_pending_note(job)}"
    )
    return job


def _bring_up_to_flags(
    entry: PlanEntry, outcome: Outcome, actions: list[str], flags: Flags
) -> DynamicJob:
    """The job migrated before, enabled or made live if the flags ask for it."""
    legacy = entry.legacy
    job = DynamicJob.objects.get(pk=entry.job.pk)
    if flags.enable and not job.enabled:
        job, line = _switch_job(
            job, legacy.name, enabled=True, actor=flags.actor, dry_run=flags.dry_run
        )
        actions.append("enabled")
        outcome.lines.append(line)
    if flags.live and job.parameters.get("dry_run") is True:
        if not flags.dry_run:
            job = services.job_update(
                job=job,
                user=flags.actor,
                data={"parameters": _live_parameters(job.parameters)},
                expected_version=job.version,
                source="command",
                origin="legacy",
            )
        actions.append("dry_run false")
        note = _pending_note(job)
        outcome.lines.append(
            f"{legacy.name}: {_verb(flags.dry_run, 'set', 'set')}"
            f"dry_run false on {job.name!r}: "
            + (note.strip() if note else "it deletes from now on.")
        )
    return job


def _add_warnings(outcome: Outcome, legacy: LegacyJob, job: DynamicJob | None) -> None:
    """Say when nothing changed, and warn of double runs and of a dry run."""
    if not outcome.changed:
        state = "enabled" if job.enabled else "disabled"
        outcome.lines.insert(
            0,
            f"{legacy.name}: already migrated to {job.name!r} (#{job.pk}, {state}); "
            "nothing to change.",
        )
    if job is not None and job.enabled and legacy.runs:
        outcome.lines.append(
            f"{legacy.name}: WARNING: the legacy job is still enabled, so it runs on "
            "both sides (double runs)."
        )
    if job is not None and (job.parameters or {}).get("dry_run") is True:
        outcome.lines.append(
            f"{legacy.name}: note: the dynamic job is a dry run (counts, deletes "
            "nothing); migrate again with --live to let it delete."
        )


def _verb(dry_run: bool, present: str, past: str) -> str:
    """The verb for an outcome line, with a trailing space."""
    return f"would {present} " if dry_run else f"{past} "


def _mode(data: dict[str, Any]) -> str:
    dry = (data.get("parameters") or {}).get("dry_run")
    if dry is True:
        return ", dry run"
    if dry is False:
        return ", live (deletes)"
    return ""


def _live_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    if parameters.get("dry_run") is True:
        return {**parameters, "dry_run": False}
    return parameters


def _pending_note(job: DynamicJob | None) -> str:
    """What to tell the operator when the two-person rule holds the change."""
    if job is None or getattr(job, "pending_approval", None) is None:
        return ""
    return (
        " It is high-risk and waits for another person's approval (the job's "
        "page or GET /api/v1/approvals/); until then nothing changes."
    )


def _switch_job(
    job: DynamicJob, name: str, *, enabled: bool, actor: str, dry_run: bool
) -> tuple[DynamicJob, str]:
    """Enable or disable the dynamic job through services; the job and its line."""
    if not dry_run:
        job = services.job_set_enabled(
            job=job, user=actor, enabled=enabled, source="command"
        )
    verb = (
        _verb(dry_run, "enable", "enabled")
        if enabled
        else _verb(dry_run, "disable", "disabled")
    )
    return job, f"{name}: {verb}dynamic job {job.name!r} (#{job.pk})."


def _switch_periodic_task(
    task: Any, legacy: LegacyJob, *, enabled: bool, dry_run: bool
) -> str:
    """Flip the legacy job's PeriodicTask row; the outcome line."""
    if not dry_run:
        # save(), not update(): PeriodicTask.save bumps PeriodicTasks so a
        # running beat notices the change on its next sync.
        task.enabled = enabled
        task.save()
    legacy.enabled = enabled
    verb = (
        _verb(dry_run, "re-enable", "re-enabled")
        if enabled
        else _verb(dry_run, "disable", "disabled")
    )
    return f"{legacy.name}: {verb}legacy PeriodicTask #{task.pk}."


def _legacy_view(legacy: LegacyJob) -> dict[str, Any]:
    return {
        "name": legacy.name,
        "task": legacy.task,
        "source": legacy.source,
        "origin": legacy.origin,
        "schedule": legacy.schedule_text,
        "periodic_task_id": legacy.periodic_task_id,
    }


def _periodic_task(legacy: LegacyJob):
    from django_celery_beat.models import PeriodicTask

    return (
        PeriodicTask.objects.select_for_update()
        .filter(pk=legacy.periodic_task_id)
        .first()
    )


def _disable_legacy(
    legacy: LegacyJob, actions: list[str], *, dry_run: bool
) -> list[str]:
    if legacy.source == "file":
        return [
            f"{legacy.name}: the file source has no switch: disable {legacy.name!r} "
            "in the scheduler that runs it."
        ]
    if not legacy.can_be_disabled:
        return [
            f"{legacy.name}: it is defined in CELERY_BEAT_SCHEDULE and cannot be "
            "disabled from a command: remove it from settings and restart beat."
        ]
    task = _periodic_task(legacy)
    if task is None:
        return [f"{legacy.name}: its PeriodicTask row is gone; nothing to disable."]
    lines = []
    if task.enabled:
        line = _switch_periodic_task(task, legacy, enabled=False, dry_run=dry_run)
        actions.append("legacy disabled")
        lines.append(line)
    if legacy.source == "settings":
        lines.append(
            f"{legacy.name}: it stays in CELERY_BEAT_SCHEDULE; DatabaseScheduler "
            "keeps the row disabled across restarts. Remove the entry from "
            "settings when the migration is over."
        )
    return lines


def rollback(
    legacy_name: str, *, jobs: list[LegacyJob], actor: str, dry_run: bool = False
) -> Outcome:
    """Disable the dynamic job and re-enable the legacy task; audited."""
    job = DynamicJob.objects.filter(legacy_name=legacy_name).order_by("pk").first()
    if job is None:
        raise LegacyError(
            f"No dynamic job was migrated from legacy job {legacy_name!r}."
        )
    legacy = next((j for j in jobs if j.name == legacy_name), None)
    outcome = Outcome(name=legacy_name, job=job)
    actions: list[str] = []
    with transaction.atomic():
        if job.enabled:
            job, line = _switch_job(
                job, legacy_name, enabled=False, actor=actor, dry_run=dry_run
            )
            actions.append("dynamic job disabled")
            outcome.lines.append(line)
        outcome.lines.extend(
            _re_enable_legacy(legacy_name, legacy, actions, dry_run=dry_run)
        )
        if actions and not dry_run:
            audit.record(
                actor=actor,
                action="rollback",
                target=job,
                changes={
                    "legacy": _legacy_view(legacy) if legacy else {"name": legacy_name},
                    "actions": actions,
                },
                source="command",
            )
    outcome.job = job
    outcome.changed = bool(actions)
    if not actions:
        outcome.lines.append(f"{legacy_name}: already rolled back; nothing to change.")
    return outcome


def _re_enable_legacy(
    legacy_name: str, legacy: LegacyJob | None, actions: list[str], *, dry_run: bool
) -> list[str]:
    """Switch the legacy job back on where it has a switch; say so where not."""
    if legacy is None:
        return [
            f"{legacy_name}: not found in the chosen legacy source(s); re-create "
            "it there if it was removed."
        ]
    if legacy.can_be_disabled:
        task = _periodic_task(legacy)
        if task is None:
            return [
                f"{legacy_name}: its PeriodicTask row is gone; nothing to re-enable."
            ]
        if task.enabled:
            return []
        actions.append("legacy enabled")
        return [_switch_periodic_task(task, legacy, enabled=True, dry_run=dry_run)]
    if legacy.source == "settings":
        return [
            f"{legacy_name}: it runs from CELERY_BEAT_SCHEDULE as long as the "
            "entry is in settings; nothing to re-enable."
        ]
    return [
        f"{legacy_name}: the file source has no switch: enable it in the "
        "scheduler that runs it."
    ]


@dataclass
class StatusRow:
    name: str
    source: str
    legacy_state: str
    job: DynamicJob | None
    legacy_runs: bool

    @property
    def dynamic_state(self) -> str:
        if self.job is None:
            return "not migrated"
        mode = _mode({"parameters": self.job.parameters})
        return f"#{self.job.pk} {'enabled' if self.job.enabled else 'disabled'}{mode}"

    @property
    def running_on(self) -> str:
        dynamic = self.job is not None and self.job.enabled
        if dynamic and self.legacy_runs:
            return "BOTH"
        if dynamic:
            return "dynamic"
        if self.legacy_runs:
            return "legacy"
        return "neither"


def legacy_status(
    jobs: list[LegacyJob], *, all_sources: bool = True
) -> list[StatusRow]:
    """One row per legacy job and per dynamic job migrated from one.

    A migrated job whose legacy job is in none of the sources read is "removed"
    when settings and beat were both read, else only "not in source".
    """
    migrated: dict[str, DynamicJob] = {}
    for job in DynamicJob.objects.exclude(legacy_name="").order_by("pk"):
        migrated.setdefault(job.legacy_name, job)
    rows = []
    for legacy in jobs:
        rows.append(
            StatusRow(
                name=legacy.name,
                source=legacy.source,
                legacy_state=legacy.state,
                job=migrated.pop(legacy.name, None),
                legacy_runs=legacy.runs,
            )
        )
    for name, job in migrated.items():
        rows.append(
            StatusRow(
                name=name,
                source="-",
                legacy_state="removed" if all_sources else "not in source",
                job=job,
                legacy_runs=False,
            )
        )
    return sorted(rows, key=lambda row: row.name)
