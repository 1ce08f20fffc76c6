"""Query filters for the execution list (django-filter)."""

from __future__ import annotations

import django_filters

from executions.models import JobExecution
from scheduler_jobs.filters import IdFilter


class JobExecutionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JobExecution.Status.choices)
    template_type = django_filters.CharFilter(max_length=64)
    job = IdFilter(field_name="job_id", help_text="Job id.")
    triggered_by = django_filters.ChoiceFilter(choices=JobExecution.Trigger.choices)
    started_after = django_filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="ISO 8601 date-time."
    )
    started_before = django_filters.IsoDateTimeFilter(
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
