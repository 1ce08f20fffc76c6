"""Every change to a job in one place, so each is version-checked and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit import services as audit
from scheduler_jobs.access import Action, authorize, job_definition
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.masking import audit_view, changed_secrets
from scheduler_jobs.services.quota import _check_quota, _lock_job_creation
from scheduler_jobs.services.validation import job_as_dict, job_clean


class VersionConflict(Exception):
    """The job changed since the client read it (optimistic locking)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(
            f"This job was changed by someone else (now version {current_version}). "
            "Reload it and apply your change again."
        )
        self.current_version = current_version


def first_run_at(schedule: dict[str, Any], now=None):
    from scheduler_jobs.schedules import schedule_from_json

    return schedule_from_json(schedule).next_after(now or timezone.now())


def job_create(
    *,
    user: Any,
    data: dict[str, Any],
    request: Any = None,
    source: str = "api",
    legacy_name: str = "",
) -> DynamicJob:
    """Validate and create a job; audited.

    Raises AccessDenied, ValidationError or QuotaExceeded.
    """
    authorize(user, Action.ADD)
    cleaned = job_clean(data)
    authorize(user, Action.ADD, definitions=[_definition(cleaned)])
    author = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        _lock_job_creation()
        _check_quota(author)
        job = DynamicJob(**cleaned, created_by=author, legacy_name=legacy_name)
        if job.enabled:
            job.next_run_at = first_run_at(job.schedule)
        try:
            with transaction.atomic():
                job.save()
        except IntegrityError as exc:
            if DynamicJob.objects.filter(name=cleaned["name"]).exists():
                raise ValidationError(
                    {"name": ["A job with this name already exists."]}
                ) from exc
            raise
        audit.record(
            actor=user,
            action="create",
            target=job,
            changes={"after": audit_view(cleaned)},
            request=request,
            source=source,
        )
    return job


def job_update(
    *,
    job: DynamicJob,
    user: Any,
    data: dict[str, Any],
    expected_version: int,
    request: Any = None,
    source: str = "api",
) -> DynamicJob:
    """Apply a (partial) change if `expected_version` is still current; audited.

    Raises VersionConflict when someone saved first, ValidationError on bad input.
    Only edited fields are written, so the executor's last_run_at/last_status and
    the dispatcher's next_run_at are never overwritten with stale values.
    """
    current = DynamicJob.objects.get(pk=job.pk)
    action = _update_action(data, current)
    authorize(user, action)
    if current.version != expected_version:
        raise VersionConflict(current.version)
    before = job_as_dict(current)
    cleaned = job_clean(data, instance=current)
    changed = {k: v for k, v in cleaned.items() if before.get(k) != v}
    if not changed:
        return current
    authorize(user, action, definitions=[job_definition(current), _definition(cleaned)])
    updates: dict[str, Any] = dict(changed)
    if "schedule" in changed or "enabled" in changed:
        updates["next_run_at"] = (
            first_run_at(cleaned["schedule"]) if cleaned["enabled"] else None
        )
    with transaction.atomic():
        try:
            with transaction.atomic():
                rows = DynamicJob.objects.filter(
                    pk=job.pk, version=expected_version
                ).update(**updates, version=F("version") + 1, updated_at=timezone.now())
        except IntegrityError as exc:
            raise ValidationError(
                {"name": ["A job with this name already exists."]}
            ) from exc
        if rows == 0:
            latest = DynamicJob.objects.filter(pk=job.pk).values_list(
                "version", flat=True
            )
            raise VersionConflict(latest.first() or expected_version)
        updated = DynamicJob.objects.get(pk=job.pk)
        audit_action = "update"
        if set(changed) == {"enabled"}:
            audit_action = "enable" if cleaned["enabled"] else "disable"
        after = {**before, **changed}
        changes = audit.diff(audit_view(before), audit_view(after))
        secrets_changed = changed_secrets(before, after)
        if secrets_changed:
            # Values are masked on both sides, so say which secrets changed.
            changes["secrets_changed"] = secrets_changed
        audit.record(
            actor=user,
            action=audit_action,
            target=updated,
            changes=changes,
            request=request,
            source=source,
        )
    return updated


def _definition(cleaned: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return (cleaned.get("template_type", ""), cleaned.get("parameters") or {})


def _update_action(data: dict[str, Any], job: DynamicJob) -> Action:
    """Enabling or disabling alone are their own rights; anything else is a change.

    Disabling must stay possible for whoever may change jobs, high-risk or not:
    stopping a job is never the dangerous direction.
    """
    if set(data) == {"enabled"} and isinstance(data["enabled"], bool):
        return Action.ENABLE if data["enabled"] else Action.DISABLE
    return Action.CHANGE


def job_set_enabled(
    *,
    job: DynamicJob,
    user: Any,
    enabled: bool,
    request: Any = None,
    source: str = "admin",
) -> DynamicJob:
    """Enable or disable; enabling a cron job waits for its next slot.

    Disabling never re-validates the job: a job that no longer passes today's
    rules (a template removed, a stricter minimum interval) must still be
    stoppable. Enabling validates it like any other change.
    """
    current = DynamicJob.objects.get(pk=job.pk)
    if not enabled:
        return _job_disable(job=current, user=user, request=request, source=source)
    return job_update(
        job=current,
        user=user,
        data={"enabled": enabled},
        expected_version=current.version,
        request=request,
        source=source,
    )


def _job_disable(
    *, job: DynamicJob, user: Any, request: Any, source: str
) -> DynamicJob:
    authorize(user, Action.DISABLE)
    if not job.enabled:
        return job
    with transaction.atomic():
        rows = DynamicJob.objects.filter(pk=job.pk, version=job.version).update(
            enabled=False,
            next_run_at=None,
            version=F("version") + 1,
            updated_at=timezone.now(),
        )
        if not rows:
            raise VersionConflict(DynamicJob.objects.get(pk=job.pk).version)
        updated = DynamicJob.objects.get(pk=job.pk)
        audit.record(
            actor=user,
            action="disable",
            target=updated,
            changes={"enabled": {"before": True, "after": False}},
            request=request,
            source=source,
        )
    return updated


def job_duplicate(
    *, job: DynamicJob, user: Any, request: Any = None, source: str = "admin"
) -> DynamicJob:
    """A disabled copy named "<name> (copy)", "<name> (copy 2)", …

    The copy keeps the job's secrets (job_clean unseals and seals them again);
    creating it needs the same rights as creating the job by hand.
    """
    authorize(user, Action.VIEW)
    base = f"{job.name} (copy)"
    name, n = base, 1
    while DynamicJob.objects.filter(name=name).exists():
        n += 1
        name = f"{job.name} (copy {n})"
    data = job_as_dict(job) | {"name": name[:200], "enabled": False}
    return job_create(user=user, data=data, request=request, source=source)


def job_delete(
    *, job: DynamicJob, user: Any, request: Any = None, source: str = "api"
) -> None:
    """Delete a job; its executions stay, with the job's name."""
    authorize(user, Action.DELETE, definitions=[job_definition(job)])
    with transaction.atomic():
        audit.record(
            actor=user,
            action="delete",
            target=job,
            changes={"before": audit_view(job_as_dict(job))},
            request=request,
            source=source,
        )
        job.delete()
