"""REST API for the template catalogue (read-only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from config.rest import IsStaff, ModelPermissions
from job_templates.models import JobTemplate
from job_templates.serializers import JobTemplateSerializer


@extend_schema_view(
    list=extend_schema(summary="The template catalogue"),
    retrieve=extend_schema(summary="One template, with its parameters schema"),
)
class JobTemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Templates whose code is installed (the catalogue keeps gone ones hidden)."""

    queryset = JobTemplate.objects.filter(available=True).order_by("category", "name")
    serializer_class = JobTemplateSerializer
    permission_classes = [IsStaff, ModelPermissions]
    pagination_class = None
    lookup_field = "type"
    lookup_value_regex = r"[A-Za-z0-9_.\-]+"
