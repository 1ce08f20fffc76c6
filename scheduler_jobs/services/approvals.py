"""The two-person rule: a change that makes a job high-risk waits for a second person.

Until another staff user with `approve_dynamicjob` approves it, the job keeps its
last approved definition (a new job stays disabled and cannot run). Nobody
approves their own change; approvals and rejections carry a comment and are
audited. `SCHEDULER_APPROVALS` says which changes need approval: "high-risk"
(the default) or "off".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from job_templates import secrets
from scheduler_jobs import access
from scheduler_jobs.access import AccessDenied, Action
from scheduler_jobs.models import DynamicJob, JobApproval
from scheduler_jobs.services.masking import template_for
from scheduler_jobs.services.versions import definition_diff, definition_of
from scheduler_jobs.spec import JOB_SPEC

Status = JobApproval.Status


def approval_reason(before: DynamicJob | None, after: dict[str, Any]) -> str | None:
    """Why this change needs a second person, or None.

    A change needs approval when the job is high-risk afterwards and it changes
    a field the job spec marks high_risk (the template and its parameters): that
    covers turning dry run off, adding backup rotation, pointing a webhook at a
    new host and widening a cleanup. Schedules, timeouts and names do not.
    """
    if getattr(settings, "SCHEDULER_APPROVALS", "high-risk") == "off":
        return None
    risk = access.high_risk_reason(after["template_type"], after["parameters"])
    if risk is None:
        return None
    if before is None:
        return f"a new high-risk job: {risk}"
    changed = [
        option.name
        for option in JOB_SPEC.top()
        if option.high_risk
        and _compared(before, option.name) != _compared(after, option.name)
    ]
    if "template_type" in changed:
        return f"another template, and the job is high-risk: {risk}"
    if changed:
        return f"new {', '.join(changed)} for a high-risk job: {risk}"
    return None


def _compared(values: Any, name: str) -> Any:
    """A definition field as the rule compares it: parameters in clear."""
    if isinstance(values, DynamicJob):
        values = {"template_type": values.template_type, name: getattr(values, name)}
    value = values.get(name)
    if name == "parameters":
        return _clear_parameters(values.get("template_type"), value or {})
    return value


def approval_propose(
    *,
    job: DynamicJob,
    user: Any,
    cleaned: dict[str, Any],
    reason: str,
    source: str,
    comment: str = "",
    request: Any = None,
) -> JobApproval:
    """Record a pending change; an older pending one for the job is superseded."""
    proposer, proposer_repr = audit.actor_parts(user)
    with transaction.atomic():
        JobApproval.objects.filter(job=job, status=Status.PENDING).update(
            status=Status.SUPERSEDED, decided_at=timezone.now()
        )
        approval = JobApproval.objects.create(
            job=job,
            definition=definition_of(cleaned),
            enabled=bool(cleaned.get("enabled", job.enabled)),
            base_version=job.version,
            reason=reason[:300],
            comment=(comment or "")[:1000],
            source=source[:10],
            proposed_by=proposer,
            proposed_by_repr=proposer_repr[:150],
        )
        audit.record(
            actor=user,
            action="propose",
            target=job,
            changes={
                "approval_id": approval.pk,
                "reason": approval.reason,
                "diff": approval_diff(approval),
            },
            request=request,
            source=source,
        )
    return approval


def approval_diff(approval: JobApproval) -> list[dict[str, Any]]:
    """What the change would do to the job's current definition (secrets hidden)."""
    current = definition_of(
        {field: getattr(approval.job, field) for field in approval.definition}
    )
    if approval.job.definition_version == 0:
        current = {}
    return definition_diff(current, approval.definition)


def approval_decide(
    *,
    approval: JobApproval,
    user: Any,
    approve: bool,
    comment: str,
    request: Any = None,
    source: str = "api",
) -> JobApproval:
    """Approve (apply the change as a new version) or reject a pending change.

    Raises AccessDenied (own change, missing rights), ValidationError (no
    comment, not pending) or VersionConflict (the job changed since).
    """
    definition = (
        approval.definition["template_type"],
        approval.definition["parameters"],
    )
    access.authorize(user, Action.APPROVE, definitions=[definition] if approve else [])
    if _same_person(user, approval):
        raise AccessDenied("Nobody approves or rejects their own change.")
    if not (comment or "").strip():
        raise ValidationError({"comment": ["Say why, for the audit log."]})
    with transaction.atomic():
        current = JobApproval.objects.select_for_update().get(pk=approval.pk)
        if current.status != Status.PENDING:
            raise ValidationError(
                {"status": [f"This change is already {current.get_status_display()}."]}
            )
        if approve:
            _apply(current, user=user, request=request, source=source)
        current.status = Status.APPROVED if approve else Status.REJECTED
        current.decided_by = audit.actor_parts(user)[0]
        current.decided_at = timezone.now()
        current.decision_comment = comment.strip()[:1000]
        current.save(
            update_fields=["status", "decided_by", "decided_at", "decision_comment"]
        )
        audit.record(
            actor=user,
            action="approve" if approve else "reject",
            target=current.job,
            changes={
                "approval_id": current.pk,
                "proposed_by": current.proposed_by_repr,
                "comment": current.decision_comment,
            },
            request=request,
            source=source,
        )
    return current


def pending_for(job: DynamicJob) -> JobApproval | None:
    return JobApproval.objects.filter(job=job, status=Status.PENDING).first()


def _apply(approval: JobApproval, *, user: Any, request: Any, source: str) -> None:
    from scheduler_jobs.services.lifecycle import job_apply_approved

    job_apply_approved(
        job=approval.job,
        proposer=approval.proposed_by or approval.proposed_by_repr,
        approver=user,
        data={**approval.definition, "enabled": approval.enabled},
        expected_version=approval.base_version,
        comment=approval.comment,
        request=request,
        source=source,
    )


def _same_person(user: Any, approval: JobApproval) -> bool:
    if approval.proposed_by_id is not None:
        return getattr(user, "pk", None) == approval.proposed_by_id
    return audit.actor_parts(user)[1] == approval.proposed_by_repr


def _clear_parameters(template_type: str, params: dict[str, Any]) -> dict[str, Any]:
    template = template_for(template_type)
    return secrets.unseal(template.parameters_schema if template else None, params)
