from django.contrib import admin

from scheduler_jobs.models import DynamicJob


@admin.register(DynamicJob)
class DynamicJobAdmin(admin.ModelAdmin):
    list_display = ("name", "template_type", "enabled", "next_run_at", "last_status")
    list_filter = ("enabled", "template_type", "last_status")
    search_fields = ("name", "description")
    readonly_fields = ("next_run_at", "last_run_at", "last_status", "version")
