"""The schedule section, shared by the wizard and the change form: interval or
cron, time zone, and the live preview."""

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
            add_service_errors(self, prefixed("schedule", exc))


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
