"""Start-up checks: refuse settings and jobs the broker cannot carry safely.

Messages are acknowledged late (after the run), so a message stays with its
worker for as long as the job runs. Past the broker's redelivery window (Redis
`visibility_timeout`, RabbitMQ `consumer_timeout`) the broker hands the same
message to another worker, or closes the channel, while the first is still
working. The executor's compare-and-set stops a second run, but the job's
timeout and retry delays must still stay inside the window, so that redelivery
only ever means "the worker died". Worker and beat refuse to start when they
do not (hooked from config/celery.py), and `manage.py check` reports it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from scheduler_jobs.broker import (  # re-exported: callers import them from here
    RedeliveryWindow,
    job_redelivery_errors,
    longest_retry_delay,
    redelivery_window,
)

logger = logging.getLogger(__name__)


__all__ = [
    "RedeliveryWindow",
    "exit_on_startup_errors",
    "job_redelivery_errors",
    "longest_retry_delay",
    "redelivery_window",
    "startup_errors",
]


def startup_errors(*, include_jobs: bool = True) -> list[str]:
    """Every reason this configuration must not start, as sentences."""
    window = redelivery_window()
    if window is None:
        return []
    errors = []
    extra = settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS
    if extra >= window.seconds:
        errors.append(
            f"SCHEDULER_HARD_LIMIT_EXTRA_SECONDS ({extra}s) is at or beyond the "
            f"broker's redelivery window ({window.name} = {window.seconds}s); "
            f"raise {window.setting}."
        )
    if not include_jobs:
        return errors
    from scheduler_jobs.models import DynamicJob

    try:
        jobs = list(
            DynamicJob.objects.values_list(
                "id", "name", "timeout_seconds", "retry_policy"
            )
        )
    except DatabaseError as exc:
        # The database may be starting too; the dispatcher and executor cope
        # with an outage, so the jobs are checked at the next start instead.
        logger.warning("Redelivery window check skipped the jobs: %s", exc)
        return errors
    for job_id, name, timeout, policy in jobs:
        for field, messages in job_redelivery_errors(
            timeout_seconds=timeout, retry_policy=policy, window=window
        ).items():
            errors.extend(f"Job {name!r} (id {job_id}), {field}: {m}" for m in messages)
    return errors


def exit_on_startup_errors(process: str) -> None:
    """Stop a worker or beat at start-up when startup_errors() finds anything.

    Raises SystemExit (Celery's signal dispatch lets it through, unlike other
    exceptions) with every reason, so the operator sees them all at once.
    """
    from django.apps import apps

    if not apps.ready:
        import django

        django.setup()
    errors = startup_errors()
    if errors:
        message = (
            f"Refusing to start the {process}: the broker would redeliver "
            "messages of running jobs.\n" + "\n".join(f"  - {e}" for e in errors)
        )
        logger.critical("%s", message)
        raise SystemExit(message)


@checks.register("scheduler")
def check_redelivery_window(app_configs=None, databases=None, **kwargs) -> list:
    """`manage.py check`: the settings always, the jobs when a database is given."""
    include_jobs = bool(databases)
    return [
        checks.Error(text, id="executions.E001")
        for text in startup_errors(include_jobs=include_jobs)
    ]
