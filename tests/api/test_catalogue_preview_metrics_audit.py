"""The template catalogue, schedule preview, metrics and the audit log."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import timezone

from audit import services as audit
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db

TEMPLATE_KEYS = {
    "type",
    "name",
    "description",
    "category",
    "icon",
    "parameters_schema",
    "estimated_duration",
    "resource_usage",
    "risk_level",
}


def test_template_catalogue_lists_installed_templates(api):
    body = api.get("/api/v1/job-templates/").json()

    heartbeat = next(t for t in body if t["type"] == "heartbeat")
    assert set(heartbeat) == TEMPLATE_KEYS
    assert heartbeat["parameters_schema"]["properties"]["message"]["type"] == "string"
    assert heartbeat["risk_level"] == "low"


def test_one_template_by_type(api):
    response = api.get("/api/v1/job-templates/heartbeat/")

    assert response.status_code == 200
    assert response.json()["name"] == "Heartbeat"
    assert api.get("/api/v1/job-templates/nope/").status_code == 404


@time_machine.travel(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), tick=False)
def test_schedule_preview_describes_and_gives_five_runs(api):
    response = api.post(
        "/api/v1/schedule-preview/",
        {
            "schedule": {
                "type": "cron",
                "cron": "30 2 * * *",
                "timezone": "Europe/Berlin",
            }
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert "02:30" in body["description"]
    assert len(body["next_runs"]) == 5
    # 29 March 2026 02:30 does not exist in Berlin: it runs at 03:00 CEST.
    assert body["next_runs"][:2] == [
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T00:30:00+00:00",
    ]


def test_schedule_preview_interval(api):
    response = api.post(
        "/api/v1/schedule-preview/",
        {"schedule": {"type": "interval", "every_seconds": 3600}},
        format="json",
    )

    assert response.json()["description"] == "Every hour"
    first, second = (
        datetime.fromisoformat(t) for t in response.json()["next_runs"][:2]
    )
    assert (second - first).total_seconds() == 3600


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"type": "cron", "cron": "0 25 * * *"}, "cron"),
        ({"type": "cron", "cron": "0 0 30 2 *"}, "cron"),
        ({"type": "interval", "every_seconds": 1}, "every_seconds"),
        ({"type": "yearly"}, "type"),
    ],
)
def test_schedule_preview_refuses_bad_schedules_naming_the_field(api, schedule, field):
    response = api.post(
        "/api/v1/schedule-preview/", {"schedule": schedule}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["schedule"]


def test_schedule_preview_needs_a_schedule(api):
    response = api.post("/api/v1/schedule-preview/", {}, format="json")

    assert response.status_code == 400
    assert "schedule" in response.json()


def test_metrics_over_the_default_window(api):
    now = timezone.now()
    job = DynamicJobFactory()
    JobExecutionFactory(
        job=job, status="completed", completed_at=now, duration_seconds=2
    )
    JobExecutionFactory(
        job=job,
        status="failed",
        completed_at=now,
        duration_seconds=4,
        error="Boom\nTraceback",
    )
    JobExecutionFactory(job=job, status="running")
    JobExecutionFactory(
        job=job, status="completed", completed_at=now - timezone.timedelta(days=3)
    )

    body = api.get("/api/v1/metrics/").json()

    assert body["total_runs"] == 2
    assert body["success_rate"] == 0.5
    assert body["failure_rate"] == 0.5
    assert body["avg_duration_seconds"] == 3.0
    assert body["active_jobs"] == 1
    assert body["running_jobs"] == 1
    assert body["queue_depth"] == 0
    assert body["top_jobs"] == [{"job_id": job.pk, "job_name": job.name, "runs": 2}]
    assert body["recent_failures"][0]["error"] == "Boom"
    assert api.get("/api/v1/metrics/?window=7d").json()["total_runs"] == 3


@pytest.mark.parametrize("window", ["0h", "91d", "week", "24", "-1h", "24h\n", "01h"])
def test_metrics_refuses_a_bad_window(api, window):
    response = api.get("/api/v1/metrics/", {"window": window})

    assert response.status_code == 400
    assert "window" in response.json()


def test_audit_log_lists_newest_first_with_filters(api, operator):
    job = DynamicJobFactory()
    audit.record(actor=operator, action="update", target=job, changes={"a": 1})
    audit.record(actor="legacy-script", action="import", target=("x.y", 5, "five"))
    audit.record(actor=None, action="run", target=job)

    def actions(query=""):
        response = api.get(f"/api/v1/audit/?{query}")
        assert response.status_code == 200, response.json()
        return [e["action"] for e in response.json()["results"]]

    assert actions() == ["run", "import", "update"]
    assert actions(f"actor={operator.pk}") == ["update"]
    assert actions("actor=operator") == ["update"]
    assert actions("actor=legacy-script") == ["import"]
    assert actions("action=import") == ["import"]
    assert actions("target_type=scheduler_jobs.dynamicjob") == ["run", "update"]
    assert actions(f"target_id={job.pk}&action=update") == ["update"]
    entry = api.get("/api/v1/audit/").json()["results"][-1]
    assert entry["actor"] == "operator"
    assert entry["changes"] == {"a": 1}


def test_audit_log_is_read_only(api):
    assert api.post("/api/v1/audit/", {}, format="json").status_code == 405
    assert api.delete("/api/v1/audit/1/").status_code == 405
