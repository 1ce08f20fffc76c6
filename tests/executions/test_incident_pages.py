"""Incidents in the admin and the API, as narrow staff would use them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from executions.models import Incident, JobExecution
from scheduler_jobs import services as job_services
from scheduler_jobs.access import SYSTEM
from tests.api.conftest import token_client
from tests.conftest import staff_with

pytestmark = pytest.mark.django_db
VIEW = "executions.view_jobexecution"
ACK = "executions.acknowledge_incident"
RESOLVE = "executions.resolve_incident"
LIST = "/admin/executions/incident/"
API = "/api/v1/incidents/"


def make_incident(name: str = "nightly", **fields) -> Incident:
    job = job_services.job_create(
        user=SYSTEM,
        data={
            "name": name,
            "template_type": "heartbeat",
            "schedule": {
                "type": "cron",
                "cron": "0 2 * * *",
                "timezone": "Europe/Berlin",
            },
        },
    )
    now = timezone.now()
    return Incident.objects.create(
        job=job, opened_at=now, failures=3, last_alert_at=now, alerts_sent=1, **fields
    )


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- admin -----------------------------------------------------------------------


def test_the_list_shows_open_incidents_first_with_zone_and_state(django_user_model):
    viewer = staff_with(django_user_model, "viewer", VIEW)
    resolved = make_incident("old", resolved_at=timezone.now(), resolution="recovered")
    acknowledged = make_incident("seen", acknowledged_at=timezone.now())
    open_ = make_incident("fresh")

    page = web(viewer).get(LIST)

    assert page.status_code == 200
    rows = [row.pk for row in page.context["cl"].result_list]
    assert rows == [open_.pk, acknowledged.pk, resolved.pk]
    text = page.content.decode()
    for word in ("Open", "Acknowledged", "Resolved", "Failures in a row"):
        assert word in text
    assert "CET" in text or "CEST" in text  # the job's zone, Europe/Berlin


@pytest.mark.parametrize(
    ("state", "names"),
    [("open", ["fresh"]), ("acknowledged", ["seen"]), ("resolved", ["old"])],
)
def test_the_list_filters_by_state(django_user_model, state, names):
    viewer = staff_with(django_user_model, "viewer", VIEW)
    make_incident("old", resolved_at=timezone.now(), resolution="recovered")
    make_incident("seen", acknowledged_at=timezone.now())
    make_incident("fresh")
    page = web(viewer).get(LIST, {"state": state})
    assert [i.job.name for i in page.context["cl"].result_list] == names


def test_the_list_filters_by_job(django_user_model):
    viewer = staff_with(django_user_model, "viewer", VIEW)
    mine = make_incident("mine")
    make_incident("other")
    page = web(viewer).get(LIST, {"job": mine.job_id})
    assert [i.pk for i in page.context["cl"].result_list] == [mine.pk]


def test_without_view_executions_the_page_is_refused(django_user_model):
    editor = staff_with(django_user_model, "editor", "scheduler_jobs.view_dynamicjob")
    incident = make_incident()
    assert web(editor).get(LIST).status_code == 403
    assert web(editor).get(f"{LIST}{incident.pk}/change/").status_code == 403


def test_the_page_offers_only_the_buttons_the_user_may_press(django_user_model):
    oncall = staff_with(django_user_model, "oncall", VIEW, ACK)
    incident = make_incident()
    page = web(oncall).get(f"{LIST}{incident.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f'action="/admin/executions/incident/{incident.pk}/acknowledge/"' in text
    assert "/resolve/" not in text


def test_acknowledge_from_the_page_with_a_note(django_user_model):
    oncall = staff_with(django_user_model, "oncall", VIEW, ACK)
    incident = make_incident()
    response = web(oncall).post(
        f"{LIST}{incident.pk}/acknowledge/", {"note": "disk full, cleaning"}
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_by == oncall
    assert incident.note == "disk full, cleaning"
    entry = AuditEntry.objects.get(action="acknowledge")
    assert (entry.actor, entry.source) == (oncall, "admin")


def test_resolve_from_the_page_is_refused_without_its_permission(django_user_model):
    oncall = staff_with(django_user_model, "oncall", VIEW, ACK)
    incident = make_incident()
    response = web(oncall).post(f"{LIST}{incident.pk}/resolve/", {"note": "x"})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.is_open
    assert not AuditEntry.objects.filter(action="resolve").exists()


def test_resolve_selected_as_an_admin_action(django_user_model):
    lead = staff_with(django_user_model, "lead", VIEW, RESOLVE)
    first, second = make_incident("a"), make_incident("b")
    web(lead).post(
        LIST,
        {"action": "resolve_selected", "_selected_action": [first.pk, second.pk]},
    )
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 0
    assert AuditEntry.objects.filter(action="resolve", actor=lead).count() == 2


def test_acknowledge_selected_is_not_offered_without_its_permission(django_user_model):
    viewer = staff_with(django_user_model, "viewer", VIEW)
    incident = make_incident()
    page = web(viewer).get(LIST)
    assert "acknowledge_selected" not in page.content.decode()
    web(viewer).post(
        LIST, {"action": "acknowledge_selected", "_selected_action": [incident.pk]}
    )
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


# --- API -------------------------------------------------------------------------


def test_api_lists_incidents_open_first_and_filters(django_user_model):
    viewer = staff_with(django_user_model, "viewer", VIEW)
    api = token_client(viewer)
    resolved = make_incident("old", resolved_at=timezone.now(), resolution="recovered")
    open_ = make_incident("fresh")

    body = api.get(API).json()
    assert [row["id"] for row in body["results"]] == [open_.pk, resolved.pk]
    row = body["results"][0]
    assert row["job_name"] == "fresh"
    assert row["state"] == "open"
    assert row["failures"] == 3
    assert [r["id"] for r in api.get(API, {"state": "resolved"}).json()["results"]] == [
        resolved.pk
    ]
    assert [r["id"] for r in api.get(API, {"job": open_.job_id}).json()["results"]] == [
        open_.pk
    ]


def test_api_refuses_a_bad_filter_naming_it(django_user_model):
    api = token_client(staff_with(django_user_model, "viewer", VIEW))
    response = api.get(API, {"state": "burning", "job": "x"})
    assert response.status_code == 400
    assert set(response.json()) >= {"state", "job"}


def test_api_acknowledge_and_resolve(django_user_model):
    user = staff_with(django_user_model, "oncall", VIEW, ACK, RESOLVE)
    api = token_client(user)
    incident = make_incident()

    acked = api.post(
        f"{API}{incident.pk}/acknowledge/", {"note": "on it"}, format="json"
    )
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "oncall"

    resolved = api.post(f"{API}{incident.pk}/resolve/", {}, format="json")
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["resolution"] == "resolved by hand"
    assert list(
        AuditEntry.objects.filter(
            source="api", target_type="executions.incident"
        ).values_list("action", flat=True)
    ) == ["resolve", "acknowledge"]

    again = api.post(f"{API}{incident.pk}/resolve/", {}, format="json")
    assert again.status_code == 409


def test_api_acknowledge_needs_its_permission(django_user_model):
    api = token_client(staff_with(django_user_model, "viewer", VIEW, RESOLVE))
    incident = make_incident()
    response = api.post(f"{API}{incident.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 403
    assert "executions.acknowledge_incident" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_api_a_note_too_long_is_refused_naming_the_field(django_user_model):
    api = token_client(staff_with(django_user_model, "oncall", VIEW, ACK))
    incident = make_incident()
    response = api.post(
        f"{API}{incident.pk}/acknowledge/", {"note": "x" * 2001}, format="json"
    )
    assert response.status_code == 400
    assert "note" in response.json()


def test_api_list_reads_a_fixed_number_of_queries(
    django_user_model, django_assert_max_num_queries
):
    api = token_client(staff_with(django_user_model, "viewer", VIEW))
    for n in range(5):
        make_incident(f"job {n}", acknowledged_at=timezone.now())
    with django_assert_max_num_queries(8):
        assert api.get(API).status_code == 200


def test_the_job_page_links_to_its_incidents(superuser):
    incident = make_incident()
    JobExecution.objects.create(
        job=incident.job,
        job_name=incident.job.name,
        template_type="heartbeat",
        scheduled_for=timezone.now(),
        status="failed",
    )
    page = web(superuser).get(
        f"/admin/scheduler_jobs/dynamicjob/{incident.job_id}/change/"
    )
    assert f"{LIST}?job={incident.job_id}" in page.content.decode()


def test_a_job_id_no_column_can_hold_is_a_clear_refusal(django_user_model):
    viewer = staff_with(django_user_model, "viewer", VIEW)
    make_incident()
    huge = str(2**63)
    response = token_client(viewer).get(API, {"job": huge})
    assert response.status_code == 400
    assert "job" in response.json()
    page = web(viewer).get(LIST, {"job": huge})
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == []
