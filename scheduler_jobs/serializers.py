"""Jobs in and out of the API.

Thin on purpose: the job's fields and their JSON Schema are made from the job
spec (scheduler_jobs.spec) and check only what the schema states (types,
lengths, bounds). Every rule is the job service's (job_clean, run once per
write, by job_create or job_update), whose dotted error keys come back nested
({"parameters": {"recipients": [...]}}) through config.rest's exception handler.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.rest import (
    RefuseUnknownFieldsMixin,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    django_validation_error_data,
)
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs.models import DynamicJob, JobApproval, JobVersion
from scheduler_jobs.services import (
    approval_diff,
    masked_job_parameters,
    masked_notifications,
    masked_view,
)
from scheduler_jobs.spec import JOB_SPEC, Option

# Control characters other than tab and newlines; see sanitise_parameters.
_PARAMETER_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
VERSION_REQUIRED = "Send the version you read; it guards against lost updates."

CRON_SCHEDULE_SCHEMA = {
    "type": "object",
    "title": "Cron schedule",
    "properties": {
        "type": {"type": "string", "enum": ["cron"]},
        "cron": {
            "type": "string",
            "description": "Five fields (minute hour day-of-month month "
            "day-of-week) or a macro such as @daily.",
            "example": "0 2 * * *",
        },
        "timezone": {
            "type": "string",
            "description": "IANA time zone of the cron times; default UTC.",
            "example": "Europe/Berlin",
        },
    },
    "required": ["type", "cron"],
    "additionalProperties": False,
}
INTERVAL_SCHEDULE_SCHEMA = {
    "type": "object",
    "title": "Interval schedule",
    "properties": {
        "type": {"type": "string", "enum": ["interval"]},
        # The bounds are filled in from settings by config.rest.openapi.
        "every_seconds": {"type": "integer", "example": 3600},
    },
    "required": ["type", "every_seconds"],
    "additionalProperties": False,
}
PENDING_CHANGE_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "id": {"type": "integer"},
        "proposed_by": {"type": "string"},
        "proposed_at": {"type": "string", "format": "date-time"},
        "reason": {"type": "string"},
    },
}
PARAMETERS_SCHEMA = {
    "type": "object",
    "additionalProperties": True,
    "description": "The template's parameters, as its parameters_schema "
    "(GET /api/v1/job-templates/{type}/) describes them. Secrets (writeOnly in "
    "that schema) come back masked; sending the mask back keeps the stored value, "
    "an empty string clears it. Moving a webhook to another server needs its "
    "secrets again.",
}


@extend_schema_field(PARAMETERS_SCHEMA)
class ParametersField(serializers.DictField):
    pass


@extend_schema_field(
    {"oneOf": [CRON_SCHEDULE_SCHEMA, INTERVAL_SCHEDULE_SCHEMA]},
    component_name="Schedule",
)
class ScheduleField(serializers.DictField):
    pass


def value_schema(option: Option) -> dict[str, Any]:
    """An option's value as JSON Schema: its type, choices and bounds."""
    if option.is_group:
        return {
            "type": "object",
            "properties": {
                child.key: value_schema(child)
                for child in JOB_SPEC.children(option.name)
            },
            "additionalProperties": False,
        }
    schema: dict[str, Any] = {"type": JSON_TYPES[option.kind]}
    if option.kind is list:
        schema["items"] = {"type": "string"}
        if option.max_length is not None:
            schema["maxItems"] = option.max_length
    elif option.max_length is not None:
        schema["maxLength"] = option.max_length
    if option.choices is not None:
        target = schema["items"] if option.kind is list else schema
        target["enum"] = list(option.choices.values)
    for keyword, bound in (("minimum", option.minimum), ("maximum", option.maximum)):
        if bound is not None:
            schema[keyword] = bound
    return {**schema, **option.schema}


JSON_TYPES = {
    int: "integer",
    float: "number",
    bool: "boolean",
    str: "string",
    list: "array",
    dict: "object",
}


def group_field_class(name: str) -> type[serializers.DictField]:
    """A dict field documented as the group's component ("RetryPolicy")."""
    component = "".join(part.title() for part in name.split("_"))
    field_class = type(f"{component}Field", (serializers.DictField,), {})
    return extend_schema_field(value_schema(JOB_SPEC[name]), component_name=component)(
        field_class
    )


# A field for what no JSON type describes; the rest is made by job_field.
OWN_FIELDS: dict[str, type[serializers.Field]] = {
    "parameters": ParametersField,
    "schedule": ScheduleField,
    **{
        option.name: group_field_class(option.name)
        for option in JOB_SPEC.top()
        if option.is_group
    },
}


def job_field(option: Option) -> serializers.Field:
    """The API field of a job option: the JSON type and schema bounds it states.

    A field with a default may be left out (a new job gets the default, a change
    keeps the value); strings are kept as sent, since the service trims them.
    """
    optional = {} if option.required else {"required": False}
    if option.name in OWN_FIELDS:
        return OWN_FIELDS[option.name](**optional)
    common = {**optional}
    if "description" in option.schema:
        common["help_text"] = option.schema["description"]
    bounds = {"min_value": option.minimum, "max_value": option.maximum}
    if option.choices is not None:
        return StrictChoiceField(choices=option.choices.choices, **common)
    if option.kind is bool:
        return StrictBooleanField(**common)
    if option.kind is int:
        return StrictIntegerField(**bounds, **common)
    if option.kind is float:
        return serializers.FloatField(**bounds, **common)
    if option.kind is list:
        return serializers.ListField(**common)
    return StrictCharField(
        max_length=option.max_length,
        allow_blank=not option.required,
        trim_whitespace=False,
        **common,
    )


def sanitise_text(value: Any) -> Any:
    """Strip control characters from every string in a JSON value, keys included.

    Tab and newlines survive (a message may have several lines); templates that
    build headers from a value refuse CR/LF in their own clean().
    """
    if isinstance(value, str):
        return _PARAMETER_CONTROL.sub("", value)
    if isinstance(value, dict):
        return {sanitise_text(k): sanitise_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitise_text(v) for v in value]
    return value


def raise_nested(exc: DjangoValidationError) -> None:
    raise serializers.ValidationError(django_validation_error_data(exc)) from exc


class DynamicJobSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    """A job. Writes are validated by the job service; reads mask secrets."""

    id = serializers.IntegerField(read_only=True)
    # The job's own fields come from the spec (get_fields), after the id.
    created_by = serializers.CharField(
        source="created_by.username",
        read_only=True,
        allow_null=True,
        help_text="Username of the creator; null if unknown or deleted.",
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)
    next_run_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_status = serializers.CharField(
        read_only=True,
        help_text="Status of the latest execution; empty before the first run.",
    )
    schedule_description = serializers.CharField(read_only=True)
    version = serializers.IntegerField(
        read_only=True,
        help_text="Goes up by one with each change; send it back on PUT and PATCH.",
    )
    definition_version = serializers.IntegerField(
        read_only=True,
        help_text="The number of the job version that runs (GET …/versions/); 0 "
        "while a new high-risk job waits for its first approval.",
    )
    pending_change = serializers.SerializerMethodField(
        help_text="A change waiting for a second person's approval "
        "(GET /api/v1/approvals/{id}/), or null."
    )
    comment = StrictCharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Why you make this change; kept with the new version.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        spec_fields = {o.name: job_field(o) for o in JOB_SPEC.top() if o.api}
        return {"id": fields.pop("id"), **spec_fields, **fields}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Shape only: the job service validates and authorises the job."""
        if "parameters" in attrs:
            attrs["parameters"] = sanitise_text(attrs["parameters"])
        return attrs

    @extend_schema_field(PENDING_CHANGE_SCHEMA)
    def get_pending_change(self, instance: DynamicJob) -> dict[str, Any] | None:
        pending = getattr(instance, "pending_approvals", None)
        if pending is None:
            pending = list(instance.approvals.filter(status=JobApproval.Status.PENDING))
        if not pending:
            return None
        approval = pending[0]
        return {
            "id": approval.pk,
            "proposed_by": approval.proposed_by_repr,
            "proposed_at": approval.proposed_at.isoformat(),
            "reason": approval.reason,
        }

    def to_representation(self, instance: DynamicJob) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["parameters"] = masked_job_parameters(instance)
        data["notifications"] = masked_notifications(instance.notifications)
        return data


class DynamicJobUpdateSerializer(DynamicJobSerializer):
    """PUT and PATCH: the same job, plus the version the client last read."""

    version = StrictIntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="The version you read. A stale one gets 409 with current_version.",
        error_messages={"required": VERSION_REQUIRED},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # PATCH skips "required"; the version is required all the same.
        if "version" not in attrs:
            raise serializers.ValidationError({"version": [VERSION_REQUIRED]})
        return super().validate(attrs)


class RunRequestSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    """Optional overrides for one manual run."""

    dry_run = StrictBooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Run without side effects (templates that support it). "
        "Default: the job's own dry_run parameter, if any.",
    )
    parameters = ParametersField(
        required=False,
        help_text="Parameter overrides for this run only, merged over the job's "
        "and validated against the template's schema.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Shape only; executions.services.run_now authorises and validates."""
        job: DynamicJob = self.context["job"]
        try:
            template = registry.get(job.template_type)
        except UnknownTemplate:
            raise serializers.ValidationError(
                {
                    "template_type": [
                        f"The job's template {job.template_type!r} is not installed."
                    ]
                }
            ) from None
        if "parameters" in attrs:
            attrs["parameters"] = sanitise_text(attrs["parameters"])
        if attrs.get("dry_run") and not template.supports_dry_run:
            raise serializers.ValidationError(
                {"dry_run": [f"The {template.name} template has no dry run."]}
            )
        return attrs


class RunResponseSerializer(serializers.Serializer):
    execution_id = serializers.IntegerField()
    status = serializers.CharField(help_text='"queued"')


class SchedulePreviewRequestSerializer(
    RefuseUnknownFieldsMixin, serializers.Serializer
):
    schedule = ScheduleField()
    job_name = StrictCharField(
        max_length=JOB_SPEC["name"].max_length,
        required=False,
        allow_blank=True,
        help_text="The job's name: its jitter offset is computed from it.",
    )
    template_type = StrictCharField(
        max_length=JOB_SPEC["template_type"].max_length,
        required=False,
        allow_blank=True,
        help_text="The job's template: blackout windows of its category apply.",
    )


class PreviewSlotSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="When it runs, jitter included.")
    nominal = serializers.DateTimeField(help_text="The schedule's own time.")
    outcome = serializers.ChoiceField(choices=["runs", "skipped", "deferred"])
    reason = serializers.CharField(help_text="Why, in plain words; empty if it runs.")


class SchedulePreviewResponseSerializer(serializers.Serializer):
    description = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.DateTimeField())
    slots = PreviewSlotSerializer(
        many=True,
        help_text="The next runs with the skipped and moved slots between them.",
    )


DIFF_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "field": {"type": "string", "example": "parameters.headers.X-Team"},
            "change": {
                "type": "string",
                "enum": ["added", "removed", "changed", "set", "cleared"],
            },
            "before": {"description": "Absent for secrets."},
            "after": {"description": "Absent for secrets."},
            "secret": {"type": "boolean"},
        },
        "required": ["field", "change"],
    },
}


@extend_schema_field(DIFF_SCHEMA, component_name="DefinitionDiff")
class DiffField(serializers.ListField):
    pass


class JobVersionSerializer(serializers.Serializer):
    """One immutable definition of a job; secrets masked."""

    number = serializers.IntegerField()
    created_by = serializers.CharField(source="created_by_repr")
    created_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=JobVersion.Source.choices)
    comment = serializers.CharField()
    definition = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_definition(self, version: JobVersion) -> dict[str, Any]:
        return masked_view(version.definition)


class VersionDiffSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    against = serializers.IntegerField()
    changes = DiffField()


class RevertRequestSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    version = StrictIntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="The job's current version (optimistic lock), as in PUT and PATCH.",
        error_messages={"required": VERSION_REQUIRED},
    )


class ApprovalSerializer(serializers.Serializer):
    """A change waiting for (or given) a second person's decision."""

    id = serializers.IntegerField()
    job = serializers.IntegerField(source="job_id")
    job_name = serializers.CharField(source="job.name")
    status = serializers.ChoiceField(choices=JobApproval.Status.choices)
    reason = serializers.CharField()
    comment = serializers.CharField()
    source = serializers.CharField()
    proposed_by = serializers.CharField(source="proposed_by_repr")
    proposed_at = serializers.DateTimeField()
    decided_by = serializers.CharField(
        source="decided_by.get_username", allow_null=True, default=None
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_comment = serializers.CharField()
    diff = serializers.SerializerMethodField()

    @extend_schema_field(DIFF_SCHEMA)
    def get_diff(self, approval: JobApproval) -> list[dict[str, Any]]:
        return approval_diff(approval)


class DecisionRequestSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    comment = StrictCharField(
        max_length=1000, help_text="Why; kept in the audit log (required)."
    )
