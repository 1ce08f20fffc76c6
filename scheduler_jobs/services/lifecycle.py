"""Every change to a job in one place, so each is version-checked and audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit import services as audit
from scheduler_jobs.access import Action, authorize, job_definition
from scheduler_jobs.models import DynamicJob, JobVersion
from scheduler_jobs.services.approvals import approval_propose, approval_reason
from scheduler_jobs.services.masking import changed_secrets, masked_view
from scheduler_jobs.services.merge import (
    VersionConflict,
    base_of,
    changed_since,
    job_merge,
)
from scheduler_jobs.services.quota import check_quota, lock_job_creation
from scheduler_jobs.services.validation import job_as_dict, job_clean
from scheduler_jobs.services.versions import version_record
from scheduler_jobs.spec import JOB_SPEC


def first_run_at(schedule: dict[str, Any], now=None, *, job: Any = None):
    """The first run of a new or re-enabled job: its calendar, jitter and the
    blackout windows of now applied (scheduler_jobs.services.timeplan)."""
    from scheduler_jobs.services.timerules import first_run_for

    return first_run_for(
        schedule,
        job_name=getattr(job, "name", ""),
        template_type=getattr(job, "template_type", ""),
        job_id=getattr(job, "pk", None),
        now=now,
    )


def job_create(
    *,
    user: Any,
    data: dict[str, Any],
    request: Any = None,
    source: str = "api",
    legacy_name: str = "",
    origin: str | None = None,
    comment: str = "",
    when_valid: Callable[[], None] | None = None,
) -> DynamicJob:
    """Validate and create a job and its version 1; audited.

    A new high-risk job waits for a second person (see approvals): it is created
    disabled, without a version, and `job.pending_approval` holds the proposal.
    `when_valid` runs once the data is valid, before anything else is checked
    or written: the API's rate limit, so that an invalid request is answered as
    invalid rather than counted. Raises AccessDenied, ValidationError or
    QuotaExceeded, and whatever `when_valid` raises.
    """
    authorize(user, Action.ADD)
    cleaned = job_clean(data)
    if when_valid is not None:
        when_valid()
    authorize(user, Action.ADD, definitions=[_definition(cleaned)])
    reason = approval_reason(None, cleaned)
    author = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        lock_job_creation()
        check_quota(author)
        job = DynamicJob(**cleaned, created_by=author, legacy_name=legacy_name)
        if reason:
            job.enabled = False
            job.definition_version = 0
        else:
            if job.enabled:
                job.next_run_at = first_run_at(job.schedule, job=job)
        _save_new(job)
        audit.record(
            actor=user,
            action="create",
            target=job,
            changes={"after": masked_view(cleaned)},
            request=request,
            source=source,
        )
        job.pending_approval = None
        held = _held_for_approval(
            job, cleaned, user=user, source=source, comment=comment, request=request
        )
        if not held:
            version_record(job=job, user=user, origin=origin or source, comment=comment)
    return job


def _save_new(job: DynamicJob) -> None:
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError as exc:
        taken = name_taken(job.name)
        if taken is not None:
            raise taken from exc
        raise


def name_taken(name: str, *, exclude: int | None = None) -> ValidationError | None:
    """The error for a name another job has, in any case ("Backup", "backup")."""
    other = DynamicJob.objects.filter(name__iexact=name).exclude(pk=exclude).first()
    if other is None:
        return None
    same = other.name == name
    return ValidationError(
        {
            "name": [
                "A job with this name already exists."
                if same
                else f"A job named “{other.name}” already exists; names differ "
                "by more than upper and lower case."
            ]
        }
    )


def job_update(
    *,
    job: DynamicJob,
    user: Any,
    data: dict[str, Any],
    expected_version: int,
    request: Any = None,
    source: str = "api",
    origin: str | None = None,
    comment: str = "",
    when_valid: Callable[[], None] | None = None,
    merge: Merge | None = None,
) -> DynamicJob:
    """Apply a (partial) change if `expected_version` is still current; audited.

    A change to what the job does makes a new version. One that needs a second
    person (see approvals) changes nothing yet: the returned job is unchanged and
    `job.pending_approval` holds the proposal. Raises VersionConflict when
    someone saved first, ValidationError on bad input, AccessDenied.
    With `merge`, a change made on an older version is merged with what was
    saved since (services.merge): it raises MergeConflict, a VersionConflict
    naming each field both changed, only when the same field was changed
    differently; `job.merged_fields` lists the fields kept from the others.
    Only edited fields are written, so the executor's last_run_at/last_status and
    the dispatcher's next_run_at are never overwritten with stale values.
    `when_valid` runs once the change is valid, as in job_create.
    """
    current = DynamicJob.objects.get(pk=job.pk)
    current.pending_approval = None
    action = _update_action(data, current)
    authorize(user, action)
    data, merged_from = _up_to_date(current, data, expected_version, merge)
    if action is Action.ENABLE and current.definition_version == 0:
        raise ValidationError({"enabled": [AWAITING_APPROVAL]})
    before = job_as_dict(current)
    cleaned = job_clean(data, instance=current)
    if when_valid is not None:
        when_valid()
    changed = {k: v for k, v in cleaned.items() if before.get(k) != v}
    if not changed:
        return current
    authorize(user, action, definitions=[job_definition(current), _definition(cleaned)])
    if set(changed) != {"enabled"} and _held_for_approval(
        current, cleaned, user=user, source=source, comment=comment, request=request
    ):
        return current
    updated = _write_update(
        current,
        cleaned,
        changed,
        user=user,
        author=user,
        request=request,
        source=source,
        origin=origin or source,
        comment=comment,
    )
    updated.merged_fields = merged_from
    return updated


@dataclass(frozen=True)
class Merge:
    """How to merge a change made on an older version (see services.merge).

    `enabled` is the enabled state the user's form was loaded with, when the
    face knows it; `choices` settle the conflicts shown for `choices_version`,
    and are ignored once the job changed again (the user has not seen that).
    """

    enabled: bool | None = None
    choices: dict[str, str] = field(default_factory=dict)
    choices_version: int | None = None


def _up_to_date(
    current: DynamicJob, data: dict[str, Any], base_version: int, merge: Merge | None
) -> tuple[dict[str, Any], list[str]]:
    """The change as it applies to the stored job, and the labels of the fields
    others changed since `base_version` (kept). Without `merge`, or for a
    version the job never had, a stale version is a VersionConflict."""
    if current.version == base_version:
        return data, []
    if merge is None or base_version > current.version:
        raise VersionConflict(current.version)
    base = base_of(current, base_version, enabled=merge.enabled)
    choices = merge.choices if merge.choices_version == current.version else {}
    merged = job_merge(current=current, base=base, data=data, choices=choices)
    return merged, changed_since(base, current)


def _held_for_approval(
    job: DynamicJob,
    cleaned: dict[str, Any],
    *,
    user: Any,
    source: str,
    comment: str,
    request: Any,
) -> bool:
    """Whether a change waits for a second person; if so, it is proposed."""
    reason = approval_reason(None if job.definition_version == 0 else job, cleaned)
    if reason:
        job.pending_approval = approval_propose(
            job=job,
            user=user,
            cleaned=cleaned,
            reason=reason,
            source=source,
            comment=comment,
            request=request,
        )
    return bool(reason)


AWAITING_APPROVAL = (
    "This job waits for its first approval; it can be enabled and run once "
    "another person approves it."
)


def job_apply_approved(
    *,
    job: DynamicJob,
    proposer: Any,
    approver: Any,
    data: dict[str, Any],
    expected_version: int,
    comment: str,
    request: Any = None,
    source: str = "api",
) -> DynamicJob:
    """Write an approved change as a new version (its author is the proposer).

    Validated again, since rules or templates may have changed while it waited.
    Raises VersionConflict if the job was changed after the proposal.
    """
    current = DynamicJob.objects.get(pk=job.pk)
    if current.version != expected_version:
        raise VersionConflict(current.version)
    before = job_as_dict(current)
    cleaned = job_clean(data, instance=current)
    changed = {k: v for k, v in cleaned.items() if before.get(k) != v}
    return _write_update(
        current,
        cleaned,
        changed,
        user=approver,
        author=proposer,
        request=request,
        source=source,
        origin="approval",
        comment=comment,
        new_version=True,
    )


def _named(current: DynamicJob, cleaned: dict[str, Any]) -> DynamicJob:
    """The job as it will be named (its jitter comes from its name)."""
    return DynamicJob(
        pk=current.pk,
        name=cleaned.get("name", current.name),
        template_type=cleaned.get("template_type", current.template_type),
    )


def _write_update(
    current: DynamicJob,
    cleaned: dict[str, Any],
    changed: dict[str, Any],
    *,
    user: Any,
    author: Any,
    request: Any,
    source: str,
    origin: str,
    comment: str,
    new_version: bool = False,
) -> DynamicJob:
    new_version = new_version or bool(set(changed) - {"enabled"})
    updates: dict[str, Any] = dict(changed)
    if "schedule" in changed or "enabled" in changed:
        updates["next_run_at"] = (
            first_run_at(cleaned["schedule"], job=_named(current, cleaned))
            if cleaned["enabled"]
            else None
        )
    if new_version:
        updates["definition_version"] = F("definition_version") + 1
    with transaction.atomic():
        try:
            with transaction.atomic():
                rows = DynamicJob.objects.filter(
                    pk=current.pk, version=current.version
                ).update(**updates, version=F("version") + 1, updated_at=timezone.now())
        except IntegrityError as exc:
            taken = name_taken(cleaned["name"], exclude=current.pk)
            if taken is None:
                raise
            raise taken from exc
        if rows == 0:
            latest = DynamicJob.objects.filter(pk=current.pk).values_list(
                "version", flat=True
            )
            raise VersionConflict(latest.first() or current.version)
        updated = DynamicJob.objects.get(pk=current.pk)
        updated.pending_approval = None
        if new_version:
            version_record(job=updated, user=author, origin=origin, comment=comment)
        _audit_update(user, updated, job_as_dict(current), changed, request, source)
    return updated


def _audit_update(
    user: Any,
    job: DynamicJob,
    before: dict[str, Any],
    changed: dict[str, Any],
    request: Any,
    source: str,
) -> None:
    audit_action = "update"
    if set(changed) == {"enabled"}:
        audit_action = "enable" if changed["enabled"] else "disable"
    after = {**before, **changed}
    changes = audit.diff(masked_view(before), masked_view(after))
    secrets_changed = changed_secrets(before, after)
    if secrets_changed:
        # Values are masked on both sides, so say which secrets changed.
        changes["secrets_changed"] = secrets_changed
    if job.definition_version:
        changes["definition_version"] = job.definition_version
    audit.record(
        actor=user,
        action=audit_action,
        target=job,
        changes=changes,
        request=request,
        source=source,
    )


def job_revert(
    *,
    job: DynamicJob,
    number: int,
    user: Any,
    expected_version: int,
    request: Any = None,
    source: str = "api",
) -> DynamicJob:
    """Make version `number`'s definition current again, as a new version.

    Goes through the same validation, rights and approval rule as an edit.
    Raises JobVersion.DoesNotExist for an unknown number.
    """
    authorize(user, Action.VIEW)
    version = JobVersion.objects.get(job=job, number=number)
    return job_update(
        job=job,
        user=user,
        data=version.definition,
        expected_version=expected_version,
        request=request,
        source=source,
        origin="revert",
        comment=f"Revert to version {number}.",
    )


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
    data = job_as_dict(job) | {"name": copy_name(job.name), "enabled": False}
    return job_create(user=user, data=data, request=request, source=source)


def copy_name(name: str) -> str:
    """ "<name> (copy)", else "<name> (copy 2)", …: the first no job has, in any
    case; the name is shortened, never the suffix, to fit the longest name."""
    longest = JOB_SPEC["name"].max_length
    n = 1
    while True:
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[: longest - len(suffix)] + suffix
        if not DynamicJob.objects.filter(name__iexact=candidate).exists():
            return candidate
        n += 1


def job_copy(
    *, source: DynamicJob, user: Any, data: dict[str, Any], request: Any = None
) -> DynamicJob:
    """A new job made from `source` on its copy page; audited as a create from
    "copy".

    The template is the source's. Secrets are not carried over: the page starts
    them empty, and a mask sent back means "keep the stored one", of which a new
    job has none, so it is refused under the secret's name. Needs the rights to
    see jobs and to create this one (job_create: the add right, and the
    high-risk right when the template or parameters need it).
    """
    authorize(user, Action.VIEW)
    return job_create(
        user=user,
        data={**data, "template_type": source.template_type},
        request=request,
        source="copy",
        origin="admin",
        comment=f"Copied from “{source.name}”."[:1000],
    )


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
            changes={"before": masked_view(job_as_dict(job))},
            request=request,
            source=source,
        )
        job.delete()
