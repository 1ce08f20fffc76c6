from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_catalogue(sender, **kwargs) -> None:
    from job_templates.services import catalogue_sync

    catalogue_sync()


class JobTemplatesConfig(AppConfig):
    name = "job_templates"
    verbose_name = "Job templates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from job_templates.builtin import BUILTIN_TEMPLATES
        from job_templates.registry import registry

        registry.load_builtins(BUILTIN_TEMPLATES)
        registry.load_builtins(settings.SCHEDULER_EXTRA_TEMPLATES)
        registry.load_entry_points()
        post_migrate.connect(_sync_catalogue, sender=self)
