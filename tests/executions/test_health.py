"""The scheduler's own health: beat's heartbeat, /health/, the reads behind it, the
admin banner. Real processes: tests/integration/test_health_live.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from executions import health
from executions.models import BeatHeartbeat, JobExecution
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db
Status = JobExecution.Status
SECRET_NAME = "payroll-export-s3cr3t"


def ticked(seconds_ago: float, instance: str = "beat-host/1") -> BeatHeartbeat:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    return BeatHeartbeat.objects.update_or_create(
        instance=instance, defaults={"ticked_at": at, "started_at": at}
    )[0]


def queued(*, minutes_ago: float, sent: bool = True, **fields) -> JobExecution:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    execution = JobExecutionFactory(
        status=Status.QUEUED, scheduled_for=at, sent_at=at if sent else None, **fields
    )
    JobExecution.objects.filter(pk=execution.pk).update(created_at=at)
    return execution


# --- beat's heartbeat -----------------------------------------------------------------


def test_a_tick_costs_one_update_and_no_read(settings):
    settings.SCHEDULER_HEARTBEAT_SECONDS = 0
    heartbeat = health.Heartbeat("host/42")
    assert heartbeat.beat()  # first: the row is created
    with CaptureQueriesContext(connection) as queries:
        assert heartbeat.beat()
    verbs = [q["sql"].split()[0] for q in queries.captured_queries]
    # PostgreSQL: SET LOCAL synchronous_commit inside a (test) savepoint.
    assert [v for v in verbs if v not in ("SET", "SAVEPOINT", "RELEASE")] == ["UPDATE"]
    assert BeatHeartbeat.objects.get().instance == "host/42"


def test_a_busy_beat_writes_at_most_once_per_interval(settings):
    settings.SCHEDULER_HEARTBEAT_SECONDS = 60
    heartbeat = health.Heartbeat("host/42")
    assert heartbeat.beat()
    with CaptureQueriesContext(connection) as queries:
        assert not heartbeat.beat()
    assert queries.captured_queries == []


def test_two_beats_keep_a_row_each_and_old_ones_are_forgotten(settings):
    settings.SCHEDULER_HEARTBEAT_SECONDS = 0
    ticked(3 * 86400, "gone/1")
    health.Heartbeat("a/1").beat()
    health.Heartbeat("b/2").beat()
    assert sorted(BeatHeartbeat.objects.values_list("instance", flat=True)) == [
        "a/1",
        "b/2",
    ]


def test_a_heartbeat_deleted_under_beat_is_written_again(settings):
    settings.SCHEDULER_HEARTBEAT_SECONDS = 0
    heartbeat = health.Heartbeat("host/42")
    heartbeat.beat()
    BeatHeartbeat.objects.all().delete()
    assert heartbeat.beat()
    assert BeatHeartbeat.objects.filter(instance="host/42").exists()


def test_a_database_error_does_not_stop_beat(monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(BeatHeartbeat.objects, "filter", broken)
    assert health.Heartbeat("host/42").beat() is False


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's"
)
@pytest.mark.django_db(transaction=True)  # autocommit, as in beat
def test_on_postgresql_the_heartbeat_does_not_wait_for_the_wal_flush(settings):
    settings.SCHEDULER_HEARTBEAT_SECONDS = 0
    heartbeat = health.Heartbeat("host/42")
    heartbeat.beat()
    with CaptureQueriesContext(connection) as queries:
        heartbeat.beat()
    assert (
        "set_config('synchronous_commit', 'off', true)"
        in (queries.captured_queries[0]["sql"])
    )
    with connection.cursor() as cursor:  # that statement's transaction only
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_the_beat_tick_records_the_heartbeat(monkeypatch, settings):
    import django_celery_beat.schedulers

    from config.celery import app
    from executions import beat as beat_module

    settings.SCHEDULER_HEARTBEAT_SECONDS = 0
    monkeypatch.setattr(beat_module, "close_old_connections", lambda: None)
    monkeypatch.setattr(
        django_celery_beat.schedulers, "close_old_connections", lambda: None
    )
    scheduler = beat_module.DynamicJobScheduler(app=app)
    BeatHeartbeat.objects.all().delete()
    scheduler.tick()
    row = BeatHeartbeat.objects.get()
    assert row.instance == scheduler.heartbeat.instance
    assert (timezone.now() - row.ticked_at).total_seconds() < 5


# --- the reads ------------------------------------------------------------------------


def test_oldest_queued_is_one_query_and_skips_held_runs():
    queued(minutes_ago=30, sent=False)  # held behind a running one: not waiting
    oldest = queued(minutes_ago=10)
    queued(minutes_ago=2)
    with CaptureQueriesContext(connection) as queries:
        since = health.oldest_queued_since()
    assert len(queries.captured_queries) == 1
    assert "LIMIT 1" in queries.captured_queries[0]["sql"]
    created = JobExecution.objects.get(pk=oldest.pk).created_at
    assert since == created


def test_a_retry_waits_from_when_it_fell_due():
    due = timezone.now() - timedelta(minutes=1)
    queued(minutes_ago=60, attempt=2, due_at=due)
    assert health.oldest_queued_since() == due


def test_late_jobs_are_undispatched_or_unstarted_slots_past_the_grace():
    now = timezone.now()
    grace = timedelta(seconds=60)
    behind = DynamicJobFactory(next_run_at=now - timedelta(minutes=5))
    DynamicJobFactory(next_run_at=now - timedelta(minutes=5), enabled=False)
    DynamicJobFactory(next_run_at=now - timedelta(seconds=30))  # within the grace
    waiting = queued(minutes_ago=5).job
    queued(minutes_ago=5, attempt=2)  # a retry: its slot did start
    queued(minutes_ago=0.2)  # within the grace
    assert health.late_job_ids(now=now, grace=grace) == {behind.pk, waiting.pk}


def test_workers_seen_are_hosts_that_started_runs_lately_or_run_one_now():
    now = timezone.now()
    for host, minutes_ago, status in (
        ("alpha/1", 1, Status.COMPLETED),
        ("alpha/2", 2, Status.COMPLETED),
        ("beta/7", 90, Status.RUNNING),  # a long run: busy, so alive
        ("gamma/3", 90, Status.COMPLETED),  # nothing lately: not seen
    ):
        JobExecutionFactory(
            status=status,
            execution_host=host,
            started_at=now - timedelta(minutes=minutes_ago),
        )
    seen = health.workers_seen(now=now, window=timedelta(minutes=5))
    assert seen == {"machines": 2, "processes": 3}


# --- /health/ -------------------------------------------------------------------------


def test_health_is_public_and_ok_while_beat_ticks(client):
    ticked(1)
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"] == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "beat": "ok",
        "queue": "ok",
    }
    assert 0 <= body["last_tick_age_seconds"] < 5
    assert body["oldest_queued_age_seconds"] == 0.0
    assert body["workers_seen"] == 0
    assert "no-cache" in response["Cache-Control"]


def test_health_is_503_once_the_last_tick_is_older_than_the_setting(client, settings):
    settings.SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS = 30
    ticked(20)
    assert client.get("/health/").status_code == 200
    ticked(40)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "stale"
    assert response.json()["problems"][0].startswith("The scheduler (beat) last")


def test_the_newest_of_two_beats_counts(client, settings):
    settings.SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS = 30
    ticked(600, "stopped/1")
    ticked(2, "standby/2")
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert body["beats_ticking"] == 1


def test_health_is_503_when_beat_never_ticked(client):
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "never"
    assert response.json()["last_tick_age_seconds"] is None


def test_web_scope_ignores_beat_for_web_readiness_probes(client):
    response = client.get("/health/?scope=web")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


def test_a_stuck_queue_is_reported_but_does_not_fail_the_probe(client, settings):
    settings.SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS = 120
    ticked(1)
    queued(minutes_ago=10)
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert body["checks"]["queue"] == "stuck"
    assert 590 < body["oldest_queued_age_seconds"] < 700
    assert body["late_jobs"] == 1
    assert "oldest queued run has waited 10 min" in body["problems"][0]


def test_database_down_is_503_without_the_error_text(client, monkeypatch):
    def down(*args, **kwargs):
        raise DatabaseError("connection to server at db.internal (10.0.0.5) failed")

    monkeypatch.setattr(health, "snapshot", down)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "fail"
    assert "10.0.0.5" not in response.content.decode()


def test_cache_down_is_503(client, monkeypatch):
    ticked(1)
    monkeypatch.setattr(health.cache, "get", lambda *a, **k: None)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "fail"


def test_filesystem_broker_without_its_folder_is_503(client, settings, tmp_path):
    from config.celery import app

    # Celery reads its broker settings once: let it before the override (as
    # network_broker below does), so later tests still publish to the real one.
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    ticked(1)
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "missing")
    }
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "fail"


@pytest.fixture
def network_broker(settings, monkeypatch):
    """Point the health check at a network broker, and Celery still at the real one.

    Celery reads Django's settings once, at first use: it must read them before
    the override, or later tests publish to the fake broker.
    """
    from config.celery import app

    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    monkeypatch.setitem(health._broker_verdict, "until", 0.0)
    ticked(1)

    def use(url: str) -> None:
        settings.CELERY_BROKER_URL = url

    yield use
    health._broker_verdict["until"] = 0.0


def test_network_broker_unreachable_is_503_and_checked_once_per_interval(
    client, network_broker, monkeypatch
):
    network_broker("redis://127.0.0.1:1/0")
    assert client.get("/health/").json()["checks"]["broker"] == "fail"

    def must_not_connect(*args, **kwargs):
        raise AssertionError("the verdict should have been reused")

    monkeypatch.setattr(health, "Connection", must_not_connect)
    assert client.get("/health/").status_code == 503


def test_a_reachable_network_broker_is_ok(client, network_broker, monkeypatch):
    network_broker("redis://broker.internal:6379/0")
    seen = []

    class Reachable:
        def __init__(self, url, **options):
            seen.append(url)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ensure_connection(self, **options):
            return self

    monkeypatch.setattr(health, "Connection", Reachable)
    response = client.get("/health/")
    assert response.json()["checks"]["broker"] == "ok"
    assert seen == ["redis://broker.internal:6379/0"]
    assert "broker.internal" not in response.content.decode()


def test_health_never_shows_job_names_hosts_or_secrets(client, settings):
    settings.SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS = 60
    ticked(500, "beat-secret-host/99")
    job = DynamicJobFactory(
        name=SECRET_NAME, next_run_at=timezone.now() - timedelta(hours=1)
    )
    queued(minutes_ago=30, job=job, job_name=SECRET_NAME)
    JobExecutionFactory(
        job=job,
        job_name=SECRET_NAME,
        status=Status.RUNNING,
        execution_host="worker-secret-host/7",
        started_at=timezone.now(),
    )
    text = client.get("/health/").content.decode()
    body = json.loads(text)
    assert body["late_jobs"] == 1
    assert body["workers_seen"] == 1
    for secret in (SECRET_NAME, "secret-host", settings.SECRET_KEY[:12]):
        assert secret not in text


def test_health_refuses_writes(client):
    assert client.post("/health/").status_code == 405


# --- the admin banner -----------------------------------------------------------------


@pytest.fixture
def staff_client(django_user_model):
    user = django_user_model.objects.create_user(
        username="watcher", password="x-12345678", is_staff=True
    )
    client = Client()
    client.force_login(user)
    return client


def test_banner_on_admin_pages_when_beat_has_not_ticked(staff_client, settings):
    settings.SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS = 60
    ticked(600)
    page = staff_client.get("/admin/").content.decode()
    assert 'id="scheduler-health-banner"' in page
    assert "last ticked 10 min ago (limit 60 s)" in page
    assert 'id="site-name"' in page  # Django's branding block is kept


def test_banner_when_the_queue_is_stuck(staff_client, settings):
    settings.SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS = 300
    ticked(1)
    queued(minutes_ago=20)
    page = staff_client.get("/admin/password_change/").content.decode()
    assert "The oldest queued run has waited 20 min" in page


def test_no_banner_while_healthy(staff_client):
    ticked(1)
    assert "scheduler-health-banner" not in staff_client.get("/admin/").content.decode()


def test_no_banner_on_the_login_page(client):
    page = client.get("/admin/login/").content.decode()
    assert "scheduler-health-banner" not in page


def test_the_banner_is_read_once_per_cache_period(staff_client):
    ticked(1)
    staff_client.get("/admin/")
    with CaptureQueriesContext(connection) as queries:
        staff_client.get("/admin/")
    assert not [q for q in queries.captured_queries if "beat_heartbeats" in q["sql"]]
