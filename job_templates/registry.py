"""The template registry: built-ins plus the `dynamic_scheduler.templates` group."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import entry_points

from django.utils.module_loading import import_string
from jsonschema import Draft202012Validator

from job_templates.base import CATEGORIES, RESOURCE_USAGES, RISK_LEVELS, JobTemplate

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dynamic_scheduler.templates"


class AlreadyRegistered(Exception):
    """Two different classes claim the same template type."""


class UnknownTemplate(KeyError):
    """No template is registered under this type."""

    def __str__(self) -> str:
        return f"Unknown template type {self.args[0]!r}."


class TemplateRegistry:
    def __init__(self) -> None:
        self._templates: dict[str, JobTemplate] = {}

    def register(self, cls: type[JobTemplate]) -> type[JobTemplate]:
        """Check a template class and add it; usable as a class decorator.

        A broken schema or identity fails here, at start-up, not at the first run.
        """
        _check_template_class(cls)
        existing = self._templates.get(cls.type)
        if existing is not None:
            if type(existing) is cls:
                return cls
            raise AlreadyRegistered(
                f"Template type {cls.type!r} is already registered by "
                f"{type(existing).__module__}.{type(existing).__qualname__}."
            )
        self._templates[cls.type] = cls()
        return cls

    def unregister(self, template_type: str) -> None:
        self._templates.pop(template_type, None)

    def get(self, template_type: str) -> JobTemplate:
        try:
            return self._templates[template_type]
        except KeyError:
            raise UnknownTemplate(template_type) from None

    def __contains__(self, template_type: object) -> bool:
        return template_type in self._templates

    def __iter__(self) -> Iterator[JobTemplate]:
        return iter(sorted(self._templates.values(), key=lambda t: t.type))

    def types(self) -> list[str]:
        return sorted(self._templates)

    def load_builtins(self, dotted_paths: list[str]) -> None:
        for path in dotted_paths:
            self.register(import_string(path))

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        for entry_point in entry_points(group=group):
            self.register(entry_point.load())
            logger.info("Registered template %s from %s", entry_point.name, group)


def _check_template_class(cls: type[JobTemplate]) -> None:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if not (isinstance(cls, type) and issubclass(cls, JobTemplate)):
        raise TypeError(f"{name} is not a JobTemplate subclass.")
    for attr in ("type", "name"):
        if not getattr(cls, attr, None):
            raise TypeError(f"Template {name} has no {attr!r}.")
    checks = (
        ("category", CATEGORIES),
        ("risk_level", RISK_LEVELS),
        ("resource_usage", RESOURCE_USAGES),
    )
    for attr, allowed in checks:
        if getattr(cls, attr) not in allowed:
            value = getattr(cls, attr)
            raise TypeError(
                f"Template {name}: {attr} {value!r} is not one of {allowed}."
            )
    schema = cls.parameters_schema
    Draft202012Validator.check_schema(schema)
    if schema.get("type") != "object":
        raise TypeError(f"Template {name}: parameters_schema must describe an object.")
    if getattr(cls, "secret_parameters", None):
        # The old way of naming secrets; without writeOnly they would be stored
        # and shown in clear, so refuse to start rather than leak them.
        raise TypeError(
            f"Template {name}: mark secret parameters with `writeOnly: true` in "
            "parameters_schema; secret_parameters is no longer read."
        )
    destination = cls.secrets_destination
    if destination and destination not in schema.get("properties", {}):
        raise TypeError(
            f"Template {name}: secrets_destination {destination!r} is not a parameter."
        )


registry = TemplateRegistry()


def register(cls: type[JobTemplate]) -> type[JobTemplate]:
    return registry.register(cls)
