"""Execution history: a list that stays fast at millions of rows, a detail page
with a readable result, a log viewer and error details, plus the dashboard.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from audit.admin import RejectNulQueryMixin
from executions import downloads, selectors, services
from executions.models import JobExecution
from executions.views import dashboard
from job_templates.admin import TemplateFilter
from job_templates.base import mask_parameters
from job_templates.registry import registry
from scheduler_jobs import access
from scheduler_jobs.admin import status_badge
from scheduler_jobs.admin_history import confirm_page
from scheduler_jobs.admin_views import (
    relative_time,
    summary_items,
)
from scheduler_jobs.labels import (
    execution_subtitle,
    execution_title,
    format_datetime,
    format_duration,
    job_zone_name,
    parameter_rows,
)
from scheduler_jobs.models import DynamicJob

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows, so no page of the list runs a full COUNT(*).

    Past the cap the list says "10000+" pages' worth; filters narrow it down.
    """

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[:COUNT_CAP].count()


class JobFilter(admin.SimpleListFilter):
    """One job's history (the job list's History button); uses the (job, -id) index."""

    title = "job"
    parameter_name = "job"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        if value and value.isdigit():
            job = DynamicJob.objects.filter(pk=value).only("name").first()
            if job is not None:
                return [(value, job.name)]
        return []

    def queryset(self, request, queryset):
        if self.value():
            if not self.value().isdigit():
                return queryset.none()
            return queryset.filter(job_id=int(self.value()))
        return queryset


@admin.register(JobExecution)
class JobExecutionAdmin(RejectNulQueryMixin, admin.ModelAdmin):
    list_display = (
        "id_column",
        "status_column",
        "job_column",
        "trigger_column",
        "attempt",
        "scheduled_column",
        "started_column",
        "duration_column",
    )
    list_display_links = ("id_column",)
    list_filter = (
        "status",
        TemplateFilter,
        "triggered_by",
        ("started_at", admin.DateFieldListFilter),
        JobFilter,
    )
    # The job's schedule gives the zone its times are shown in.
    list_select_related = ("triggered_by_user", "job")
    list_per_page = 100
    show_full_result_count = False
    paginator = CappedCountPaginator
    ordering = ("-id",)
    # Only orders an index serves; sorting a million rows by duration would not be.
    sortable_by = ("id_column", "started_column")
    actions = ["cancel_selected"]

    class Media:
        css = {"all": ["scheduler_jobs/admin.css", "executions/live.css"]}
        js = ["executions/logs.js", "executions/refresh.js"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # History is evidence; old rows go through the retention housekeeping.
        return False

    def has_run_permission(self, request: HttpRequest) -> bool:
        return access.allowed(request.user, access.Action.RUN)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return access.allowed(request.user, access.Action.CANCEL)

    def get_queryset(self, request):
        # The list never shows logs, results or parameters: do not read them.
        return (
            super()
            .get_queryset(request)
            .defer(
                "logs",
                "result",
                "parameters",
                "error",
                "job__parameters",
                "job__notifications",
                "job__description",
            )
        )

    # --- list columns ---

    @admin.display(description="#", ordering="id")
    def id_column(self, e: JobExecution) -> str:
        return f"#{e.pk}"

    @admin.display(description="Status", ordering="status")
    def status_column(self, e: JobExecution) -> str:
        badge = status_badge(e.status)
        if e.dry_run:
            return format_html('{} <span class="ds-chip">dry run</span>', badge)
        return badge

    @admin.display(description="Job")
    def job_column(self, e: JobExecution) -> str:
        icon = registry.get(e.template_type).icon if e.template_type in registry else ""
        if e.job_id is None:
            return format_html(
                '<span title="{}">{}</span> {} <span class="ds-quiet">(deleted)</span>',
                e.template_type,
                icon,
                e.job_name,
            )
        return format_html(
            '<span title="{}">{}</span> <a href="{}">{}</a>',
            e.template_type,
            icon,
            reverse("admin:scheduler_jobs_dynamicjob_change", args=[e.job_id]),
            e.job_name,
        )

    @admin.display(description="Trigger", ordering="triggered_by")
    def trigger_column(self, e: JobExecution) -> str:
        text = e.get_triggered_by_display()
        if e.triggered_by_user is not None:
            return f"{text} ({e.triggered_by_user.get_username()})"
        return text

    @admin.display(description="Scheduled for")
    def scheduled_column(self, e: JobExecution) -> str:
        return format_html(
            '<time datetime="{}">{}</time>',
            e.scheduled_for.isoformat(),
            format_datetime(e.scheduled_for, job_zone_name(e.job)),
        )

    @admin.display(description="Started", ordering="started_at")
    def started_column(self, e: JobExecution) -> str:
        return relative_time(e.started_at, zone_name=job_zone_name(e.job))

    @admin.display(description="Duration", ordering="duration_seconds")
    def duration_column(self, e: JobExecution) -> str:
        return format_duration(selectors.execution_duration(e))

    # --- actions ---

    @admin.action(description="Cancel selected executions", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset) -> None:
        done = 0
        for execution in queryset:
            try:
                services.execution_cancel(
                    execution=execution,
                    user=request.user,
                    request=request,
                    source="admin",
                )
                done += 1
            except (services.NotCancellable, access.AccessDenied) as exc:
                self.message_user(request, f"#{execution.pk}: {exc}", messages.WARNING)
        if done:
            self.message_user(request, f"Cancelled {done} execution(s).")

    # --- detail ---

    def change_view(
        self, request: HttpRequest, object_id, form_url="", extra_context=None
    ):
        execution = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if execution is not None:
            execution = JobExecution.objects.select_related(
                "triggered_by_user", "job"
            ).get(pk=execution.pk)
            root = execution.first_attempt_id or execution.pk
            attempts = list(
                JobExecution.objects.filter(Q(pk=root) | Q(first_attempt_id=root))
                .order_by("attempt", "id")
                .only("id", "attempt", "status", "started_at", "triggered_by")
            )
            levels = sorted(
                {entry.get("level", "INFO") for entry in execution.logs or []},
                key=lambda lv: LOG_LEVELS.index(lv) if lv in LOG_LEVELS else 99,
            )
            zone_name = job_zone_name(execution.job)
            template = (
                registry.get(execution.template_type)
                if execution.template_type in registry
                else None
            )
            masked = mask_parameters(template, execution.parameters)
            extra.update(
                execution=execution,
                title=execution_title(execution),
                subtitle=execution_subtitle(execution),
                zone_name=zone_name,
                result_items=summary_items(execution.result),
                result_scalar=execution.result
                if execution.result is not None
                and not isinstance(execution.result, dict)
                else None,
                attempts=attempts if len(attempts) > 1 else [],
                log_levels=levels,
                can_run=self.has_run_permission(request)
                and execution.job_id is not None,
                can_cancel=self.has_cancel_permission(request)
                and execution.status
                in (
                    JobExecution.Status.QUEUED,
                    JobExecution.Status.RUNNING,
                    JobExecution.Status.RETRY_PENDING,
                ),
                template=template,
                duration=selectors.execution_duration(execution),
                live_logs=not execution.is_finished
                and execution.status != JobExecution.Status.RETRY_PENDING,
                started_relative=relative_time(
                    execution.started_at, zone_name=zone_name
                ),
                parameters_json=json.dumps(
                    masked, indent=2, ensure_ascii=False, sort_keys=True
                ),
                parameter_rows=parameter_rows(
                    template.get_schema() if template else {}, masked
                ),
                download_name=downloads.produced_file_label(
                    execution, user=request.user
                ),
            )
        return super().change_view(request, object_id, form_url, extra)

    # --- extra URLs ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="executions_dashboard"),
            path(
                "<int:execution_id>/rerun/",
                wrap(self.rerun_view),
                name="executions_jobexecution_rerun",
            ),
            path(
                "<int:execution_id>/logs/",
                wrap(self.logs_view),
                name="executions_jobexecution_logs",
            ),
            path(
                "<int:execution_id>/cancel/",
                wrap(self.cancel_view),
                name="executions_jobexecution_cancel",
            ),
            path(
                "<int:execution_id>/download/",
                wrap(self.download_view),
                name="executions_jobexecution_download",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return dashboard(request, model_admin=self)

    def download_view(self, request: HttpRequest, execution_id: int):
        """The file an export or a report wrote (executions/downloads.py)."""
        return downloads.execution_download_view(
            request, execution_id, site_context=self.admin_site.each_context(request)
        )

    def logs_view(self, request: HttpRequest, execution_id: int):
        """New log lines, status and duration of a run: what the page polls."""
        numbers = {}
        for name in ("offset", "dropped"):
            value = request.GET.get(name, "0")
            if not value.isdigit() or len(value) > 9:
                return HttpResponseBadRequest(
                    f"{name}: a whole number of lines, 0 or more, is expected."
                )
            numbers[name] = int(value)
        tail = selectors.execution_log_tail(
            user=request.user, execution_id=execution_id, **numbers
        )
        if tail is None:
            raise Http404("No such execution.")
        return JsonResponse(tail, headers={"Cache-Control": "no-store"})

    def rerun_view(self, request: HttpRequest, execution_id: int):
        """Run the execution's job again, with the same parameters and dry-run flag."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        execution = get_object_or_404(JobExecution, pk=execution_id)
        back = reverse("admin:executions_jobexecution_change", args=[execution.pk])
        try:
            # AccessDenied is a PermissionDenied: Django answers 403.
            new = services.execution_rerun(
                execution=execution, user=request.user, request=request, source="admin"
            )
        except ValidationError as exc:
            self.message_user(
                request, f"Not run: {'; '.join(exc.messages)}", messages.ERROR
            )
            return HttpResponseRedirect(back)
        self.message_user(
            request, f"Re-run of #{execution.pk} queued as #{new.pk}.", messages.SUCCESS
        )
        return HttpResponseRedirect(
            reverse("admin:executions_jobexecution_change", args=[new.pk])
        )

    def cancel_view(self, request: HttpRequest, execution_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        execution = get_object_or_404(JobExecution, pk=execution_id)
        back = reverse("admin:executions_jobexecution_change", args=[execution.pk])
        access.authorize(request.user, access.Action.CANCEL)
        if not request.POST.get("confirm"):
            return confirm_page(
                request,
                self.admin_site,
                title=f"Cancel run #{execution.pk} of “{execution.job_name}”?",
                warnings=[
                    "A running run is asked to stop at once; what it already did "
                    "stays done. Its retries, if any, do not happen."
                ],
                action_url=request.path,
                confirm_label="Yes, cancel it",
                back_url=back,
            )
        try:
            services.execution_cancel(
                execution=execution, user=request.user, request=request, source="admin"
            )
            self.message_user(request, f"Cancelled #{execution.pk}.", messages.SUCCESS)
        except services.NotCancellable as exc:
            self.message_user(request, str(exc), messages.WARNING)
        return HttpResponseRedirect(
            reverse("admin:executions_jobexecution_change", args=[execution.pk])
        )


# The Incidents page registers itself with the admin.
from executions import admin_incidents  # noqa: E402, F401
