"""Jobs in and out of the API.

Thin on purpose: the shape of the JSON here, every rule in
scheduler_jobs.services.job_clean, whose dotted error keys come back nested
({"parameters": {"recipients": [...]}}).
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
from scheduler_jobs.models import (
    NOTIFICATION_EVENTS,
    DynamicJob,
    JobApproval,
    JobVersion,
)
from scheduler_jobs.services import (
    EDITABLE_FIELDS,
    MAX_TIMEOUT_SECONDS,
    approval_diff,
    job_clean,
    masked_job_parameters,
    masked_notifications,
    masked_view,
)

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
RETRY_POLICY_SCHEMA = {
    "type": "object",
    "properties": {
        "max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
        "delay_seconds": {"type": "integer", "minimum": 0, "maximum": 86400},
        "backoff": {"type": "number", "minimum": 1, "maximum": 10},
    },
    "additionalProperties": False,
}
NOTIFICATIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "emails": {
            "type": "array",
            "items": {"type": "string", "format": "email"},
            "maxItems": 50,
        },
        "slack_webhook": {
            "type": "string",
            "description": "https URL; a secret: stored encrypted, shown masked "
            "(scheme and host only), send the mask back to keep it.",
        },
        "on": {
            "type": "array",
            "items": {"type": "string", "enum": list(NOTIFICATION_EVENTS)},
        },
    },
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


@extend_schema_field(RETRY_POLICY_SCHEMA, component_name="RetryPolicy")
class RetryPolicyField(serializers.DictField):
    pass


@extend_schema_field(NOTIFICATIONS_SCHEMA, component_name="Notifications")
class NotificationsField(serializers.DictField):
    pass


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
    name = StrictCharField(max_length=200)
    description = StrictCharField(
        max_length=5000, required=False, allow_blank=True, trim_whitespace=False
    )
    template_type = StrictCharField(
        max_length=64,
        help_text="A template type from GET /api/v1/job-templates/.",
    )
    parameters = ParametersField(required=False)
    schedule = ScheduleField()
    enabled = StrictBooleanField(required=False)
    timeout_seconds = StrictIntegerField(
        min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False
    )
    retry_policy = RetryPolicyField(required=False)
    overlap_policy = StrictChoiceField(
        choices=DynamicJob.OverlapPolicy.choices, required=False
    )
    misfire_policy = StrictChoiceField(
        choices=DynamicJob.MisfirePolicy.choices, required=False
    )
    notifications = NotificationsField(required=False)
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

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Template exists, then the rest; the service authorises high-risk jobs."""
        instance: DynamicJob | None = self.instance
        template_type = attrs.get("template_type") or (
            instance.template_type if instance else None
        )
        try:
            registry.get(template_type)
        except UnknownTemplate:
            raise serializers.ValidationError(
                {
                    "template_type": [
                        f"Unknown template {template_type!r}. "
                        f"Available: {', '.join(registry.types())}."
                    ]
                }
            ) from None
        if "parameters" in attrs:
            attrs["parameters"] = sanitise_text(attrs["parameters"])
        data = {k: v for k, v in attrs.items() if k in EDITABLE_FIELDS}
        try:
            job_clean(data, instance=instance)
        except DjangoValidationError as exc:
            raise_nested(exc)
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


class SchedulePreviewResponseSerializer(serializers.Serializer):
    description = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.DateTimeField())


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
