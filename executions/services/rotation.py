"""Re-encrypting stored secrets under the newest key (key rotation)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from audit import services as audit
from executions.models import JobExecution
from job_templates import secrets
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.drafts import JobDraft
from scheduler_jobs.models import DynamicJob, JobApproval, JobVersion
from scheduler_jobs.services.masking import NOTIFICATION_SCHEMA, template_for

BATCH_SIZE = 500


def secrets_rotate(*, actor: Any = SYSTEM, dry_run: bool = True) -> dict[str, int]:
    """Re-seal every stored secret under the first SCHEDULER_SECRETS_KEYS key.

    Jobs, execution snapshots, job versions, pending approvals and the
    wizard's drafts are all rewritten, so the old keys can be removed
    afterwards without losing a revert, an approval or a draft. Rows are
    rewritten without a new job version: the definition does not change, only
    how it is stored. Returns rows counted or changed per table. Raises
    SecretKeyError if a secret was sealed by a key that is no longer listed.
    """
    counts = {
        "jobs": _rotate_rows(
            _sealed(
                DynamicJob.objects.all(),
                "parameters",
                "notifications",
                also=("template_type",),
            ),
            _job_values,
            dry_run=dry_run,
        ),
        "executions": _rotate_rows(
            _sealed(JobExecution.objects.all(), "parameters", also=("template_type",)),
            _execution_values,
            dry_run=dry_run,
        ),
        # Whole definitions and draft steps: every sealed value in them, by
        # its prefix, whatever the template's schema says today.
        "versions": _rotate_rows(
            _sealed(JobVersion.objects.all(), "definition"),
            _resealed("definition"),
            dry_run=dry_run,
        ),
        "approvals": _rotate_rows(
            _sealed(JobApproval.objects.all(), "definition"),
            _resealed("definition"),
            dry_run=dry_run,
        ),
        "drafts": _rotate_rows(
            _sealed(JobDraft.objects.all(), "data"), _resealed("data"), dry_run=dry_run
        ),
    }
    if not dry_run:
        audit.record(
            actor=actor,
            action="rotate_secrets",
            target=("secrets", "", "stored secrets"),
            changes=counts,
            source="command",
        )
    return counts


def _sealed(queryset: QuerySet, *fields: str, also: tuple[str, ...] = ()) -> QuerySet:
    """Rows holding at least one sealed value, found by the database."""
    texts = {f"_{field}_text": Cast(field, TextField()) for field in fields}
    condition = Q()
    for name in texts:
        condition |= Q(**{f"{name}__contains": secrets.SEALED_PREFIX})
    return (
        queryset.annotate(**texts)
        .filter(condition)
        .order_by("pk")
        .only("pk", *also, *fields)
    )


def _job_values(job: DynamicJob) -> dict[str, Any]:
    template = template_for(job.template_type)
    schema = template.parameters_schema if template else None
    return {
        "parameters": secrets.rotate(schema, job.parameters),
        "notifications": secrets.rotate(NOTIFICATION_SCHEMA, job.notifications),
    }


def _execution_values(execution: JobExecution) -> dict[str, Any]:
    template = template_for(execution.template_type)
    schema = template.parameters_schema if template else None
    return {"parameters": secrets.rotate(schema, execution.parameters)}


def _resealed(field: str):
    def values_of(row: Any) -> dict[str, Any]:
        return {field: _reseal_all(getattr(row, field))}

    return values_of


def _reseal_all(value: Any) -> Any:
    """Every sealed string in a JSON value, re-sealed under the first key."""
    if isinstance(value, dict):
        return {key: _reseal_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_reseal_all(item) for item in value]
    if secrets.is_sealed(value):
        return secrets.rotate_value(value)
    return value


def _rotate_rows(queryset: QuerySet, values_of, *, dry_run: bool) -> int:
    changed = 0
    for row in queryset.iterator(chunk_size=BATCH_SIZE):
        updates = {k: v for k, v in values_of(row).items() if getattr(row, k) != v}
        if not updates:
            continue
        changed += 1
        if not dry_run:
            type(row).objects.filter(pk=row.pk).update(**updates)
    return changed
