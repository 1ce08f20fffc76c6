"""REST API for the audit log (read-only)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets

from audit.models import AuditEntry
from audit.serializers import AuditEntrySerializer
from config.rest import MAX_ID, IsStaff, ModelPermissions, NewestFirstCursorPagination


class AuditEntryFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        method="filter_actor", help_text="User id or username."
    )
    action = django_filters.ChoiceFilter(choices=AuditEntry.Action.choices)
    target_type = django_filters.CharFilter(help_text="e.g. scheduler_jobs.dynamicjob")
    target_id = django_filters.CharFilter()

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "target_type", "target_id"]

    def filter_actor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """A user id, or the name recorded (also for deleted users and commands)."""
        if value.isascii() and value.isdigit():
            if int(value) > MAX_ID:
                raise exceptions.ValidationError({name: ["No user has this id."]})
            return queryset.filter(actor_id=int(value))
        return queryset.filter(actor_repr=value)


@extend_schema_view(
    list=extend_schema(summary="Audit entries, newest first"),
    retrieve=extend_schema(summary="One audit entry"),
)
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    permission_classes = [IsStaff, ModelPermissions]
    # Append-only and large: a cursor, newest first, no COUNT.
    pagination_class = NewestFirstCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEntryFilter
    lookup_value_regex = r"[0-9]+"
