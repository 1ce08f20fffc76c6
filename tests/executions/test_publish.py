"""Messages reach the broker on the queue each execution was routed to.

Through the broker the suite runs on (the filesystem one under `make test`,
Redis or RabbitMQ in CI): a batch mixes the queue of the template's resource
usage (SCHEDULER_QUEUES), a job's own queue, and several messages to one queue,
which `_publish` declares only once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kombu.simple import SimpleQueue

from config.celery import app
from executions import services
from executions.models import JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _due_job(name: str, **options) -> DynamicJob:
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "schedule": {"type": "interval", "every_seconds": 60},
            **options,
        },
    )
    DynamicJob.objects.filter(pk=job.pk).update(next_run_at=T0)
    return job


def _drain(connection, queue: str) -> list:
    messages = []
    with SimpleQueue(connection, queue) as simple:
        while True:
            try:
                message = simple.get(block=True, timeout=1)
            except simple.Empty:
                return messages
            messages.append(message)
            message.ack()


def test_a_batch_lands_on_the_routed_queues(
    settings, django_capture_on_commit_callbacks
):
    usage_queue = f"test-usage-{uuid.uuid4().hex[:8]}"
    own_queue = f"test-own-{uuid.uuid4().hex[:8]}"
    settings.SCHEDULER_QUEUES = {"low": usage_queue}  # heartbeat is "low"
    by_usage = [_due_job(f"by usage {i}") for i in range(3)]
    own = _due_job("own queue", queue=own_queue)

    with django_capture_on_commit_callbacks(execute=True):
        report = services.dispatch_due(now=T0 + timedelta(seconds=1))
    assert report.queued == 4

    executions = {e.job_id: e for e in JobExecution.objects.all()}
    assert all(e.sent_at is not None for e in executions.values())
    with app.connection_for_read() as connection:
        on_usage_queue = _drain(connection, usage_queue)
        on_own_queue = _drain(connection, own_queue)

    def described(messages):
        return sorted(
            (m.headers["task"], m.headers["id"], m.headers["argsrepr"], m.payload[0])
            for m in messages
        )

    def expected(jobs):
        return sorted(
            (
                "executions.run_execution",
                executions[job.pk].celery_task_id,
                f"[{executions[job.pk].pk}]",
                [executions[job.pk].pk],
            )
            for job in jobs
        )

    assert described(on_usage_queue) == expected(by_usage)
    assert described(on_own_queue) == expected([own])
