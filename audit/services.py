"""The one way to write an audit entry."""

from __future__ import annotations

from typing import Any

from django.db import models

from audit.client_ip import client_ip
from audit.models import AuditEntry

Target = models.Model | tuple[str, Any, str]


def record(
    *,
    actor: Any,
    action: str,
    target: Target,
    changes: dict[str, Any] | None = None,
    request: Any = None,
    source: str = "",
) -> AuditEntry:
    """Append one entry. `target` is a model instance or (type, id, repr).

    `actor` is a user, a name (a management command's operator), or None for the
    system (beat, reaper).
    """
    if isinstance(target, models.Model):
        target_type = target._meta.label_lower
        target_id = "" if target.pk is None else str(target.pk)
        target_repr = str(target)[:200]
    else:
        target_type, target_id, target_repr = target
        target_id = "" if target_id is None else str(target_id)
    user, actor_repr = actor_parts(actor)
    return AuditEntry.objects.create(
        actor=user,
        actor_repr=actor_repr[:150],
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        changes=changes or {},
        # The same address as the login lockout's: forwarded only by trusted proxies.
        ip_address=client_ip(request),
        source=source,
    )


def actor_parts(actor: Any) -> tuple[Any, str]:
    """(the user row to link, or None; how to name the actor) for any actor.

    Only a stored user is linked; a name (a command's operator) or the system
    actor is kept as text.
    """
    if isinstance(actor, str):
        return None, actor
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None):
        return actor, actor.get_username()
    return None, "system"


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields that differ, as {field: {"before": old, "after": new}}."""
    keys = sorted(set(before) | set(after))
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in keys
        if before.get(key) != after.get(key)
    }
