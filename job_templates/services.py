"""Writes to the template catalogue."""

from __future__ import annotations

from django.db import transaction

from job_templates.models import JobTemplate
from job_templates.registry import TemplateRegistry, registry


@transaction.atomic
def catalogue_sync(*, source: TemplateRegistry = registry) -> dict[str, int]:
    """Mirror the registry into the catalogue table; returns counts per change.

    Rows whose code is gone are marked unavailable rather than deleted, so jobs
    that still name them keep a readable template in the admin.
    """
    seen = []
    created = updated = 0
    for template in source:
        values = {
            "name": template.name,
            "description": template.description,
            "category": template.category,
            "icon": template.icon,
            "parameters_schema": template.get_schema(),
            "estimated_duration": template.estimated_duration,
            "resource_usage": template.resource_usage,
            "risk_level": template.risk_level,
            "guidance": template.guidance,
            "supports_dry_run": template.supports_dry_run,
            "available": True,
        }
        _, was_created = JobTemplate.objects.update_or_create(
            type=template.type, defaults=values
        )
        created += was_created
        updated += not was_created
        seen.append(template.type)
    gone = JobTemplate.objects.exclude(type__in=seen).update(available=False)
    return {"created": created, "updated": updated, "unavailable": gone}
