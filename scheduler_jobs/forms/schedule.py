"""The schedule section, shared by the wizard and the change form: interval or
cron, time zone, calendar, jitter, blackout behaviour and the live preview."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from scheduler_jobs.forms.errors import add_service_errors
from scheduler_jobs.forms.widgets import CronBuilderWidget, SchedulePreviewWidget
from scheduler_jobs.spec import prefixed

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CALENDAR_RULES = [
    ("business_days", "Run on business days only"),
    ("only", "Run only on the calendar's holidays"),
    ("never", "Never run on the calendar's holidays"),
    ("first_business_day", "Run on the first business day of each month"),
    ("last_business_day", "Run on the last business day of each month"),
]
BLACKOUT_CHOICES = [
    ("skip", "Skip the run"),
    ("defer", "Run it when the window ends"),
]


# How the schedule's fields are laid out, in the wizard's step and the change form.
SCHEDULE_LAYOUT = (
    "schedule_type",
    ("every", "every_unit"),
    "timezone",
    "cron",
    "calendar",
    "calendar_rule",
    "in_blackout",
    "jitter_seconds",
    "schedule_preview",
)


def timezone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
    return [(z, z.replace("_", " ")) for z in zones]


def _ds(role: str, **attrs: Any) -> dict[str, Any]:
    return {"data-ds": role, **attrs}


class ScheduleFieldsMixin(forms.Form):
    """Interval or cron (with builder), time zone, and the live preview."""

    schedule_type = forms.ChoiceField(
        label="Schedule",
        choices=[
            ("cron", "At set times (daily at, weekly on, cron…)"),
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
    calendar = forms.ChoiceField(
        label="Calendar",
        required=False,
        help_text="Holidays and business days the job follows; none means every "
        "day counts.",
        widget=forms.Select(attrs=_ds("calendar")),
    )
    calendar_rule = forms.ChoiceField(
        label="On that calendar",
        required=False,
        choices=CALENDAR_RULES,
        initial="business_days",
        help_text="Which of the schedule's times the calendar lets run; the others "
        "are skipped and shown as skipped below.",
        widget=forms.Select(attrs=_ds("calendar_rule")),
    )
    jitter_seconds = forms.IntegerField(
        label="Spread start by up to",
        required=False,
        min_value=0,
        max_value=3600,
        initial=0,
        help_text="Seconds (0 to 3600). Each job gets its own fixed delay within "
        "this, so many jobs on the same schedule do not all start at once.",
        widget=forms.NumberInput(attrs=_ds("jitter_seconds", style="width: 6em")),
    )
    in_blackout = forms.ChoiceField(
        label="During a blackout window",
        required=False,
        choices=BLACKOUT_CHOICES,
        initial="skip",
        widget=forms.RadioSelect(attrs=_ds("in_blackout")),
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
        "calendar",
        "calendar_rule",
        "jitter_seconds",
        "in_blackout",
        "schedule_preview",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()
        self.fields["timezone"].initial = settings.TIME_ZONE
        self.fields["calendar"].choices = calendar_choices()

    def preview_for(self, *, name: str, job_id: int | None, category: str) -> None:
        """Tell the live preview which job it previews: jitter and blackout
        windows depend on the job's name, id and template category."""
        self.fields["schedule_preview"].widget.attrs.update(
            job_name=name, job_id=job_id or "", category=category
        )

    def schedule_data(self) -> dict[str, Any]:
        """The schedule's JSON form from cleaned data (validated by the service)."""
        data = self.cleaned_data
        if data.get("schedule_type") == "interval":
            every = data.get("every")
            unit = data.get("every_unit") or "seconds"
            seconds = every * UNIT_SECONDS[unit] if every is not None else None
            schedule = {"type": "interval", "every_seconds": seconds}
        else:
            schedule = {
                "type": "cron",
                "cron": (data.get("cron") or "").strip(),
                "timezone": data.get("timezone") or "UTC",
            }
        return {**schedule, **time_plan_data(data)}

    def clean_schedule_fields(self) -> None:
        from scheduler_jobs.services.timeplan import schedule_clean

        if self.errors:
            return
        schedule = self.schedule_data()
        if schedule["type"] == "interval" and schedule["every_seconds"] is None:
            self.add_error("every", "Enter how often the job runs.")
            return
        try:
            schedule_clean(schedule)
        except ValidationError as exc:
            add_service_errors(self, prefixed("schedule", exc))


def time_plan_data(data: Any) -> dict[str, Any]:
    """The schedule's optional keys (calendar, jitter, blackout), only when set.

    A key left at its default stays out of the schedule, so a job that uses none
    of them keeps the schedule it always had.
    """
    plan: dict[str, Any] = {}
    if data.get("calendar"):
        plan["calendar"] = data["calendar"]
        plan["calendar_rule"] = data.get("calendar_rule") or "business_days"
    if data.get("jitter_seconds"):
        plan["jitter_seconds"] = data["jitter_seconds"]
    if data.get("in_blackout") and data["in_blackout"] != "skip":
        plan["in_blackout"] = data["in_blackout"]
    return plan


def calendar_choices() -> list[tuple[str, str]]:
    """The calendars to choose from, by title, with "None" first."""
    from scheduler_jobs.models import Calendar

    calendars = Calendar.objects.order_by("title", "name").values_list("name", "title")
    return [("", "None: every day counts")] + [
        (name, title or name) for name, title in calendars
    ]


def schedule_initial(schedule: dict[str, Any]) -> dict[str, Any]:
    """The fields' values for a stored schedule; keys it lacks keep the
    fields' own initial values (no calendar, no jitter, skip)."""
    plan = {key: schedule[key] for key in PLAN_FIELDS if key in schedule}
    return {**_frequency_initial(schedule), **plan}


PLAN_FIELDS = ("calendar", "calendar_rule", "jitter_seconds", "in_blackout")


def _frequency_initial(schedule: dict[str, Any]) -> dict[str, Any]:
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
