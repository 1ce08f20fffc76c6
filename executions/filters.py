"""Query filters for the execution list (django-filter)."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django_filters.fields import IsoDateTimeField

from executions.models import JobExecution
from scheduler_jobs.filters import IdFilter


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, turned into UTC before it reaches the database.

    PostgreSQL refuses offsets beyond ±15:59 that ISO allows, and a time near
    year 1 or 9999 can leave the calendar when converted; as a range bound it
    then means "since the beginning" or "until the end".
    """

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            edge = datetime.min if parsed.year < 5000 else datetime.max
            return edge.replace(tzinfo=UTC)


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class JobExecutionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JobExecution.Status.choices)
    template_type = django_filters.CharFilter()
    job = IdFilter(field_name="job_id", help_text="Job id.")
    triggered_by = django_filters.ChoiceFilter(choices=JobExecution.Trigger.choices)
    started_after = UtcIsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="ISO 8601 date-time."
    )
    started_before = UtcIsoDateTimeFilter(
        field_name="started_at", lookup_expr="lt", help_text="ISO 8601 date-time."
    )

    class Meta:
        model = JobExecution
        fields = [
            "status",
            "template_type",
            "job",
            "triggered_by",
            "started_after",
            "started_before",
        ]
