"""Which models templates may touch: only those an allowlist setting names.

Settings are read at call time so override_settings (tests) and a changed
environment take effect without re-registering templates.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from job_templates.conditions import is_sensitive_name


def allowed_labels(setting: str) -> list[str]:
    return list(getattr(settings, setting, []) or [])


def with_collection_choices(
    schema: dict[str, Any], setting: str, *, optional: bool = False
) -> dict[str, Any]:
    """The schema with `collection` offered as a choice of the allowed models, so
    the admin form shows a drop-down rather than a free text box."""
    labels = allowed_labels(setting)
    if labels:
        schema["properties"]["collection"]["enum"] = (
            ["", *labels] if optional else labels
        )
    return schema


def allowed_model(
    label: Any, *, setting: str, key: str = "collection"
) -> type[models.Model]:
    """The model for `label` if `setting` lists it, else ValidationError on `key`."""
    allowed = allowed_labels(setting)
    if not isinstance(label, str) or label not in allowed:
        raise ValidationError(
            {
                key: [
                    f"{label!r} is not in {setting}. Allowed: "
                    + (", ".join(allowed) or "none (the setting is empty)")
                    + "."
                ]
            }
        )
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise ValidationError(
            {key: [f"{label!r} is listed in {setting} but is not an installed model."]}
        ) from None


def exportable_fields(model: type[models.Model]) -> list[str]:
    """Concrete fields whose names do not look like secrets, in model order."""
    return [
        f.name for f in model._meta.concrete_fields if not is_sensitive_name(f.name)
    ]
