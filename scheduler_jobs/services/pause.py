"""The maintenance pause: one switch that holds every scheduled run.

The dispatcher asks `pause_state()` only when something is due, so an idle
tick costs nothing more; beat keeps ticking (and its heartbeat beating) while
paused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from scheduler_jobs.access import Action, authorize
from scheduler_jobs.models import MaintenancePause


def pause_state(now: datetime | None = None) -> MaintenancePause | None:
    """The pause in force, or None (never paused, resumed, or past resume_at)."""
    now = now or timezone.now()
    state = MaintenancePause.objects.filter(pk=MaintenancePause.SINGLETON).first()
    if state is None or not state.active:
        return None
    if state.resume_at is not None and state.resume_at <= now:
        return None
    return state


def pause(
    *,
    actor: Any,
    reason: str,
    resume_at: datetime | None = None,
    request: Any = None,
) -> MaintenancePause:
    """Stop all scheduled dispatch (and queued retries) until resumed.

    Beat keeps ticking (its heartbeat shows it alive). Manual runs still run:
    the person pressing Run now sees the pause banner. `resume_at`, if given,
    ends the pause by itself.
    """
    authorize(actor, Action.PAUSE)
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 500:
        errors["reason"] = ["Say why (at most 500 characters): the banner shows it."]
    if resume_at is not None and (timezone.is_naive(resume_at) or resume_at <= now):
        errors["resume_at"] = ["Must be a future date and time with its zone."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        state, _ = MaintenancePause.objects.select_for_update().get_or_create(
            pk=MaintenancePause.SINGLETON
        )
        state.active, state.reason, state.resume_at = True, reason, resume_at
        state.paused_by, state.paused_at = _user(actor), now
        state.save()
        audit.record(
            actor=actor,
            action="update",
            target=state,
            changes={
                "paused": {"before": False, "after": True},
                "reason": {"before": "", "after": reason},
                "resume_at": {
                    "before": None,
                    "after": resume_at.isoformat() if resume_at else None,
                },
            },
            request=request,
        )
    return state


def resume(*, actor: Any, request: Any = None) -> MaintenancePause | None:
    """End the pause. Each job then runs at most what its misfire policy allows:
    one catch-up run (run once) or none (skip), never one per missed slot."""
    authorize(actor, Action.PAUSE)
    with transaction.atomic():
        state = (
            MaintenancePause.objects.select_for_update()
            .filter(pk=MaintenancePause.SINGLETON)
            .first()
        )
        if state is None or not state.active:
            return state
        state.active = False
        state.resumed_by, state.resumed_at = _user(actor), timezone.now()
        state.save()
        audit.record(
            actor=actor,
            action="update",
            target=state,
            changes={"paused": {"before": True, "after": False}},
            request=request,
        )
    return state


def _user(actor: Any) -> Any:
    """The user row to link, or None for the system or a shell operator."""
    return (
        actor if getattr(actor, "pk", None) and hasattr(actor, "get_username") else None
    )
