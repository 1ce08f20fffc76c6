import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db


def test_the_projects_own_housekeeping_is_not_offered_as_a_legacy_job(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "scheduler-housekeeping": {"task": "executions.housekeeping", "schedule": 3600},
        "test_scheduler": {"task": "app.tasks.test_scheduler", "schedule": 60},
    }
    hourly, _ = IntervalSchedule.objects.get_or_create(
        every=3600, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="scheduler-housekeeping", task="executions.housekeeping", interval=hourly
    )
    out = io.StringIO()
    call_command("legacy_jobs", "plan", stdout=out)
    assert "test_scheduler" in out.getvalue()
    assert "housekeeping" not in out.getvalue()
