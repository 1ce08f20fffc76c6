"""The broker's redelivery window under settings that leave the broker out.

A settings module without CELERY_BROKER_URL still runs Celery (on its default,
a local RabbitMQ), so `manage.py check`, worker and beat start-up must report on
that broker rather than crash with AttributeError.
"""

from __future__ import annotations

import pytest

from executions import checks
from scheduler_jobs.broker import (
    RABBITMQ_DEFAULT_CONSUMER_TIMEOUT,
    redelivery_window,
)


def test_the_check_runs_without_celery_broker_url(settings):
    del settings.CELERY_BROKER_URL

    messages = checks.check_redelivery_window()

    assert isinstance(messages, list)
    assert messages == []


def test_without_celery_broker_url_the_window_is_celerys_default_broker(settings):
    del settings.CELERY_BROKER_URL
    settings.SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS = (
        RABBITMQ_DEFAULT_CONSUMER_TIMEOUT
    )

    window = redelivery_window()

    assert window is not None
    assert window.name == "RabbitMQ consumer_timeout"
    assert window.seconds == RABBITMQ_DEFAULT_CONSUMER_TIMEOUT


def test_the_check_still_reports_on_celerys_default_broker(settings):
    del settings.CELERY_BROKER_URL
    settings.SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS = 600
    settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = 600

    [message] = checks.check_redelivery_window()

    assert message.id == "executions.E001"
    assert "RabbitMQ consumer_timeout" in message.msg


def test_redis_without_transport_options_uses_kombus_default(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/10"
    del settings.CELERY_BROKER_TRANSPORT_OPTIONS

    window = redelivery_window()

    assert window is not None
    assert window.seconds == 3600


@pytest.mark.django_db
def test_the_check_with_the_database_runs_without_celery_broker_url(settings):
    del settings.CELERY_BROKER_URL

    assert checks.check_redelivery_window(databases=["default"]) == []
