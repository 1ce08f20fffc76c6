"""The admin dashboard (figures, SVG charts, workers) and Prometheus /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from executions import selectors
from executions.views import workers_online
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/executions/jobexecution/dashboard/"


def finished(job, status, *, hours_ago=1.0, duration=1.0, template="heartbeat"):
    done = timezone.now() - timedelta(hours=hours_ago)
    return JobExecutionFactory(
        job=job,
        template_type=template,
        status=status,
        started_at=done - timedelta(seconds=duration),
        completed_at=done,
        duration_seconds=duration,
        error="boom" if status == "failed" else "",
    )


@pytest.fixture
def history():
    job = DynamicJobFactory(name="busy")
    for _ in range(3):
        finished(job, "completed", duration=2.0)
    finished(job, "failed", duration=10.0)
    finished(job, "completed", hours_ago=24 * 5)  # outside 24h, inside 7d
    return job


def test_dashboard_shows_the_seed_metrics_for_the_window(editor_client, history):
    html = editor_client.get(DASHBOARD).content.decode()
    assert "75.0 %" in html  # success rate: 3 of 4 judged runs
    assert "25.0 %" in html
    for label in ("Average duration", "Total runs", "Active jobs", "Queue depth"):
        assert label in html
    assert "<svg" in html
    assert "ds-fill-completed" in html
    assert "Top jobs by runs" in html
    assert "busy" in html
    assert "Duration p50 / p95 by template" in html
    assert 'id="recent-failures"' in html
    assert "boom" in html
    week = editor_client.get(DASHBOARD + "?window=7d").content.decode()
    assert "80.0 %" in week  # 4 of 5


def test_dashboard_falls_back_to_24h_for_an_unknown_window(editor_client, history):
    html = editor_client.get(DASHBOARD + "?window=nonsense").content.decode()
    assert 'class="selected" aria-current="true">Last 24 hours' in html


def test_dashboard_is_linked_from_the_admin_index(editor_client):
    html = editor_client.get("/admin/").content.decode()
    assert f'href="{DASHBOARD}"' in html


def test_workers_online_is_unknown_on_the_filesystem_broker(settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    assert workers_online() == {
        "known": False,
        "text": "unknown (this broker has no remote control)",
    }


def test_runs_per_bucket_counts_by_status_and_hour(history):
    size, buckets = selectors.runs_per_bucket(window=timedelta(hours=24))
    assert size == timedelta(hours=1)
    totals = {
        status: sum(b["counts"][status] for b in buckets)
        for status in ("completed", "failed")
    }
    assert totals == {"completed": 3, "failed": 1}
    assert buckets == sorted(buckets, key=lambda b: b["start"])


def test_bucket_size_grows_with_the_window():
    assert selectors.bucket_size(timedelta(days=7)) == timedelta(hours=6)
    assert selectors.bucket_size(timedelta(days=30)) == timedelta(days=1)


def test_duration_percentiles_by_template_use_nearest_rank(history):
    rows = selectors.duration_percentiles_by_template(window=timedelta(hours=24))
    assert rows == [{"template_type": "heartbeat", "runs": 4, "p50": 2.0, "p95": 10.0}]


# --- /metrics -------------------------------------------------------------------------


def test_metrics_refuses_anonymous_with_401(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_refuses_a_logged_in_non_staff_user_with_403(django_user_model):
    user = django_user_model.objects.create_user(username="plain", password="x-12345")
    client = Client()
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


def test_metrics_for_a_staff_session(editor_client, history):
    response = editor_client.get("/metrics")
    text = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert 'dynamic_scheduler_window_runs{status="completed",window="24h"} 3.0' in text
    assert 'dynamic_scheduler_success_ratio{window="24h"} 0.75' in text
    assert "dynamic_scheduler_active_jobs 1.0" in text
    assert "dynamic_scheduler_queue_depth 0.0" in text


def test_metrics_with_the_bearer_token(client, settings, history):
    settings.SCHEDULER_METRICS_TOKEN = "t0ken-abc"
    ok = client.get("/metrics?window=7d", HTTP_AUTHORIZATION="Bearer t0ken-abc")
    assert ok.status_code == 200
    assert 'window="7d"' in ok.content.decode()
    bad = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert bad.status_code == 401


def test_metrics_ignores_bearer_tokens_when_none_is_configured(client, settings):
    settings.SCHEDULER_METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


def test_metrics_rejects_a_bad_window_with_400(editor_client):
    response = editor_client.get("/metrics?window=1y")
    assert response.status_code == 400
    assert b"window" in response.content
