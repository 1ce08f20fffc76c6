"""Drafts of the creation wizard: what a user typed, kept until the job exists.

The wizard works in the session, which ends with the browser tab's login; a
draft keeps a copy in the database per user, so closing the tab, logging out or
moving to another computer loses nothing. Each step's answers are stored as the
wizard stores them, sealed (job_templates.secrets), so a draft holds no secret
in clear. A user keeps at most MAX_DRAFTS drafts; a draft left alone for
DRAFT_DAYS days is removed the next time that user's drafts are read or saved.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

MAX_DRAFTS = 5
DRAFT_DAYS = 14


class JobDraft(models.Model):
    """One unfinished job: the wizard's sealed steps and where the user was."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_drafts"
    )
    template_type = models.CharField(max_length=64, blank=True)
    step = models.CharField(max_length=20)
    # {"step_data": {step: sealed JSON of the step's answers}}
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "job_drafts"
        verbose_name = "job draft"
        indexes = [
            models.Index(fields=["user", "-updated_at"], name="job_drafts_user_recent")
        ]

    def __str__(self) -> str:
        return f"Draft of {self.template_type or 'a job'} ({self.step})"


def _expired_before() -> Any:
    return timezone.now() - timedelta(days=DRAFT_DAYS)


def draft_list(*, user: Any) -> list[JobDraft]:
    """The user's drafts, newest first; expired ones are removed on the way."""
    JobDraft.objects.filter(user=user, updated_at__lt=_expired_before()).delete()
    return list(JobDraft.objects.filter(user=user).order_by("-updated_at", "-pk"))


def draft_get(*, user: Any, draft_id: Any) -> JobDraft | None:
    """The user's own draft with this id (never another user's), or None."""
    if not str(draft_id).isdigit():
        return None
    return (
        JobDraft.objects.filter(
            user=user, pk=int(draft_id), updated_at__gte=_expired_before()
        )
        .order_by()
        .first()
    )


def draft_save(
    *,
    user: Any,
    draft_id: int | None,
    template_type: str,
    step: str,
    step_data: dict[str, Any],
) -> int:
    """Write the wizard's sealed steps to the user's draft; return its id.

    A new draft beyond MAX_DRAFTS pushes out the user's oldest ones.
    """
    values = {
        "template_type": template_type[:64],
        "step": step,
        "data": {"step_data": step_data},
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        if draft_id is not None and JobDraft.objects.filter(
            user=user, pk=draft_id
        ).update(**values):
            return draft_id
        draft = JobDraft.objects.create(user=user, **values)
        keep = list(
            JobDraft.objects.filter(user=user)
            .order_by("-updated_at", "-pk")
            .values_list("pk", flat=True)[:MAX_DRAFTS]
        )
        JobDraft.objects.filter(user=user).exclude(pk__in=keep).delete()
    return draft.pk


def draft_discard(*, user: Any, draft_id: Any) -> bool:
    """Delete the user's draft; False when there was none of theirs."""
    if not str(draft_id).isdigit():
        return False
    deleted, _ = JobDraft.objects.filter(user=user, pk=int(draft_id)).delete()
    return bool(deleted)
