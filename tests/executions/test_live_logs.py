"""The execution page's live log: the worker's periodic copy and what the page polls."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from executions import selectors
from executions.models import JobExecution
from executions.services.running import LOG_FLUSH_SECONDS, LogFlusher
from job_templates.context import BoundedLogHandler, make_logger
from scheduler_jobs.access import AccessDenied
from tests.conftest import staff_with
from tests.factories import JobExecutionFactory

pytestmark = pytest.mark.django_db
Status = JobExecution.Status


def _line(n: int, level: str = "INFO") -> dict:
    return {
        "ts": f"2026-12-01T10:00:0{n % 10}+00:00",
        "level": level,
        "message": f"l{n}",
    }


def _running(**fields) -> JobExecution:
    return JobExecutionFactory(
        status=Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=5),
        **fields,
    )


def test_log_tail_returns_the_lines_after_the_offset_with_status(superuser):
    execution = _running(logs=[_line(1), _line(2), _line(3)])

    tail = selectors.execution_log_tail(
        user=superuser, execution_id=execution.pk, offset=1
    )

    assert [line["message"] for line in tail["lines"]] == ["l2", "l3"]
    assert tail["count"] == 3
    assert tail["status_label"] == "Running"
    assert tail["finished"] is False
    assert tail["reset"] is False
    assert tail["duration_seconds"] >= 5
    assert tail["lines"][0]["time"] == "10:00:02.000 UTC"


def test_log_tail_sends_everything_again_once_lines_were_dropped(superuser):
    execution = _running(logs=[_line(1), _line(9)], logs_dropped=4)

    tail = selectors.execution_log_tail(
        user=superuser, execution_id=execution.pk, offset=2, dropped=0
    )

    assert tail["reset"] is True
    assert [line["message"] for line in tail["lines"]] == ["l1", "l9"]
    assert tail["dropped"] == 4


def test_log_tail_needs_the_right_to_view_executions(django_user_model):
    execution = _running(logs=[_line(1)])
    editor = staff_with(django_user_model, "editor", "scheduler_jobs.view_dynamicjob")

    with pytest.raises(AccessDenied):
        selectors.execution_log_tail(user=editor, execution_id=execution.pk)


def test_a_cancelled_run_has_the_duration_from_its_start_to_the_cancellation():
    started = timezone.now() - timedelta(seconds=30)
    execution = JobExecutionFactory(
        status=Status.CANCELLED,
        started_at=started,
        completed_at=started + timedelta(seconds=12),
        duration_seconds=None,
    )

    assert selectors.execution_duration(execution) == 12.0


def test_a_queued_run_has_no_duration():
    assert (
        selectors.execution_duration(JobExecutionFactory(status=Status.QUEUED)) is None
    )


def test_logs_endpoint_answers_json_to_a_viewer_and_403_to_others(
    client, django_user_model
):
    execution = _running(logs=[_line(1)])
    url = reverse("admin:executions_jobexecution_logs", args=[execution.pk])
    viewer = staff_with(django_user_model, "viewer", "executions.view_jobexecution")
    outsider = staff_with(
        django_user_model, "outsider", "scheduler_jobs.view_dynamicjob"
    )

    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(viewer)
    response = client.get(url, {"offset": "0"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["lines"][0]["message"] == "l1"
    assert "parameters" not in body


@pytest.mark.parametrize("bad", ["-1", "x", "1e3", "9999999999"])
def test_logs_endpoint_refuses_a_bad_offset_naming_it(client, superuser, bad):
    execution = _running()
    client.force_login(superuser)

    response = client.get(
        reverse("admin:executions_jobexecution_logs", args=[execution.pk]),
        {"offset": bad},
    )

    assert response.status_code == 400
    assert b"offset" in response.content


def test_logs_endpoint_of_a_missing_run_is_404(client, superuser):
    client.force_login(superuser)
    url = reverse("admin:executions_jobexecution_logs", args=[999999])
    assert client.get(url).status_code == 404


def _flusher(execution: JobExecution) -> tuple[LogFlusher, logging.Logger]:
    handler = BoundedLogHandler(max_entries=10)
    return LogFlusher(execution.pk, handler), make_logger("t", handler)


def test_flush_writes_new_lines_of_a_running_run_and_nothing_when_none_came():
    execution = _running()
    flusher, log = _flusher(execution)

    assert flusher.flush() is False  # nothing logged yet: no write
    log.info("first")
    assert flusher.flush() is True
    assert flusher.flush() is False  # nothing new since

    execution.refresh_from_db()
    assert [entry["message"] for entry in execution.logs] == ["first"]


def test_flush_leaves_a_finished_run_alone():
    execution = JobExecutionFactory(status=Status.COMPLETED, logs=[_line(1)])
    flusher, log = _flusher(execution)
    log.info("late line")

    flusher.flush()

    execution.refresh_from_db()
    assert [entry["message"] for entry in execution.logs] == ["l1"]


def test_a_cancelled_run_keeps_the_lines_its_template_logged_after_the_cancel():
    execution = JobExecutionFactory(status=Status.CANCELLED)
    flusher, log = _flusher(execution)
    log.warning("still going")

    flusher.keep_for_cancelled()

    execution.refresh_from_db()
    assert execution.logs[0]["message"] == "still going"


def test_no_flush_thread_inside_a_transaction():
    """A test's transaction: another connection could not see the claimed row."""
    execution = _running()
    flusher = LogFlusher.start_for(execution.pk, BoundedLogHandler())
    flusher.stop()

    assert flusher.watched is False


@pytest.mark.django_db(transaction=True)
def test_the_flush_thread_writes_new_lines_within_seconds_and_none_after_stop():
    execution = _running()
    handler = BoundedLogHandler()
    log = make_logger("t", handler)
    flusher = LogFlusher.start_for(execution.pk, handler)
    try:
        log.info("half way")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            execution.refresh_from_db()
            if execution.logs:
                break
            time.sleep(0.1)
        assert [entry["message"] for entry in execution.logs] == ["half way"]
    finally:
        flusher.stop()
    log.info("after the end")
    time.sleep(LOG_FLUSH_SECONDS * 2)

    execution.refresh_from_db()
    assert [entry["message"] for entry in execution.logs] == ["half way"]
