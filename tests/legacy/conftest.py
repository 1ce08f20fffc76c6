import io

import pytest
from django.core.management import call_command

from tests.legacy import legacy_settings


def run(*args: str) -> str:
    """Run a management command as an operator would; return what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def seed_settings(settings):
    """The seed's hard-coded jobs (plus one no rule maps) in CELERY_BEAT_SCHEDULE."""
    settings.CELERY_BEAT_SCHEDULE = legacy_settings.CELERY_BEAT_SCHEDULE
    settings.SCHEDULER_LEGACY_TICKETS_MODEL = ""
    settings.SCHEDULER_LEGACY_RULES = {}
    return settings


@pytest.fixture
def no_settings_jobs(settings):
    settings.CELERY_BEAT_SCHEDULE = {}
    settings.SCHEDULER_LEGACY_RULES = {}
    return settings
