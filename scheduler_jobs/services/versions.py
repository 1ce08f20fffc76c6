"""Job versions: every change to what a job does is kept, compared and revertible.

A version holds the whole definition (every editable field but `enabled`, which
is state), with secrets sealed as the job row held them. Versions are only ever
inserted; a revert makes a new version through the same validation as any edit.
"""

from __future__ import annotations

from typing import Any

from audit import services as audit
from job_templates import secrets
from scheduler_jobs.models import DynamicJob, JobVersion
from scheduler_jobs.services.masking import NOTIFICATION_SCHEMA, template_for
from scheduler_jobs.services.validation import EDITABLE_FIELDS, job_as_dict

DEFINITION_FIELDS = tuple(field for field in EDITABLE_FIELDS if field != "enabled")
# What each face passes as `source`, as a version's origin.
ORIGINS = {
    "api": JobVersion.Source.API,
    "admin": JobVersion.Source.ADMIN,
    "import": JobVersion.Source.IMPORT,
    "legacy": JobVersion.Source.LEGACY,
    "revert": JobVersion.Source.REVERT,
    "approval": JobVersion.Source.APPROVAL,
}


def definition_of(values: dict[str, Any]) -> dict[str, Any]:
    return {field: values[field] for field in DEFINITION_FIELDS if field in values}


def version_record(
    *, job: DynamicJob, user: Any, origin: str, comment: str = ""
) -> JobVersion:
    """Insert the version `job.definition_version` with the job's definition."""
    author, author_repr = audit.actor_parts(user)
    return JobVersion.objects.create(
        job=job,
        number=job.definition_version,
        definition=definition_of(job_as_dict(job)),
        job_version=job.version,
        created_by=author,
        created_by_repr=author_repr[:150],
        source=ORIGINS.get(origin, JobVersion.Source.OTHER),
        comment=(comment or "")[:1000],
    )


def definition_diff(
    before: dict[str, Any], after: dict[str, Any]
) -> list[dict[str, Any]]:
    """Field-level differences, parameters flattened ("parameters.headers.X").

    A secret is reported as changed, set or cleared, never with its values:
    both sides are compared in clear, since sealed tokens differ every time.
    """
    old, new = _flatten(before), _flatten(after)
    secret_fields = _secret_fields(before) | _secret_fields(after)
    rows = []
    for field in sorted(old.keys() | new.keys(), key=_field_order):
        a, b = old.get(field, _MISSING), new.get(field, _MISSING)
        secret = field in secret_fields or _is_secret(field, secret_fields)
        if secret:
            a, b = _clear(a), _clear(b)
        if a == b:
            continue
        rows.append(_row(field, a, b, secret=secret))
    return rows


_MISSING = object()


def _row(field: str, a: Any, b: Any, *, secret: bool) -> dict[str, Any]:
    if a is _MISSING or (a in ("", None) and secret):
        change = "added" if not secret else "set"
    elif b is _MISSING or (b in ("", None) and secret):
        change = "removed" if not secret else "cleared"
    else:
        change = "changed"
    if secret:
        return {"field": field, "change": change, "secret": True}
    return {
        "field": field,
        "change": change,
        "before": None if a is _MISSING else a,
        "after": None if b is _MISSING else b,
    }


def _flatten(definition: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (definition or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _secret_fields(definition: dict[str, Any]) -> set[str]:
    """Dotted names (a "*" stands for any key) of the secrets in a definition."""
    template = template_for((definition or {}).get("template_type"))
    names = {
        "notifications." + ".".join(path)
        for path in secrets.secret_paths(NOTIFICATION_SCHEMA)
    }
    if template is not None:
        names |= {
            "parameters." + ".".join(path)
            for path in secrets.secret_paths(template.parameters_schema)
        }
    return names


def _is_secret(field: str, secret_fields: set[str]) -> bool:
    parts = field.split(".")
    for pattern in secret_fields:
        wanted = pattern.split(".")
        if len(wanted) == len(parts) and all(
            w in ("*", p) for w, p in zip(wanted, parts, strict=True)
        ):
            return True
    return False


def _clear(value: Any) -> Any:
    try:
        return secrets.unseal_value(value)
    except secrets.SecretKeyError:
        return value


def _field_order(field: str) -> tuple[int, str]:
    top = field.split(".", 1)[0]
    order = DEFINITION_FIELDS.index(top) if top in DEFINITION_FIELDS else 99
    return (order, field)
