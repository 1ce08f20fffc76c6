"""The "Run with changes…" form: this run's parameters and dry run, nothing saved."""

from __future__ import annotations

from typing import Any

from django import forms

from job_templates.registry import registry
from scheduler_jobs.forms.parameters import parameters_field
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import masked_job_parameters

DRY, LIVE = "dry", "live"


class RunWithChangesForm(forms.Form):
    """The job's parameters as its change form shows them (secrets masked, kept
    unless typed again) and, for a template that has one, a dry-run choice.

    Only collects input: executions.services.run_now validates and authorises.
    """

    mode = forms.ChoiceField(
        label="How to run",
        choices=[(DRY, "Dry run: report, change nothing"), (LIVE, "Real run")],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, job: DynamicJob, **kwargs: Any) -> None:
        template = registry.get(job.template_type)
        kwargs["initial"] = {
            "parameters": masked_job_parameters(job),
            "mode": DRY if template.supports_dry_run else LIVE,
            **(kwargs.get("initial") or {}),
        }
        super().__init__(*args, **kwargs)
        self.fields["parameters"] = parameters_field(
            template, label="Parameters for this run"
        )
        properties = template.parameters_schema.get("properties") or {}
        # One dry-run control: a template's own "Dry run" parameter is it.
        if not template.supports_dry_run or "dry_run" in properties:
            del self.fields["mode"]

    def dry_run(self) -> bool | None:
        """True or False as chosen; None when the template has no dry run."""
        mode = self.cleaned_data.get("mode")
        return None if mode is None else mode == DRY

    def parameters(self) -> dict[str, Any]:
        return self.cleaned_data.get("parameters") or {}
