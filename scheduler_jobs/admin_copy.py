"""The job page's own forms: "Copy" (a new job from this one) and "Run with
changes…" (one run with other parameters). Pages only: the services decide.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import helpers
from django.http import HttpRequest
from django.template.response import TemplateResponse

from job_templates.secrets import SECRET_MASK
from scheduler_jobs.forms import options_fieldsets
from scheduler_jobs.labels import job_zone_name
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.masking import secret_state, template_for
from scheduler_jobs.services.merge import field_label


def secrets_to_enter(job: DynamicJob) -> list[str]:
    """Labels of the secrets the job has set: a copy must be given them again."""
    template = template_for(job.template_type)
    return [
        field_label(key, template)
        for key, is_set in secret_state(job).items()
        if is_set
    ]


def _fieldsets(model_admin: Any, form: forms.Form) -> list[tuple[Any, dict]]:
    """The change form's sections, kept to the fields this form has."""
    fieldsets = []
    for title, options in (*model_admin.fieldsets_before_options, *options_fieldsets()):
        lines = []
        for line in options["fields"]:
            names = line if isinstance(line, tuple | list) else (line,)
            kept = tuple(name for name in names if name in form.fields)
            if kept:
                lines.append(kept if len(kept) > 1 else kept[0])
        if lines:
            fieldsets.append((title, {**options, "fields": tuple(lines)}))
    return fieldsets


def _page(
    request: HttpRequest,
    model_admin: Any,
    template: str,
    *,
    job: DynamicJob,
    form: forms.Form,
    fieldsets: list[tuple[Any, dict]],
    **context: Any,
) -> TemplateResponse:
    admin_form = helpers.AdminForm(form, fieldsets, {}, model_admin=model_admin)
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": DynamicJob._meta,
            "job": job,
            "adminform": admin_form,
            "errors": helpers.AdminErrorList(form, []),
            "media": model_admin.media + admin_form.media,
            "job_zone_name": job_zone_name(job),
            **context,
        },
    )


def copy_page(
    request: HttpRequest, model_admin: Any, *, source: DynamicJob, form: forms.Form
) -> TemplateResponse:
    return _page(
        request,
        model_admin,
        "admin/scheduler_jobs/dynamicjob/copy.html",
        job=source,
        form=form,
        fieldsets=_fieldsets(model_admin, form),
        title=f"Copy “{source.name}”",
        secrets=secrets_to_enter(source),
    )


def run_with_changes_page(
    request: HttpRequest,
    model_admin: Any,
    *,
    job: DynamicJob,
    form: forms.Form,
    warnings: list[str],
) -> TemplateResponse:
    fields = tuple(name for name in ("mode", "parameters") if name in form.fields)
    return _page(
        request,
        model_admin,
        "admin/scheduler_jobs/dynamicjob/run_with_changes.html",
        job=job,
        form=form,
        fieldsets=[(None, {"fields": fields})],
        title=f"Run “{job.name}” with changes",
        warnings=warnings,
        mask=SECRET_MASK,
    )
