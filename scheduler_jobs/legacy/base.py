"""What every stage of a legacy migration shares: the job as read, and its errors.

A separate module so that sources, rules and migrate can each import these
without importing one another. ``operator_name`` and ``validation_text`` are
also used by the export_jobs and import_jobs commands, which report the same
way.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


class LegacyError(Exception):
    """A problem the operator must fix (bad file, unknown name); shown as is."""


class Unmappable(Exception):
    """A rule cannot turn this legacy job into a dynamic job; the message says why."""


@dataclass
class LegacyJob:
    """One hard-coded job as read from its source, before any mapping."""

    name: str
    task: str
    source: str
    origin: str
    schedule_text: str
    schedule: dict[str, Any] | None = None
    schedule_error: str = ""
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # None: the source has no switch (a settings entry without a beat row).
    enabled: bool | None = None
    periodic_task_id: int | None = None
    description: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The source in words, for the new job's description."""
        if self.source == "settings":
            return "CELERY_BEAT_SCHEDULE"
        if self.source == "beat":
            return "django-celery-beat"
        return self.origin.split(" jobs[")[0]

    @property
    def can_be_disabled(self) -> bool:
        return self.periodic_task_id is not None

    @property
    def runs(self) -> bool:
        """Whether the legacy scheduler still runs this job."""
        return self.enabled is not False

    @property
    def state(self) -> str:
        if self.source == "settings" and self.periodic_task_id is None:
            return "runs from CELERY_BEAT_SCHEDULE"
        if self.source == "file":
            return "enabled in file" if self.runs else "disabled in file"
        return "enabled" if self.enabled else "disabled"


def operator_name(command: str) -> str:
    """The audit actor for a management command: the OS user and the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return f"{user} via {command}"


USER_HELP = (
    "Act as this user: the command is then allowed what the user may do in the "
    "admin. Without it, the command acts as the shell operator, who already "
    "holds the database."
)


def command_actor(command: str, username: str | None) -> Any:
    """Who a command acts as: the named staff user (checked like any other) or
    the operator's name, which the access rules trust like the system."""
    if not username:
        return operator_name(command)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user named {username!r}.")
    return user


def validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{key}: {' '.join(m for e in errors for m in e.messages)}"
            if key != "__all__"
            else " ".join(m for e in errors for m in e.messages)
            for key, errors in exc.error_dict.items()
        )
    return " ".join(exc.messages)
