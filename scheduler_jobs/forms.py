"""Admin forms for jobs: the wizard's steps and the change form.

The forms only collect input and translate between form fields and the job's
JSON shape; every rule lives in scheduler_jobs.services (job_clean, job_create,
job_update). Service errors come back keyed by dotted paths ("schedule.cron",
"parameters.recipients.2", "notifications.emails.0") and are put next to the
field that produced them by `add_service_errors`.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe
from django_jsonform.widgets import JSONFormWidget

from job_templates.base import JobTemplate, apply_defaults
from job_templates.registry import registry
from scheduler_jobs.models import NOTIFICATION_EVENTS, DynamicJob, default_retry_policy
from scheduler_jobs.services import job_clean, mask_webhook, masked_job_parameters

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
EVENT_LABELS = {
    "success": "Success",
    "failure": "Failure",
    "timeout": "Timeout",
    "exhausted": "Retries exhausted",
}

# Where each dotted service key is shown. Longest prefix wins; unknown keys fall
# back to the form's non-field errors so nothing is ever swallowed.
FIELD_FOR_KEY = {
    "name": "name",
    "description": "description",
    "enabled": "enabled",
    "template_type": "template_type",
    "parameters": "parameters",
    "schedule": "schedule_type",
    "schedule.type": "schedule_type",
    "schedule.cron": "cron",
    "schedule.timezone": "timezone",
    "schedule.every_seconds": "every",
    "timeout_seconds": "timeout_seconds",
    "retry_policy": "max_retries",
    "retry_policy.max_retries": "max_retries",
    "retry_policy.delay_seconds": "delay_seconds",
    "retry_policy.backoff": "backoff",
    "overlap_policy": "overlap_policy",
    "misfire_policy": "misfire_policy",
    "queue": "queue",
    "notifications": "notify_emails",
    "notifications.emails": "notify_emails",
    "notifications.slack_webhook": "slack_webhook",
    "notifications.on": "notify_on",
}


def field_for_key(key: str) -> tuple[str | None, str]:
    """(form field, the rest of the path) for a dotted service error key."""
    parts = key.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in FIELD_FOR_KEY:
            return FIELD_FOR_KEY[prefix], ".".join(parts[cut:])
    return None, key


def service_error_items(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted key, message) pairs of a service ValidationError."""
    if hasattr(exc, "error_dict"):
        return [
            (key, message)
            for key, errors in exc.error_dict.items()
            for error in errors
            for message in error.messages
        ]
    return [("__all__", message) for message in exc.messages]


def add_service_errors(
    form: forms.BaseForm, exc: ValidationError, *, only: set[str] | None = None
) -> list[tuple[str, str]]:
    """Show a service ValidationError inline on `form`; returns what it did not place.

    Parameter errors are also handed to the django-jsonform widget so they appear
    next to the parameter itself ("recipients.2" → the third recipient).
    `only` limits placement to some fields (a wizard step); the rest is returned.
    """
    leftovers = []
    for key, message in service_error_items(exc):
        field, rest = field_for_key(key)
        if only is not None and field not in only:
            leftovers.append((key, message))
            continue
        if field is None or field not in form.fields:
            form.add_error(None, f"{key}: {message}" if key != "__all__" else message)
            continue
        if field == "parameters" and rest and rest != "__all__":
            field_obj = form.fields["parameters"]
            if isinstance(field_obj.widget, JSONFormWidget):
                head = rest.split(".")[0]
                # Keys edited as JSON text have no inner widgets to attach to.
                coords = head if head in getattr(field_obj, "json_keys", ()) else rest
                field_obj.widget.add_error({coords.replace(".", "§"): [message]})
            message = f"{rest}: {message}"
        elif rest and field != "notify_emails" and rest != "__all__":
            message = f"{rest}: {message}"
        if form.has_error(field) and message in form.errors[field]:
            continue
        form.add_error(field, message)
    return leftovers


# --- Schedule ------------------------------------------------------------------


def timezone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
    return [(z, z.replace("_", " ")) for z in zones]


class ProjectTemplateWidgetMixin:
    """Render with the project's template engine (templates/), like django-jsonform.

    The default form renderer only looks in Django's and the apps' form templates.
    """

    def render(self, name, value, attrs=None, renderer=None):
        context = self.get_context(name, value, attrs)
        # The plain widget, rendered the usual way, for the template to wrap.
        if getattr(self, "template_name", None):
            context["input_html"] = super().render(name, value, attrs, renderer)
        return mark_safe(render_to_string(self.wrapper_template_name, context))  # noqa: S308


class CronBuilderWidget(ProjectTemplateWidgetMixin, forms.TextInput):
    """The raw cron input plus a builder of common schedules that writes into it."""

    wrapper_template_name = "scheduler_jobs/widgets/cron_builder.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["minutes"] = [f"{m:02d}" for m in range(60)]
        context["hours"] = [f"{h:02d}" for h in range(24)]
        context["monthdays"] = list(range(1, 32))
        context["weekdays"] = [
            ("1-5", "Monday to Friday"),
            ("0,6", "Saturday and Sunday"),
            ("1", "Monday"),
            ("2", "Tuesday"),
            ("3", "Wednesday"),
            ("4", "Thursday"),
            ("5", "Friday"),
            ("6", "Saturday"),
            ("0", "Sunday"),
        ]
        return context


class SchedulePreviewWidget(ProjectTemplateWidgetMixin, forms.Widget):
    """Live feedback for the schedule: its description and next five runs.

    Filled in by scheduler_jobs/schedule.js from the schedule-preview admin view.
    """

    wrapper_template_name = "scheduler_jobs/widgets/schedule_preview.html"
    template_name = ""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        try:
            context["preview_url"] = reverse(
                "admin:scheduler_jobs_dynamicjob_schedule_preview"
            )
        except NoReverseMatch:  # pragma: no cover - the admin is always installed
            context["preview_url"] = ""
        return context

    def value_from_datadict(self, data, files, name):
        return None


def _ds(role: str, **attrs: Any) -> dict[str, Any]:
    return {"data-ds": role, **attrs}


class ScheduleFieldsMixin(forms.Form):
    """Interval or cron (with builder), time zone, and the live preview."""

    schedule_type = forms.ChoiceField(
        label="Schedule",
        choices=[
            ("cron", "On a calendar (daily at, weekly on, cron…)"),
            ("interval", "Every fixed interval"),
        ],
        initial="cron",
        widget=forms.RadioSelect(attrs=_ds("schedule_type")),
    )
    every = forms.IntegerField(
        label="Every",
        min_value=1,
        required=False,
        initial=15,
        widget=forms.NumberInput(attrs=_ds("every", style="width: 6em")),
    )
    every_unit = forms.ChoiceField(
        label="Unit",
        choices=[(u, u) for u in UNIT_SECONDS],
        initial="minutes",
        required=False,
        widget=forms.Select(attrs=_ds("every_unit")),
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Cron times are wall-clock times in this zone (DST included).",
        widget=forms.Select(attrs=_ds("timezone")),
    )
    cron = forms.CharField(
        label="Cron expression",
        required=False,
        max_length=200,
        initial="0 2 * * *",
        help_text="Pick a preset or type five fields: minute hour day-of-month "
        "month day-of-week (e.g. 0 2 * * 1-5).",
        widget=CronBuilderWidget(
            attrs=_ds("cron", autocomplete="off", spellcheck="false", size=24)
        ),
    )
    schedule_preview = forms.CharField(
        label="Next runs",
        required=False,
        disabled=True,
        widget=SchedulePreviewWidget(),
    )

    schedule_field_names = (
        "schedule_type",
        "every",
        "every_unit",
        "timezone",
        "cron",
        "schedule_preview",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()
        self.fields["timezone"].initial = settings.TIME_ZONE

    def schedule_data(self) -> dict[str, Any]:
        """The schedule's JSON form from cleaned data (validated by the service)."""
        data = self.cleaned_data
        if data.get("schedule_type") == "interval":
            every = data.get("every")
            unit = data.get("every_unit") or "seconds"
            seconds = every * UNIT_SECONDS[unit] if every is not None else None
            return {"type": "interval", "every_seconds": seconds}
        return {
            "type": "cron",
            "cron": (data.get("cron") or "").strip(),
            "timezone": data.get("timezone") or "UTC",
        }

    def clean_schedule_fields(self) -> None:
        from scheduler_jobs.schedules import parse_schedule

        if self.errors:
            return
        schedule = self.schedule_data()
        if schedule["type"] == "interval" and schedule["every_seconds"] is None:
            self.add_error("every", "Enter how often the job runs.")
            return
        try:
            parse_schedule(schedule)
        except ValidationError as exc:
            add_service_errors(self, _prefixed("schedule", exc))


def schedule_initial(schedule: dict[str, Any]) -> dict[str, Any]:
    if schedule.get("type") == "interval":
        seconds = int(schedule.get("every_seconds") or 60)
        unit = next(
            u
            for u in ("days", "hours", "minutes", "seconds")
            if seconds % UNIT_SECONDS[u] == 0
        )
        return {
            "schedule_type": "interval",
            "every": seconds // UNIT_SECONDS[unit],
            "every_unit": unit,
        }
    return {
        "schedule_type": "cron",
        "cron": schedule.get("cron", ""),
        "timezone": schedule.get("timezone", "UTC"),
    }


def _prefixed(prefix: str, exc: ValidationError) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for key, message in service_error_items(exc):
        full = prefix if key == "__all__" else f"{prefix}.{key}"
        errors.setdefault(full, []).append(message)
    return ValidationError(errors)


# --- Options and notifications ---------------------------------------------------


class OptionsFieldsMixin(forms.Form):
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)",
        initial=1800,
        help_text="A run still going after this is stopped and marked timed out.",
    )
    max_retries = forms.IntegerField(
        label="Retries",
        initial=3,
        help_text="How many times a failed run is retried (0 to 10).",
    )
    delay_seconds = forms.IntegerField(
        label="Retry delay (seconds)",
        initial=60,
        help_text="Wait before the first retry.",
    )
    backoff = forms.FloatField(
        label="Backoff factor",
        initial=2.0,
        help_text="Each further retry waits this many times longer (1 = constant).",
    )
    overlap_policy = forms.ChoiceField(
        label="If the previous run is still going",
        choices=DynamicJob.OverlapPolicy.choices,
        initial=DynamicJob.OverlapPolicy.SKIP,
        widget=forms.RadioSelect,
    )
    misfire_policy = forms.ChoiceField(
        label="If runs were missed (scheduler down)",
        choices=DynamicJob.MisfirePolicy.choices,
        initial=DynamicJob.MisfirePolicy.RUN_ONCE,
        widget=forms.RadioSelect,
    )
    queue = forms.CharField(
        label="Celery queue",
        required=False,
        max_length=64,
        help_text="Leave empty for the queue set for the template's resource usage.",
    )
    notify_emails = forms.CharField(
        label="Email",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text="Addresses to notify, one per line or separated by commas.",
    )
    slack_webhook = forms.CharField(
        label="Slack webhook",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off"}),
        help_text="An incoming-webhook URL (https). Stored secret; shown masked.",
    )
    notify_on = forms.MultipleChoiceField(
        label="Notify on",
        required=False,
        choices=[(e, EVENT_LABELS[e]) for e in NOTIFICATION_EVENTS],
        initial=["failure", "exhausted"],
        widget=forms.CheckboxSelectMultiple,
    )

    options_field_names = (
        "timeout_seconds",
        "max_retries",
        "delay_seconds",
        "backoff",
        "overlap_policy",
        "misfire_policy",
        "queue",
    )
    notification_field_names = ("notify_emails", "slack_webhook", "notify_on")

    def options_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        emails = [
            e.strip()
            for chunk in (data.get("notify_emails") or "").splitlines()
            for e in chunk.split(",")
            if e.strip()
        ]
        backoff = data.get("backoff")
        return {
            "timeout_seconds": data.get("timeout_seconds"),
            "retry_policy": {
                "max_retries": data.get("max_retries"),
                "delay_seconds": data.get("delay_seconds"),
                "backoff": float(backoff) if backoff is not None else None,
            },
            "overlap_policy": data.get("overlap_policy"),
            "misfire_policy": data.get("misfire_policy"),
            "queue": (data.get("queue") or "").strip(),
            "notifications": {
                "emails": emails,
                "slack_webhook": (data.get("slack_webhook") or "").strip(),
                "on": list(data.get("notify_on") or []),
            },
        }


def options_initial(job: DynamicJob) -> dict[str, Any]:
    retry = {**default_retry_policy(), **(job.retry_policy or {})}
    notifications = job.notifications or {}
    return {
        "timeout_seconds": job.timeout_seconds,
        "max_retries": retry["max_retries"],
        "delay_seconds": retry["delay_seconds"],
        "backoff": retry["backoff"],
        "overlap_policy": job.overlap_policy,
        "misfire_policy": job.misfire_policy,
        "queue": job.queue,
        "notify_emails": "\n".join(notifications.get("emails") or []),
        "slack_webhook": mask_webhook(notifications.get("slack_webhook") or ""),
        "notify_on": notifications.get("on") or [],
    }


# --- Parameters ------------------------------------------------------------------


def _free_form(schema: dict[str, Any]) -> bool:
    """A parameter django-jsonform cannot build a form for: edited as JSON text."""
    kind = schema.get("type")
    if kind is None or isinstance(kind, list):
        return "enum" not in schema
    return kind == "object" and not schema.get("properties")


def widget_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The template's schema as django-jsonform renders it, and the JSON-text keys.

    JSON Schema `description` becomes the widget's field help; free-form
    objects (a cleanup condition, a JSON body) become a textarea of JSON, since
    a key/value editor of strings cannot express {"ago": "30d"}.
    """
    schema = copy.deepcopy(schema)
    json_keys: set[str] = set()

    def with_help(sub: dict[str, Any]) -> dict[str, Any]:
        if sub.get("description") and "help_text" not in sub:
            sub["help_text"] = sub["description"]
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


class ParametersField(forms.JSONField):
    """Template parameters edited with django-jsonform; free-form keys as JSON text."""

    def __init__(self, *, template: JobTemplate, **kwargs: Any) -> None:
        schema, self.json_keys = widget_schema(template.get_schema())
        kwargs.setdefault("widget", JSONFormWidget(schema=schema))
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
        add_service_errors(form, _prefixed("parameters", exc))
        return None


# --- Wizard steps ----------------------------------------------------------------


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
        if template.risk_level == "critical" and not (
            self.user and self.user.has_perm("job_templates.use_critical_template")
        ):
            raise ValidationError(
                f"{template.name} is a critical-risk template; you need the "
                "“Can use templates whose risk level is critical” permission."
            )
        return value


class ParametersStepForm(forms.Form):
    name = forms.CharField(
        label="Job name",
        max_length=200,
        help_text="Unique; shown in lists, logs and notifications.",
        widget=forms.TextInput(attrs={"size": 50}),
    )
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def __init__(self, *args: Any, template: JobTemplate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
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
        return cleaned


class ScheduleStepForm(ScheduleFieldsMixin):
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
            option_fields = set(self.options_field_names) | set(
                self.notification_field_names
            )
            add_service_errors(self, exc, only=option_fields)
        return cleaned


class ReviewStepForm(forms.Form):
    enabled = forms.BooleanField(
        label="Enable the job now",
        required=False,
        initial=True,
        help_text="Disabled jobs do not run on schedule but can still be run by hand.",
    )


# --- Change form -------------------------------------------------------------------


class DynamicJobChangeForm(ScheduleFieldsMixin, OptionsFieldsMixin, forms.ModelForm):
    """The job's sections as one form; saved through job_update (optimistic lock).

    The save happens in clean(), not save(): the service is what validates, so
    calling it here is what lets its errors (and a version conflict) show inline,
    with everything the user typed still in the form.
    """

    version = forms.IntegerField(widget=forms.HiddenInput)

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
        self.conflict = None
        self.saved = False

    def job_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data.get("name"),
            "description": data.get("description") or "",
            "enabled": bool(data.get("enabled")),
            "parameters": data.get("parameters") or {},
            "schedule": self.schedule_data(),
            **self.options_data(),
        }

    def clean(self) -> dict[str, Any]:
        from scheduler_jobs.services import VersionConflict, job_update

        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.cleaned_data.get(
            "schedule_type"
        ) == "interval" and not self.cleaned_data.get("every"):
            self.add_error("every", "Enter how often the job runs.")
            return cleaned
        try:
            job = job_update(
                job=self.instance,
                user=self.request.user if self.request else None,
                data=self.job_data(),
                expected_version=cleaned["version"],
                request=self.request,
                source="admin",
            )
        except VersionConflict as exc:
            self.conflict = exc
            # Keep what the user typed; the next save knowingly overwrites.
            self.data = self.data.copy()
            self.data[self.add_prefix("version")] = str(exc.current_version)
            raise ValidationError(
                "Someone else saved this job while you were editing it (it is now "
                f"version {exc.current_version}). Your changes are kept below and were "
                "NOT saved. Compare with the current job (open it in a new tab), then "
                "save again to overwrite it with what you see here.",
                code="version_conflict",
            ) from exc
        except ValidationError as exc:
            add_service_errors(self, exc)
            return cleaned
        self.instance = job
        self.saved = True
        return cleaned

    def _post_clean(self) -> None:
        # Model validation is the service's job (see clean()).
        pass

    def save(self, commit: bool = True) -> DynamicJob:
        return self.instance


def parameters_as_text(params: dict[str, Any]) -> str:
    return json.dumps(params, indent=2, sort_keys=True, ensure_ascii=False)
