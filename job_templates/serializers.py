"""The template catalogue out of the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from job_templates.base import CATEGORIES, RESOURCE_USAGES, RISK_LEVELS
from job_templates.models import JobTemplate


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "JSON Schema (draft 2020-12) of the template's parameters.",
    }
)
class JsonSchemaField(serializers.JSONField):
    pass


class JobTemplateSerializer(serializers.ModelSerializer):
    parameters_schema = JsonSchemaField(read_only=True)
    category = serializers.ChoiceField(choices=CATEGORIES, read_only=True)
    risk_level = serializers.ChoiceField(choices=RISK_LEVELS, read_only=True)
    resource_usage = serializers.ChoiceField(choices=RESOURCE_USAGES, read_only=True)

    class Meta:
        model = JobTemplate
        fields = (
            "type",
            "name",
            "description",
            "category",
            "icon",
            "parameters_schema",
            "estimated_duration",
            "resource_usage",
            "risk_level",
        )
        read_only_fields = fields
