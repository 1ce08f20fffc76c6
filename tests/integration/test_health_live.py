"""The scheduler's health with real processes: two beats, a worker and a web server.

/health/ is asked over HTTP from a real `manage.py runserver`; beats and the worker
are stopped and started for real. Thresholds are a few seconds so the module runs
in about a minute.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.utils import timezone

from executions.models import JobExecution
from executions.services import sending
from scheduler_jobs.models import DynamicJob
from tests.integration.harness import Stack, flush_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
MAX_TICK_AGE = 4
MAX_QUEUED_AGE = 3
TOKEN = "live-metrics-token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        flush_broker()
    port = _free_port()
    stack = Stack(
        tmp_path_factory.mktemp("health"),
        SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS=MAX_TICK_AGE,
        SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS=MAX_QUEUED_AGE,
        SCHEDULER_LATE_GRACE_SECONDS=2,
        SCHEDULER_METRICS_TOKEN=TOKEN,
    )
    stack._start(
        "web",
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
    )
    stack.start_worker(concurrency=1)
    stack.start_beat("beat1")
    stack.start_beat("beat2")
    stack.url = f"http://127.0.0.1:{port}"
    yield stack
    stack.stop_all()


def get(stack: Stack, path: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(stack.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""  # the server is still starting


def health(stack: Stack) -> tuple[int, dict[str, Any]]:
    status, text = get(stack, "/health/")
    return status, (json.loads(text) if text else {})


def healthy(stack: Stack, *, beats: int = 1) -> bool:
    status, body = health(stack)
    return status == 200 and body.get("beats_ticking", 0) >= beats


def test_stopping_beat_turns_health_503_within_its_threshold(live):
    assert wait_for(lambda: healthy(live, beats=2), timeout=90), live.log("beat1")

    # One of two beats stops: the other keeps the scheduler healthy.
    live.stop("beat1")
    deadline = time.monotonic() + MAX_TICK_AGE + 3
    while time.monotonic() < deadline:
        status, body = health(live)
        assert status == 200, body
        time.sleep(0.5)
    assert health(live)[1]["beats_ticking"] == 1

    live.stop("beat2")
    stopped = time.monotonic()
    status, body = health(live)
    while status == 200 and time.monotonic() - stopped < MAX_TICK_AGE + 10:
        time.sleep(0.2)
        status, body = health(live)
    took = time.monotonic() - stopped
    print(f"/health/ turned 503 {took:.2f} s after beat stopped")
    assert status == 503, body
    assert body["checks"]["beat"] == "stale"
    assert body["last_tick_age_seconds"] > MAX_TICK_AGE
    # The last heartbeat was at most a tick (0.5 s) plus one interval (1 s) old
    # when beat stopped; the poll adds 0.2 s.
    assert MAX_TICK_AGE - 2 <= took <= MAX_TICK_AGE + 1.5, took

    live.start_beat("beat1")
    assert wait_for(lambda: healthy(live), timeout=60), live.log("beat1")


def _queued_run() -> JobExecution:
    job = DynamicJob.objects.create(
        name="live-health-probe",
        template_type="heartbeat",
        parameters={"message": "queued while the worker is down"},
        schedule={"type": "interval", "every_seconds": 3600},
        enabled=False,
    )
    execution = JobExecution.objects.create(
        job=job,
        job_name=job.name,
        template_type=job.template_type,
        status=JobExecution.Status.QUEUED,
        scheduled_for=timezone.now(),
        parameters=job.parameters,
        timeout_seconds=60,
        celery_task_id=f"live-health-{time.monotonic_ns()}",
    )
    assert sending.execution_send([execution]) == [execution.pk]
    return execution


def test_a_stuck_queue_shows_in_health_metrics_and_the_banner(
    live, admin_client, settings
):
    assert wait_for(lambda: healthy(live), timeout=90), live.log("beat1")
    live.stop("worker")
    execution = _queued_run()

    def stuck() -> dict[str, Any] | None:
        status, body = health(live)
        checks = body.get("checks", {})
        return body if status == 200 and checks.get("queue") == "stuck" else None

    body = wait_for(stuck, timeout=30)
    assert body, health(live)
    assert body["oldest_queued_age_seconds"] > MAX_QUEUED_AGE
    assert body["late_jobs"] == 1
    assert "live-health-probe" not in json.dumps(body)

    status, text = get(live, "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200
    assert "dynamic_scheduler_late_jobs 1.0" in text
    age = _sample(text, "dynamic_scheduler_oldest_queued_age_seconds")
    assert age > MAX_QUEUED_AGE

    settings.SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS = MAX_QUEUED_AGE
    settings.SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS = MAX_TICK_AGE
    # The banner, rendered by this test's Django from the same database.
    page = admin_client.get("/admin/").content.decode()
    assert "The oldest queued run has waited" in page

    live.start_worker(concurrency=1)
    assert wait_for(
        lambda: JobExecution.objects.get(pk=execution.pk).status == "completed",
        timeout=90,
    ), live.log("worker")
    status, body = health(live)
    assert body["checks"]["queue"] == "ok"
    assert body["workers_seen"] == 1
    status, text = get(live, "/metrics", Authorization=f"Bearer {TOKEN}")
    assert (
        _sample(
            text,
            'dynamic_scheduler_executions_total{status="completed",template="heartbeat"}',
        )
        >= 1
    )


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")
