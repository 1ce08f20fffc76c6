"""Template filters for plain words and the one date-time format (see labels)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from scheduler_jobs import labels
from scheduler_jobs.models import DynamicJob

register = template.Library()


@register.filter
def ds_datetime(value: datetime | None, zone_name: str | None = None) -> str:
    """{{ at|ds_datetime }} → "2026-12-01 14:34 UTC"; {{ at|ds_datetime:zone }}."""
    return labels.format_datetime(value, zone_name)


@register.filter
def ds_datetime_seconds(value: datetime | None, zone_name: str | None = None) -> str:
    return labels.format_datetime(value, zone_name, seconds=True)


@register.filter
def ds_log_time(value: str, zone_name: str | None = None) -> str:
    return labels.format_log_time(value, zone_name)


@register.filter
def ds_duration(seconds: float | None) -> str:
    return labels.format_duration(seconds)


@register.filter
def ds_seconds(seconds: Any) -> str:
    return labels.format_seconds(seconds)


@register.filter
def job_zone(job: Any) -> str:
    return labels.job_zone_name(job)


@register.filter
def parameter_rows(parameters: dict[str, Any] | None, job_template: Any) -> list:
    """{% for title, value, structured in params|parameter_rows:template %}."""
    schema = job_template.get_schema() if job_template is not None else {}
    return labels.parameter_rows(schema, parameters)


@register.filter
def overlap_label(value: str) -> str:
    return labels.choice_label(DynamicJob.OverlapPolicy, value)


@register.filter
def misfire_label(value: str) -> str:
    return labels.choice_label(DynamicJob.MisfirePolicy, value)


@register.filter
def event_labels(events: list[str] | None) -> str:
    return labels.event_labels(events)


@register.filter
def plain(value: Any) -> str:
    return labels.plain_value(value)
