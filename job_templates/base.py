"""The template base class: identity, parameter schema, validation and execution."""

from __future__ import annotations

import abc
import copy
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema import ValidationError as SchemaError

from job_templates import secrets
from job_templates.context import ExecutionContext

CATEGORIES = ("maintenance", "reports", "notifications", "integrations", "diagnostics")
RISK_LEVELS = ("low", "medium", "high", "critical")
RESOURCE_USAGES = ("low", "medium", "high")


class TemplateError(Exception):
    """A failure a template reports on purpose; its message is shown to the user."""


class JobTemplate(abc.ABC):
    """What to do, declared by class attributes, plus how to check and run it.

    Subclasses set the identity attributes and `parameters_schema`, override
    `clean` for semantic checks that JSON Schema cannot express, and implement
    `execute`. Register them with `job_templates.registry.register`.
    """

    type: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    category: ClassVar[str] = "maintenance"
    icon: ClassVar[str] = "⚙️"
    risk_level: ClassVar[str] = "low"
    resource_usage: ClassVar[str] = "low"
    estimated_duration: ClassVar[str] = "seconds"
    # The decision-flow question that leads to this template.
    guidance: ClassVar[str] = ""
    # Templates with side effects honour ctx.dry_run and can be previewed.
    supports_dry_run: ClassVar[bool] = False
    # Secret parameters are marked in the schema with `writeOnly: true` (see
    # job_templates.secrets). The parameter holding the URL they are sent to,
    # if any: moving it to another server drops kept secrets.
    secrets_destination: ClassVar[str | None] = None
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }

    def get_schema(self) -> dict[str, Any]:
        return copy.deepcopy(self.parameters_schema)

    def validate_params(self, params: Any) -> dict[str, Any]:
        """Schema first, then semantic checks; returns the cleaned parameters.

        Raises django ValidationError keyed by the parameter's path
        ("recipients", "headers.X-Foo", "recipients.2").
        """
        cleaned = self._validate_schema(params)
        return self.clean(cleaned)

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        """Semantic checks after the schema passed. Override; raise ValidationError."""
        return params

    @abc.abstractmethod
    def execute(self, params: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
        """Do the work; return a JSON-serialisable result shown in the history."""

    def preview(self, params: dict[str, Any]) -> dict[str, Any]:
        """A dry run for the wizard's review step: the result and the log lines."""
        if not self.supports_dry_run:
            return {"supported": False}
        ctx, handler = ExecutionContext.for_preview()
        result = self.execute(params, ctx)
        return {"supported": True, "result": result, "logs": handler.entries()}

    def required_permissions(self, params: dict[str, Any]) -> list[str]:
        """Django permissions ("app_label.codename") a user needs to save or run a
        job with these parameters.

        Templates know which tables a job reads or deletes but not who asks; the
        caller checks these against the user, so a job cannot reach data its
        author could not see or delete in the admin. Empty: no extra permission.
        """
        return []

    def high_risk_reason(self, params: dict[str, Any]) -> str | None:
        """Why a job with these parameters is high-risk, or None.

        High-risk jobs destroy data, or send or export it; creating, changing or
        running one needs job_templates.use_high_risk_template. A critical
        template is high-risk whatever its parameters. Override to say when.
        """
        if self.risk_level == "critical":
            return f"the {self.name} template is critical"
        return None

    def _validate_schema(self, params: Any) -> dict[str, Any]:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValidationError(
                {"__all__": ["Parameters must be a JSON object."]}, code="invalid"
            )
        instance = apply_defaults(self.parameters_schema, copy.deepcopy(params))
        validator = Draft202012Validator(
            self.parameters_schema, format_checker=FormatChecker()
        )
        errors: dict[str, list[str]] = {}
        for error in sorted(validator.iter_errors(instance), key=_error_sort_key):
            key, message = describe_schema_error(error)
            errors.setdefault(key, []).append(message)
        if errors:
            raise ValidationError(errors)
        return instance


def apply_defaults(schema: dict[str, Any], instance: Any) -> Any:
    """Fill in `default` values of object properties, recursively."""
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return instance
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if name in instance:
            apply_defaults(sub, instance[name])
    return instance


def _error_sort_key(error: SchemaError) -> tuple[str, str]:
    return (".".join(str(p) for p in error.absolute_path), error.message)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _secret_message(validator: str, expected: Any) -> str:
    if validator == "maxLength":
        return f"Must be at most {expected} characters long."
    if validator == "minLength":
        return f"Must be at least {expected} characters long."
    if validator == "type":
        return f"Must be of type {expected}."
    return "This secret value is not valid."


def describe_schema_error(error: SchemaError) -> tuple[str, str]:
    """(parameter path, human message) for one JSON Schema error."""
    path = [str(p) for p in error.absolute_path]
    validator, expected = error.validator, error.validator_value
    message = error.message
    if isinstance(error.schema, dict) and error.schema.get("writeOnly"):
        # A secret's value is never echoed, not even back to its author: error
        # messages end up in execution records other people read.
        return (".".join(path) or "__all__", _secret_message(validator, expected))
    if validator == "required":
        missing = [name for name in expected if name not in (error.instance or {})]
        if missing:
            path.append(missing[0])
        message = "This parameter is required."
    elif validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        if extra:
            path.append(extra[0])
        message = "Unknown parameter." + (
            f" Allowed: {', '.join(sorted(allowed))}." if allowed else ""
        )
    elif validator == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        message = f"Must be of type {wanted}, not {_short(error.instance)}."
    elif validator == "enum":
        message = f"Must be one of: {', '.join(str(v) for v in expected)}."
    elif validator in ("minimum", "exclusiveMinimum"):
        op = "≥" if validator == "minimum" else ">"
        message = f"Must be {op} {expected} (got {error.instance})."
    elif validator in ("maximum", "exclusiveMaximum"):
        op = "≤" if validator == "maximum" else "<"
        message = f"Must be {op} {expected} (got {error.instance})."
    elif validator == "minLength":
        message = f"Must be at least {expected} characters long."
    elif validator == "maxLength":
        message = f"Must be at most {expected} characters long."
    elif validator == "minItems":
        message = f"Must have at least {expected} item(s)."
    elif validator == "maxItems":
        message = f"Must have at most {expected} item(s)."
    elif validator == "pattern":
        message = f"{_short(error.instance)} does not match the expected pattern."
    elif validator == "format":
        message = f"{_short(error.instance)} is not a valid {expected}."
    elif len(message) > 200:
        message = message[:199] + "…"
    return (".".join(path) or "__all__", message)


def mask_parameters(
    template: JobTemplate | None, params: dict[str, Any]
) -> dict[str, Any]:
    """What may be shown of `params`: the template's secrets masked."""
    return secrets.mask(template.parameters_schema if template else None, params)
