"""The job creation wizard: the DynamicJob admin's add view, in five steps.

template → name and parameters (django-jsonform from the template's schema) →
schedule (builder, live preview) → options and notifications → review (with a
dry-run preview where the template has one) → job_create.

Every POST answers with a redirect to the step's own URL (``?step=schedule``),
so the browser's Back button and reload only ever repeat a GET: Back shows the
previous step with what was typed, and no page asks to resubmit a form. A step
that does not validate is stored as typed and shown again, with its errors,
from its URL. After each step the answers are also kept as the user's draft
(scheduler_jobs.drafts), sealed like the session copy; opening "Add" again
offers to continue a draft or start over.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html
from formtools.wizard.storage.session import SessionStorage
from formtools.wizard.views import SessionWizardView

from job_templates import secrets
from job_templates.base import mask_parameters
from job_templates.registry import UnknownTemplate, registry
from scheduler_jobs import drafts
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
from scheduler_jobs.services.dryrun import dry_run_off_warning

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
    "review": [(None, {"fields": ("enabled", "confirm_live")})],
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
        # A step cleared (the template changed) is a step not yet answered.
        return MultiValueDict(values) if values else None


class JobCreationWizard(SessionWizardView):
    form_list = [(name, form) for name, form, _ in STEPS]
    template_name = "admin/scheduler_jobs/dynamicjob/wizard.html"
    storage_name = "scheduler_jobs.wizard.SealedSessionStorage"
    model_admin: admin.ModelAdmin | None = None

    # --- post/redirect/get ---

    def step_url(self, step: str | None = None) -> str:
        query = {"step": step or self.steps.current}
        wanted = self.request.GET.get("template")
        if query["step"] == "template" and wanted:
            query["template"] = wanted
        return f"{self.request.path}?{urlencode(query)}"

    def get(self, request, *args: Any, **kwargs: Any):
        """A step's own URL shows it with what is stored; the bare URL offers
        the user's drafts, or starts a new job."""
        if "draft" in request.GET:
            return self.resume_draft(request.GET["draft"])
        step = request.GET.get("step")
        if step is None:
            if "new" not in request.GET and "template" not in request.GET:
                offered = drafts.draft_list(user=request.user)
                if offered:
                    return self.render_drafts(offered)
            self.storage.reset()
            return HttpResponseRedirect(self.step_url(self.steps.first))
        steps = list(self.get_form_list())
        if step not in steps:
            return HttpResponseRedirect(self.step_url(self.steps.first))
        for earlier in steps[: steps.index(step)]:
            if self.storage.get_step_data(earlier) is None:
                return HttpResponseRedirect(self.step_url(earlier))
        self.storage.current_step = step
        return super().render(self.stored_form(step))

    def stored_form(self, step: str):
        """The step's form bound to what was stored, with the errors it had
        when it was sent (the service's too, which re-validating cannot find)."""
        data = self.storage.get_step_data(step)
        form = self.get_form(
            step=step, data=data, files=self.storage.get_step_files(step)
        )
        flash = self.storage.extra_data.pop("errors", None)
        if data is None or not flash or flash.get("step") != step:
            return form
        form.is_valid()
        for field, texts in flash["errors"].items():
            key = field if field in form.fields else None
            shown = list(form.errors.get(key or NON_FIELD_ERRORS, []))
            for text in texts:
                if text not in shown:
                    form.add_error(key, text)
        return form

    def post(self, request, *args: Any, **kwargs: Any):
        if "discard_draft" in request.POST:
            return self.discard_draft(request.POST["discard_draft"])
        self.created = None
        response = super().post(request, *args, **kwargs)
        if self.created is None:
            self.save_draft()
        return response

    def render(self, form=None, **kwargs: Any):
        """On a POST, keep the step as sent and redirect to its URL."""
        if self.request.method != "POST":
            return super().render(form, **kwargs)
        step = self.steps.current
        if form is not None and form.is_bound:
            # The management form's key comes along, so a step sent empty is
            # kept as sent (and shows "required"), not as never answered.
            prefixes = (f"{form.prefix}-", f"{self.prefix}-")
            typed = {
                key: form.data.getlist(key)
                for key in form.data
                if key.startswith(prefixes)
            }
            self.storage.set_step_data(step, typed)
            errors = {
                key: [str(text) for text in texts] for key, texts in form.errors.items()
            }
            if errors:
                self.storage.extra_data["errors"] = {"step": step, "errors": errors}
        return HttpResponseRedirect(self.step_url(step))

    def render_next_step(self, form, **kwargs: Any):
        self.storage.current_step = self.steps.next
        return HttpResponseRedirect(self.step_url())

    # --- drafts ---

    def save_draft(self) -> None:
        step_data = self.storage.data.get(self.storage.step_data_key) or {}
        if not step_data:
            return
        template = self.selected_template()
        self.storage.extra_data["draft"] = drafts.draft_save(
            user=self.request.user,
            draft_id=self.storage.extra_data.get("draft"),
            template_type=template.type if template else "",
            step=self.storage.current_step or self.steps.first,
            step_data=dict(step_data),
        )

    def resume_draft(self, draft_id: str):
        draft = drafts.draft_get(user=self.request.user, draft_id=draft_id)
        if draft is None:
            messages.warning(
                self.request,
                "That draft is no longer there: it was finished, discarded or "
                f"left alone for more than {drafts.DRAFT_DAYS} days.",
            )
            return HttpResponseRedirect(self.request.path)
        self.storage.reset()
        self.storage.data[self.storage.step_data_key] = dict(
            draft.data.get("step_data") or {}
        )
        self.storage.current_step = draft.step
        self.storage.extra_data["draft"] = draft.pk
        return HttpResponseRedirect(self.step_url(draft.step))

    def discard_draft(self, draft_id: str):
        if drafts.draft_discard(user=self.request.user, draft_id=draft_id):
            messages.success(self.request, "Discarded the draft.")
        if str(self.storage.extra_data.get("draft")) == str(draft_id):
            self.storage.reset()
        return HttpResponseRedirect(self.request.path)

    def render_drafts(self, offered: list[drafts.JobDraft]):
        opts = DynamicJob._meta
        rows = []
        for draft in offered:
            template = (
                registry.get(draft.template_type)
                if draft.template_type in registry
                else None
            )
            step = draft.step if draft.step in STEP_TITLES else STEPS[0][0]
            rows.append(
                {
                    "id": draft.pk,
                    "template": template,
                    "number": [name for name, _, _ in STEPS].index(step) + 1,
                    "step_title": STEP_TITLES[step],
                    "saved": format_datetime(draft.updated_at, settings.TIME_ZONE),
                }
            )
        context = {
            **self.model_admin.admin_site.each_context(self.request),
            "opts": opts,
            "app_label": opts.app_label,
            "title": "Add scheduled job",
            "subtitle": None,
            "drafts": rows,
            "steps_total": len(STEPS),
            "max_drafts": drafts.MAX_DRAFTS,
            "media": self.model_admin.media,
            "draft_days": drafts.DRAFT_DAYS,
        }
        return TemplateResponse(
            self.request, "admin/scheduler_jobs/dynamicjob/wizard_drafts.html", context
        )

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

    def get_form(self, step=None, data=None, files=None):
        form = super().get_form(step=step, data=data, files=files)
        if (step or self.steps.current) == "review":
            job_forms.show_confirm_live(
                form, self.live_warning(), help_text="Required: see the warning above."
            )
        return form

    def live_warning(self) -> str | None:
        """Why Create needs a tick: the parameters turn dry run off."""
        template = self.selected_template()
        if template is None:
            return None
        parameters = self.get_cleaned_data_for_step("parameters") or {}
        return dry_run_off_warning(
            template_type=template.type,
            before=None,
            after=parameters.get("parameters") or {},
        )

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
        self.storage.current_step = goto_step
        return HttpResponseRedirect(self.step_url(goto_step))

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
            "live_warning": self.live_warning(),
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
            draft_id = self.storage.extra_data.get("draft")
            if draft_id is not None:
                drafts.draft_discard(user=self.request.user, draft_id=draft_id)
            self.storage.reset()
        return response

    def done(self, form_list, form_dict=None, **kwargs: Any):
        forms = form_dict
        if job_forms.refuse_unconfirmed_live(forms["review"], self.live_warning()):
            return self.render(forms["review"])
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
            # The box already says it is a dry run: "Would delete 4 rows …".
            words = plain_sentence(message[len("dry run") :].lstrip(" :").strip())
            return words[:1].upper() + words[1:] if words else message
    return messages[-1] if messages else ""


_COUNTED = re.compile(r"\b(\d+) (\w+)\((e?s)\)")
_MAPPING = re.compile(r"\{[^{}]*\}")


def plain_sentence(text: str) -> str:
    """A template's log line as words: "1 batch(es)" becomes "1 batch", and a
    {'table': count} mapping "table: count" (or "none" when every count is 0)."""

    def counted(match: re.Match[str]) -> str:
        number, word, ending = match.groups()
        return f"{number} {word}" if number == "1" else f"{number} {word}{ending}"

    def mapping(match: re.Match[str]) -> str:
        try:
            value = ast.literal_eval(match[0])
        except (ValueError, SyntaxError):
            return match[0]
        if not isinstance(value, dict):
            return match[0]
        if not any(value.values()):
            return "none"
        return ", ".join(f"{key}: {item}" for key, item in value.items())

    return _MAPPING.sub(mapping, _COUNTED.sub(counted, text))
