"""Who may do what to jobs and executions: one matrix, asked by every entry point.

The services call `authorize` before they act, so the API, the admin's pages and
actions and the management commands obey the same rules, and a new entry point
that calls a service cannot skip them. Faces call `allowed` only to decide what
to show (a button, a read-only page); the service still decides.

Rules:
- Only active staff users act; anonymous and non-staff users never do.
- Each action needs the Django permissions of its row in MATRIX.
- A high-risk job (a live cleanup, backup rotation, an export, outgoing data:
  each template says when, in `high_risk_reason`) also needs
  HIGH_RISK_PERMISSION for every action but view, disable and cancel, which must
  stay possible for anyone allowed to stop a job.
- A template may ask for model permissions of the user who saves or runs a job
  (`required_permissions`): an export needs view on its collection, a cleanup
  needs delete.
- SYSTEM, and a string naming a shell operator, are the actors of trusted
  internal callers (beat, management commands run without --user); they are
  allowed everything, since whoever runs manage.py already holds the database.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied

from job_templates.registry import registry


class Action(enum.StrEnum):
    VIEW = "view"
    ADD = "add"
    CHANGE = "change"
    ENABLE = "enable"
    DISABLE = "disable"
    DELETE = "delete"
    RUN = "run"
    RUN_WITH_OVERRIDES = "run_with_overrides"
    VIEW_EXECUTIONS = "view_executions"
    CANCEL = "cancel"
    APPROVE = "approve"
    ACKNOWLEDGE_INCIDENT = "acknowledge_incident"
    RESOLVE_INCIDENT = "resolve_incident"
    # Business calendars, blackout windows, the maintenance pause, the simulator.
    VIEW_CALENDARS = "view_calendars"
    ADD_CALENDAR = "add_calendar"
    CHANGE_CALENDAR = "change_calendar"
    DELETE_CALENDAR = "delete_calendar"
    VIEW_WINDOWS = "view_windows"
    ADD_WINDOW = "add_window"
    CHANGE_WINDOW = "change_window"
    DELETE_WINDOW = "delete_window"
    PAUSE = "pause"
    SIMULATE = "simulate"


VIEW_JOB = "scheduler_jobs.view_dynamicjob"
VIEW_EXECUTION = "executions.view_jobexecution"
HIGH_RISK_PERMISSION = "job_templates.use_high_risk_template"
VIEW_CALENDAR = "scheduler_jobs.view_calendar"
VIEW_WINDOW = "scheduler_jobs.view_blackoutwindow"

MATRIX: dict[Action, tuple[str, ...]] = {
    Action.VIEW: (VIEW_JOB,),
    Action.ADD: (VIEW_JOB, "scheduler_jobs.add_dynamicjob"),
    Action.CHANGE: (VIEW_JOB, "scheduler_jobs.change_dynamicjob"),
    Action.ENABLE: (VIEW_JOB, "scheduler_jobs.change_dynamicjob"),
    Action.DISABLE: (VIEW_JOB, "scheduler_jobs.change_dynamicjob"),
    Action.DELETE: (VIEW_JOB, "scheduler_jobs.delete_dynamicjob"),
    Action.RUN: (VIEW_JOB, "scheduler_jobs.run_dynamicjob"),
    # Overrides change what runs, so they need change too.
    Action.RUN_WITH_OVERRIDES: (
        VIEW_JOB,
        "scheduler_jobs.run_dynamicjob",
        "scheduler_jobs.change_dynamicjob",
    ),
    Action.VIEW_EXECUTIONS: (VIEW_EXECUTION,),
    Action.CANCEL: (VIEW_EXECUTION, "executions.cancel_jobexecution"),
    # Approving or rejecting another user's change (the two-person rule).
    Action.APPROVE: (VIEW_JOB, "scheduler_jobs.approve_dynamicjob"),
    # Incidents are seen with the executions; handling one changes no job.
    Action.ACKNOWLEDGE_INCIDENT: (VIEW_EXECUTION, "executions.acknowledge_incident"),
    Action.RESOLVE_INCIDENT: (VIEW_EXECUTION, "executions.resolve_incident"),
    Action.VIEW_CALENDARS: (VIEW_CALENDAR,),
    Action.ADD_CALENDAR: (VIEW_CALENDAR, "scheduler_jobs.add_calendar"),
    Action.CHANGE_CALENDAR: (VIEW_CALENDAR, "scheduler_jobs.change_calendar"),
    Action.DELETE_CALENDAR: (VIEW_CALENDAR, "scheduler_jobs.delete_calendar"),
    Action.VIEW_WINDOWS: (VIEW_WINDOW,),
    Action.ADD_WINDOW: (VIEW_WINDOW, "scheduler_jobs.add_blackoutwindow"),
    Action.CHANGE_WINDOW: (VIEW_WINDOW, "scheduler_jobs.change_blackoutwindow"),
    Action.DELETE_WINDOW: (VIEW_WINDOW, "scheduler_jobs.delete_blackoutwindow"),
    # Pausing stops every job at once, so it is a right of its own; resuming
    # needs the same right.
    Action.PAUSE: ("scheduler_jobs.pause_scheduler",),
    # What runs when: the simulator shows jobs' names and schedules only.
    Action.SIMULATE: (VIEW_JOB,),
}
# Actions that make a high-risk job exist, change or do its work.
RISKY_ACTIONS = frozenset(
    {
        Action.ADD,
        Action.CHANGE,
        Action.ENABLE,
        Action.DELETE,
        Action.RUN,
        Action.RUN_WITH_OVERRIDES,
        Action.APPROVE,
    }
)
# Actions whose definition must be one the user may touch model by model.
MODEL_ACTIONS = frozenset(
    {
        Action.ADD,
        Action.CHANGE,
        Action.ENABLE,
        Action.RUN,
        Action.RUN_WITH_OVERRIDES,
        Action.APPROVE,
    }
)


class _System:
    """The trusted internal actor (beat, shell commands without --user)."""

    pk = None
    username = "system"
    is_authenticated = True
    is_active = True
    is_staff = True
    is_superuser = True

    def __str__(self) -> str:
        return "system"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return True

    def has_perms(self, perms: Iterable[str], obj: Any = None) -> bool:
        return True


SYSTEM = _System()


class AccessDenied(PermissionDenied):
    """Refused; the message names what is missing (shown to the user as a 403)."""

    def __init__(self, message: str, *, missing: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)


Definition = tuple[str, dict[str, Any]]  # (template_type, parameters)


def authorize(
    user: Any,
    action: Action,
    *,
    definitions: Iterable[Definition] = (),
    dry_run: bool = False,
) -> None:
    """Raise AccessDenied unless `user` may do `action` to jobs like `definitions`.

    `definitions` are the (template type, parameters) the action touches: a new
    job's, both sides of a change, the parameters a run would use. A dry run
    changes and sends nothing, so it is never high-risk; model permissions
    still apply, since a preview shows data.
    """
    if user is SYSTEM or isinstance(user, str):
        # A string actor names a shell operator (a management command run
        # without --user): whoever runs manage.py already holds the database.
        return
    if not (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
    ):
        raise AccessDenied("Only active staff users may do this.")
    missing = [perm for perm in MATRIX[action] if not user.has_perm(perm)]
    if missing:
        raise AccessDenied(
            f"You need the permission {', '.join(missing)} to {_words(action)}.",
            missing=missing,
        )
    for template_type, params in definitions:
        _authorize_definition(
            user, action, template_type, params or {}, dry_run=dry_run
        )


def allowed(
    user: Any,
    action: Action,
    *,
    definitions: Iterable[Definition] = (),
    dry_run: bool = False,
) -> bool:
    try:
        authorize(user, action, definitions=definitions, dry_run=dry_run)
    except AccessDenied:
        return False
    return True


def job_definition(job: Any) -> Definition:
    return (job.template_type, job.parameters or {})


def high_risk_reason(template_type: str, params: dict[str, Any]) -> str | None:
    if template_type not in registry:
        return None
    try:
        return registry.get(template_type).high_risk_reason(params or {})
    except (KeyError, TypeError, ValueError, AttributeError):
        # Parameters too broken to judge (a template that changed): say so
        # rather than guess that they are harmless.
        return "its parameters cannot be checked"


def _authorize_definition(
    user: Any,
    action: Action,
    template_type: str,
    params: dict[str, Any],
    *,
    dry_run: bool,
) -> None:
    if (
        action in RISKY_ACTIONS
        and not dry_run
        and not user.has_perm(HIGH_RISK_PERMISSION)
    ):
        reason = high_risk_reason(template_type, params)
        if reason:
            raise AccessDenied(
                f"This job is high-risk ({reason}): you need the permission "
                f"{HIGH_RISK_PERMISSION} to {_verbs(action)} it.",
                missing=[HIGH_RISK_PERMISSION],
            )
    if action in MODEL_ACTIONS and template_type in registry:
        template = registry.get(template_type)
        needs = getattr(template, "required_permissions", None)
        try:
            wanted = list(needs(params)) if needs else []
        except (KeyError, TypeError, ValueError):
            wanted = []
        missing = [perm for perm in wanted if not user.has_perm(perm)]
        if missing:
            raise AccessDenied(
                f"This job reads or deletes data you may not touch: you need the "
                f"permission {', '.join(missing)}.",
                missing=missing,
            )


def _verbs(action: Action) -> str:
    return {
        Action.ADD: "create",
        Action.CHANGE: "change",
        Action.ENABLE: "enable",
        Action.DELETE: "delete",
        Action.RUN: "run",
        Action.RUN_WITH_OVERRIDES: "run with changed parameters",
        Action.APPROVE: "approve a change to",
    }[action]


def _words(action: Action) -> str:
    return {
        Action.VIEW: "view jobs",
        Action.ADD: "create jobs",
        Action.CHANGE: "change jobs",
        Action.ENABLE: "enable jobs",
        Action.DISABLE: "disable jobs",
        Action.DELETE: "delete jobs",
        Action.RUN: "run jobs",
        Action.RUN_WITH_OVERRIDES: "run jobs with changed parameters",
        Action.VIEW_EXECUTIONS: "view executions",
        Action.CANCEL: "cancel executions",
        Action.APPROVE: "approve or reject changes",
        Action.ACKNOWLEDGE_INCIDENT: "acknowledge incidents",
        Action.RESOLVE_INCIDENT: "resolve incidents",
        Action.VIEW_CALENDARS: "view business calendars",
        Action.ADD_CALENDAR: "create business calendars",
        Action.CHANGE_CALENDAR: "change business calendars",
        Action.DELETE_CALENDAR: "delete business calendars",
        Action.VIEW_WINDOWS: "view blackout windows",
        Action.ADD_WINDOW: "create blackout windows",
        Action.CHANGE_WINDOW: "change blackout windows",
        Action.DELETE_WINDOW: "delete blackout windows",
        Action.PAUSE: "pause or resume the scheduler",
        Action.SIMULATE: "simulate schedules",
    }[action]
