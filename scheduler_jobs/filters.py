"""Query filters for the job list (django-filter).

Every filter refuses a value it cannot use with 400 naming the parameter,
rather than silently ignoring it and returning an unfiltered list.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from rest_framework import exceptions

from config.rest import MAX_ID
from executions.models import JobExecution
from scheduler_jobs.models import DynamicJob


class StrictBooleanField(forms.Field):
    """true/false (also 1/0); anything else is an error, not "no filter"."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError("Must be true or false.") from None


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class IdField(forms.IntegerField):
    """A database id: a whole number that fits a bigint column."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class IdFilter(django_filters.Filter):
    """An id (NumberFilter takes decimals, and numbers no column can hold)."""

    field_class = IdField


def filter_user(queryset: QuerySet, field: str, value: str, *, param: str) -> QuerySet:
    """A user by id (digits) or by username."""
    if value.isascii() and value.isdigit():
        if int(value) > MAX_ID:
            raise exceptions.ValidationError({param: ["No user has this id."]})
        return queryset.filter(**{f"{field}_id": int(value)})
    return queryset.filter(**{f"{field}__username": value})


class DynamicJobFilter(django_filters.FilterSet):
    template_type = django_filters.CharFilter()
    enabled = StrictBooleanFilter()
    last_status = django_filters.ChoiceFilter(choices=JobExecution.Status.choices)
    created_by = django_filters.CharFilter(
        method="filter_created_by",
        help_text="User id or username.",
    )

    class Meta:
        model = DynamicJob
        fields = ["template_type", "enabled", "last_status", "created_by"]

    def filter_created_by(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return filter_user(queryset, "created_by", value, param=name)
