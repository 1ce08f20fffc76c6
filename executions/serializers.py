"""Executions out of the API (read-only; they are written by the executor)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from executions.models import JobExecution

LIST_FIELDS = (
    "id",
    "job_id",
    "job_name",
    "job_version",
    "template_type",
    "status",
    "attempt",
    "scheduled_for",
    "started_at",
    "completed_at",
    "duration_seconds",
    "triggered_by",
    "execution_host",
    "result",
    "error",
)
# The columns a list row needs: not the logs or parameters, which can be large.
LIST_COLUMNS = tuple("job" if f == "job_id" else f for f in LIST_FIELDS)


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "ts": {"type": "string"},
                "level": {"type": "string"},
                "message": {"type": "string"},
            },
        },
    },
    component_name="ExecutionLogs",
)
class LogsField(serializers.JSONField):
    """The execution's log lines as job_templates.context records them."""


@extend_schema_field(
    {"description": "What the template returned (any JSON); null until it ends."}
)
class ResultField(serializers.JSONField):
    pass


class JobExecutionSerializer(serializers.ModelSerializer):
    """One execution without its logs (lists stay small)."""

    job_id = serializers.IntegerField(read_only=True, allow_null=True)
    result = ResultField(read_only=True, allow_null=True)

    class Meta:
        model = JobExecution
        fields = LIST_FIELDS
        read_only_fields = LIST_FIELDS


class JobExecutionDetailSerializer(JobExecutionSerializer):
    """One execution with its logs."""

    logs = LogsField(read_only=True)

    class Meta(JobExecutionSerializer.Meta):
        fields = (*LIST_FIELDS, "logs")
        read_only_fields = fields


class TopJobSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    job_name = serializers.CharField()
    runs = serializers.IntegerField()


class RecentFailureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job_id = serializers.IntegerField(allow_null=True)
    job_name = serializers.CharField()
    status = serializers.ChoiceField(choices=JobExecution.Status.choices)
    error = serializers.CharField(allow_blank=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class MetricsSerializer(serializers.Serializer):
    """executions.selectors.dashboard_metrics, documented."""

    window_seconds = serializers.IntegerField()
    total_runs = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    success_rate = serializers.FloatField(
        allow_null=True, help_text="completed / (completed + failed); null if none."
    )
    failure_rate = serializers.FloatField(allow_null=True)
    avg_duration_seconds = serializers.FloatField(allow_null=True)
    active_jobs = serializers.IntegerField()
    running_jobs = serializers.IntegerField()
    queue_depth = serializers.IntegerField()
    retry_pending = serializers.IntegerField()
    top_jobs = TopJobSerializer(many=True)
    recent_failures = RecentFailureSerializer(many=True)


class IncidentSerializer(serializers.Serializer):
    """An incident as the API shows it: its job, counts, times and state."""

    id = serializers.IntegerField(read_only=True)
    job_id = serializers.IntegerField(read_only=True)
    job_name = serializers.CharField(source="job.name", read_only=True)
    kind = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(
        choices=["open", "acknowledged", "resolved"], read_only=True
    )
    opened_at = serializers.DateTimeField(read_only=True)
    failures = serializers.IntegerField(read_only=True)
    last_execution_id = serializers.IntegerField(read_only=True, allow_null=True)
    last_alert_at = serializers.DateTimeField(read_only=True, allow_null=True)
    alerts_sent = serializers.IntegerField(read_only=True)
    acknowledged_at = serializers.DateTimeField(read_only=True, allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, allow_null=True
    )
    note = serializers.CharField(read_only=True)
    resolved_at = serializers.DateTimeField(read_only=True, allow_null=True)
    resolved_by = serializers.CharField(
        source="resolved_by.username", read_only=True, allow_null=True
    )
    resolution = serializers.CharField(read_only=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["state"] = instance.state.lower()
        return data


class IncidentNoteSerializer(serializers.Serializer):
    """What acknowledging or resolving takes: an optional note."""

    note = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, default=""
    )
