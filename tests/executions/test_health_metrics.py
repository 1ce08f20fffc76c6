"""/metrics: the health gauges, the run counters kept by triggers, and the names."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from executions import counters
from executions.housekeeping import executions_prune
from executions.models import BeatHeartbeat, JobExecution, RunCount
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
TOKEN = "metrics-t0ken"


@pytest.fixture
def scrape(client, settings):
    settings.SCHEDULER_METRICS_TOKEN = TOKEN

    def get() -> dict[str, object]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return {
            family.name: family
            for family in text_string_to_metric_families(response.content.decode())
        }

    return get


def value(families, name: str, **labels: str) -> float:
    for family in families.values():
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return sample.value
    raise KeyError(f"{name} {labels}")


def end(execution: JobExecution, status: str) -> None:
    JobExecution.objects.filter(pk=execution.pk).update(
        status=status, completed_at=timezone.now()
    )


# --- names -------------------------------------------------------------------------


def test_names_follow_the_prometheus_conventions(scrape):
    families = scrape()
    kinds = {name: family.type for name, family in families.items()}
    for name, kind in kinds.items():
        assert name.startswith("dynamic_scheduler_"), name
        if kind == "gauge":
            assert not name.endswith("_total"), name
            assert "rate" not in name, name
    assert kinds["dynamic_scheduler_executions"] == "counter"
    assert kinds["dynamic_scheduler_retries"] == "counter"
    for gauge in (
        "dynamic_scheduler_window_runs",
        "dynamic_scheduler_last_tick_age_seconds",
        "dynamic_scheduler_late_jobs",
        "dynamic_scheduler_oldest_queued_age_seconds",
        "dynamic_scheduler_workers_seen",
        "dynamic_scheduler_beats_ticking",
    ):
        assert kinds[gauge] == "gauge", gauge
    assert "dynamic_scheduler_runs_total_window" not in kinds


def test_ratios_end_in_ratio(scrape):
    job = DynamicJobFactory()
    done = timezone.now() - timedelta(minutes=5)
    JobExecutionFactory(job=job, status=Status.COMPLETED, completed_at=done)
    families = scrape()
    assert value(families, "dynamic_scheduler_success_ratio", window="24h") == 1.0
    assert value(families, "dynamic_scheduler_failure_ratio", window="24h") == 0.0


# --- health gauges -----------------------------------------------------------------


def test_last_tick_age_is_infinite_before_beat_ever_ticked(scrape):
    families = scrape()
    assert math.isinf(value(families, "dynamic_scheduler_last_tick_age_seconds"))
    assert "dynamic_scheduler_last_tick_timestamp_seconds" not in families


def test_health_gauges(scrape, settings):
    settings.SCHEDULER_LATE_GRACE_SECONDS = 60
    at = timezone.now() - timedelta(seconds=30)
    BeatHeartbeat.objects.create(instance="b/1", ticked_at=at, started_at=at)
    DynamicJobFactory(next_run_at=timezone.now() - timedelta(minutes=10))
    waiting = JobExecutionFactory(
        status=Status.QUEUED,
        scheduled_for=timezone.now() - timedelta(minutes=3),
        sent_at=timezone.now(),
    )
    JobExecution.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(minutes=3)
    )
    JobExecutionFactory(
        status=Status.RUNNING, execution_host="w1/5", started_at=timezone.now()
    )
    families = scrape()
    assert 29 < value(families, "dynamic_scheduler_last_tick_age_seconds") < 60
    assert value(
        families, "dynamic_scheduler_last_tick_timestamp_seconds"
    ) == pytest.approx(at.timestamp())
    assert value(families, "dynamic_scheduler_late_jobs") == 2
    age = value(families, "dynamic_scheduler_oldest_queued_age_seconds")
    assert 179 < age < 240
    assert value(families, "dynamic_scheduler_workers_seen") == 1
    assert value(families, "dynamic_scheduler_beats_ticking") == 1


# --- counters ----------------------------------------------------------------------


def test_counters_count_each_ended_execution_once_by_status_and_template(scrape):
    first = JobExecutionFactory(status=Status.QUEUED)
    second = JobExecutionFactory(status=Status.RUNNING, template_type="webhook_trigger")
    end(first, Status.COMPLETED)
    end(first, Status.COMPLETED)  # no transition: not counted again
    end(second, Status.FAILED)
    JobExecutionFactory(status=Status.SKIPPED)  # skipped at dispatch: an insert
    JobExecutionFactory(status=Status.QUEUED)  # not ended
    families = scrape()
    name = "dynamic_scheduler_executions_total"
    assert value(families, name, status="completed", template="heartbeat") == 1
    assert value(families, name, status="skipped", template="heartbeat") == 1
    assert value(families, name, status="failed", template="webhook_trigger") == 1


def test_retries_are_counted_apart(scrape):
    failed = JobExecutionFactory(status=Status.RUNNING)
    end(failed, Status.FAILED)
    JobExecutionFactory(
        job=failed.job,
        status=Status.RETRY_PENDING,
        attempt=2,
        first_attempt=failed,
        scheduled_for=failed.scheduled_for,
        triggered_by=JobExecution.Trigger.RETRY,
    )
    families = scrape()
    assert value(families, "dynamic_scheduler_retries_total", template="heartbeat") == 1
    assert (
        value(
            families,
            "dynamic_scheduler_executions_total",
            status="failed",
            template="heartbeat",
        )
        == 1
    )


def test_counters_never_go_down_when_old_executions_are_pruned(scrape):
    old = timezone.now() - timedelta(days=200)
    for _ in range(3):
        execution = JobExecutionFactory(status=Status.COMPLETED)
        JobExecution.objects.filter(pk=execution.pk).update(created_at=old)
    before = value(scrape(), "dynamic_scheduler_executions_total", status="completed")
    assert executions_prune(retention_days=90).deleted == 3
    after = value(scrape(), "dynamic_scheduler_executions_total", status="completed")
    assert before == after == 3


def test_a_cancelled_run_counts(scrape):
    from executions import services
    from scheduler_jobs.access import SYSTEM

    waiting = JobExecutionFactory(status=Status.QUEUED)
    services.execution_cancel(execution=waiting, user=SYSTEM)
    families = scrape()
    assert (
        value(families, "dynamic_scheduler_executions_total", status="cancelled") == 1
    )


def test_shards_are_summed():
    RunCount.objects.create(status="completed", template_type="heartbeat", runs=5)
    RunCount.objects.create(
        status="completed", template_type="heartbeat", shard=3, runs=2
    )
    from executions.health import run_counts

    assert run_counts() == [
        {"status": "completed", "template_type": "heartbeat", "runs": 7}
    ]


# --- the triggers ------------------------------------------------------------------


def test_the_triggers_survive_every_migration():
    """A migration that rebuilds job_executions on SQLite drops its triggers; such a
    migration must install them again (executions.counters.install_triggers)."""
    assert counters.missing_triggers(connection) == []


def test_missing_triggers_are_put_back(caplog):
    counters.drop_triggers(connection)
    assert counters.missing_triggers(connection) == list(counters.TRIGGERS)
    assert counters.ensure_triggers(connection) == list(counters.TRIGGERS)
    assert counters.missing_triggers(connection) == []
    assert "installing them again" in caplog.text
    JobExecutionFactory(status=Status.SKIPPED)
    assert RunCount.objects.get(status="skipped").runs == 1


def test_backfill_counts_the_runs_already_recorded():
    RunCount.objects.all().delete()
    JobExecutionFactory(status=Status.COMPLETED)
    JobExecutionFactory(status=Status.QUEUED)
    JobExecutionFactory(
        status=Status.QUEUED, attempt=2, triggered_by=JobExecution.Trigger.RETRY
    )
    RunCount.objects.all().delete()
    with connection.cursor() as cursor:
        for sql in counters.BACKFILL:
            cursor.execute(sql)
    assert {(row.status, row.runs) for row in RunCount.objects.all()} == {
        ("completed", 1),
        ("retry_pending", 1),
    }
