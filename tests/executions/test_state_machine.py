import http.server
import json
import os
import threading
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEntry
from executions import services
from executions.models import JobExecution
from executions.services import sending
from job_templates.base import JobTemplate
from job_templates.registry import registry
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from scheduler_jobs.models import DynamicJob

pytestmark = pytest.mark.django_db
Status = JobExecution.Status


class TimesOutTemplate(JobTemplate):
    """Raises what Celery's soft time limit raises inside the task."""

    type = "test_times_out"
    name = "Times out"

    def execute(self, params, ctx):
        ctx.logger.info("working")
        raise SoftTimeLimitExceeded()


class ChattyTemplate(JobTemplate):
    type = "test_chatty"
    name = "Chatty"
    parameters_schema = {
        "type": "object",
        "properties": {"lines": {"type": "integer", "default": 10}},
        "additionalProperties": False,
    }

    def execute(self, params, ctx):
        for i in range(params["lines"]):
            ctx.logger.info("line %s", i)
        return {"lines": params["lines"]}


class DeletesItsJobTemplate(JobTemplate):
    """An operator deleting the job while its run is in progress."""

    type = "test_deletes_its_job"
    name = "Deletes its job"

    def execute(self, params, ctx):
        DynamicJob.objects.filter(pk=ctx.job_id).delete()
        return {"deleted": ctx.job_id}


@pytest.fixture(autouse=True)
def _test_templates():
    registry.register(TimesOutTemplate)
    registry.register(ChattyTemplate)
    registry.register(DeletesItsJobTemplate)
    yield
    registry.unregister(TimesOutTemplate.type)
    registry.unregister(ChattyTemplate.type)
    registry.unregister(DeletesItsJobTemplate.type)


@pytest.fixture
def sent(monkeypatch) -> list[JobExecution]:
    """The executions handed to the broker, instead of sending them."""
    sent: list[JobExecution] = []
    monkeypatch.setattr(sending, "execution_send", lambda rows: sent.extend(rows) or [])
    return sent


def make_job(name="job", *, template_type="heartbeat", parameters=None, **options):
    data = {
        "name": name,
        "template_type": template_type,
        "parameters": parameters or {},
        "schedule": {"type": "interval", "every_seconds": 60},
        **options,
    }
    return job_services.job_create(user=SYSTEM, data=data)


def queued_run(job, **kwargs) -> JobExecution:
    return services.run_now(job=job, user=SYSTEM, **kwargs)


def run(execution: JobExecution) -> JobExecution:
    services.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    return execution


def test_successful_run_records_result_logs_host_and_duration():
    job = make_job(parameters={"message": "ping"})
    execution = run(queued_run(job))
    assert execution.status == Status.COMPLETED
    assert execution.result["message"] == "ping"
    assert [e["message"] for e in execution.logs] == ["ping"]
    assert execution.logs[0]["level"] == "INFO"
    assert execution.execution_host
    assert execution.duration_seconds is not None
    assert execution.started_at <= execution.completed_at
    job.refresh_from_db()
    assert job.last_status == Status.COMPLETED
    assert job.last_run_at == execution.started_at


def test_a_running_execution_has_a_deadline_of_timeout_plus_the_hard_margin(settings):
    settings.SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = 30
    job = make_job(timeout_seconds=120)
    execution = run(queued_run(job))
    assert execution.deadline_at - execution.started_at == timedelta(seconds=150)
    assert execution.execution_host.endswith(f"/{os.getpid()}")


def test_a_job_deleted_during_its_run_still_gets_the_run_recorded():
    job = make_job(
        "deleted mid-run",
        template_type="test_deletes_its_job",
        notifications={"emails": ["ops@example.com"], "on": ["success"]},
    )
    execution = run(queued_run(job))
    assert execution.status == Status.COMPLETED
    assert execution.job_id is None
    assert execution.job_name == "deleted mid-run"
    assert execution.result == {"deleted": job.pk}
    assert not DynamicJob.objects.filter(pk=job.pk).exists()
    assert mail.outbox == []  # nobody to notify for a job that is gone


def test_failing_template_stores_the_error_with_traceback_frames():
    job = make_job(parameters={"fail": True}, retry_policy={"max_retries": 0})
    execution = run(queued_run(job))
    assert execution.status == Status.FAILED
    assert execution.error.startswith("TemplateError: Heartbeat asked to fail")
    assert "Traceback (last" in execution.error
    assert "heartbeat.py" in execution.error


def test_soft_time_limit_ends_timeout():
    job = make_job(
        template_type="test_times_out",
        timeout_seconds=5,
        retry_policy={"max_retries": 0},
    )
    execution = run(queued_run(job))
    assert execution.status == Status.TIMEOUT
    assert "still running after 5s" in execution.error


def test_retries_wait_in_the_database_with_backoff_then_exhaust():
    job = make_job(
        parameters={"fail": True},
        retry_policy={"max_retries": 2, "delay_seconds": 10, "backoff": 3.0},
    )
    first = run(queued_run(job))
    assert first.status == Status.FAILED
    second = JobExecution.objects.get(attempt=2)
    assert second.status == Status.RETRY_PENDING
    assert second.first_attempt_id == first.pk
    assert second.scheduled_for == first.scheduled_for
    assert second.triggered_by == "retry"
    assert abs((second.due_at - first.completed_at).total_seconds() - 10) < 1

    assert services.dispatch_retries(now=second.due_at) == 1
    second = run(second)
    third = JobExecution.objects.get(attempt=3)
    assert abs((third.due_at - second.completed_at).total_seconds() - 30) < 1  # 10×3¹

    services.dispatch_retries(now=third.due_at)
    third = run(third)
    assert third.status == Status.EXHAUSTED
    assert third.first_attempt_id == first.pk
    assert JobExecution.objects.count() == 3
    job.refresh_from_db()
    assert job.last_status == Status.EXHAUSTED


def test_a_redelivered_message_does_not_run_twice():
    job = make_job()
    execution = queued_run(job)
    run(execution)
    assert services.execution_run(execution_id=execution.pk) is None
    assert services.execution_run(execution_id=999_999) is None
    assert JobExecution.objects.get().status == Status.COMPLETED


def test_log_size_is_capped_keeping_first_and_last(settings):
    settings.SCHEDULER_LOG_MAX_ENTRIES = 10
    job = make_job(template_type="test_chatty", parameters={"lines": 100})
    execution = run(queued_run(job))
    messages = [e["message"] for e in execution.logs]
    assert messages[:5] == [f"line {i}" for i in range(5)]
    assert messages[-5:] == [f"line {i}" for i in range(95, 100)]
    assert "90 log entries dropped" in messages[5]
    assert execution.logs_dropped == 90


def test_manual_run_validates_overrides_and_is_audited(job_operator):
    job = make_job()
    job_services.job_set_enabled(job=job, user=SYSTEM, enabled=False)
    execution = services.run_now(
        job=job, user=job_operator, parameters={"message": "override"}
    )
    assert execution.triggered_by == "manual"
    assert execution.triggered_by_user == job_operator
    assert execution.parameters["message"] == "override"
    assert AuditEntry.objects.get(action="run").changes["parameter_overrides"] == {
        "message": "override"
    }
    assert AuditEntry.objects.filter(action="run", actor=job_operator).exists()
    with pytest.raises(ValidationError) as excinfo:
        services.run_now(job=job, user=job_operator, parameters={"sleep_seconds": -1})
    assert "parameters.sleep_seconds" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.run_now(job=job, user=job_operator, dry_run=True)
    assert "no dry run" in excinfo.value.message_dict["dry_run"][0]


def test_reaper_fails_a_run_whose_worker_died_and_retries_it():
    job = make_job(retry_policy={"max_retries": 1, "delay_seconds": 0, "backoff": 1.0})
    execution = queued_run(job)
    long_ago = timezone.now() - timedelta(hours=1)
    JobExecution.objects.filter(pk=execution.pk).update(
        status=Status.RUNNING,
        started_at=long_ago,
        deadline_at=long_ago,
        execution_host="host/123",
    )
    assert services.reap()["lost"] == 1
    execution.refresh_from_db()
    assert execution.status == Status.FAILED
    assert execution.error.startswith("Worker lost: the execution on host/123")
    assert JobExecution.objects.get(attempt=2).status == Status.RETRY_PENDING
    assert services.reap()["lost"] == 0


def test_reaper_leaves_runs_within_their_deadline_alone():
    execution = queued_run(make_job())
    JobExecution.objects.filter(pk=execution.pk).update(
        status=Status.RUNNING,
        started_at=timezone.now(),
        deadline_at=timezone.now() + timedelta(minutes=30),
    )
    assert services.reap()["lost"] == 0


def test_reaper_resends_a_queued_execution_whose_message_was_never_sent(sent):
    execution = queued_run(make_job())  # on_commit never ran: no message
    JobExecution.objects.filter(pk=execution.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )
    services.reap()
    assert [e.pk for e in sent] == [execution.pk]


@pytest.mark.parametrize(
    ("policy", "resent"),
    [(DynamicJob.OverlapPolicy.QUEUE, False), (DynamicJob.OverlapPolicy.ALLOW, True)],
)
def test_reaper_holds_an_unsent_run_beside_a_running_one_only_under_policy_queue(
    policy, resent, sent
):
    job = make_job(overlap_policy=policy)
    running, unsent = queued_run(job), queued_run(job)
    JobExecution.objects.filter(pk=running.pk).update(
        status=Status.RUNNING,
        started_at=timezone.now(),
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    JobExecution.objects.filter(pk=unsent.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )
    services.reap()
    assert [e.pk for e in sent] == ([unsent.pk] if resent else [])


def test_cancel_queued_then_refuse_to_cancel_a_finished_run(job_operator):
    job = make_job()
    execution = queued_run(job)
    cancelled = services.execution_cancel(execution=execution, user=job_operator)
    assert cancelled.status == Status.CANCELLED
    assert services.execution_run(execution_id=execution.pk) is None
    with pytest.raises(services.NotCancellable):
        services.execution_cancel(execution=execution, user=job_operator)
    assert AuditEntry.objects.filter(action="cancel").count() == 1


def test_a_run_cancelled_while_running_keeps_cancelled():
    job = make_job()
    execution = queued_run(job)
    JobExecution.objects.filter(pk=execution.pk).update(status=Status.RUNNING)
    execution.refresh_from_db()
    assert (
        services.execution_finish(execution=execution, status=Status.FAILED)
        == Status.FAILED
    )
    # A second finish (e.g. the reaper racing the worker) changes nothing.
    assert (
        services.execution_finish(execution=execution, status=Status.COMPLETED) is None
    )
    assert JobExecution.objects.get(pk=execution.pk).status == Status.FAILED


def test_deleting_a_job_keeps_its_executions_with_the_name():
    job = make_job("keeps history")
    execution = run(queued_run(job))
    job_services.job_delete(job=job, user=SYSTEM)
    execution.refresh_from_db()
    assert execution.job_id is None
    assert execution.job_name == "keeps history"


# --- notifications -----------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def slack_receiver(settings):
    _Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()


def test_failure_notifies_by_email_and_slack_with_idempotency_keys(slack_receiver):
    url, received = slack_receiver
    job = make_job(
        parameters={"fail": True},
        retry_policy={"max_retries": 0},
        notifications={
            "emails": ["ops@example.com"],
            "slack_webhook": url,
            "on": ["failure"],
        },
    )
    execution = run(queued_run(job))
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert "job: failed" in message.subject
    assert message.extra_headers["Message-ID"].startswith(
        f"<{execution.idempotency_key}"
    )
    [(headers, payload)] = received
    assert headers["X-Idempotency-Key"].startswith(execution.idempotency_key)
    assert "Heartbeat asked to fail" in payload["text"]
    assert [e["message"] for e in execution.logs[-2:]] == [
        "Notification (failure) emailed to 1 recipient(s).",
        "Notification (failure) posted to Slack (HTTP 200).",
    ]


def test_success_is_notified_when_asked():
    job = make_job(
        "notifies", notifications={"emails": ["ops@example.com"], "on": ["success"]}
    )
    execution = run(queued_run(job))
    [message] = mail.outbox
    assert message.subject == "[Dynamic Scheduler] notifies: completed"
    assert execution.logs[-1]["message"] == (
        "Notification (success) emailed to 1 recipient(s)."
    )


def test_success_is_not_notified_unless_asked():
    job = make_job(notifications={"emails": ["ops@example.com"], "on": ["failure"]})
    run(queued_run(job))
    assert mail.outbox == []


def test_a_failing_notification_is_logged_and_does_not_change_the_status(settings):
    settings.SCHEDULER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    job = make_job(
        notifications={
            "slack_webhook": "http://127.0.0.1:9/nothing-listens",
            "on": ["success"],
        },
    )
    execution = run(queued_run(job))
    assert execution.status == Status.COMPLETED
    assert execution.logs[-1]["level"] == "ERROR"
    assert execution.logs[-1]["message"].startswith(
        "Slack notification (success) failed"
    )


def test_exhausted_notifies_failure_subscribers_once_per_attempt():
    job = make_job(
        parameters={"fail": True},
        retry_policy={"max_retries": 1, "delay_seconds": 0, "backoff": 1.0},
        notifications={"emails": ["ops@example.com"], "on": ["exhausted"]},
    )
    run(queued_run(job))
    assert mail.outbox == []  # attempt 1 failed but a retry follows
    retry = JobExecution.objects.get(attempt=2)
    services.dispatch_retries(now=retry.due_at)
    run(retry)
    [message] = mail.outbox
    assert "exhausted" in message.subject
    assert DynamicJob.objects.get().last_status == Status.EXHAUSTED


@pytest.mark.parametrize(("policy", "released"), [("skip", 0), ("queue", 1)])
def test_only_overlap_policy_queue_releases_a_waiting_run_when_one_ends(
    policy, released, sent, django_capture_on_commit_callbacks
):
    job = make_job(overlap_policy=policy)
    first, waiting = queued_run(job), queued_run(job)  # neither message sent yet
    with django_capture_on_commit_callbacks(execute=True):
        run(first)
    assert [e.pk for e in sent] == [waiting.pk] * released
