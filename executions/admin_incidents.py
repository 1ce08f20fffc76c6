"""Incidents in the admin: open ones first, with Acknowledge and Resolve.

Read-only like the execution history: an incident changes only through
`executions.incidents.incident_acknowledge` and `incident_resolve`, which
authorize and audit; this page asks the same rules only to show or hide its
buttons.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin import RejectNulQueryMixin
from config.rest import MAX_ID
from executions import incidents
from executions.models import Incident
from scheduler_jobs import access
from scheduler_jobs.labels import format_datetime, job_zone_name
from scheduler_jobs.models import DynamicJob

STATE_BADGES = {
    "Open": "ds-status-failed",
    "Acknowledged": "ds-badge-warn",
    "Resolved": "ds-status-completed",
}


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("open", "Open"),
            ("acknowledged", "Acknowledged"),
            ("resolved", "Resolved"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(
                resolved_at__isnull=True, acknowledged_at__isnull=True
            )
        if value == "acknowledged":
            return queryset.filter(
                resolved_at__isnull=True, acknowledged_at__isnull=False
            )
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class IncidentJobFilter(admin.SimpleListFilter):
    """One job's incidents (the link on the job's page)."""

    title = "job"
    parameter_name = "job"

    def lookups(self, request, model_admin):
        # Always a choice when the parameter is given: a filter without one is
        # not applied, and the list would show every job's incidents.
        value = request.GET.get(self.parameter_name)
        if not value:
            return []
        job = None
        if _is_id(value):
            job = DynamicJob.objects.filter(pk=int(value)).only("name").first()
        return [(value, job.name if job is not None else "no such job")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not _is_id(value):
            return queryset.none()
        return queryset.filter(job_id=int(value))


def _is_id(value: str) -> bool:
    """A database id: digits that fit a bigint column."""
    return value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID


@admin.register(Incident)
class IncidentAdmin(RejectNulQueryMixin, admin.ModelAdmin):
    list_display = (
        "job_column",
        "kind_column",
        "opened_column",
        "failures",
        "last_alert_column",
        "state_column",
    )
    list_display_links = ("opened_column",)
    list_filter = (StateFilter, IncidentJobFilter)
    list_select_related = ("job",)
    list_per_page = 100
    show_full_result_count = False
    sortable_by = ()
    actions = ["acknowledge_selected", "resolve_selected"]

    class Media:
        css = {"all": ["scheduler_jobs/admin.css"]}

    # Seeing incidents goes with seeing executions; changes go through services.
    def has_view_permission(self, request, obj=None):
        return access.allowed(request.user, access.Action.VIEW_EXECUTIONS)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return access.allowed(request.user, access.Action.ACKNOWLEDGE_INCIDENT)

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return access.allowed(request.user, access.Action.RESOLVE_INCIDENT)

    def get_queryset(self, request):
        # Open ones first (resolved_at is NULL), newest first within each.
        return (
            super()
            .get_queryset(request)
            .defer("job__parameters", "job__notifications", "job__description")
            .order_by(F("resolved_at").asc(nulls_first=True), "-opened_at", "-id")
        )

    # --- list columns ---

    @admin.display(description="Job")
    def job_column(self, incident: Incident) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:scheduler_jobs_dynamicjob_change", args=[incident.job_id]),
            incident.job.name,
        )

    @admin.display(description="Kind")
    def kind_column(self, incident: Incident) -> str:
        return incident.get_kind_display()

    @admin.display(description="Opened")
    def opened_column(self, incident: Incident) -> str:
        return format_datetime(incident.opened_at, job_zone_name(incident.job))

    @admin.display(description="Last alert")
    def last_alert_column(self, incident: Incident) -> str:
        return format_datetime(incident.last_alert_at, job_zone_name(incident.job))

    @admin.display(description="State")
    def state_column(self, incident: Incident) -> str:
        return format_html(
            '<span class="ds-badge {}">{}</span>',
            STATE_BADGES[incident.state],
            incident.state,
        )

    # --- actions ---

    @admin.action(
        description="Acknowledge selected incidents", permissions=["acknowledge"]
    )
    def acknowledge_selected(self, request: HttpRequest, queryset) -> None:
        self._act(request, queryset, incidents.incident_acknowledge, "Acknowledged")

    @admin.action(description="Resolve selected incidents", permissions=["resolve"])
    def resolve_selected(self, request: HttpRequest, queryset) -> None:
        self._act(request, queryset, incidents.incident_resolve, "Resolved")

    def _act(
        self, request: HttpRequest, queryset, service: Any, done_word: str
    ) -> None:
        done = 0
        for incident in queryset:
            try:
                service(incident=incident, user=request.user, request=request)
                done += 1
            except (incidents.IncidentClosed, access.AccessDenied) as exc:
                self.message_user(request, f"{incident}: {exc}", messages.WARNING)
        if done:
            self.message_user(request, f"{done_word} {done} incident(s).")

    # --- the incident's page ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:incident_id>/acknowledge/",
                wrap(self.acknowledge_view),
                name="executions_incident_acknowledge",
            ),
            path(
                "<int:incident_id>/resolve/",
                wrap(self.resolve_view),
                name="executions_incident_resolve",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The incident's facts and, while it is open, Acknowledge and Resolve."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not str(object_id).isdigit():
            return self._get_obj_does_not_exist_redirect(
                request, self.opts, str(object_id)
            )
        incident = get_object_or_404(
            Incident.objects.select_related(
                "job", "last_execution", "acknowledged_by", "resolved_by"
            ),
            pk=object_id,
        )
        zone = job_zone_name(incident.job)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{incident.get_kind_display()}: {incident.job.name}",
            "incident": incident,
            "state_class": STATE_BADGES[incident.state],
            "facts": _facts(incident, zone),
            "can_acknowledge": incident.is_open
            and self.has_acknowledge_permission(request),
            "can_resolve": incident.is_open and self.has_resolve_permission(request),
            "job_url": reverse(
                "admin:scheduler_jobs_dynamicjob_change", args=[incident.job_id]
            ),
            "last_execution_url": reverse(
                "admin:executions_jobexecution_change",
                args=[incident.last_execution_id],
            )
            if incident.last_execution_id
            else "",
        }
        return TemplateResponse(
            request, "admin/executions/incident/detail.html", context
        )

    def acknowledge_view(self, request: HttpRequest, incident_id: int):
        return self._decide(request, incident_id, incidents.incident_acknowledge)

    def resolve_view(self, request: HttpRequest, incident_id: int):
        return self._decide(request, incident_id, incidents.incident_resolve)

    def _decide(self, request: HttpRequest, incident_id: int, service: Any):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = get_object_or_404(Incident, pk=incident_id)
        try:
            done = service(
                incident=incident,
                user=request.user,
                note=request.POST.get("note", ""),
                request=request,
            )
        except incidents.IncidentClosed as exc:
            self.message_user(request, str(exc), messages.WARNING)
        else:
            self.message_user(request, f"{done.state}.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:executions_incident_change", args=[incident.pk])
        )


def _facts(incident: Incident, zone: str) -> list[tuple[str, str]]:
    """The incident's page, as (label, text) rows, times in the job's zone."""
    rows = [
        ("State", incident.state),
        ("Opened", format_datetime(incident.opened_at, zone)),
        ("Failed runs in a row", str(incident.failures)),
        ("Last alert", format_datetime(incident.last_alert_at, zone)),
        ("Alerts sent", str(incident.alerts_sent)),
    ]
    if incident.acknowledged_at:
        who = (
            incident.acknowledged_by.get_username() if incident.acknowledged_by else ""
        )
        rows.append(
            ("Acknowledged", f"{format_datetime(incident.acknowledged_at, zone)} {who}")
        )
    if incident.resolved_at:
        who = (
            incident.resolved_by.get_username()
            if incident.resolved_by
            else "the job's next success"
        )
        rows.append(
            (
                "Resolved",
                f"{format_datetime(incident.resolved_at, zone)}, "
                f"{incident.get_resolution_display().lower()} ({who})",
            )
        )
    if incident.note:
        rows.append(("Note", incident.note))
    return rows
