"""The options and notifications section, shared by the wizard and the change
form: timeout, retries, overlap and misfire policies, queue, who is notified.

Each field is made from its option in the job spec (scheduler_jobs.spec): label,
help, initial value and widget follow from the option's kind, so a new option
needs no code here. Values go to the service as typed; the service checks them.
"""

from __future__ import annotations

from typing import Any

from django import forms

from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services import job_as_dict, masked_view
from scheduler_jobs.spec import JOB_SPEC, Option

SECTIONS = ("running", "notifications", "watch")
SECTION_TITLES = {
    "running": "Running",
    "notifications": "Notifications",
    "watch": "Watching",
}
# Groups whose number fields may be left empty for their defaults.
DEFAULT_WHEN_EMPTY = ("watch",)


def options_fieldsets() -> list[tuple[str, dict[str, Any]]]:
    """The options sections' layout, from the spec, for the wizard and the admin.

    A group's fields share a row (retries: count, delay, backoff) unless the
    group is the section itself (notifications), so a new option appears in
    both forms without a layout change.
    """
    layout = []
    for section in SECTIONS:
        rows: list[Any] = []
        for option in JOB_SPEC.in_sections(section):
            shares_row = option.parent and option.parent != section
            if shares_row and rows and isinstance(rows[-1], list):
                rows[-1].append(option.form_field)
            else:
                rows.append([option.form_field] if shares_row else option.form_field)
        fields = tuple(tuple(row) if isinstance(row, list) else row for row in rows)
        layout.append((SECTION_TITLES[section], {"fields": fields}))
    return layout


def option_form_field(option: Option) -> forms.Field:
    """The form field that edits an option, its initial value the default."""
    common: dict[str, Any] = {
        "label": option.label,
        "help_text": option.help_text,
        "initial": form_value(option, JOB_SPEC.default(option.name)),
    }
    if option.choices is not None and option.kind is list:
        return forms.MultipleChoiceField(
            choices=option.choices.choices,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    if option.choices is not None:
        return forms.ChoiceField(
            choices=option.choices.choices, widget=forms.RadioSelect, **common
        )
    if option.kind in (int, float):
        # Watching options came after jobs, forms and scripts that post them:
        # left empty or left out, they take their defaults (job_value).
        common["required"] = option.parent not in DEFAULT_WHEN_EMPTY
        field = forms.IntegerField if option.kind is int else forms.FloatField
        return field(**common)
    if option.kind is bool:
        return forms.BooleanField(required=False, **common)
    if option.kind is list:
        # A list of free text (addresses): one per line or separated by commas.
        widget = forms.Textarea(attrs={"rows": 2, "cols": 40})
        return forms.CharField(required=False, widget=widget, **common)
    return forms.CharField(
        required=False,
        max_length=option.max_length,
        widget=_text_widget(option),
        **common,
    )


def _text_widget(option: Option) -> forms.Widget:
    if option.multiline:
        return forms.Textarea(attrs={"rows": 2, "cols": 60})
    if option.secret:
        return forms.TextInput(attrs={"size": 60, "autocomplete": "off"})
    return forms.TextInput()


def form_value(option: Option, value: Any) -> Any:
    """A job's value as its form field shows it."""
    if option.kind is list and option.choices is None:
        return "\n".join(value or [])
    if option.kind is list:
        return list(value or [])
    return value


def job_value(option: Option, value: Any) -> Any:
    """A form field's cleaned value as the job holds it."""
    if option.kind is list and option.choices is None:
        return [
            item.strip()
            for line in (value or "").splitlines()
            for item in line.split(",")
            if item.strip()
        ]
    if option.kind is list:
        return list(value or [])
    if option.kind is str and option.choices is None:
        return (value or "").strip()
    if value is None and option.parent in DEFAULT_WHEN_EMPTY:
        return JOB_SPEC.default(option.name)
    return value


def _declared_option_fields() -> type[forms.Form]:
    """A form class that declares one field per option of the sections.

    Declared rather than added per form: the admin builds its form class from
    the declared fields its fieldsets name.
    """
    fields = {
        o.form_field: option_form_field(o) for o in JOB_SPEC.in_sections(*SECTIONS)
    }
    return type(forms.Form)(
        "OptionFields", (forms.Form,), {"__module__": __name__, **fields}
    )


class OptionsFieldsMixin(_declared_option_fields()):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An option registered after this class was made gets its field here.
        for option in JOB_SPEC.in_sections(*SECTIONS):
            if option.form_field not in self.fields:
                self.fields[option.form_field] = option_form_field(option)

    @property
    def option_field_names(self) -> set[str]:
        return {option.form_field for option in JOB_SPEC.in_sections(*SECTIONS)}

    def options_data(self) -> dict[str, Any]:
        """The options as the service takes them, nested as the spec nests them."""
        data: dict[str, Any] = {}
        for option in JOB_SPEC.in_sections(*SECTIONS):
            value = job_value(option, self.cleaned_data.get(option.form_field))
            if option.parent:
                data.setdefault(option.parent, {})[option.key] = value
            else:
                data[option.name] = value
        return data


def options_initial(job: DynamicJob) -> dict[str, Any]:
    """The fields' values for a saved job, secrets masked."""
    shown = masked_view(job_as_dict(job))
    initial: dict[str, Any] = {}
    for option in JOB_SPEC.in_sections(*SECTIONS):
        value = shown.get(option.parent or option.name)
        if option.parent:
            group = value if isinstance(value, dict) else {}
            value = group.get(option.key, JOB_SPEC.default(option.name))
        initial[option.form_field] = form_value(option, value)
    return initial
