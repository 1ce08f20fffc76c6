"""The API's shapes for calendars, blackout windows, the pause and the simulator.

They check JSON types only; every rule (known country, one-off or recurring,
cron syntax, a calendar in use) is the timeplan service's, answered as a 400
naming the field.
"""

from __future__ import annotations

from rest_framework import serializers

from config.rest import (
    RefuseUnknownFieldsMixin,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob
from scheduler_jobs.services.timeplan import CALENDAR_FIELDS, WINDOW_FIELDS


class DateEntrySerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    date = serializers.DateField(help_text="YYYY-MM-DD.")
    name = StrictCharField(max_length=200, allow_blank=True, default="")


class CalendarSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    """A business calendar: public holidays of a country, custom dates, workdays."""

    name = StrictCharField(
        max_length=64,
        help_text='Short key that job schedules refer to ("calendar"), e.g. de-by.',
    )
    title = StrictCharField(max_length=200, allow_blank=True, required=False)
    description = StrictCharField(max_length=5000, allow_blank=True, required=False)
    country = StrictCharField(
        max_length=8,
        allow_blank=True,
        required=False,
        help_text="ISO 3166 code of the country whose public holidays count; "
        "empty for none.",
    )
    subdivision = StrictCharField(
        max_length=16,
        allow_blank=True,
        required=False,
        help_text="State or region code, e.g. BY; empty for the whole country.",
    )
    workdays = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=7),
        max_length=7,
        required=False,
        help_text="ISO weekdays that are business days (1 = Monday … 7 = Sunday).",
    )
    extra_holidays = DateEntrySerializer(many=True, required=False, max_length=1000)
    extra_workdays = DateEntrySerializer(many=True, required=False, max_length=1000)

    class Meta:
        model = Calendar
        # What the service takes, plus the row's id and times (read-only).
        fields = ("id", *CALENDAR_FIELDS, "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class CalendarDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.ChoiceField(
        choices=["holiday", "extra_holiday", "weekend", "extra_workday"],
        help_text="holiday: a public holiday; extra_holiday: a custom day off; "
        "weekend: not one of the calendar's workdays; extra_workday: a custom "
        "business day.",
    )
    name = serializers.CharField()


class BlackoutWindowSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    """A time when jobs in its scope do not run: once (starts_at to ends_at) or
    recurring (cron + duration_minutes in timezone)."""

    name = StrictCharField(max_length=200)
    reason = StrictCharField(max_length=500)
    scope = StrictChoiceField(
        choices=BlackoutWindow.Scope.choices, default=BlackoutWindow.Scope.GLOBAL
    )
    category = StrictCharField(
        max_length=100,
        allow_blank=True,
        required=False,
        help_text="The template category, when scope is category.",
    )
    job = serializers.PrimaryKeyRelatedField(
        queryset=DynamicJob.objects.all(),
        allow_null=True,
        required=False,
        help_text="The job's id, when scope is job.",
    )
    starts_at = serializers.DateTimeField(allow_null=True, required=False)
    ends_at = serializers.DateTimeField(allow_null=True, required=False)
    cron = StrictCharField(max_length=200, allow_blank=True, required=False)
    duration_minutes = StrictIntegerField(
        min_value=1, max_value=527_040, allow_null=True, required=False
    )
    timezone = StrictCharField(max_length=64, required=False, default="UTC")
    enabled = StrictBooleanField(required=False, default=True)

    class Meta:
        model = BlackoutWindow
        fields = ("id", *WINDOW_FIELDS, "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class PauseStateSerializer(serializers.Serializer):
    active = serializers.BooleanField()
    reason = serializers.CharField()
    resume_at = serializers.DateTimeField(allow_null=True)
    paused_by = serializers.CharField(allow_null=True)
    paused_at = serializers.DateTimeField(allow_null=True)
    resumed_by = serializers.CharField(allow_null=True)
    resumed_at = serializers.DateTimeField(allow_null=True)


class PauseRequestSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    reason = StrictCharField(max_length=500)
    resume_at = serializers.DateTimeField(
        allow_null=True,
        required=False,
        help_text="When scheduling resumes by itself; absent or null: until "
        "someone resumes it.",
    )


# Times a simulation may ask about: far enough for any plan, short of the
# calendar's end, past which no slot can be computed.
FIRST_YEAR, LAST_YEAR = 1970, 2999


class SimulateRequestSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    job_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=999_999_999),
        max_length=1000,
        required=False,
        help_text="The jobs to simulate; absent: every enabled job.",
    )
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    down_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Optional outage start: what runs when the scheduler comes back.",
    )
    down_to = serializers.DateTimeField(required=False, allow_null=True)
    limit = StrictIntegerField(min_value=1, max_value=5000, default=5000)

    def validate(self, attrs):
        for name in ("start", "end", "down_from", "down_to"):
            value = attrs.get(name)
            if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
                raise serializers.ValidationError(
                    {name: [f"Must be in the years {FIRST_YEAR} to {LAST_YEAR}."]}
                )
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        down_from, down_to = attrs.get("down_from"), attrs.get("down_to")
        if bool(down_from) != bool(down_to):
            missing = "down_to" if down_from else "down_from"
            raise serializers.ValidationError(
                {missing: ["Give both ends of the outage, or neither."]}
            )
        if down_from and down_to <= down_from:
            raise serializers.ValidationError({"down_to": ["Must be after down_from."]})
        return attrs


class SlotSerializer(serializers.Serializer):
    """One slot of a job; with an outage, the slots due meanwhile say what the
    scheduler does when it is back (misfire policy applied)."""

    job_id = serializers.IntegerField()
    job_name = serializers.CharField()
    at = serializers.DateTimeField(help_text="When it starts, jitter included.")
    nominal = serializers.DateTimeField(help_text="The schedule's own time.")
    outcome = serializers.ChoiceField(choices=["runs", "skipped", "deferred"])
    reason = serializers.CharField(help_text="Why, in plain words; empty if it runs.")


class SimulateResponseSerializer(serializers.Serializer):
    slots = SlotSerializer(many=True)
    truncated = serializers.BooleanField(
        help_text="True when there were more slots than the limit."
    )
