"""Mapping one legacy job to a dynamic job definition, or saying why it cannot.

A table of rules (built-ins below, overridden by ``SCHEDULER_LEGACY_RULES``) maps
a legacy job to a template and parameters. Rules match the job's name first, then
its task path. A job no rule maps is reported with the reason, never guessed, and
a mapped job is validated by ``services.job_clean`` exactly like the API's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string

from scheduler_jobs import services
from scheduler_jobs.legacy.base import (
    LegacyError,
    LegacyJob,
    Unmappable,
    validation_text,
)
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import parse_schedule
from scheduler_jobs.spec import JOB_SPEC

TICKETS_DAYS_DEFAULT = 30
# What a rule gives in its own keys (or migrate decides: a new job is disabled);
# every other job field is an option a rule may set.
SET_APART = frozenset({"name", "template_type", "parameters", "schedule", "enabled"})


def rule_options() -> tuple[str, ...]:
    """The job options a rule may set under "options"."""
    return tuple(name for name in JOB_SPEC.fields() if name not in SET_APART)


RULE_KEYS = frozenset(
    {
        "template",
        "parameters",
        "kwargs",
        "args",
        "ignore",
        "name",
        "schedule",
        "options",
        "unmappable",
        "mapper",
    }
)


@dataclass
class PlanEntry:
    """What migrating one legacy job would do, or why it cannot."""

    legacy: LegacyJob
    rule: str = ""
    data: dict[str, Any] | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    job: DynamicJob | None = None

    @property
    def mappable(self) -> bool:
        return self.data is not None and not self.reason

    @property
    def status(self) -> str:
        if self.job is not None:
            return "migrated"
        return "ready" if self.mappable else "unmappable"

    @property
    def schedule_description(self) -> str:
        if self.data is None:
            return ""
        return parse_schedule(self.data["schedule"]).describe()


Rule = dict[str, Any] | str | Callable[["LegacyJob"], dict[str, Any]]


def _only_kwargs(job: LegacyJob, allowed: set[str], *, args: int = 0) -> None:
    unknown = sorted(set(job.kwargs) - allowed)
    if unknown:
        raise Unmappable(
            f"legacy kwargs {', '.join(unknown)} have no mapping in the rule; "
            "add a SCHEDULER_LEGACY_RULES entry that maps or ignores them"
        )
    if len(job.args) > args:
        raise Unmappable(
            f"legacy positional args {job.args!r} have no mapping in the rule; "
            "add a SCHEDULER_LEGACY_RULES entry that maps them"
        )


def _positive_days(job: LegacyJob, default: int | None) -> int:
    values = [job.kwargs[k] for k in ("days", "older_than_days") if k in job.kwargs]
    if job.args:
        values.append(job.args[0])
    if not values:
        if default is None:
            raise Unmappable("the legacy kwargs give no age ('days')")
        return default
    if len(values) > 1:
        raise Unmappable("the age is given twice (days, older_than_days or args[0])")
    days = values[0]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise Unmappable(f"days must be a whole number of days ≥ 1, not {days!r}")
    return days


def map_test_scheduler(job: LegacyJob) -> dict[str, Any]:
    """test_scheduler -> heartbeat: it only ever proved the scheduler lives."""
    _only_kwargs(job, {"message"})
    parameters = {}
    if "message" in job.kwargs:
        parameters["message"] = job.kwargs["message"]
    return {
        "template": "heartbeat",
        "parameters": parameters,
        # A heartbeat every minute: the next run is its retry, and a stuck one
        # should not hold the slot for the default half hour.
        "options": {"timeout_seconds": 60, "retry_policy": {"max_retries": 0}},
    }


def map_data_cleanup(job: LegacyJob) -> dict[str, Any]:
    """data_cleanup -> database_cleanup of `model` rows older than `days`.

    Legacy kwargs: model (or collection, a model label from
    SCHEDULER_CLEANUP_MODELS), days (or older_than_days, default 90), date_field
    (default created_at). Created as a dry run, like every built-in cleanup.
    """
    _only_kwargs(
        job,
        {"model", "collection", "days", "older_than_days", "date_field"},
        args=1,
    )
    model = job.kwargs.get("model") or job.kwargs.get("collection")
    if not model:
        raise Unmappable(
            "the legacy kwargs name no model ('model' or 'collection'); add a "
            "SCHEDULER_LEGACY_RULES entry for data_cleanup"
        )
    days = _positive_days(job, 90)
    date_field = job.kwargs.get("date_field", "created_at")
    return _dry_run_cleanup(model, {f"{date_field}__lt": {"ago": f"{days}d"}})


def map_auto_delete_resolved_tickets(job: LegacyJob) -> dict[str, Any]:
    """auto_delete_resolved_tickets -> database_cleanup on the tickets model.

    Deletes tickets with status "resolved" resolved more than N days ago (N from
    the legacy kwargs `days`/`older_than_days` or args[0], default 30).
    """
    model = getattr(settings, "SCHEDULER_LEGACY_TICKETS_MODEL", "")
    if not model:
        raise Unmappable(
            "SCHEDULER_LEGACY_TICKETS_MODEL is empty: set it to the tickets "
            "model's label (e.g. support.Ticket) and list that model in "
            "SCHEDULER_CLEANUP_MODELS"
        )
    _only_kwargs(job, {"days", "older_than_days"}, args=1)
    days = _positive_days(job, TICKETS_DAYS_DEFAULT)
    return _dry_run_cleanup(
        model, {"status": "resolved", "resolved_at__lt": {"ago": f"{days}d"}}
    )


_DRY_RUN_NOTE = (
    "dry_run is true: the new job only counts what it would delete while it runs "
    "beside the legacy job; migrate with --live to let it delete"
)


def _dry_run_cleanup(model: str, condition: dict[str, Any]) -> dict[str, Any]:
    """A database_cleanup mapping, created as a dry run like every built-in cleanup."""
    return {
        "template": "database_cleanup",
        "parameters": {"collection": model, "condition": condition, "dry_run": True},
        "notes": [_DRY_RUN_NOTE],
    }


BUILTIN_RULES: dict[str, Rule] = {
    "test_scheduler": map_test_scheduler,
    "data_cleanup": map_data_cleanup,
    "auto_delete_resolved_tickets": map_auto_delete_resolved_tickets,
}


def legacy_rules() -> dict[str, Rule]:
    """The built-in rules with SCHEDULER_LEGACY_RULES merged over them.

    A setting value of None removes a built-in rule.
    """
    custom = getattr(settings, "SCHEDULER_LEGACY_RULES", {}) or {}
    if not isinstance(custom, dict):
        raise LegacyError("SCHEDULER_LEGACY_RULES must be a dict.")
    rules = {**BUILTIN_RULES, **custom}
    return {key: rule for key, rule in rules.items() if rule is not None}


def find_rule(job: LegacyJob, rules: dict[str, Rule]) -> tuple[str, Rule] | None:
    """The rule for a job: by its name first, then by its task path."""
    for kind, key in (("name", job.name), ("task", job.task)):
        if key and key in rules:
            origin = (
                "built-in"
                if rules[key] is BUILTIN_RULES.get(key)
                else ("SCHEDULER_LEGACY_RULES")
            )
            return f"{kind} {key!r} ({origin})", rules[key]
    return None


def apply_rule(rule: Rule, job: LegacyJob, *, label: str) -> dict[str, Any]:
    """Run a rule: returns {template, parameters, [name, schedule, options, notes]}."""
    if callable(rule):
        result = rule(job)
    elif isinstance(rule, str):
        try:
            mapper = import_string(rule)
        except ImportError as exc:
            raise Unmappable(f"{label}: cannot import {rule!r}: {exc}") from None
        result = mapper(job)
    elif isinstance(rule, dict):
        result = _declarative(rule, job, label=label)
    else:
        raise Unmappable(f"{label}: a rule must be a dict, a dotted path or None")
    if not isinstance(result, dict) or not result.get("template"):
        raise Unmappable(f"{label}: the rule gave no template")
    return result


def _declarative(rule: dict[str, Any], job: LegacyJob, *, label: str) -> dict:
    unknown = sorted(set(rule) - RULE_KEYS)
    if unknown:
        raise Unmappable(
            f"{label}: unknown rule key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(RULE_KEYS))}"
        )
    if rule.get("unmappable"):
        raise Unmappable(str(rule["unmappable"]))
    if rule.get("mapper"):
        return apply_rule(str(rule["mapper"]), job, label=label)
    if not rule.get("template"):
        raise Unmappable(f"{label}: the rule names no template")
    parameters = copy.deepcopy(rule.get("parameters") or {})
    kwarg_map = rule.get("kwargs") or {}
    arg_names = list(rule.get("args") or [])
    ignore = set(rule.get("ignore") or [])
    if not isinstance(kwarg_map, dict):
        raise Unmappable(f"{label}: 'kwargs' must map legacy kwarg -> parameter")
    unmapped = sorted(set(job.kwargs) - set(kwarg_map) - ignore)
    if unmapped:
        raise Unmappable(
            f"legacy kwargs {', '.join(unmapped)} have no mapping in {label}; "
            "map them under 'kwargs' or list them under 'ignore'"
        )
    if len(job.args) > len(arg_names):
        raise Unmappable(
            f"legacy positional args {job.args!r} have no mapping in {label}; "
            "name their parameters under 'args'"
        )
    for legacy_key, parameter in kwarg_map.items():
        if legacy_key in job.kwargs:
            parameters[parameter] = job.kwargs[legacy_key]
    for parameter, value in zip(arg_names, job.args, strict=False):
        parameters[parameter] = value
    return {
        "template": rule["template"],
        "parameters": parameters,
        "name": rule.get("name"),
        "schedule": rule.get("schedule"),
        "options": rule.get("options") or {},
    }


# Mapping one job -------------------------------------------------------------------


def plan_one(
    job: LegacyJob, rules: dict[str, Rule], existing: DynamicJob | None
) -> PlanEntry:
    """The plan entry for one job: its validated job data, or why it has none.

    `existing` is the dynamic job already migrated from it, if any; migrate never
    overwrites that job, so the entry only notes where it drifted from the mapping.
    """
    entry = PlanEntry(legacy=job, job=existing)
    try:
        mapped = _apply_matching_rule(entry, rules)
        entry.data = _validated_job(job, mapped)
        _compare_with_existing(entry)
    except Unmappable as exc:
        entry.data = None
        entry.reason = str(exc)
        return entry
    if existing is None:
        entry.notes.extend(mapped.get("notes") or [])
    entry.notes.extend(_legacy_notes(job))
    return entry


def _apply_matching_rule(entry: PlanEntry, rules: dict[str, Rule]) -> dict[str, Any]:
    """What the job's rule maps it to; Unmappable when it has problems or no rule."""
    job = entry.legacy
    problems = [*job.problems, *([job.schedule_error] if job.schedule_error else [])]
    if problems:
        raise Unmappable("; ".join(problems))
    found = find_rule(job, rules)
    if found is None:
        raise Unmappable(
            f"no mapping rule for name {job.name!r} or task {job.task!r}; "
            "add one to SCHEDULER_LEGACY_RULES"
        )
    entry.rule, rule = found
    return apply_rule(rule, job, label=f"the rule for {entry.rule}")


def _validated_job(job: LegacyJob, mapped: dict[str, Any]) -> dict[str, Any]:
    """The mapped job, disabled, validated exactly as job_create validates it."""
    options = mapped.get("options") or {}
    bad = sorted(set(options) - set(rule_options()))
    if bad:
        raise Unmappable(f"the rule sets unknown job option(s): {', '.join(bad)}")
    data = {
        "name": mapped.get("name") or job.name,
        "description": options.get("description") or _description(job),
        "template_type": mapped["template"],
        "parameters": mapped.get("parameters") or {},
        "schedule": mapped.get("schedule") or job.schedule,
        "enabled": False,
        **{k: v for k, v in options.items() if k != "description"},
    }
    try:
        return services.job_clean(data)
    except ValidationError as exc:
        raise Unmappable("the mapped job is invalid: " + validation_text(exc)) from None


def _compare_with_existing(entry: PlanEntry) -> None:
    """Refuse a name taken by another job; note drift from the migrated one."""
    existing = entry.job
    if existing is None:
        clash = DynamicJob.objects.filter(name__iexact=entry.data["name"]).first()
        if clash is not None:
            raise Unmappable(
                f"a dynamic job named {clash.name!r} (#{clash.pk}) already exists "
                "and was not migrated from this legacy job; rename one of them"
            )
        return
    drift = [
        key
        for key in ("template_type", "parameters", "schedule")
        if getattr(existing, key) != entry.data[key]
    ]
    if drift:
        entry.notes.append(
            f"the dynamic job differs from this mapping in {', '.join(drift)} "
            "(changed since, or --live); migrate never overwrites it"
        )


def _legacy_notes(job: LegacyJob) -> list[str]:
    """What of the legacy job the dynamic job does not carry over."""
    notes = []
    ignored = {k: v for k, v in job.options.items() if v not in (None, "", {}, [])}
    if ignored:
        notes.append(
            "legacy options not carried over: "
            + ", ".join(f"{k}={v}" for k, v in sorted(ignored.items()))
        )
    if job.enabled is False:
        notes.append("the legacy job is disabled")
    return notes


def _description(job: LegacyJob) -> str:
    note = f"Migrated from legacy job {job.name} (task {job.task}, {job.where})."
    return f"{job.description.strip()}\n\n{note}" if job.description.strip() else note
