"""The job wizard's steps (scheduler_jobs.wizard): template, parameters,
schedule, options, review."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from job_templates.base import JobTemplate
from job_templates.registry import registry
from scheduler_jobs import access
from scheduler_jobs.forms.errors import add_service_errors
from scheduler_jobs.forms.options import OptionsFieldsMixin, option_form_field
from scheduler_jobs.forms.parameters import (
    clean_parameters,
    confirm_live_field,
    parameters_field,
)
from scheduler_jobs.forms.schedule import ScheduleFieldsMixin
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import job_clean
from scheduler_jobs.spec import JOB_SPEC


class TemplateStepForm(forms.Form):
    template_type = forms.ChoiceField(
        label="Template",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a template to continue."},
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["template_type"].choices = [(t.type, t.name) for t in registry]

    def clean_template_type(self) -> str:
        value = self.cleaned_data["template_type"]
        template = registry.get(value)
        if not template_usable(self.user, template):
            raise ValidationError(
                f"Every {template.name} job is high-risk; you need the “Can "
                "create, change and run high-risk jobs” permission."
            )
        return value


def template_usable(user: Any, template: JobTemplate) -> bool:
    """Whether `user` may create any job of this template at all.

    A template is locked only when every job of it is high-risk (its risk does
    not depend on the parameters); the parameters step checks the rest.
    """
    if template.high_risk_reason({}) is None:
        return access.allowed(user, access.Action.ADD)
    return access.allowed(user, access.Action.ADD, definitions=[(template.type, {})])


class ParametersStepForm(forms.Form):
    name = forms.CharField(
        label=JOB_SPEC["name"].label,
        max_length=JOB_SPEC["name"].max_length,
        help_text=JOB_SPEC["name"].help_text,
        widget=forms.TextInput(attrs={"size": 50}),
    )
    description = option_form_field(JOB_SPEC["description"])

    def __init__(
        self, *args: Any, template: JobTemplate, user: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        self.user = user
        self.fields["parameters"] = parameters_field(template)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if DynamicJob.objects.filter(name=name).exists():
            raise ValidationError("A job with this name already exists.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.has_error("parameters"):
            params = clean_parameters(self, self.template)
            if params is not None:
                cleaned["parameters"] = params
                self._authorize(params)
        return cleaned

    def _authorize(self, params: dict[str, Any]) -> None:
        """Say at this step, not at the last one, that the job is not allowed."""
        try:
            access.authorize(
                self.user, access.Action.ADD, definitions=[(self.template.type, params)]
            )
        except access.AccessDenied as exc:
            self.add_error("parameters", str(exc))


class ScheduleStepForm(ScheduleFieldsMixin):
    def __init__(
        self,
        *args: Any,
        job_name: str = "",
        template_category: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.preview_for(name=job_name, job_id=None, category=template_category)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.clean_schedule_fields()
        return cleaned


class OptionsStepForm(OptionsFieldsMixin):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # The service validates a whole job; only the options' errors matter here.
        data = {"name": "x", "template_type": None, **self.options_data()}
        try:
            job_clean(data)
        except ValidationError as exc:
            add_service_errors(self, exc, only=self.option_field_names)
        return cleaned


class ReviewStepForm(forms.Form):
    enabled = forms.BooleanField(
        label="Enable the job now",
        required=False,
        initial=JOB_SPEC.default("enabled"),
        help_text=JOB_SPEC["enabled"].help_text,
    )
    # Shown (and required) when the parameters turn dry run off.
    confirm_live = confirm_live_field()
