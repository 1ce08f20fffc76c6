"""Runs and cancellations asked for by a person (admin, API), each one audited."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from executions.models import JobExecution
from executions.services import dispatch, sending
from job_templates import secrets
from job_templates.base import mask_parameters
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs.access import Action, authorize, high_risk_reason
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.lifecycle import AWAITING_APPROVAL

logger = logging.getLogger(__name__)
Status = JobExecution.Status
Trigger = JobExecution.Trigger


def run_now(
    *,
    job: DynamicJob,
    user: Any,
    dry_run: bool | None = None,
    parameters: dict[str, Any] | None = None,
    request: Any = None,
    source: str = "api",
) -> JobExecution:
    """Queue a manual run (disabled jobs too); audited.

    `parameters` override the job's for this run only and are validated against
    the template's schema; overrides, or dry_run=False on a job that is a dry
    run, need the right to run with overrides. Raises AccessDenied, or
    ValidationError keyed by field.
    """
    template = _runnable_template(job, parameters)
    goes_live = dry_run is False and dispatch.effective_dry_run(job.parameters, None)
    authorize(
        user, Action.RUN_WITH_OVERRIDES if parameters or goes_live else Action.RUN
    )
    cleaned, overridden = _run_parameters(template, job, parameters or {})
    if dry_run and not template.supports_dry_run:
        raise ValidationError(
            {"dry_run": [f"The {template.name} template has no dry run."]}
        )
    effective_dry_run = dispatch.effective_dry_run(cleaned, dry_run)
    authorize(
        user,
        Action.RUN_WITH_OVERRIDES if overridden or goes_live else Action.RUN,
        definitions=[(job.template_type, {**cleaned, "dry_run": effective_dry_run})],
        dry_run=effective_dry_run,
    )
    return _queue_manual_run(
        job=job,
        user=user,
        parameters=cleaned,
        overrides=mask_parameters(
            template, {key: cleaned.get(key) for key in overridden}
        ),
        dry_run=effective_dry_run,
        request=request,
        source=source,
    )


def run_warnings(*, job: DynamicJob, dry_run: bool | None) -> list[str]:
    """What a person should know, and confirm, before running `job` now.

    A real run of a high-risk job (a live cleanup, a backup's rotation, …), and
    a run beside one that is already queued or running: a manual run does not
    wait for it, and under overlap policy "skip" it makes the next scheduled
    slot skip.
    """
    warnings = []
    live = not dispatch.effective_dry_run(job.parameters, dry_run)
    reason = high_risk_reason(job.template_type, job.parameters) if live else None
    if reason:
        warnings.append(f"This is a real run, and the job is high-risk: {reason}.")
    active = list(
        JobExecution.objects.filter(job=job, status__in=JobExecution.ACTIVE)
        .order_by("id")
        .values_list("pk", "status")[:3]
    )
    if active:
        runs = ", ".join(f"#{pk} ({status})" for pk, status in active)
        policy = DynamicJob.OverlapPolicy(job.overlap_policy).label.lower()
        warnings.append(
            f"It is already queued or running ({runs}). This run starts as well; "
            f"the job's overlap policy ({policy}) then applies to its next slot."
        )
    return warnings


def _runnable_template(job: DynamicJob, parameters: Any) -> Any:
    """The job's template, if the job may run at all; else ValidationError."""
    try:
        template = registry.get(job.template_type)
    except UnknownTemplate as exc:
        raise ValidationError({"template_type": [str(exc)]}) from exc
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError({"parameters": ["Must be a JSON object."]})
    if job.definition_version == 0:
        # A new high-risk job whose first definition nobody has approved yet.
        raise ValidationError({"job": [AWAITING_APPROVAL]})
    return template


def _queue_manual_run(
    *,
    job: DynamicJob,
    user: Any,
    parameters: dict[str, Any],
    overrides: dict[str, Any],
    dry_run: bool,
    request: Any,
    source: str,
) -> JobExecution:
    with transaction.atomic():
        execution = JobExecution.objects.create(
            job=job,
            job_name=job.name,
            job_version=job.definition_version,
            template_type=job.template_type,
            scheduled_for=timezone.now(),
            attempt=1,
            parameters=parameters,
            dry_run=dry_run,
            timeout_seconds=job.timeout_seconds,
            queue=dispatch.queue_for(
                job_queue=job.queue, template_type=job.template_type
            ),
            triggered_by=Trigger.MANUAL,
            triggered_by_user=user if getattr(user, "pk", None) else None,
            celery_task_id=str(uuid.uuid4()),
            status=Status.QUEUED,
        )
        audit.record(
            actor=user,
            action="run",
            target=job,
            changes={
                "execution_id": execution.pk,
                "dry_run": execution.dry_run,
                "parameter_overrides": overrides,
            },
            request=request,
            source=source,
        )
        transaction.on_commit(lambda: sending.execution_send([execution]))
    return execution


def _run_parameters(
    template: Any, job: DynamicJob, overrides: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """(the run's parameters with secrets sealed, the keys that differ from the job's).

    Overrides go through the same secret rules as an edit: the mask keeps the
    job's secret, and moving a webhook to another server without giving its
    secrets again is refused.
    """
    schema = template.parameters_schema
    try:
        merged = secrets.merge(
            schema,
            {**job.parameters, **overrides},
            job.parameters,
            destination=template.secrets_destination,
        )
        cleaned = template.validate_params(merged)
    except ValidationError as exc:
        raise ValidationError(
            {
                (f"parameters.{k}" if k != "__all__" else "parameters"): v
                for k, v in exc.message_dict.items()
            }
        ) from exc
    own = secrets.unseal(schema, job.parameters)
    overridden = sorted(key for key in overrides if cleaned.get(key) != own.get(key))
    return secrets.seal(schema, cleaned, previous=job.parameters), overridden


def execution_rerun(
    *, execution: JobExecution, user: Any, request: Any = None, source: str = "admin"
) -> JobExecution:
    """Run an execution's job again with that execution's parameters and dry run.

    Parameters that differ from the job's current ones are overrides, with the
    rights those need.
    """
    authorize(user, Action.VIEW_EXECUTIONS)
    if execution.job is None:
        raise ValidationError({"job": ["The job was deleted; it cannot run again."]})
    return run_now(
        job=execution.job,
        user=user,
        dry_run=execution.dry_run,
        parameters=execution.parameters,
        request=request,
        source=source,
    )


class NotCancellable(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"The execution already ended ({status}); nothing to cancel.")
        self.status = status


def execution_cancel(
    *, execution: JobExecution, user: Any, request: Any = None, source: str = "api"
) -> JobExecution:
    """Cancel a queued, pending or running execution; raises NotCancellable if it ended.

    A running one is marked cancelled at once; its worker is asked to stop it
    (where the broker supports remote control) and its late result is discarded.
    """
    authorize(user, Action.CANCEL)
    cancellable = (Status.QUEUED, Status.RETRY_PENDING, Status.RUNNING)
    now = timezone.now()
    with transaction.atomic():
        current = JobExecution.objects.get(pk=execution.pk)
        if current.status not in cancellable:
            raise NotCancellable(current.status)
        rows = JobExecution.objects.filter(pk=current.pk, status=current.status).update(
            status=Status.CANCELLED,
            completed_at=now,
            error=f"Cancelled by {getattr(user, 'username', None) or 'the system'}.",
        )
        if not rows:
            raise NotCancellable(JobExecution.objects.get(pk=current.pk).status)
        audit.record(
            actor=user,
            action="cancel",
            target=current,
            changes={"status": {"before": current.status, "after": Status.CANCELLED}},
            request=request,
            source=source,
        )
    if current.status == Status.RUNNING and current.celery_task_id:
        _revoke(current.celery_task_id)
    return JobExecution.objects.get(pk=current.pk)


def _revoke(task_id: str) -> None:
    from config.celery import app

    try:
        app.control.revoke(task_id, terminate=True, signal="SIGTERM")
    except Exception as exc:  # the filesystem broker has no remote control
        logger.info("Could not revoke task %s: %s", task_id, exc)
