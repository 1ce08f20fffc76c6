"""Template parameters: the template's JSON Schema edited with django-jsonform,
free-form values as JSON text, validated by the template."""

from __future__ import annotations

import copy
import json
from typing import Any

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django_jsonform.widgets import JSONFormWidget

from job_templates.base import JobTemplate, apply_defaults
from job_templates.secrets import SECRET_MASK
from scheduler_jobs.forms.errors import add_service_errors
from scheduler_jobs.labels import ENUM_LABELS, humanize_key
from scheduler_jobs.spec import prefixed

SECRET_HELP = (
    f"Secret: stored encrypted and shown as {SECRET_MASK} when set. Leave the "
    "mask to keep it, type a new value to replace it, empty it to clear it."
)


def _free_form(schema: dict[str, Any]) -> bool:
    """A parameter django-jsonform cannot build a form for: edited as JSON text."""
    kind = schema.get("type")
    if kind is None or isinstance(kind, list):
        return "enum" not in schema
    return kind == "object" and not schema.get("properties")


def choice_title(value: Any) -> str:
    """A choice of a parameter as a person reads it: "Django JSON dump" for
    django_json, "Tickets (testapp.Ticket)" for a table; codes that are words
    already (POST, GET) stay as they are."""
    if value in (None, ""):
        return "Not set"
    text = str(value)
    if text in ENUM_LABELS:
        return ENUM_LABELS[text]
    if text.count(".") == 1:
        try:
            model = apps.get_model(text)
        except (LookupError, ValueError):
            model = None
        if model is not None:
            return f"{str(model._meta.verbose_name_plural).capitalize()} ({text})"
    if text.isupper():
        return text
    return humanize_key(text)


def with_choice_titles(sub: dict[str, Any]) -> None:
    """Give an `enum` titled choices (django-jsonform's `choices`), so the
    drop-down shows words while the stored value stays the code."""
    values = sub.get("enum")
    if isinstance(values, list) and values and "choices" not in sub:
        sub["choices"] = [{"title": choice_title(v), "value": v} for v in values]


def widget_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The template's schema as django-jsonform renders it, and the JSON-text keys.

    JSON Schema `description` becomes the widget's field help, an `enum` a
    choice of titled values; free-form
    objects (a cleanup condition, a JSON body) become a textarea of JSON, since
    a key/value editor of strings cannot express {"ago": "30d"}.
    """
    schema = copy.deepcopy(schema)
    json_keys: set[str] = set()

    def with_help(sub: dict[str, Any]) -> dict[str, Any]:
        if sub.get("description") and "help_text" not in sub:
            sub["help_text"] = sub["description"]
        extra = sub.get("additionalProperties")
        if sub.get("writeOnly") or (isinstance(extra, dict) and extra.get("writeOnly")):
            sub["help_text"] = " ".join(
                part for part in (sub.get("help_text", ""), SECRET_HELP) if part
            )
        with_choice_titles(sub)
        for child in (sub.get("properties") or {}).values():
            with_help(child)
        if isinstance(sub.get("items"), dict):
            with_help(sub["items"])
        return sub

    for name, sub in list((schema.get("properties") or {}).items()):
        if _free_form(sub):
            example = (sub.get("examples") or [sub.get("default")])[0]
            schema["properties"][name] = {
                "type": "string",
                "widget": "textarea",
                "title": sub.get("title", name),
                "help_text": " ".join(
                    part for part in (sub.get("description", ""), "Enter JSON.") if part
                ),
                "placeholder": json.dumps(example, ensure_ascii=False)
                if example is not None
                else "",
            }
            json_keys.add(name)
    schema.pop("$schema", None)
    return with_help(schema), json_keys


class LabelledJSONFormWidget(JSONFormWidget):
    """django-jsonform's widget plus the script that names its fields.

    Its labels have no `for` and its inputs no id, so screen readers found the
    fields nameless; jsonform_labels.js ties them together after each render.
    """

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(js=["scheduler_jobs/jsonform_labels.js"])


class ParametersField(forms.JSONField):
    """Template parameters edited with django-jsonform; free-form keys as JSON text."""

    def __init__(self, *, template: JobTemplate, **kwargs: Any) -> None:
        schema, self.json_keys = widget_schema(template.get_schema())
        kwargs.setdefault("widget", LabelledJSONFormWidget(schema=schema))
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Parameters")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            value = {
                key: (
                    json.dumps(item, indent=2, ensure_ascii=False)
                    if key in self.json_keys and not isinstance(item, str)
                    else item
                )
                for key, item in value.items()
            }
        return super().prepare_value(value)

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        nul_path = _nul_path(value)
        if nul_path is not None:
            # PostgreSQL cannot store NUL in JSON text; say where it is.
            message = f"{nul_path or 'parameters'}: contains a NUL character (\\u0000)."
            raise ValidationError(message, code="invalid")
        if not isinstance(value, dict):
            return value
        errors = {}
        for key in self.json_keys:
            text = value.get(key)
            if not isinstance(text, str):
                continue
            if not text.strip():
                value.pop(key)
                continue
            try:
                value[key] = json.loads(text)
            except json.JSONDecodeError as exc:
                errors[key] = f"{key}: not valid JSON ({exc.msg} at line {exc.lineno})."
        if errors:
            self.widget.add_error({key: [message] for key, message in errors.items()})
            raise ValidationError(list(errors.values()), code="invalid")
        return value


def _nul_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding NUL, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            found = _nul_path(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def parameters_field(
    template: JobTemplate, *, label: str = "Parameters"
) -> forms.Field:
    return ParametersField(template=template, label=label)


def default_parameters(template: JobTemplate) -> dict[str, Any]:
    return apply_defaults(template.get_schema(), {})


def clean_parameters(
    form: forms.BaseForm, template: JobTemplate
) -> dict[str, Any] | None:
    """Validate the parameters with the template; errors land on the field."""
    params = form.cleaned_data.get("parameters")
    if params in (None, ""):
        params = {}
    try:
        return template.validate_params(params)
    except ValidationError as exc:
        add_service_errors(form, prefixed("parameters", exc))
        return None


LIVE_CONFIRM_LABEL = "Yes, save it with dry run off"
LIVE_CONFIRM_ERROR = (
    "Tick this box to save the job with dry run off, or turn Dry run back on."
)


def confirm_live_field() -> forms.BooleanField:
    """The "yes, for real" box: hidden until dry run is turned off."""
    return forms.BooleanField(
        label=LIVE_CONFIRM_LABEL, required=False, widget=forms.HiddenInput
    )


def show_confirm_live(
    form: forms.BaseForm, warning: str | None, *, help_text: str
) -> None:
    """Show the confirmation box when `warning` says dry run was turned off."""
    if warning:
        field = form.fields["confirm_live"]
        field.widget = forms.CheckboxInput()
        field.help_text = help_text
        # A bound field made while validating copied the old help text.
        form["confirm_live"].help_text = help_text


def refuse_unconfirmed_live(form: forms.BaseForm, warning: str | None) -> bool:
    """True (and the error on the box) when dry run was turned off without the
    tick. Checked on the server, whatever the page's scripts did."""
    if not warning or form.cleaned_data.get("confirm_live"):
        return False
    form.add_error("confirm_live", LIVE_CONFIRM_ERROR)
    return True
