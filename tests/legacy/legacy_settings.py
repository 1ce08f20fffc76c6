"""The seed's three hard-coded jobs in CELERY_BEAT_SCHEDULE, as a legacy project has.

Used by the legacy tests (copied onto `settings`) and usable as
DJANGO_SETTINGS_MODULE to try the migration commands against a scratch database:

    DJANGO_SETTINGS_MODULE=tests.legacy.legacy_settings ./manage.py legacy_jobs plan
"""

from datetime import timedelta

from celery.schedules import crontab

from tests.settings import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {
    # Proves the scheduler lives: once a minute.
    "test_scheduler": {
        "task": "legacy.tasks.test_scheduler",
        "schedule": timedelta(minutes=1),
    },
    # Removes old execution records every night at 03:00.
    "data_cleanup": {
        "task": "legacy.tasks.data_cleanup",
        "schedule": crontab(minute=0, hour=3),
        "kwargs": {"model": "executions.JobExecution", "days": 90},
    },
    # Deletes support tickets resolved more than two weeks ago, at 02:30.
    "auto_delete_resolved_tickets": {
        "task": "support.tasks.auto_delete_resolved_tickets",
        "schedule": crontab(minute=30, hour=2),
        "kwargs": {"days": 14},
        "options": {"expires": 3600},
    },
    # No rule maps this one: it must be reported, never guessed.
    "send_weekly_digest": {
        "task": "newsletter.tasks.send_weekly_digest",
        "schedule": crontab(minute=0, hour=8, day_of_week="mon"),
        "args": ["staff@example.com"],
    },
}
