"""Which models templates may touch: only those an allowlist setting names, and
never those of the hard denylist below, whatever the settings say.

Settings are read at call time so override_settings (tests) and a changed
environment take effect without re-registering templates. The denylist is code,
not a setting: an operator who lists `auth.User` in SCHEDULER_EXPORT_MODELS (by
mistake, or to "just get a user list") would otherwise hand every staff member
who may schedule an export the password hashes and API tokens of all users.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db import models

from job_templates.conditions import is_sensitive_name

EXPORT_SETTING = "SCHEDULER_EXPORT_MODELS"
CLEANUP_SETTING = "SCHEDULER_CLEANUP_MODELS"

# Apps none of whose models may be exported or cleaned, with the reason shown to
# whoever tries. Keyed by app label, so models those apps add later are covered.
DENIED_APPS: dict[str, str] = {
    "auth": (
        "users, groups and permissions hold password hashes and decide who may do what"
    ),
    "authtoken": "API tokens are credentials",
    "sessions": "session keys are credentials: one logs in as its user",
    "axes": (
        "login-lockout records protect against password guessing and record "
        "who failed to log in from where"
    ),
    "contenttypes": (
        "content types are the keys permissions and the admin log refer to; "
        "deleting one breaks them"
    ),
}
# Single models denied for every purpose, by lower-case label.
DENIED_MODELS: dict[str, str] = {
    "admin.logentry": (
        "the admin's change history quotes changed values and must stay complete"
    ),
}
# Models denied for one purpose only, by the setting that governs it.
DENIED_FOR: dict[str, dict[str, str]] = {
    CLEANUP_SETTING: {
        "audit.auditentry": (
            "the audit log is append-only: a job that deletes from it could hide "
            "what it, or anyone, did"
        ),
    },
}
_VERBS = {EXPORT_SETTING: "exported or reported on", CLEANUP_SETTING: "cleaned"}

# Fields of the scheduler's own tables that may carry secrets under harmless
# names, so the name filter alone would export them. Keyed by lower-case label.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    # Job parameters hold secrets such as a webhook's signing secret or an
    # Authorization header; notifications hold the Slack webhook, whose path is
    # its credential.
    "scheduler_jobs.dynamicjob": frozenset({"parameters", "notifications"}),
    # Every version and proposal holds a whole definition, secrets included
    # (sealed, but a file is no place even for ciphertext).
    "scheduler_jobs.jobversion": frozenset({"definition"}),
    "scheduler_jobs.jobapproval": frozenset({"definition"}),
    # A copy of the job's parameters, plus what the run produced: results, log
    # lines and error messages quote URLs (with their query tokens), request
    # headers and the remote side's replies.
    "executions.jobexecution": frozenset({"parameters", "result", "logs", "error"}),
    # Job changes as recorded: secrets are masked there, but a URL's query
    # token or a proposal's diff of other parameters may still say too much.
    "audit.auditentry": frozenset({"changes"}),
}


def allowed_labels(setting: str) -> list[str]:
    return list(getattr(settings, setting, []) or [])


def _resolve(label: Any) -> type[models.Model] | None:
    if not isinstance(label, str):
        return None
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def denial_reason(target: str | type[models.Model], *, setting: str) -> str | None:
    """Why `target` (a model or a label) may never be used under `setting`, or None.

    A model is judged by its own label and by its concrete model's, so a proxy
    declared in another app (a `reports.StaffUser` over `auth.User`) is denied
    with the table it reads. The project's user model is denied wherever it lives.
    """
    model = target if isinstance(target, type) else _resolve(target)
    if model is None:
        if not isinstance(target, str):
            return None
        app_label = target.partition(".")[0].lower()
        candidates = [(app_label, target.lower())]
    else:
        candidates = [
            (m._meta.app_label, m._meta.label_lower)
            for m in (model, model._meta.concrete_model)
        ]
    user_model = str(getattr(settings, "AUTH_USER_MODEL", "auth.User")).lower()
    for app_label, label in candidates:
        if app_label in DENIED_APPS:
            return DENIED_APPS[app_label]
        if label in DENIED_MODELS:
            return DENIED_MODELS[label]
        if label in DENIED_FOR.get(setting, {}):
            return DENIED_FOR[setting][label]
        if label == user_model:
            return DENIED_APPS["auth"]
    return None


def permitted_labels(setting: str) -> list[str]:
    """The labels `setting` lists, less those the denylist refuses."""
    return [
        label
        for label in allowed_labels(setting)
        if denial_reason(label, setting=setting) is None
    ]


def with_collection_choices(
    schema: dict[str, Any], setting: str, *, optional: bool = False
) -> dict[str, Any]:
    """The schema with `collection` offered as a choice of the allowed models, so
    the admin form shows a drop-down rather than a free text box. Denied labels
    are left out: offering a choice that is always refused only misleads."""
    labels = permitted_labels(setting)
    if labels:
        schema["properties"]["collection"]["enum"] = (
            ["", *labels] if optional else labels
        )
    return schema


def allowed_model(
    label: Any, *, setting: str, key: str = "collection"
) -> type[models.Model]:
    """The model for `label` if `setting` lists it and the denylist does not
    refuse it, else ValidationError on `key`.

    Templates call it when a job is saved and again when it runs, so a job saved
    before a model was denied (or with its parameters edited in the database)
    still cannot touch it.
    """
    reason = denial_reason(label, setting=setting) if isinstance(label, str) else None
    if reason is not None:
        verb = _VERBS.get(setting, "used by a job")
        raise ValidationError(
            {
                key: [
                    f"{label!r} can never be {verb}, whatever {setting} says: {reason}."
                ]
            }
        )
    allowed = allowed_labels(setting)
    if not isinstance(label, str) or label not in allowed:
        permitted = permitted_labels(setting)
        raise ValidationError(
            {
                key: [
                    f"{label!r} is not in {setting}. Allowed: "
                    + (", ".join(permitted) or "none (the setting is empty)")
                    + "."
                ]
            }
        )
    model = _resolve(label)
    if model is None:
        raise ValidationError(
            {key: [f"{label!r} is listed in {setting} but is not an installed model."]}
        )
    return model


def is_secret_field(model: type[models.Model], field: models.Field) -> bool:
    """True for a field that is never exported, reported on or filtered on.

    The name filter catches credentials by their look; the fixed list adds the
    scheduler's own columns that hold secrets under plain names.
    """
    if is_sensitive_name(field.name) or is_sensitive_name(field.attname):
        return True
    labels = {model._meta.label_lower, model._meta.concrete_model._meta.label_lower}
    return any(field.name in SECRET_FIELDS.get(label, ()) for label in labels)


def exportable_fields(model: type[models.Model]) -> list[str]:
    """Concrete fields that hold no secrets, in model order."""
    return [
        f.name for f in model._meta.concrete_fields if not is_secret_field(model, f)
    ]


def model_permission(label: Any, action: str) -> list[str]:
    """["app_label.<action>_<model>"] for the model `label` names, [] if none.

    For JobTemplate.required_permissions: an unknown label needs no permission
    because validation refuses it anyway.
    """
    model = _resolve(label)
    if model is None:
        return []
    return [f"{model._meta.app_label}.{get_permission_codename(action, model._meta)}"]
