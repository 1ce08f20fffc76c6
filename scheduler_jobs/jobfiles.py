"""Job definitions as files (YAML or JSON), for review and version control.

`export_jobs` writes every job's editable fields with secrets masked; `import_jobs`
reads such a file, validates every job with the API's rules (services.job_clean),
compares it with the database into a plan (create / update / unchanged / delete)
and applies the plan in one transaction. Jobs are matched by name. Exporting and
importing the same file changes nothing: a masked secret means "keep the stored
one", exactly as it does for the API.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from scheduler_jobs import services
from scheduler_jobs.access import Action, authorize
from scheduler_jobs.legacy import LegacyError, parse_structured_text
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.spec import JOB_SPEC, error_items

FORMAT_VERSION = 1
CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
DELETE = "delete"


class JobFileError(Exception):
    """The file cannot be imported; the message names the job and the field."""


@dataclass
class ImportItem:
    action: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    job: DynamicJob | None = None
    changed: list[str] = field(default_factory=list)
    legacy_name: str = ""
    # Field by field, secrets hidden: shown before anything is applied.
    diff: list[dict[str, Any]] = field(default_factory=list)
    pending: bool = False


@dataclass
class ImportPlan:
    source: str
    items: list[ImportItem]

    def of(self, action: str) -> list[ImportItem]:
        return [item for item in self.items if item.action == action]

    @property
    def has_changes(self) -> bool:
        return any(item.action != UNCHANGED for item in self.items)

    def counts(self) -> dict[str, int]:
        return {
            action: len(self.of(action))
            for action in (CREATE, UPDATE, UNCHANGED, DELETE)
        }


# Export --------------------------------------------------------------------------


def file_fields() -> tuple[str, ...]:
    """A job's fields in a file: the job spec's, plus the legacy job it replaced."""
    return (*JOB_SPEC.fields(), "legacy_name")


def job_definition(job: DynamicJob) -> dict[str, Any]:
    """One job as the file holds it: editable fields, secrets masked."""
    definition = services.masked_view(services.job_as_dict(job))
    if job.legacy_name:
        definition["legacy_name"] = job.legacy_name
    return definition


def jobs_export(*, names: list[str] | None = None, actor: Any) -> dict[str, Any]:
    """The export document for the named jobs (all jobs when none are named).

    Secrets are masked: a file of job definitions is for review and version
    control, and it travels further than the database.
    """
    authorize(actor, Action.VIEW)
    jobs = DynamicJob.objects.order_by("name")
    if names:
        found = {job.name: job for job in jobs.filter(name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise JobFileError(
                "No job named " + ", ".join(repr(name) for name in missing) + "."
            )
        selected = [found[name] for name in dict.fromkeys(names)]
    else:
        selected = list(jobs)
    return {
        "version": FORMAT_VERSION,
        "exported_at": timezone.now().replace(microsecond=0).isoformat(),
        "jobs": [job_definition(job) for job in selected],
    }


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        header = (
            "# Dynamic Scheduler job definitions. Secrets are masked; a masked\n"
            "# value keeps the stored secret on import. Import with:\n"
            "#   manage.py import_jobs FILE [--dry-run] [--prune]\n"
        )
        return header + yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
    raise JobFileError(f"Unknown format {fmt!r}; use yaml or json.")


# Import --------------------------------------------------------------------------


def load_definitions(text: str, *, name: str) -> list[dict[str, Any]]:
    """Parse a job file; raises JobFileError for anything but a list of jobs."""
    try:
        document = parse_structured_text(text, name=name)
    except LegacyError as exc:
        raise JobFileError(str(exc)) from None
    if isinstance(document, dict):
        unknown = sorted(set(document) - {"version", "exported_at", "jobs"}, key=str)
        if unknown:
            raise JobFileError(
                f"{name}: unknown top-level field(s) {', '.join(map(str, unknown))}; "
                "expected version, exported_at, jobs."
            )
        version = document.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise JobFileError(
                f"{name}: version {version!r} is not supported (expected "
                f"{FORMAT_VERSION})."
            )
        document = document.get("jobs")
    if not isinstance(document, list):
        raise JobFileError(f"{name}: expected a list of jobs under 'jobs'.")
    return document


def import_plan(
    definitions: list[Any], *, source: str, prune: bool = False
) -> ImportPlan:
    """Validate every definition and compare it with the database.

    Collects every error before failing, each naming the job and the dotted
    field ("jobs[2] (nightly): schedule.cron: …"), so one run shows them all.
    """
    errors: list[str] = []
    seen: dict[str, int] = {}
    existing = {job.name: job for job in DynamicJob.objects.all()}
    items = [
        item
        for index, definition in enumerate(definitions)
        if (item := _plan_item(index, definition, existing, seen, errors))
    ]
    if errors:
        raise JobFileError(
            f"{source}: {len(errors)} error(s); nothing was imported:\n"
            + "\n".join(f"  {line}" for line in errors)
        )
    if prune and not definitions and existing:
        raise JobFileError(
            f"{source}: the file holds no jobs; refusing to delete all "
            f"{len(existing)} job(s) with --prune."
        )
    if prune:
        for name, job in sorted(existing.items()):
            if name not in seen:
                items.append(ImportItem(DELETE, name, job=job))
    return ImportPlan(source=source, items=items)


def _plan_item(
    index: int,
    definition: Any,
    existing: dict[str, DynamicJob],
    seen: dict[str, int],
    errors: list[str],
) -> ImportItem | None:
    """The plan for one job of the file; None once its errors are in `errors`."""
    where = f"jobs[{index}]"
    if not isinstance(definition, dict):
        errors.append(f"{where}: must be an object of job fields.")
        return None
    name = definition.get("name")
    if isinstance(name, str) and name.strip():
        where += f" ({name})"
    for key in sorted(set(definition) - set(file_fields()), key=str):
        errors.append(f"{where}: {key}: unknown field.")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: name: required.")
        return None
    name = services.strip_control_characters(name)
    if name in seen:
        errors.append(f"{where}: name: also used by jobs[{seen[name]}].")
        return None
    seen[name] = index
    job = existing.get(name)
    refusal = _legacy_name_refusal(definition, job)
    if refusal:
        errors.append(f"{where}: legacy_name: {refusal}")
        return None
    fields = JOB_SPEC.fields()
    data = {k: v for k, v in definition.items() if k in fields}
    try:
        cleaned = services.job_clean(data, instance=job)
    except ValidationError as exc:
        errors.extend(f"{where}: {line}" for line in _error_lines(exc))
        return None
    if job is None:
        legacy_name = definition.get("legacy_name") or ""
        return ImportItem(CREATE, name, data=data, legacy_name=legacy_name)
    before = services.job_as_dict(job)
    changed = [key for key in cleaned if before.get(key) != cleaned[key]]
    action = UPDATE if changed else UNCHANGED
    diff = services.definition_diff(before, {**before, **cleaned})
    return ImportItem(action, name, data=data, job=job, changed=changed, diff=diff)


def _legacy_name_refusal(
    definition: dict[str, Any], job: DynamicJob | None
) -> str | None:
    """Why a file's legacy_name is refused, or None: it is set only on create."""
    legacy_name = definition.get("legacy_name") or ""
    longest = DynamicJob._meta.get_field("legacy_name").max_length
    if not isinstance(legacy_name, str) or len(legacy_name) > longest:
        return f"must be text, at most {longest} characters."
    changed = job is not None and legacy_name != job.legacy_name
    if "legacy_name" in definition and changed:
        return (
            f"is {job.legacy_name!r} in the database; it is set only when a "
            "job is created."
        )
    return None


def diff_line(row: dict[str, Any]) -> str:
    """One diff row as a line of the plan: `field: before → after`."""
    if row.get("secret"):
        return f"{row['field']}: secret {row['change']}"
    return (
        f"{row['field']}: {json.dumps(row['before'], ensure_ascii=False)} → "
        f"{json.dumps(row['after'], ensure_ascii=False)}"
    )


def _error_lines(exc: ValidationError) -> list[str]:
    """One line per dotted key: `key: message message`."""
    lines: dict[str, list[str]] = {}
    for key, message in error_items(exc):
        lines.setdefault(key, []).append(message)
    return [
        " ".join(messages) if key == "__all__" else f"{key}: {' '.join(messages)}"
        for key, messages in lines.items()
    ]


def import_apply(plan: ImportPlan, *, actor: str) -> None:
    """Apply a plan in one transaction: every job changes, or none does.

    Updates use the version read when the plan was made, so a job edited in the
    meantime fails the whole import with VersionConflict instead of being
    overwritten.
    """
    if not plan.has_changes:
        return
    with transaction.atomic():
        for item in plan.items:
            if item.action == CREATE:
                job = services.job_create(
                    user=actor,
                    data=item.data,
                    source="command",
                    origin="import",
                    legacy_name=item.legacy_name,
                )
            elif item.action == UPDATE:
                job = services.job_update(
                    job=item.job,
                    user=actor,
                    data=item.data,
                    expected_version=item.job.version,
                    source="command",
                    origin="import",
                )
            if item.action in (CREATE, UPDATE):
                item.pending = job.pending_approval is not None
            elif item.action == DELETE:
                services.job_delete(job=item.job, user=actor, source="command")
        audit.record(
            actor=actor,
            action="import",
            target=("job_file", "", plan.source[:200]),
            changes={
                "file": plan.source,
                "created": [i.name for i in plan.of(CREATE)],
                "updated": {i.name: i.changed for i in plan.of(UPDATE)},
                "deleted": [i.name for i in plan.of(DELETE)],
                "unchanged": len(plan.of(UNCHANGED)),
            },
            source="command",
        )


def read_text(path: str) -> tuple[str, str]:
    """(text, display name) of a file, or of standard input for '-'."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except FileNotFoundError:
        raise JobFileError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError(f"{path}: cannot be read: {exc}") from None
