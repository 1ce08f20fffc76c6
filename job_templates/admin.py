"""The templates catalogue, read-only: what each template does and its parameters."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from audit.admin import RejectNulQueryMixin
from job_templates.models import JobTemplate
from job_templates.registry import registry


def schema_rows(schema: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """One row per parameter (nested objects flattened as a.b), for reading."""
    rows = []
    required = set(schema.get("required", []))
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        kind = sub.get("type", "any")
        if isinstance(kind, list):
            kind = " or ".join(kind)
        if kind == "array" and isinstance(sub.get("items"), dict):
            kind = f"list of {sub['items'].get('type', 'values')}"
        constraints = []
        for key, label in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minItems", "min items"),
            ("maxItems", "max items"),
            ("format", "format"),
            ("pattern", "pattern"),
        ):
            if key in sub:
                constraints.append(f"{label} {sub[key]}")
        if "enum" in sub:
            constraints.append("one of " + ", ".join(str(v) for v in sub["enum"]))
        rows.append(
            {
                "name": path,
                "title": sub.get("title", ""),
                "type": kind,
                "required": name in required,
                "default": json.dumps(sub["default"], ensure_ascii=False)
                if "default" in sub
                else "",
                "description": sub.get("description", ""),
                "constraints": "; ".join(constraints),
            }
        )
        if sub.get("type") == "object" and sub.get("properties"):
            rows.extend(schema_rows(sub, prefix=f"{path}."))
    return rows


@admin.register(JobTemplate)
class JobTemplateAdmin(RejectNulQueryMixin, admin.ModelAdmin):
    list_display = (
        "name_column",
        "type",
        "category",
        "risk_column",
        "resource_usage",
        "estimated_duration",
        "supports_dry_run",
        "available",
    )
    list_filter = (
        "category",
        "risk_level",
        "resource_usage",
        "supports_dry_run",
        "available",
    )
    search_fields = ("name", "description", "type")
    actions = None

    class Media:
        css = {"all": ["scheduler_jobs/admin.css"]}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Template", ordering="name")
    def name_column(self, t: JobTemplate) -> str:
        return format_html(
            '<span class="ds-icon" aria-hidden="true">{}</span> <strong>{}</strong>'
            '<br><span class="ds-quiet">{}</span>',
            t.icon,
            t.name,
            t.guidance,
        )

    @admin.display(description="Risk", ordering="risk_level")
    def risk_column(self, t: JobTemplate) -> str:
        return format_html(
            '<span class="ds-risk-{}">{}</span>', t.risk_level, t.risk_level
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        template = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if template is not None:
            extra.update(
                catalogue_entry=template,
                schema_rows=schema_rows(template.parameters_schema or {}),
                schema_json=json.dumps(
                    template.parameters_schema, indent=2, ensure_ascii=False
                ),
                create_url=reverse("admin:scheduler_jobs_dynamicjob_add")
                + f"?template={template.type}",
            )
        return super().change_view(request, object_id, form_url, extra)


class TemplateFilter(admin.SimpleListFilter):
    """Jobs or executions by template: choices from the registry, not a SELECT
    DISTINCT over a table that may hold millions of rows."""

    title = "template"
    parameter_name = "template"

    def lookups(self, request, model_admin):
        return [(t.type, f"{t.icon} {t.name}") for t in registry]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(template_type=self.value())
        return queryset
