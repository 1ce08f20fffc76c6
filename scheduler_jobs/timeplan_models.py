"""When jobs may run: business calendars, blackout windows and the maintenance pause.

Written only through scheduler_jobs.services.timeplan (authorised and audited);
read by the time engine (scheduler_jobs.schedules.plan) through
`timeplan.time_rules()`, so previews, the simulator and the dispatcher judge a
slot with the same rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


def default_workdays() -> list[int]:
    """Monday to Friday, as ISO weekdays (1 = Monday … 7 = Sunday)."""
    return [1, 2, 3, 4, 5]


class Calendar(models.Model):
    """A named set of business days: public holidays, custom dates, workdays.

    Jobs refer to it by `name` in their schedule (`"calendar": "de-by"`), so a
    calendar that jobs use can be neither deleted nor renamed.
    """

    name = models.CharField(
        max_length=64,
        help_text="Short key that schedules refer to, e.g. de-by.",
    )
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    country = models.CharField(
        max_length=8,
        blank=True,
        help_text="Country whose public holidays count (ISO 3166 code, e.g. DE); "
        "empty for none.",
    )
    subdivision = models.CharField(
        max_length=16,
        blank=True,
        help_text="State or region of the country, e.g. BY for Bavaria; empty for "
        "the whole country.",
    )
    workdays = models.JSONField(
        default=default_workdays,
        help_text="Weekdays that are business days (1 = Monday … 7 = Sunday).",
    )
    extra_holidays = models.JSONField(
        default=list,
        blank=True,
        help_text="More days off: a list of {date, name}.",
    )
    extra_workdays = models.JSONField(
        default=list,
        blank=True,
        help_text="Business days although weekend or holiday: a list of {date, name}.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        db_table = "scheduler_calendars"
        ordering = ["name"]
        verbose_name = "business calendar"
        verbose_name_plural = "business calendars"
        constraints = [
            models.UniqueConstraint(Lower("name"), name="scheduler_calendars_name_ci")
        ]

    def __str__(self) -> str:
        return self.title or self.name

    @property
    def region(self) -> str:
        """ "DE-BY", "DE" or "" for the reasons that name a holiday."""
        if not self.country:
            return ""
        return (
            f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        )


class BlackoutWindow(models.Model):
    """A time when jobs in its scope do not run: once, or recurring.

    One-off: `starts_at` to `ends_at`. Recurring: each time the `cron`
    expression matches in `timezone`, for `duration_minutes` of real time.
    A slot inside is skipped or deferred to the window's end, as the job's
    schedule says (`in_blackout`).
    """

    class Scope(models.TextChoices):
        GLOBAL = "global", "All jobs"
        CATEGORY = "category", "Jobs of one template category"
        JOB = "job", "One job"

    name = models.CharField(max_length=200)
    reason = models.CharField(max_length=500)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.GLOBAL)
    category = models.CharField(max_length=100, blank=True)
    job = models.ForeignKey(
        "scheduler_jobs.DynamicJob",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="blackout_windows",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    cron = models.CharField(max_length=200, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "scheduler_blackout_windows"
        ordering = ["name", "id"]
        verbose_name = "blackout window"
        verbose_name_plural = "blackout windows"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(starts_at__isnull=False, ends_at__isnull=False, cron="")
                    | (
                        models.Q(starts_at__isnull=True, ends_at__isnull=True)
                        & ~models.Q(cron="")
                        & models.Q(duration_minutes__gte=1)
                    )
                ),
                name="scheduler_blackout_windows_once_or_recurring",
            ),
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="scheduler_blackout_windows_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def recurring(self) -> bool:
        return bool(self.cron)


class MaintenancePause(models.Model):
    """The one switch that stops all scheduled dispatch (row pk=1).

    While `active` (and `resume_at`, if set, has not passed) beat dispatches
    nothing and queues no retry; on resume each job catches up as its misfire
    policy allows, never more than one run.
    """

    SINGLETON = 1

    active = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "scheduler_maintenance_pause"
        verbose_name = "maintenance pause"
        verbose_name_plural = "maintenance pause"
        permissions = [("pause_scheduler", "Can pause and resume all scheduled runs")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pk=1), name="scheduler_maintenance_pause_singleton"
            )
        ]

    def __str__(self) -> str:
        return "Maintenance pause"
