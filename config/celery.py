"""The Celery application shared by the web process, the workers and beat."""

import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dynamic_scheduler")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def _refuse_unsafe_worker(**kwargs) -> None:
    """A job the broker would redeliver mid-run must stop the worker at start-up."""
    from executions.checks import exit_on_startup_errors

    exit_on_startup_errors("worker")


@beat_init.connect
def _refuse_unsafe_beat(**kwargs) -> None:
    from executions.checks import exit_on_startup_errors

    exit_on_startup_errors("beat")
