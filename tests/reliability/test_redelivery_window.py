"""Item 4: a timeout or retry delay at or beyond the broker's redelivery window.

Redis redelivers an unacknowledged message after `visibility_timeout`;
RabbitMQ closes the channel of a consumer that holds one past
`consumer_timeout`. Such jobs are refused when saved, and worker and beat
refuse to start while one exists.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from executions import checks
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from tests.factories import DynamicJobFactory
from tests.integration.harness import wait_for

pytestmark = pytest.mark.reliability

WINDOW = 600
EXTRA = 30


@pytest.fixture
def redis_window(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/10"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": WINDOW}
    settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = EXTRA
    return settings


def _policy(**overrides) -> dict:
    return {"max_retries": 0, "delay_seconds": 1, "backoff": 1.0, **overrides}


@pytest.mark.django_db
def test_timeout_reaching_the_redis_visibility_timeout_is_refused_at_start_up(
    redis_window,
):
    DynamicJobFactory(name="ok", timeout_seconds=WINDOW - EXTRA - 1)
    DynamicJobFactory(name="too-long", timeout_seconds=WINDOW - EXTRA)
    [error] = checks.startup_errors()
    assert "Job 'too-long'" in error
    assert "timeout_seconds" in error
    assert f"Redis visibility_timeout = {WINDOW}s" in error
    assert "CELERY_VISIBILITY_TIMEOUT" in error


@pytest.mark.django_db
def test_retry_delay_reaching_the_window_after_backoff_is_refused(redis_window):
    DynamicJobFactory(
        name="slow-retries",
        timeout_seconds=60,
        retry_policy=_policy(max_retries=3, delay_seconds=150, backoff=2.0),
    )  # 150 × 2² = 600
    DynamicJobFactory(
        name="fine-retries",
        timeout_seconds=60,
        retry_policy=_policy(max_retries=3, delay_seconds=149, backoff=2.0),
    )
    [error] = checks.startup_errors()
    assert "Job 'slow-retries'" in error
    assert "retry_policy.delay_seconds" in error
    assert "longest retry delay (600s" in error


@pytest.mark.django_db
def test_rabbitmq_consumer_timeout_is_the_window_for_amqp(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = EXTRA
    DynamicJobFactory(name="half-hour", timeout_seconds=1800 - EXTRA)
    [error] = checks.startup_errors()
    assert "RabbitMQ consumer_timeout = 1800s" in error
    settings.SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS = 7200
    assert checks.startup_errors() == []


@pytest.mark.django_db
def test_hard_limit_margin_beyond_the_window_is_refused_without_any_job(
    redis_window,
):
    redis_window.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = WINDOW
    [error] = checks.startup_errors()
    assert "SCHEDULER_HARD_LIMIT_EXTRA_SECONDS" in error


@pytest.mark.django_db
def test_manage_py_check_reports_the_window_as_an_error(redis_window):
    DynamicJobFactory(name="too-long", timeout_seconds=WINDOW)
    messages = checks.check_redelivery_window(databases=["default"])
    assert [m.id for m in messages] == ["executions.E001"]
    assert messages[0].is_serious()


@pytest.mark.django_db
def test_saving_a_job_whose_timeout_reaches_the_window_is_refused(redis_window):
    data = {
        "name": "too-long",
        "template_type": "heartbeat",
        "schedule": {"type": "interval", "every_seconds": 3600},
        "timeout_seconds": WINDOW - EXTRA,
        "retry_policy": _policy(),
    }
    with pytest.raises(ValidationError) as caught:
        job_services.job_create(user=SYSTEM, data=data)
    assert "visibility_timeout" in caught.value.message_dict["timeout_seconds"][0]


@pytest.mark.django_db(transaction=True)
def test_worker_and_beat_refuse_to_start_with_a_job_beyond_the_window(
    stacks, django_db_blocker
):
    DynamicJobFactory(name="four-hours", timeout_seconds=4 * 3600)
    stack = stacks("window", CELERY_VISIBILITY_TIMEOUT=3600)
    worker = stack.start_worker("worker", concurrency=1, queues="rel_window")
    beat = stack.start_beat("beat")
    exited = wait_for(
        lambda: worker.poll() is not None and beat.poll() is not None, timeout=60
    )
    assert exited, "worker or beat started despite the redelivery window"
    assert worker.returncode != 0
    assert beat.returncode != 0
    for name, process in (("worker", "worker"), ("beat", "beat")):
        log = stack.log(name)
        assert f"Refusing to start the {process}" in log
        assert "Job 'four-hours'" in log
        assert "Redis visibility_timeout = 3600s" in log
