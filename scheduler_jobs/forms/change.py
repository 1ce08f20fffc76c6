"""The job's change form in the admin, saved through job_update."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from job_templates.registry import registry
from scheduler_jobs.forms.errors import add_service_errors
from scheduler_jobs.forms.options import options_initial
from scheduler_jobs.forms.parameters import (
    confirm_live_field,
    parameters_field,
    refuse_unconfirmed_live,
    show_confirm_live,
)
from scheduler_jobs.forms.schedule import schedule_initial
from scheduler_jobs.forms.sections import JobSectionsMixin
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import Merge, masked_job_parameters
from scheduler_jobs.services.dryrun import dry_run_off_warning
from scheduler_jobs.services.merge import MINE, THEIRS

# Radios named "merge_choice:<field>" carry the user's choice per conflict.
CHOICE_PREFIX = "merge_choice:"
CONFLICT_MESSAGE = (
    "Not saved: someone else changed this job while you were editing it, and "
    "changed some of the same fields. Their other changes are kept. For each "
    "field below, choose which value to keep, then save again."
)


class DynamicJobChangeForm(JobSectionsMixin, forms.ModelForm):
    """The job's sections as one form; saved through job_update (optimistic lock).

    The save happens in clean(), not save(): the service is what validates, so
    calling it here is what lets its errors (and a version conflict) show inline,
    with everything the user typed still in the form.
    """

    # The version the form was loaded from: the base a save on an older
    # version is merged against (services.merge), with the enabled state shown.
    version = forms.IntegerField(widget=forms.HiddenInput)
    base_enabled = forms.CharField(required=False, widget=forms.HiddenInput)
    # The version whose conflicts the user was shown and chose for.
    seen_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    change_comment = forms.CharField(
        label="Why this change",
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Optional; kept with the new version in the job's history.",
    )
    # Shown (and required) when the change turns dry run off.
    confirm_live = confirm_live_field()

    class Meta:
        model = DynamicJob
        fields = ("name", "description", "enabled")
        widgets = {
            "name": forms.TextInput(attrs={"size": 50}),
            "description": forms.Textarea(attrs={"rows": 3, "cols": 60}),
        }

    request: Any = None  # set by the admin's get_form

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        instance = kwargs.get("instance")
        if instance is not None and instance.pk and not kwargs.get("data"):
            initial = {
                **schedule_initial(instance.schedule or {}),
                **options_initial(instance),
                "parameters": masked_job_parameters(instance),
                "version": instance.version,
                "base_enabled": "1" if instance.enabled else "0",
            }
            kwargs["initial"] = {**initial, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        self.template = None
        if instance is not None and instance.template_type in registry:
            self.template = registry.get(instance.template_type)
            self.fields["parameters"] = parameters_field(self.template)
        else:
            self.fields["parameters"] = forms.JSONField(
                required=False,
                help_text="The template's code is not installed; edit the JSON as is.",
            )
        if instance is not None and instance.pk:
            self.preview_for(
                name=instance.name,
                job_id=instance.pk,
                category=self.template.category if self.template else "",
            )
        self.conflict = None
        self.saved = False

    def live_unconfirmed(self, cleaned: dict[str, Any]) -> bool:
        """Dry run turned off without the tick: refused here, shown first."""
        warning = dry_run_off_warning(
            template_type=self.instance.template_type,
            before=self.instance.parameters or {},
            after=cleaned.get("parameters") or {},
        )
        show_confirm_live(self, warning, help_text=warning or "")
        return refuse_unconfirmed_live(self, warning)

    def clean(self) -> dict[str, Any]:
        from scheduler_jobs.services import MergeConflict, VersionConflict, job_update

        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.cleaned_data.get(
            "schedule_type"
        ) == "interval" and not self.cleaned_data.get("every"):
            self.add_error("every", "Enter how often the job runs.")
            return cleaned
        if self.live_unconfirmed(cleaned):
            return cleaned
        try:
            job = job_update(
                job=self.instance,
                user=self.request.user if self.request else None,
                data=self.job_data(),
                expected_version=cleaned["version"],
                request=self.request,
                source="admin",
                comment=cleaned.get("change_comment") or "",
                merge=self.merge_request(),
            )
        except MergeConflict as exc:
            self.conflict = exc
            # The base stays the version the form was loaded from; the choices
            # made now are for what is stored now.
            self.data = self.data.copy()
            self.data[self.add_prefix("seen_version")] = str(exc.current_version)
            raise ValidationError(CONFLICT_MESSAGE, code="merge_conflict") from exc
        except VersionConflict as exc:
            raise ValidationError(
                "Someone saved this job at the same moment. Nothing was saved; "
                "save again and your changes are merged with theirs.",
                code="version_conflict",
            ) from exc
        except ValidationError as exc:
            add_service_errors(self, exc)
            return cleaned
        self.instance = job
        self.saved = True
        return cleaned

    def merge_request(self) -> Merge:
        """The base's enabled state and the choices made on a conflict shown."""
        base_enabled = self.cleaned_data.get("base_enabled")
        prefix = self.add_prefix(CHOICE_PREFIX)
        return Merge(
            enabled={"1": True, "0": False}.get(base_enabled or ""),
            choices={
                key[len(prefix) :]: value
                for key, value in self.data.items()
                if key.startswith(prefix) and value in (MINE, THEIRS)
            },
            choices_version=self.cleaned_data.get("seen_version"),
        )

    def conflict_rows(self) -> list[dict[str, Any]]:
        """Each conflicting field once, with both values and the radio's name."""
        if self.conflict is None:
            return []
        prefix = self.add_prefix(CHOICE_PREFIX)
        return [
            {
                "label": conflict.label,
                "name": prefix + conflict.key,
                "id": "merge-" + conflict.key.replace(".", "-"),
                "yours": conflict.yours_text,
                "theirs": conflict.theirs_text,
                "chosen": self.data.get(prefix + conflict.key, ""),
            }
            for conflict in self.conflict.conflicts
        ]

    def _post_clean(self) -> None:
        # Model validation is the service's job (see clean()).
        pass

    def save(self, commit: bool = True) -> DynamicJob:
        return self.instance
