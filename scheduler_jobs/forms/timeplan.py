"""Admin forms for calendars, blackout windows, the pause and the simulator.

Like the job change form, the calendar and window forms save through their
service in clean(): the service is what validates, so its errors show next to
the field that caused them, with everything the user typed kept.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from job_templates.registry import registry
from scheduler_jobs.forms.schedule import timezone_choices
from scheduler_jobs.labels import zone
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob
from scheduler_jobs.spec import error_items

WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]
LOCAL_FORMAT = "%Y-%m-%d %H:%M"


def local_datetime_field(
    label: str, *, required: bool = True, example: str = "", help_text: str = ""
) -> forms.DateTimeField:
    """A date-time typed as YYYY-MM-DD HH:MM (or as a browser's datetime-local
    sends it); `example`, when given, shows in the empty box."""
    widget = (
        forms.TextInput(attrs={"placeholder": example, "size": 18}) if example else None
    )
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=[LOCAL_FORMAT, "%Y-%m-%dT%H:%M"],
        widget=widget,
        help_text=help_text,
    )


# Times the simulator may ask about (see serializers_timeplan).
FIRST_YEAR, LAST_YEAR = 1970, 2999
_DATE_LINE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(.*?)\s*$")


def country_choices() -> list[tuple[str, str]]:
    """Every country the holidays package knows, by name, with "None" first."""
    from holidays import registry as holiday_registry

    countries = sorted(
        (entry[1], re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0]))
        for entry in holiday_registry.COUNTRIES.values()
    )
    return [("", "None: only the dates below")] + [
        (code, f"{name} ({code})") for code, name in sorted(countries, key=_by_name)
    ]


def _by_name(choice: tuple[str, str]) -> str:
    return choice[1]


def entries_text(entries: list[dict[str, Any]] | None) -> str:
    """[{"date", "name"}] as the textarea shows it: one "date name" a line."""
    return "\n".join(
        f"{entry.get('date', '')} {entry.get('name', '')}".rstrip()
        for entry in entries or []
    )


def parse_entries(text: str) -> list[dict[str, str]]:
    """The textarea's lines as [{"date", "name"}]; a bad line names its number."""
    entries = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = _DATE_LINE.match(line)
        try:
            day = date.fromisoformat(match.group(1)) if match else None
        except ValueError:
            day = None
        if day is None:
            raise ValidationError(
                f"Line {number}: start with a date as YYYY-MM-DD, then a name "
                "(e.g. 2026-12-24 Christmas Eve)."
            )
        entries.append({"date": day.isoformat(), "name": match.group(2)})
    return entries


def add_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's errors next to the field named by the key's first part."""
    aliases = getattr(form, "error_fields", {})
    for key, message in error_items(exc):
        field, _, rest = key.partition(".")
        field = aliases.get(field, field)
        if field in form.fields:
            form.add_error(field, f"{rest}: {message}" if rest else message)
        else:
            form.add_error(None, message)


class ServiceSavedForm(forms.ModelForm):
    """A model form saved by its service in clean() (see the module's doc)."""

    request: Any = None  # set by the admin's get_form

    def service_data(self) -> dict[str, Any]:
        raise NotImplementedError

    def save_through_service(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = self.save_through_service(self.service_data())
        except ValidationError as exc:
            add_errors(self, exc)
        return cleaned

    @property
    def actor(self) -> Any:
        return self.request.user if self.request else None

    def _post_clean(self) -> None:
        # Model validation is the service's job (see clean()).
        pass

    def save(self, commit: bool = True) -> Any:
        return self.instance

    def save_m2m(self) -> None:
        pass


class CalendarForm(ServiceSavedForm):
    workdays = forms.TypedMultipleChoiceField(
        label="Business days of the week",
        choices=WEEKDAYS,
        coerce=int,
        initial=[1, 2, 3, 4, 5],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The other days of the week are never business days.",
    )
    extra_holidays = forms.CharField(
        label="Extra days off",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 50}),
        help_text="One a line: the date (YYYY-MM-DD) then a name, e.g. "
        "“2026-12-24 Christmas Eve”. Added to the country's public holidays.",
    )
    extra_workdays = forms.CharField(
        label="Extra business days",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 50}),
        help_text="Days that count as business days although they would not, one "
        "a line as above (e.g. a Saturday worked to bridge a holiday).",
    )

    class Meta:
        model = Calendar
        fields = ("name", "title", "description", "country", "subdivision")
        labels = {
            "name": "Short name",
            "title": "Title",
            "country": "Public holidays of",
            "subdivision": "Region",
        }
        help_texts = {
            "name": "How jobs refer to the calendar: letters, digits, dashes "
            "(e.g. de-by). Unique.",
            "title": "What people read, e.g. “Bavaria business days”.",
            "country": "The country whose public holidays are days off.",
            "subdivision": "A state or region code of that country, e.g. BY for "
            "Bavaria; empty for the nationwide holidays only.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        instance = kwargs.get("instance")
        if instance is not None and instance.pk and not kwargs.get("data"):
            kwargs["initial"] = {
                "workdays": instance.workdays,
                "extra_holidays": entries_text(instance.extra_holidays),
                "extra_workdays": entries_text(instance.extra_workdays),
                **(kwargs.get("initial") or {}),
            }
        super().__init__(*args, **kwargs)
        self.fields["country"] = forms.ChoiceField(
            label=self.fields["country"].label,
            help_text=self.fields["country"].help_text,
            choices=country_choices(),
            required=False,
        )

    def clean_extra_holidays(self) -> list[dict[str, str]]:
        return parse_entries(self.cleaned_data.get("extra_holidays", ""))

    def clean_extra_workdays(self) -> list[dict[str, str]]:
        return parse_entries(self.cleaned_data.get("extra_workdays", ""))

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data.get("name") or "",
            "title": data.get("title") or "",
            "description": data.get("description") or "",
            "country": data.get("country") or "",
            "subdivision": (data.get("subdivision") or "").strip(),
            "workdays": sorted(data.get("workdays") or []),
            "extra_holidays": data.get("extra_holidays") or [],
            "extra_workdays": data.get("extra_workdays") or [],
        }

    def save_through_service(self, data: dict[str, Any]) -> Calendar:
        from scheduler_jobs.services import timeplan

        if self.instance.pk:
            return timeplan.calendar_update(
                actor=self.actor, calendar=self.instance, data=data
            )
        return timeplan.calendar_create(actor=self.actor, data=data)


def category_choices() -> list[tuple[str, str]]:
    categories = sorted({template.category for template in registry})
    return [("", "—")] + [(c, c.capitalize()) for c in categories]


def local_text(value: datetime | None, zone_name: str) -> str:
    if value is None:
        return ""
    return value.astimezone(zone(zone_name)).strftime(LOCAL_FORMAT)


class BlackoutWindowForm(ServiceSavedForm):
    # The service names the model's fields; the form edits these as local text.
    error_fields = {"starts_at": "starts", "ends_at": "ends"}
    kind = forms.ChoiceField(
        label="When",
        choices=[
            ("once", "Once, from one time to another"),
            ("recurring", "Again and again (a cron schedule and a duration)"),
        ],
        initial="once",
        widget=forms.RadioSelect,
    )
    starts = local_datetime_field(
        "From",
        required=False,
        example="2026-12-24 18:00",
        help_text="YYYY-MM-DD HH:MM, in the time zone below.",
    )
    ends = local_datetime_field(
        "Until",
        required=False,
        example="2026-12-27 06:00",
        help_text="YYYY-MM-DD HH:MM, in the time zone below.",
    )

    class Meta:
        model = BlackoutWindow
        fields = (
            "name",
            "reason",
            "enabled",
            "scope",
            "category",
            "job",
            "cron",
            "duration_minutes",
            "timezone",
        )
        labels = {
            "name": "Name",
            "reason": "Reason",
            "scope": "Applies to",
            "category": "Template category",
            "job": "Job",
            "cron": "Starts (cron)",
            "duration_minutes": "Lasts (minutes)",
            "timezone": "Time zone",
        }
        help_texts = {
            "reason": "Shown beside every run the window skips or moves.",
            "category": "Only when it applies to a template category.",
            "job": "Only when it applies to one job.",
            "cron": "When each window starts, as five cron fields, e.g. 0 22 * * 6 "
            "for Saturdays at 22:00.",
            "duration_minutes": "How long each window lasts.",
            "timezone": "The times above are wall-clock times in this zone.",
        }
        widgets = {"scope": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        instance = kwargs.get("instance")
        if instance is not None and instance.pk and not kwargs.get("data"):
            zone_name = instance.timezone or "UTC"
            kwargs["initial"] = {
                "kind": "recurring" if instance.cron else "once",
                "starts": local_text(instance.starts_at, zone_name),
                "ends": local_text(instance.ends_at, zone_name),
                **(kwargs.get("initial") or {}),
            }
        super().__init__(*args, **kwargs)
        self.fields["timezone"] = forms.ChoiceField(
            label="Time zone",
            choices=timezone_choices(),
            initial=settings.TIME_ZONE,
            help_text=self.fields["timezone"].help_text,
        )
        self.fields["category"] = forms.ChoiceField(
            label="Template category",
            choices=category_choices(),
            required=False,
            help_text=self.fields["category"].help_text,
        )
        self.fields["job"].queryset = DynamicJob.objects.order_by("name").only("name")

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        zone_name = data.get("timezone") or "UTC"
        once = data.get("kind") != "recurring"
        return {
            "name": data.get("name") or "",
            "reason": data.get("reason") or "",
            "enabled": bool(data.get("enabled")),
            "scope": data.get("scope") or "",
            "category": data.get("category") or "",
            "job": data.get("job"),
            "starts_at": _aware(data.get("starts"), zone_name) if once else None,
            "ends_at": _aware(data.get("ends"), zone_name) if once else None,
            "cron": "" if once else (data.get("cron") or "").strip(),
            "duration_minutes": None if once else data.get("duration_minutes"),
            "timezone": zone_name,
        }

    def save_through_service(self, data: dict[str, Any]) -> BlackoutWindow:
        from scheduler_jobs.services import timeplan

        if self.instance.pk:
            return timeplan.window_update(
                actor=self.actor, window=self.instance, data=data
            )
        return timeplan.window_create(actor=self.actor, data=data)


def _aware(value: datetime | None, zone_name: str) -> datetime | None:
    """A wall-clock time typed in `zone_name` as an aware datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=None).replace(tzinfo=zone(zone_name))


class PauseForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Shown on every admin page while scheduling is paused.",
    )
    resume_at = local_datetime_field(
        "Resume at (optional)",
        required=False,
        example="2026-12-24 06:00",
        help_text="YYYY-MM-DD HH:MM, in UTC. Empty: paused until someone resumes.",
    )

    def clean_resume_at(self) -> datetime | None:
        return _aware(self.cleaned_data.get("resume_at"), "UTC")


class SimulateForm(forms.Form):
    """The simulator's question: which jobs, which range, an optional outage."""

    job = forms.ModelChoiceField(
        label="Job",
        queryset=DynamicJob.objects.none(),
        required=False,
        empty_label="All enabled jobs",
    )
    timezone = forms.ChoiceField(
        label="Times in",
        required=False,
        help_text="The zone of the times you type here; the table shows each "
        "job's times in its own zone.",
    )
    start = local_datetime_field("From")
    end = local_datetime_field("Until")
    down_from = local_datetime_field(
        "Scheduler down from",
        required=False,
        help_text="Optional: to see what runs when it comes back.",
    )
    down_to = local_datetime_field("Back at", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["job"].queryset = DynamicJob.objects.order_by("name").only(
            "name", "schedule"
        )
        self.fields["timezone"].choices = timezone_choices()
        for name in ("start", "end", "down_from", "down_to"):
            self.fields[name].widget.attrs.update(
                size=18, placeholder="YYYY-MM-DD HH:MM"
            )

    @staticmethod
    def initial_for(job: DynamicJob | None, zone_name: str) -> dict[str, Any]:
        """The next 7 days from now, in `zone_name`."""
        now = (
            timezone.now().astimezone(zone(zone_name)).replace(second=0, microsecond=0)
        )
        return {
            "job": job,
            "timezone": zone_name,
            "start": now.strftime(LOCAL_FORMAT),
            "end": (now + timedelta(days=7)).strftime(LOCAL_FORMAT),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        zone_name = cleaned.get("timezone") or "UTC"
        for name in ("start", "end", "down_from", "down_to"):
            if cleaned.get(name) is None:
                continue
            if not FIRST_YEAR <= cleaned[name].year <= LAST_YEAR:
                self.add_error(
                    name, f"Must be in the years {FIRST_YEAR} to {LAST_YEAR}."
                )
                cleaned.pop(name, None)
                continue
            cleaned[name] = _aware(cleaned[name], zone_name)
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end <= start:
            self.add_error("end", "Must be after “From”.")
        down_from, down_to = cleaned.get("down_from"), cleaned.get("down_to")
        if bool(down_from) != bool(down_to):
            field = "down_to" if down_from else "down_from"
            self.add_error(field, "Give both ends of the outage, or neither.")
        elif down_from and down_to and down_to <= down_from:
            self.add_error("down_to", "Must be after “Scheduler down from”.")
        return cleaned
