"""The job admin: list, creation wizard (add view), change form, row and bulk actions.

Every write goes through scheduler_jobs.services or executions.services (which
validate and audit) and reports with Django messages.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from audit.admin import FIELD_WORDS, FieldWords, RejectNulQueryMixin
from audit.models import AuditEntry
from executions import services as execution_services
from executions.models import JobExecution
from executions.selectors import HEALTH_LABELS, attach_health
from executions.watch import grace as late_grace
from executions.watch import options as watch_options
from job_templates.admin import TemplateFilter
from job_templates.registry import registry
from job_templates.secrets import SECRET_MASK
from scheduler_jobs import access, services
from scheduler_jobs.admin_copy import copy_page, run_with_changes_page
from scheduler_jobs.admin_history import JobHistoryAdminMixin, confirm_page
from scheduler_jobs.admin_saving import ServiceSavedAdminMixin
from scheduler_jobs.admin_timeplan import TIMEPLAN_ADMINS  # noqa: F401 (registered)
from scheduler_jobs.admin_upcoming import upcoming_page
from scheduler_jobs.admin_views import (
    relative_time,
    schedule_preview,
)
from scheduler_jobs.forms import DynamicJobChangeForm, options_fieldsets
from scheduler_jobs.forms.copy import JobCopyForm
from scheduler_jobs.forms.errors import add_service_errors
from scheduler_jobs.forms.run import RunWithChangesForm
from scheduler_jobs.forms.schedule import SCHEDULE_LAYOUT
from scheduler_jobs.labels import job_zone_name
from scheduler_jobs.models import DynamicJob
from scheduler_jobs.services.merge import field_label
from scheduler_jobs.wizard import JobCreationWizard

STATUS_LABELS = dict(JobExecution.Status.choices)
# An audit entry of a job names its fields as the forms do; secrets by their mask.
FIELD_WORDS[DynamicJob._meta.label_lower] = FieldWords(
    label=field_label, mask=SECRET_MASK
)


def status_badge(status: str) -> str:
    if not status:
        return mark_safe('<span class="ds-badge ds-status-none">never run</span>')
    return format_html(
        '<span class="ds-badge ds-status-{}">{}</span>',
        status,
        STATUS_LABELS.get(status, status),
    )


def template_label(template_type: str) -> str:
    if template_type in registry:
        template = registry.get(template_type)
        return format_html(
            '<span class="ds-template">'
            '<span class="ds-icon" aria-hidden="true">{}</span> {}</span>',
            template.icon,
            template.name,
        )
    return format_html(
        '<span class="ds-quiet">{} (not installed)</span>', template_type
    )


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        categories = sorted({t.category for t in registry})
        return [(c, c.capitalize()) for c in categories]

    def queryset(self, request, queryset):
        if self.value():
            types = [t.type for t in registry if t.category == self.value()]
            return queryset.filter(template_type__in=types)
        return queryset


class LastStatusFilter(admin.SimpleListFilter):
    title = "last status"
    parameter_name = "last_status"

    def lookups(self, request, model_admin):
        return [("never", "Never run"), *JobExecution.Status.choices]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(last_status="")
        if self.value():
            return queryset.filter(last_status=self.value())
        return queryset


@admin.register(DynamicJob)
class DynamicJobAdmin(
    ServiceSavedAdminMixin, JobHistoryAdminMixin, RejectNulQueryMixin, admin.ModelAdmin
):
    # Saved by job_update in the change form's clean(); see DynamicJobChangeForm.
    form = DynamicJobChangeForm
    list_display = (
        "name",
        "template_column",
        "schedule_column",
        "next_run_column",
        "last_run_column",
        "health_column",
        "enabled_column",
        "row_actions",
    )
    list_display_links = ("name",)
    list_filter = (TemplateFilter, CategoryFilter, LastStatusFilter, "enabled")
    search_fields = ("name", "description")
    list_per_page = 50
    show_full_result_count = False
    actions = [
        "run_selected",
        "enable_selected",
        "disable_selected",
        "duplicate_selected",
    ]
    # The options sections follow from the job spec (options_fieldsets).
    fieldsets_before_options = (
        (None, {"fields": ("name", "description", "enabled", "version")}),
        ("Parameters", {"fields": ("parameters", "confirm_live")}),
        ("Change note", {"fields": ("change_comment",)}),
        ("Schedule", {"fields": SCHEDULE_LAYOUT}),
    )

    class Media:
        css = {"all": ["scheduler_jobs/admin.css", "executions/live.css"]}
        js = ["scheduler_jobs/schedule.js", "executions/refresh.js"]

    # --- permissions ---

    def has_run_permission(self, request: HttpRequest) -> bool:
        return access.allowed(request.user, access.Action.RUN)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # A high-risk job opens read-only for a user who may not change it.
        return super().has_change_permission(request, obj) and (
            obj is None
            or access.allowed(
                request.user,
                access.Action.CHANGE,
                definitions=[access.job_definition(obj)],
            )
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None
            or access.allowed(
                request.user,
                access.Action.DELETE,
                definitions=[access.job_definition(obj)],
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.view_fieldsets
        return (*self.fieldsets_before_options, *options_fieldsets())

    # --- the read-only page (view permission only): secrets masked ---

    view_fieldsets = (
        (None, {"fields": ("name", "description", "enabled", "version")}),
        ("Parameters", {"fields": ("parameters_view",)}),
        ("Schedule", {"fields": ("schedule_view",)}),
        (
            "Running",
            {
                "fields": (
                    "timeout_seconds",
                    "retry_view",
                    "overlap_policy",
                    "misfire_policy",
                    "queue",
                )
            },
        ),
        ("Notifications", {"fields": ("notifications_view",)}),
        ("Watching", {"fields": ("watch_view",)}),
    )

    @admin.display(description="Parameters")
    def parameters_view(self, job: DynamicJob) -> str:
        return format_html(
            '<pre class="ds-json">{}</pre>',
            json.dumps(
                services.masked_job_parameters(job),
                indent=2,
                ensure_ascii=False,
                sort_keys=True,
            ),
        )

    @admin.display(description="Schedule")
    def schedule_view(self, job: DynamicJob) -> str:
        return job.schedule_description

    @admin.display(description="Retries")
    def retry_view(self, job: DynamicJob) -> str:
        policy = job.retry_policy or {}
        return (
            f"{policy.get('max_retries', 0)} retries, first after "
            f"{policy.get('delay_seconds', 0)} s, backoff ×{policy.get('backoff', 1)}"
        )

    @admin.display(description="Watching")
    def watch_view(self, job: DynamicJob) -> str:
        watch = watch_options(job.watch)
        grace = late_grace(job.watch).total_seconds()
        usual = watch["expected_duration_seconds"]
        return (
            f"Late after {grace:g} s; slow after {watch['slow_factor']:g}× "
            + (f"{usual} s" if usual else "the usual duration (learned)")
            + "; "
            + (
                f"too fast under {watch['min_duration_seconds']} s"
                if watch["min_duration_seconds"]
                else "no too-fast check"
            )
            + f"; incident after {watch['failure_threshold']} failures in a row, "
            + (
                f"reminders every {watch['realert_minutes']} min"
                if watch["realert_minutes"]
                else "no reminders"
            )
            + "."
        )

    @admin.display(description="Notifications")
    def notifications_view(self, job: DynamicJob) -> str:
        notifications = job.notifications or {}
        return format_html(
            "Email: {}<br>Slack: {}<br>Webhook: {}<br>On: {}",
            ", ".join(notifications.get("emails") or []) or "nobody",
            "set" if notifications.get("slack_webhook") else "not set",
            "set" if notifications.get("webhook_url") else "not set",
            ", ".join(notifications.get("on") or []) or "no events",
        )

    # --- list columns ---

    @admin.display(description="Template", ordering="template_type")
    def template_column(self, job: DynamicJob) -> str:
        return template_label(job.template_type)

    @admin.display(description="Schedule")
    def schedule_column(self, job: DynamicJob) -> str:
        return job.schedule_description

    @admin.display(description="Next run", ordering="next_run_at")
    def next_run_column(self, job: DynamicJob) -> str:
        if not job.enabled:
            return mark_safe('<span class="ds-quiet">disabled</span>')
        return relative_time(job.next_run_at, zone_name=job_zone_name(job))

    @admin.display(description="Last run", ordering="last_run_at")
    def last_run_column(self, job: DynamicJob) -> str:
        if not job.last_run_at and not job.last_status:
            return status_badge("")
        return format_html(
            "{} {}",
            status_badge(job.last_status),
            relative_time(job.last_run_at, zone_name=job_zone_name(job)),
        )

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # The page's health in one query for all its rows (executions.selectors).
        attach_health(list(changelist.result_list))
        return changelist

    @admin.display(description="Health")
    def health_column(self, job: DynamicJob) -> str:
        state = getattr(job, "health", "")
        return format_html(
            '<span class="ds-health ds-health-{}">{}</span>',
            state,
            HEALTH_LABELS.get(state, ""),
        )

    @admin.display(description="Enabled", ordering="enabled")
    def enabled_column(self, job: DynamicJob) -> str:
        url = reverse("admin:scheduler_jobs_dynamicjob_toggle", args=[job.pk])
        label = "On" if job.enabled else "Off"
        title = "Disable this job" if job.enabled else "Enable this job"
        # The list sits inside the changelist <form>; formaction sends that form
        # (and its CSRF token) to the toggle view without a nested form.
        return format_html(
            '<button type="submit" class="ds-toggle ds-toggle-{}" formaction="{}" '
            'formmethod="post" title="{}" aria-pressed="{}">'
            '<span class="ds-toggle-knob"></span>{}</button>',
            label.lower(),
            url,
            title,
            "true" if job.enabled else "false",
            label,
        )

    @admin.display(description="")
    def row_actions(self, job: DynamicJob) -> str:
        """Run now and History (for users who may run jobs)."""
        run_url = reverse("admin:scheduler_jobs_dynamicjob_run", args=[job.pk])
        return format_html(
            '<div class="ds-row-actions">'
            '<button type="submit" class="button ds-row-button ds-run-button" '
            'formaction="{}" formmethod="post" name="next" value="changelist">'
            "▶ Run now</button>{}</div>",
            run_url,
            self._history_link(job),
        )

    @admin.display(description="")
    def row_history(self, job: DynamicJob) -> str:
        """History only (for users without the run permission)."""
        return format_html(
            '<div class="ds-row-actions">{}</div>', self._history_link(job)
        )

    def _history_link(self, job: DynamicJob) -> str:
        history = reverse("admin:executions_jobexecution_changelist") + f"?job={job.pk}"
        return format_html(
            '<a class="button ds-row-button" href="{}">History</a>', history
        )

    def get_list_display(self, request: HttpRequest):
        # Decided per request: the admin instance is shared by all users.
        if self.has_run_permission(request):
            return self.list_display
        return (*self.list_display[:-1], "row_history")

    # --- bulk actions ---

    @admin.action(description="Run selected jobs now", permissions=["run"])
    def run_selected(self, request: HttpRequest, queryset):
        jobs = list(queryset)
        warnings = [
            f"{job.name}: {warning}"
            for job in jobs
            for warning in execution_services.run_warnings(job=job, dry_run=None)
        ]
        if warnings and not request.POST.get("confirm"):
            return confirm_page(
                request,
                self.admin_site,
                title=f"Run {len(jobs)} job(s) now?",
                warnings=warnings,
                action_url=request.path,
                confirm_label="Yes, run them now",
                back_url=request.get_full_path(),
                carried=[("action", "run_selected")]
                + [("_selected_action", str(job.pk)) for job in jobs],
            )
        self._run_jobs(request, jobs)
        return None

    def _run_jobs(self, request: HttpRequest, jobs: list[DynamicJob]) -> None:
        queued, failed = [], []
        for job in jobs:
            try:
                execution_services.run_now(
                    job=job, user=request.user, request=request, source="admin"
                )
                queued.append(job.name)
            except ValidationError as exc:
                failed.append(f"{job.name}: {'; '.join(exc.messages)}")
            except access.AccessDenied as exc:
                failed.append(f"{job.name}: {exc}")
        if queued:
            self.message_user(
                request, f"Queued {len(queued)} run(s): {', '.join(queued)}."
            )
        for message in failed:
            self.message_user(request, f"Not run: {message}", messages.ERROR)

    @admin.action(description="Enable selected jobs", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected jobs", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request: HttpRequest, queryset, enabled: bool) -> None:
        changed = 0
        for job in queryset:
            if job.enabled == enabled:
                continue
            try:
                services.job_set_enabled(
                    job=job, user=request.user, enabled=enabled, request=request
                )
                changed += 1
            except (
                ValidationError,
                services.VersionConflict,
                access.AccessDenied,
            ) as exc:
                self.message_user(request, f"{job.name}: {exc}", messages.ERROR)
        word = "Enabled" if enabled else "Disabled"
        self.message_user(request, f"{word} {changed} job(s).")

    @admin.action(
        description="Duplicate selected jobs (disabled copies)", permissions=["add"]
    )
    def duplicate_selected(self, request: HttpRequest, queryset) -> None:
        names = []
        for job in queryset:
            try:
                copy = services.job_duplicate(
                    job=job, user=request.user, request=request
                )
                names.append(copy.name)
            except (
                ValidationError,
                services.QuotaExceeded,
                access.AccessDenied,
            ) as exc:
                self.message_user(request, f"{job.name}: {exc}", messages.ERROR)
        if names:
            self.message_user(
                request, f"Created {len(names)} disabled cop(ies): {', '.join(names)}."
            )

    # Deletes (the change page's and the bulk "delete selected") go through the
    # service so they are audited like API deletes.
    def delete_model(self, request: HttpRequest, obj: DynamicJob) -> None:
        services.job_delete(job=obj, user=request.user, request=request, source="admin")

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        jobs = list(queryset)
        # All or nothing: one job the user may not delete stops the whole batch.
        for job in jobs:
            access.authorize(
                request.user,
                access.Action.DELETE,
                definitions=[access.job_definition(job)],
            )
        with transaction.atomic():
            for job in jobs:
                services.job_delete(
                    job=job, user=request.user, request=request, source="admin"
                )

    # --- add (wizard) and change ---

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return JobCreationWizard.as_view(model_admin=self)(request)

    def change_view(
        self, request: HttpRequest, object_id, form_url="", extra_context=None
    ):
        job = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if job is not None:
            template = (
                registry.get(job.template_type)
                if job.template_type in registry
                else None
            )
            extra.update(
                job=job,
                job_template=template,
                can_run=self.has_run_permission(request),
                can_copy=access.allowed(
                    request.user,
                    access.Action.ADD,
                    definitions=[access.job_definition(job)],
                ),
                can_run_with_changes=access.allowed(
                    request.user,
                    access.Action.RUN_WITH_OVERRIDES,
                    definitions=[access.job_definition(job)],
                ),
                **self._live_run_context(request, job),
                recent_executions=list(
                    JobExecution.objects.filter(job=job)
                    .order_by("-id")
                    .only(
                        "id",
                        "status",
                        "attempt",
                        "triggered_by",
                        "scheduled_for",
                        "started_at",
                        "duration_seconds",
                        "dry_run",
                    )[:10]
                ),
                audit_entries=list(
                    AuditEntry.objects.filter(
                        target_type=DynamicJob._meta.label_lower, target_id=str(job.pk)
                    ).order_by("-created_at", "-id")[:10]
                ),
                history_url=reverse("admin:executions_jobexecution_changelist")
                + f"?job={job.pk}",
                audit_url=reverse("admin:audit_auditentry_changelist")
                + f"?object={DynamicJob._meta.label_lower}:{job.pk}",
                versions_url=reverse(
                    "admin:scheduler_jobs_dynamicjob_versions", args=[job.pk]
                ),
                job_zone_name=job_zone_name(job),
                **self.pending_context(request, job),
            )
        return super().change_view(request, object_id, form_url, extra)

    def _live_run_context(self, request: HttpRequest, job: DynamicJob) -> dict:
        """Whether a real run is allowed; if not, why (a dry run still is)."""
        try:
            access.authorize(
                request.user,
                access.Action.RUN,
                definitions=[access.job_definition(job)],
            )
        except access.AccessDenied as exc:
            return {"can_run_live": False, "live_run_refusal": str(exc)}
        return {"can_run_live": True}

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        form = context.get("adminform").form if context.get("adminform") else None
        if form is not None and getattr(form, "conflict", None) is not None:
            context["conflict_rows"] = form.conflict_rows()
            # Who saved last: the change the user's edit met.
            context["conflict_entries"] = AuditEntry.objects.filter(
                target_type=DynamicJob._meta.label_lower,
                target_id=str(obj.pk),
                action__in=["update", "enable", "disable", "approve"],
            ).order_by("-created_at", "-id")[:1]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_readonly_fields(self, request, obj=None):
        return ()

    def response_change(self, request: HttpRequest, obj: DynamicJob):
        if getattr(obj, "pending_approval", None) is not None:
            self.message_user(
                request,
                "Your change is high-risk: it waits for another person's approval, "
                "and the job keeps running its current version until then.",
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:scheduler_jobs_dynamicjob_change", args=[obj.pk])
            )
        merged = getattr(obj, "merged_fields", None)
        if merged:
            self.message_user(
                request,
                "Someone else changed this job while you were editing it; their "
                f"changes are kept: {', '.join(merged)}.",
                messages.INFO,
            )
        return super().response_change(request, obj)

    # --- extra URLs ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "schedule-preview/",
                wrap(self.schedule_preview_view),
                name="scheduler_jobs_dynamicjob_schedule_preview",
            ),
            path(
                "<int:job_id>/run/",
                wrap(self.run_view),
                name="scheduler_jobs_dynamicjob_run",
            ),
            path(
                "upcoming/",
                wrap(self.upcoming_view),
                name="scheduler_jobs_dynamicjob_upcoming",
            ),
            path(
                "<int:job_id>/toggle/",
                wrap(self.toggle_view),
                name="scheduler_jobs_dynamicjob_toggle",
            ),
            path(
                "<int:job_id>/copy/",
                wrap(self.copy_view),
                name="scheduler_jobs_dynamicjob_copy",
            ),
            path(
                "<int:job_id>/run-with-changes/",
                wrap(self.run_with_changes_view),
                name="scheduler_jobs_dynamicjob_run_with_changes",
            ),
            *self.history_urls(),
            *super().get_urls(),
        ]

    def upcoming_view(self, request: HttpRequest):
        """The calendar of upcoming runs (scheduler_jobs/admin_upcoming.py)."""
        return upcoming_page(request, model_admin=self)

    def schedule_preview_view(self, request: HttpRequest):
        if not (
            self.has_add_permission(request) or self.has_change_permission(request)
        ):
            raise PermissionDenied
        return schedule_preview(request)

    def _back(self, request: HttpRequest, job: DynamicJob) -> HttpResponseRedirect:
        target = request.POST.get("next") or ""
        if target == "changelist":
            return HttpResponseRedirect(
                reverse("admin:scheduler_jobs_dynamicjob_changelist")
            )
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}
        ):
            return HttpResponseRedirect(target)
        return HttpResponseRedirect(
            reverse("admin:scheduler_jobs_dynamicjob_change", args=[job.pk])
        )

    def run_view(self, request: HttpRequest, job_id: int):
        """Run now (optionally as a dry run); POST only, needs run_dynamicjob."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(DynamicJob, pk=job_id)
        dry_run = True if request.POST.get("dry_run") else None
        # Asked before the question: nobody learns about runs they may not start.
        access.authorize(request.user, access.Action.RUN)
        warnings = execution_services.run_warnings(job=job, dry_run=dry_run)
        if warnings and not request.POST.get("confirm"):
            return confirm_page(
                request,
                self.admin_site,
                title=f"Run “{job.name}” now?",
                warnings=warnings,
                action_url=request.path,
                confirm_label="Yes, run it now",
                back_url=reverse(
                    "admin:scheduler_jobs_dynamicjob_change", args=[job.pk]
                ),
                carried={
                    k: request.POST[k] for k in ("dry_run", "next") if k in request.POST
                },
            )
        # run_now authorises; its AccessDenied is a PermissionDenied (403).
        try:
            execution = execution_services.run_now(
                job=job,
                user=request.user,
                dry_run=dry_run,
                request=request,
                source="admin",
            )
        except ValidationError as exc:
            self.message_user(
                request,
                f"{job.name} was not run: {'; '.join(exc.messages)}",
                messages.ERROR,
            )
            return self._back(request, job)
        url = reverse("admin:executions_jobexecution_change", args=[execution.pk])
        self.message_user(
            request,
            format_html(
                '{} “{}” queued as <a href="{}">execution #{}</a>.',
                "Dry run of" if execution.dry_run else "Run of",
                job.name,
                url,
                execution.pk,
            ),
            messages.SUCCESS,
        )
        return self._back(request, job)

    def toggle_view(self, request: HttpRequest, job_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(DynamicJob, pk=job_id)
        try:
            # The service authorises: disabling a high-risk job needs no more
            # than the change right, enabling it does.
            job = services.job_set_enabled(
                job=job, user=request.user, enabled=not job.enabled, request=request
            )
        except ValidationError as exc:
            # e.g. stored parameters no longer valid for an updated template.
            self.message_user(
                request,
                f"“{job.name}” was not changed: {'; '.join(exc.messages)} "
                "Open the job to fix it.",
                messages.ERROR,
            )
        except services.VersionConflict as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            state = "enabled" if job.enabled else "disabled"
            self.message_user(
                request, f"“{job.name}” is now {state}.", messages.SUCCESS
            )
        return HttpResponseRedirect(
            reverse("admin:scheduler_jobs_dynamicjob_changelist")
        )

    def copy_view(self, request: HttpRequest, job_id: int):
        """A new job started from this one (secrets left empty), made by job_copy."""
        source = get_object_or_404(DynamicJob, pk=job_id)
        # Asked before the page shows; job_copy asks again when it creates.
        access.authorize(
            request.user,
            access.Action.ADD,
            definitions=[access.job_definition(source)],
        )
        if source.template_type not in registry:
            self.message_user(
                request,
                f"“{source.name}” cannot be copied: its template is not installed.",
                messages.ERROR,
            )
            return self._back(request, source)
        form = JobCopyForm(
            request.POST if request.method == "POST" else None,
            source=source,
            request=request,
        )
        if request.method == "POST" and form.is_valid() and form.created:
            return self._copied(request, form.created)
        return copy_page(request, self, source=source, form=form)

    def _copied(self, request: HttpRequest, job: DynamicJob) -> HttpResponseRedirect:
        state = "enabled" if job.enabled else "disabled"
        if getattr(job, "pending_approval", None) is not None:
            state = "waiting for another person's approval"
        self.message_user(request, f"Created “{job.name}” ({state}).", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:scheduler_jobs_dynamicjob_change", args=[job.pk])
        )

    def run_with_changes_view(self, request: HttpRequest, job_id: int):
        """One run with other parameters or dry run; the job is not changed.

        Needs the right to run with overrides (asked before the page shows);
        run_now authorises again and validates. Real runs of high-risk jobs and
        runs beside an active one ask first, as Run now does.
        """
        job = get_object_or_404(DynamicJob, pk=job_id)
        access.authorize(
            request.user,
            access.Action.RUN_WITH_OVERRIDES,
            definitions=[access.job_definition(job)],
        )
        if job.template_type not in registry:
            self.message_user(
                request,
                f"“{job.name}” cannot run: its template is not installed.",
                messages.ERROR,
            )
            return self._back(request, job)
        posted = request.method == "POST"
        form = RunWithChangesForm(request.POST if posted else None, job=job)
        if not (posted and form.is_valid()):
            return run_with_changes_page(request, self, job=job, form=form, warnings=[])
        chosen = form.dry_run()
        warnings = execution_services.run_warnings(
            job=job,
            dry_run=form.parameters().get("dry_run") if chosen is None else chosen,
        )
        if warnings and not request.POST.get("confirm"):
            return run_with_changes_page(
                request, self, job=job, form=form, warnings=warnings
            )
        try:
            execution = execution_services.run_now(
                job=job,
                user=request.user,
                dry_run=chosen,
                parameters=form.parameters(),
                request=request,
                source="admin",
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return run_with_changes_page(request, self, job=job, form=form, warnings=[])
        self._queued(request, job, execution)
        return self._back(request, job)

    def _queued(self, request: HttpRequest, job: DynamicJob, execution) -> None:
        url = reverse("admin:executions_jobexecution_change", args=[execution.pk])
        self.message_user(
            request,
            format_html(
                '{} “{}” with your changes queued as <a href="{}">execution #{}</a>.',
                "Dry run of" if execution.dry_run else "Run of",
                job.name,
                url,
                execution.pk,
            ),
            messages.SUCCESS,
        )
