"""The Celery application shared by the web process, the workers and beat."""

import os

from celery import Celery
from celery.signals import beat_init, celeryd_init, task_postrun, task_prerun

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


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **kwargs) -> None:
    """Give each task Django's request lifecycle for database connections.

    With CELERY_DB_REUSE_MAX set, Celery keeps connections between tasks; this
    closes one that errored and fails its health check, was left in a
    transaction, or outlived CONN_MAX_AGE, as Django does around a request.
    Eager tasks run inside the caller's transaction and are left alone.
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
