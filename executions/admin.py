from django.contrib import admin

from executions.models import JobExecution


@admin.register(JobExecution)
class JobExecutionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "job_name",
        "status",
        "attempt",
        "triggered_by",
        "scheduled_for",
        "started_at",
        "duration_seconds",
    )
    list_filter = ("status", "template_type", "triggered_by")
    list_select_related = ("job",)
    show_full_result_count = False
    search_fields = ("job_name",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
