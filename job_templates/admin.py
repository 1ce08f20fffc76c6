from django.contrib import admin

from job_templates.models import JobTemplate


@admin.register(JobTemplate)
class JobTemplateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "type", "category", "risk_level", "resource_usage")
    list_filter = ("category", "risk_level")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
