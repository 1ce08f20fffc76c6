from django.apps import AppConfig


class SchedulerJobsConfig(AppConfig):
    name = "scheduler_jobs"
    verbose_name = "Scheduled jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from scheduler_jobs.branding import brand_admin_site

        brand_admin_site()
