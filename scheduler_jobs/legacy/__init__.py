"""Migrating hard-coded ("legacy") Celery jobs into dynamic jobs.

Three sources of legacy jobs are read:

* ``settings``: ``CELERY_BEAT_SCHEDULE`` (task, ``schedule`` as a ``crontab``,
  ``timedelta`` or seconds, ``args``, ``kwargs``, ``options``);
* ``beat``: django-celery-beat ``PeriodicTask`` rows;
* ``file``: a JSON or YAML file of definitions, for schedulers that are neither.

django-celery-beat's ``DatabaseScheduler`` (which this project's beat extends)
copies every ``CELERY_BEAT_SCHEDULE`` entry into a ``PeriodicTask`` row of the same
name at start-up and never touches that row's ``enabled`` flag again. Such a row
is treated as the switch of its settings entry: disabling it stops the settings
job under that scheduler, and it survives beat restarts.

A table of rules (built-ins, overridden by ``SCHEDULER_LEGACY_RULES``) maps
a legacy job to a template and parameters. Rules match the job's name first, then
its task path. A job no rule maps is reported with the reason, never guessed.
Every write goes through ``scheduler_jobs.services``, so the new jobs are
validated exactly like the API's and audited.

The package is split by stage: ``sources`` reads legacy jobs and converts their
schedules, ``rules`` maps one job to a job definition (or says why it cannot),
``migrate`` plans, migrates, rolls back and reports status. ``base`` holds what
they all share. The names below are the ones other code imports (the
``legacy_jobs``, ``export_jobs`` and ``import_jobs`` commands, and mapper
functions named in ``SCHEDULER_LEGACY_RULES``), so they stay importable from
``scheduler_jobs.legacy``.
"""

from scheduler_jobs.legacy.base import (
    USER_HELP,
    LegacyError,
    LegacyJob,
    Unmappable,
    command_actor,
    operator_name,
    validation_text,
)
from scheduler_jobs.legacy.migrate import (
    build_plan,
    legacy_status,
    migrate_entry,
    rollback,
    select,
)
from scheduler_jobs.legacy.sources import (
    DEFAULT_SOURCES,
    SOURCES,
    load_legacy_jobs,
    parse_structured_text,
)

__all__ = [
    "DEFAULT_SOURCES",
    "SOURCES",
    "USER_HELP",
    "LegacyError",
    "LegacyJob",
    "Unmappable",
    "build_plan",
    "command_actor",
    "legacy_status",
    "load_legacy_jobs",
    "migrate_entry",
    "operator_name",
    "parse_structured_text",
    "rollback",
    "select",
    "validation_text",
]
