from django.apps import AppConfig


class ReliabilityTemplatesConfig(AppConfig):
    """Loads the test-only templates into worker processes.

    Worker and beat processes started by the reliability tests get
    SCHEDULER_EXTRA_APPS=tests.reliability.apps.ReliabilityTemplatesConfig.
    """

    name = "tests.reliability"
    label = "reliability_templates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tests.reliability.templates import register_test_templates

        register_test_templates()
