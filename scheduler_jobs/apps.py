from django.apps import AppConfig


class SchedulerJobsConfig(AppConfig):
    name = "scheduler_jobs"
    verbose_name = "Scheduled jobs"
    default_auto_field = "django.db.models.BigAutoField"
