"""The admin of when jobs may run: calendars, blackout windows, the maintenance
pause and the simulator.

Every write goes through scheduler_jobs.services.timeplan, which authorises and
audits; the pages ask `access.allowed` only to decide which buttons to show.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from audit.admin import RejectNulQueryMixin
from scheduler_jobs import access
from scheduler_jobs.admin_saving import ServiceSavedAdminMixin
from scheduler_jobs.forms.timeplan import (
    BlackoutWindowForm,
    CalendarForm,
    PauseForm,
    SimulateForm,
)
from scheduler_jobs.labels import format_datetime, job_zone_name
from scheduler_jobs.models import BlackoutWindow, Calendar, DynamicJob, MaintenancePause
from scheduler_jobs.schedules import parse_schedule
from scheduler_jobs.services import timeplan
from scheduler_jobs.templatetags.timeplan import forget_pause_banner

DAY_KINDS = {
    "holiday": "Public holiday",
    "extra_holiday": "Day off",
    "weekend": "Not a business day",
    "extra_workday": "Extra business day",
}
SIMULATED_SLOTS_SHOWN = 2000
OUTCOME_WORDS = {"runs": "runs", "skipped": "skipped", "deferred": "moved"}


def simulate_url(**query: Any) -> str:
    url = reverse("admin:scheduler_jobs_simulate")
    wanted = {key: value for key, value in query.items() if value}
    return f"{url}?{urlencode(wanted)}" if wanted else url


class NoBulkDeleteMixin(ServiceSavedAdminMixin):
    """Deletes one at a time, through the service (audited, refused while in use)."""

    class Media:
        css = {"all": ["scheduler_jobs/admin.css"]}

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[object_id],
                )
            )


@admin.register(Calendar)
class CalendarAdmin(NoBulkDeleteMixin, RejectNulQueryMixin, admin.ModelAdmin):
    form = CalendarForm
    list_display = ("name", "title", "country_column", "subdivision", "workdays_column")
    search_fields = ("name", "title")
    fieldsets = (
        (None, {"fields": ("name", "title", "description")}),
        ("Days off", {"fields": ("country", "subdivision", "extra_holidays")}),
        ("Business days", {"fields": ("workdays", "extra_workdays")}),
    )

    @admin.display(description="Public holidays of", ordering="country")
    def country_column(self, calendar: Calendar) -> str:
        return calendar.region or "none"

    @admin.display(description="Business days")
    def workdays_column(self, calendar: Calendar) -> str:
        return weekdays_text(calendar.workdays)

    def delete_model(self, request: HttpRequest, obj: Calendar) -> None:
        timeplan.calendar_delete(actor=request.user, calendar=obj, request=request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        calendar = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if calendar is not None:
            start = timezone.localdate()
            extra.update(
                calendar_days=[
                    {"date": day, "kind": DAY_KINDS.get(kind, kind), "name": name}
                    for day, kind, name in timeplan.calendar_days(
                        calendar, start, start + timedelta(days=365)
                    )
                    if kind != "weekend"
                ],
                calendar_jobs=timeplan.jobs_using(calendar.name),
                simulate_url=simulate_url(),
            )
        return super().change_view(request, object_id, form_url, extra)


def weekdays_text(workdays: list[int] | None) -> str:
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = sorted(set(workdays or []))
    if days == [1, 2, 3, 4, 5]:
        return "Monday to Friday"
    return ", ".join(names[d - 1] for d in days if 1 <= d <= 7) or "none"


@admin.register(BlackoutWindow)
class BlackoutWindowAdmin(NoBulkDeleteMixin, RejectNulQueryMixin, admin.ModelAdmin):
    form = BlackoutWindowForm
    list_display = ("name", "scope_column", "when_column", "reason", "enabled")
    list_filter = ("scope", "enabled")
    search_fields = ("name", "reason")
    list_select_related = ("job",)
    fieldsets = (
        (None, {"fields": ("name", "reason", "enabled")}),
        ("Applies to", {"fields": ("scope", "category", "job")}),
        (
            "When",
            {
                "fields": (
                    "kind",
                    "timezone",
                    ("starts", "ends"),
                    ("cron", "duration_minutes"),
                )
            },
        ),
    )

    @admin.display(description="Applies to", ordering="scope")
    def scope_column(self, window: BlackoutWindow) -> str:
        if window.scope == BlackoutWindow.Scope.JOB:
            return f"Job: {window.job.name if window.job else '(deleted)'}"
        if window.scope == BlackoutWindow.Scope.CATEGORY:
            return f"Category: {window.category.capitalize()}"
        return "All jobs"

    @admin.display(description="When")
    def when_column(self, window: BlackoutWindow) -> str:
        return window_when(window)

    def delete_model(self, request: HttpRequest, obj: BlackoutWindow) -> None:
        timeplan.window_delete(actor=request.user, window=obj, request=request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "simulate_url": simulate_url()}
        return super().change_view(request, object_id, form_url, extra)


def window_when(window: BlackoutWindow) -> str:
    """ "2026-12-24 18:00 CET to 2026-12-27 06:00 CET" or "At 22:00, on Saturday
    (Europe/Berlin), for 120 minutes"."""
    if window.cron:
        try:
            text = parse_schedule(
                {"type": "cron", "cron": window.cron, "timezone": window.timezone}
            ).describe()
        except (ValueError, ValidationError):
            text = f"{window.cron} ({window.timezone})"
        return f"{text}, for {window.duration_minutes} minutes"
    return (
        f"{format_datetime(window.starts_at, window.timezone)} to "
        f"{format_datetime(window.ends_at, window.timezone)}"
    )


@admin.register(MaintenancePause)
class MaintenancePauseAdmin(admin.ModelAdmin):
    """One page: the pause's state, pause with a reason, resume; and the simulator."""

    class Media:
        css = {"all": ["scheduler_jobs/admin.css"]}

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or access.allowed(
            request.user, access.Action.PAUSE
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("simulate/", wrap(self.simulate_view), name="scheduler_jobs_simulate"),
            path(
                "",
                wrap(self.changelist_view),
                name="scheduler_jobs_maintenancepause_changelist",
            ),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PauseForm(request.POST or None)
        if request.method == "POST":
            done = self._act(request, form)
            if done:
                return HttpResponseRedirect(request.path)
        state = timeplan.pause_state()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Maintenance pause",
            "subtitle": None,
            "state": state,
            "paused": state is not None,
            # The last resume, for "Scheduling runs normally" (a read, no write).
            "last": MaintenancePause.objects.filter(
                pk=MaintenancePause.SINGLETON
            ).first(),
            "form": form,
            "can_pause": access.allowed(request.user, access.Action.PAUSE),
            "simulate_url": simulate_url(),
        }
        return TemplateResponse(
            request, "admin/scheduler_jobs/timeplan/pause.html", context
        )

    def _act(self, request: HttpRequest, form: PauseForm) -> bool:
        """Pause or resume as the button says; False when the form has errors."""
        if request.POST.get("action") == "resume":
            timeplan.resume(actor=request.user, request=request)
            forget_pause_banner()
            self.message_user(request, "Scheduling resumed.", messages.SUCCESS)
            return True
        if not form.is_valid():
            return False
        try:
            timeplan.pause(
                actor=request.user,
                reason=form.cleaned_data["reason"],
                resume_at=form.cleaned_data.get("resume_at"),
                request=request,
            )
        except ValidationError as exc:
            for key, message in _items(exc):
                form.add_error(key if key in form.fields else None, message)
            return False
        forget_pause_banner()
        self.message_user(
            request,
            "Scheduling is paused: no job starts on schedule.",
            messages.WARNING,
        )
        return True

    def simulate_view(self, request: HttpRequest):
        access.authorize(request.user, access.Action.SIMULATE)
        job = _job_from(request.GET.get("job"))
        if "start" in request.GET:
            form = SimulateForm(request.GET)
        else:
            form = SimulateForm(
                initial=SimulateForm.initial_for(
                    job, job_zone_name(job) if job else "UTC"
                )
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Simulator",
            "subtitle": None,
            "form": form,
        }
        if form.is_bound and form.is_valid():
            try:
                context.update(simulation_context(request.user, form.cleaned_data))
            except ValidationError as exc:
                for key, message in _items(exc):
                    field = {"down": "down_from"}.get(key, key)
                    form.add_error(field if field in form.fields else None, message)
        return TemplateResponse(
            request, "admin/scheduler_jobs/timeplan/simulate.html", context
        )


def _job_from(value: str | None) -> DynamicJob | None:
    if not value or not value.isdigit():
        return None
    return DynamicJob.objects.filter(pk=int(value)).first()


def _items(exc: ValidationError) -> list[tuple[str, str]]:
    from scheduler_jobs.spec import error_items

    return list(error_items(exc))


def simulation_context(user: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The simulator's table: one row per slot, in the job's own zone."""
    job = data.get("job")
    down = (data["down_from"], data["down_to"]) if data.get("down_from") else None
    simulation = timeplan.simulate(
        actor=user,
        start=data["start"],
        end=data["end"],
        jobs=[job] if job else None,
        down=down,
        limit=SIMULATED_SLOTS_SHOWN,
    )
    zones = {
        pk: job_zone_name(found)
        for pk, found in DynamicJob.objects.only("schedule")
        .in_bulk([simulated.job_id for simulated in simulation.jobs])
        .items()
    }
    rows = [
        slot_row(simulated, slot, zones.get(simulated.job_id, "UTC"))
        for simulated in simulation.jobs
        for slot in simulated.slots
    ]
    counts = Counter(row["outcome"] for row in rows)
    return {
        "rows": rows,
        "truncated": simulation.truncated,
        "counts": {
            "runs": counts["runs"],
            "skipped": counts["skipped"],
            "deferred": counts["deferred"],
        },
        "limit": SIMULATED_SLOTS_SHOWN,
        "down_text": format_html(
            "{} to {}",
            format_datetime(down[0], data.get("timezone")),
            format_datetime(down[1], data.get("timezone")),
        )
        if down
        else "",
        "range_text": format_html(
            "{} to {}",
            format_datetime(data["start"], data.get("timezone")),
            format_datetime(data["end"], data.get("timezone")),
        ),
    }


def slot_row(simulated: Any, slot: Any, zone_name: str) -> dict[str, Any]:
    """One slot as the table shows it: times in the job's zone, plain words."""
    seconds = slot.at.second != 0  # a jittered time is shown to the second
    return {
        "job_name": simulated.job_name,
        "job_url": reverse(
            "admin:scheduler_jobs_dynamicjob_change", args=[simulated.job_id]
        ),
        "at": format_datetime(slot.at, zone_name, seconds=seconds),
        "nominal": format_datetime(slot.nominal, zone_name),
        "shifted": slot.at != slot.nominal,
        "outcome": slot.outcome,
        "outcome_text": OUTCOME_WORDS.get(slot.outcome, slot.outcome),
        "reason": slot.reason,
    }


# Imported by scheduler_jobs.admin, which Django's autodiscovery loads: that
# import is what registers the admins above.
TIMEPLAN_ADMINS = (CalendarAdmin, BlackoutWindowAdmin, MaintenancePauseAdmin)
