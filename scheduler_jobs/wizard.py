"""The job creation wizard: the DynamicJob admin's add view, in five steps.

template → name and parameters (django-jsonform from the template's schema) →
schedule (builder, live preview) → options and notifications → review (with a
dry-run preview where the template has one) → job_create.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html
from formtools.wizard.storage.session import SessionStorage
from formtools.wizard.views import SessionWizardView

from job_templates import secrets
from job_templates.base import mask_parameters
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs import forms as job_forms
from scheduler_jobs.admin_views import describe_slots, summary_items
from scheduler_jobs.forms.schedule import SCHEDULE_LAYOUT
from scheduler_jobs.forms.steps import template_usable
from scheduler_jobs.labels import format_datetime, job_zone_name
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.schedules import parse_schedule
from scheduler_jobs.services import (
    QuotaExceeded,
    job_create,
    masked_notifications,
)

STEPS = (
    ("template", job_forms.TemplateStepForm, "Template"),
    ("parameters", job_forms.ParametersStepForm, "Parameters"),
    ("schedule", job_forms.ScheduleStepForm, "Schedule"),
    ("options", job_forms.OptionsStepForm, "Options"),
    ("review", job_forms.ReviewStepForm, "Review"),
)
STEP_TITLES = {name: title for name, _, title in STEPS}

FIELDSETS = {
    "parameters": [
        (None, {"fields": ("name", "description")}),
        ("Parameters", {"fields": ("parameters",)}),
    ],
    "schedule": [(None, {"fields": SCHEDULE_LAYOUT})],
    "review": [(None, {"fields": ("enabled",)})],
}


class SealedSessionStorage(SessionStorage):
    """The wizard's step data kept sealed in the session.

    The steps hold what the user typed, secrets included, until the job is
    created; sessions live in the database, so the data is sealed there like
    every other stored secret.
    """

    def set_step_data(self, step: str, cleaned_data: Any) -> None:
        if isinstance(cleaned_data, MultiValueDict):
            cleaned_data = dict(cleaned_data.lists())
        self.data[self.step_data_key][step] = secrets.seal_value(
            json.dumps(cleaned_data)
        )

    def get_step_data(self, step: str) -> MultiValueDict | None:
        values = self.data[self.step_data_key].get(step)
        if values is None:
            return None
        try:
            values = json.loads(secrets.unseal_value(values))
        except (secrets.SecretKeyError, TypeError, ValueError):
            # Sealed under a key since removed, or written before sealing: the
            # user starts the step again rather than seeing an error.
            return None
        return MultiValueDict(values)


class JobCreationWizard(SessionWizardView):
    form_list = [(name, form) for name, form, _ in STEPS]
    template_name = "admin/scheduler_jobs/dynamicjob/wizard.html"
    storage_name = "scheduler_jobs.wizard.SealedSessionStorage"
    model_admin: admin.ModelAdmin | None = None

    # --- forms ---

    def selected_template(self):
        data = self.storage.get_step_data("template") or {}
        value = data.get("template-template_type")
        try:
            return registry.get(value) if value else None
        except UnknownTemplate:
            return None

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        if step == "template":
            return {"user": self.request.user}
        if step == "parameters":
            template = self.selected_template()
            if template is None:  # stale session: fall back to any template
                template = next(iter(registry))
            return {"template": template, "user": self.request.user}
        if step == "schedule":
            # The preview's jitter and windows depend on the job's name and kind.
            template = self.selected_template()
            named = self.storage.get_step_data("parameters") or {}
            return {
                "job_name": named.get("parameters-name") or "",
                "template_category": template.category if template else "",
            }
        return {}

    def get_form_initial(self, step: str) -> dict[str, Any]:
        if step == "template":
            wanted = self.request.GET.get("template")
            return {"template_type": wanted} if wanted in registry else {}
        if step == "parameters":
            template = self.selected_template()
            if template is not None:
                return {"parameters": job_forms.default_parameters(template)}
        return {}

    def process_step(self, form):
        if self.steps.current == "template":
            previous = self.storage.get_step_data("template") or {}
            before = previous.get("template-template_type")
            if before and before != form.cleaned_data["template_type"]:
                # Parameters of another template would not fit the new one.
                self.storage.set_step_data("parameters", None)
        return super().process_step(form)

    def render_goto_step(self, goto_step: str, **kwargs: Any):
        # Going back keeps what was typed on this step, valid or not; it is
        # validated again on the way forward and before Create.
        current = self.steps.current
        if self.get_step_index(goto_step) < self.get_step_index(current):
            form = self.get_form(data=self.request.POST, files=self.request.FILES)
            self.storage.set_step_data(current, self.process_step(form))
        return super().render_goto_step(goto_step, **kwargs)

    # --- rendering ---

    def get_context_data(self, form, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        opts = DynamicJob._meta
        step = self.steps.current
        index = self.get_step_index(step)
        context.update(
            self.model_admin.admin_site.each_context(self.request),
            opts=opts,
            app_label=opts.app_label,
            title=f"Add scheduled job: {STEP_TITLES[step]}",
            subtitle=None,
            progress=[
                {
                    "name": name,
                    "title": title,
                    "number": i + 1,
                    "state": "done"
                    if i < index
                    else "current"
                    if i == index
                    else "todo",
                }
                for i, (name, _, title) in enumerate(STEPS)
            ],
            progress_percent=int(100 * index / (len(STEPS) - 1)),
            step_title=STEP_TITLES[step],
            media=self.model_admin.media + form.media,
            template=self.selected_template(),
        )
        fieldsets = job_forms.options_fieldsets() if step == "options" else None
        fieldsets = fieldsets or FIELDSETS.get(step)
        if fieldsets:
            context["adminform"] = helpers.AdminForm(form, fieldsets, {})
        if step == "template":
            context["template_cards"] = self.template_cards(form)
        if step == "review":
            context.update(self.review_context())
        return context

    def template_cards(self, form) -> list[dict[str, Any]]:
        chosen = form["template_type"].value()
        return [
            {
                "template": t,
                "checked": chosen == t.type,
                "locked": not template_usable(self.request.user, t),
            }
            for t in sorted(registry, key=lambda t: (t.category, t.name))
        ]

    def review_context(self) -> dict[str, Any]:
        template = self.selected_template()
        parameters = self.get_cleaned_data_for_step("parameters") or {}
        schedule_form = self._valid_form("schedule")
        options_form = self._valid_form("options")
        context: dict[str, Any] = {
            # The review page shows what will be saved, secrets masked.
            "review_parameters": mask_parameters(
                template, parameters.get("parameters") or {}
            ),
            "review_name": parameters.get("name", ""),
            "review_description": parameters.get("description", ""),
        }
        if schedule_form is not None:
            schedule = schedule_form.schedule_data()
            parsed = parse_schedule(schedule)
            context["review_schedule"] = parsed.describe()
            context["review_runs"], context["review_warnings"] = describe_slots(
                schedule,
                job_name=parameters.get("name", ""),
                template_category=template.category if template else "",
            )
        if options_form is not None:
            context["review_options"] = options_form.options_data()
            context["review_options"]["notifications"] = masked_notifications(
                context["review_options"]["notifications"]
            )
        if template is not None and template.supports_dry_run and parameters:
            context["preview"] = self.dry_run_preview(
                template, parameters["parameters"]
            )
        context["review_parameter_rows"] = [
            (key, json.dumps(value, ensure_ascii=False))
            for key, value in context["review_parameters"].items()
        ]
        return context

    @staticmethod
    def dry_run_preview(template, params: dict[str, Any]) -> dict[str, Any]:
        try:
            preview = template.preview(params)
        except Exception as exc:  # the preview must never break the wizard
            return {"supported": True, "error": f"{type(exc).__name__}: {exc}"}
        preview["result_items"] = summary_items(preview.get("result"))
        preview["headline"] = preview_headline(preview)
        return preview

    def _valid_form(self, step: str):
        form = self.get_form(
            step=step,
            data=self.storage.get_step_data(step),
            files=self.storage.get_step_files(step),
        )
        return form if form.is_valid() else None

    # --- done ---

    def render_done(self, form, **kwargs: Any):
        # formtools' version resets the stored steps whatever done() returns; a
        # service error on Create must keep them so the user can fix the field.
        final_forms = {}
        for step in self.get_form_list():
            form_obj = self.get_form(
                step=step,
                data=self.storage.get_step_data(step),
                files=self.storage.get_step_files(step),
            )
            if not form_obj.is_valid():
                return self.render_revalidation_failure(step, form_obj, **kwargs)
            final_forms[step] = form_obj
        self.created = None
        response = self.done(
            list(final_forms.values()), form_dict=final_forms, **kwargs
        )
        if self.created is not None:
            self.storage.reset()
        return response

    def done(self, form_list, form_dict=None, **kwargs: Any):
        forms = form_dict
        params = forms["parameters"].cleaned_data
        data = {
            "name": params["name"],
            "description": params.get("description") or "",
            "template_type": forms["template"].cleaned_data["template_type"],
            "parameters": params.get("parameters") or {},
            "schedule": forms["schedule"].schedule_data(),
            "enabled": bool(forms["review"].cleaned_data.get("enabled")),
            **forms["options"].options_data(),
        }
        try:
            job = job_create(
                user=self.request.user, data=data, request=self.request, source="admin"
            )
        except QuotaExceeded as exc:
            form = forms["review"]
            form.add_error(None, str(exc))
            return self.render(form)
        except ValidationError as exc:
            return self.render_service_errors(forms, exc)
        self.created = job
        opts = DynamicJob._meta
        change_url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change", args=[job.pk]
        )
        if job.pending_approval is not None:
            messages.warning(
                self.request,
                format_html(
                    'Created the job “<a href="{}">{}</a>”. It is high-risk, so it '
                    "waits for another person's approval: until then it is "
                    "disabled and cannot run.",
                    change_url,
                    job.name,
                ),
            )
            return HttpResponseRedirect(change_url)
        messages.success(
            self.request,
            format_html(
                'Created the job “<a href="{}">{}</a>”: {}. Next run: {}.',
                change_url,
                job.name,
                job.schedule_description,
                format_datetime(job.next_run_at, job_zone_name(job))
                if job.next_run_at
                else "not scheduled (disabled)",
            ),
        )
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        )

    def render_service_errors(self, forms: dict[str, Any], exc: ValidationError):
        """Send the user to the first step with an error, the error shown inline."""
        leftovers = list(job_forms.service_error_items(exc))
        for step, _, _ in STEPS:
            form = forms[step]
            placed = job_forms.add_service_errors(
                form, ValidationError(_as_dict(leftovers)), only=set(form.fields)
            )
            if len(placed) < len(leftovers):
                # formtools must not reset: the data stays for the user to fix.
                self.storage.current_step = step
                return self.render(form)
            leftovers = placed
        review = forms["review"]
        for key, message in leftovers:
            review.add_error(None, f"{key}: {message}")
        return self.render(review)


def _as_dict(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, message in items:
        errors.setdefault(key, []).append(message)
    return errors


def preview_headline(preview: dict[str, Any]) -> str:
    """One sentence for the preview: the result's summary, else its dry-run log line."""
    result = preview.get("result")
    if isinstance(result, dict) and isinstance(result.get("summary"), str):
        return result["summary"]
    messages = [entry.get("message", "") for entry in preview.get("logs") or []]
    for message in reversed(messages):
        if message.lower().startswith("dry run"):
            return message
    return messages[-1] if messages else ""
