"""The copy page's form: a new job started from another one, saved by job_copy."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from job_templates.registry import registry
from job_templates.secrets import SECRET_MASK
from scheduler_jobs.forms.errors import add_service_errors
from scheduler_jobs.forms.options import options_initial
from scheduler_jobs.forms.parameters import parameters_field
from scheduler_jobs.forms.schedule import schedule_initial
from scheduler_jobs.forms.sections import JobSectionsMixin
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import copy_name, masked_job_parameters
from scheduler_jobs.spec import JOB_SPEC


def _without_secrets(value: Any) -> Any:
    """Masked values emptied: a copy starts with no secret, not a mask."""
    if isinstance(value, str) and SECRET_MASK in value:
        return ""
    if isinstance(value, dict):
        return {key: _without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


class JobCopyForm(JobSectionsMixin, forms.Form):
    """The source job's sections, prefilled; secrets empty, the copy disabled.

    Saved in clean() through services.job_copy, like the change form, so the
    service's errors show next to their fields with everything typed kept.
    """

    name = forms.CharField(
        label=JOB_SPEC["name"].label,
        max_length=JOB_SPEC["name"].max_length,
        widget=forms.TextInput(attrs={"size": 50}),
    )
    description = forms.CharField(
        label=JOB_SPEC["description"].label,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )
    enabled = forms.BooleanField(
        label=JOB_SPEC["enabled"].label,
        required=False,
        help_text="Off by default: check the copy before it runs on its schedule.",
    )

    def __init__(
        self, *args: Any, source: DynamicJob, request: Any = None, **kwargs: Any
    ) -> None:
        kwargs["initial"] = {
            **schedule_initial(source.schedule or {}),
            **_without_secrets(options_initial(source)),
            "name": copy_name(source.name),
            "description": source.description,
            "enabled": False,
            "parameters": _without_secrets(masked_job_parameters(source)),
        }
        super().__init__(*args, **kwargs)
        self.source = source
        self.request = request
        self.template = registry.get(source.template_type)
        self.fields["parameters"] = parameters_field(self.template)
        self.created: DynamicJob | None = None

    def clean(self) -> dict[str, Any]:
        from scheduler_jobs.services import QuotaExceeded, job_copy

        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("schedule_type") == "interval" and not cleaned.get("every"):
            self.add_error("every", "Enter how often the job runs.")
            return cleaned
        try:
            self.created = job_copy(
                source=self.source,
                user=self.request.user if self.request else None,
                data=self.job_data(),
                request=self.request,
            )
        except ValidationError as exc:
            add_service_errors(self, exc)
        except QuotaExceeded as exc:
            raise ValidationError(str(exc)) from exc
        return cleaned
