"""Downloading the file an export or a report wrote, from its run's page."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import staff_with
from tests.factories import DynamicJobFactory, JobExecutionFactory

pytestmark = pytest.mark.django_db

VIEW_RUNS = "executions.view_jobexecution"
VIEW_TICKETS = "testapp.view_ticket"


@pytest.fixture
def roots(settings, tmp_path):
    for folder, setting in (
        ("exports", "SCHEDULER_EXPORT_ROOT"),
        ("reports", "SCHEDULER_REPORT_ROOT"),
    ):
        (tmp_path / folder).mkdir()
        setattr(settings, setting, str(tmp_path / folder))
    return tmp_path


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def export_run(roots, name="testapp.ticket/2026-12-01-120000.csv", **fields):
    path = roots / "exports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,title\n1,Printer jam\n")
    job = DynamicJobFactory(
        template_type="data_export", parameters={"collection": "testapp.Ticket"}
    )
    values = {"result": {"path": name, "rows": 1, "bytes": 24}, **fields}
    return JobExecutionFactory(job=job, **values)


def page(execution) -> str:
    return f"/admin/executions/jobexecution/{execution.pk}/change/"


def download(execution) -> str:
    return f"/admin/executions/jobexecution/{execution.pk}/download/"


def test_export_run_page_links_its_file_and_the_link_downloads_it(
    roots, django_user_model
):
    user = staff_with(django_user_model, "reader", VIEW_RUNS, VIEW_TICKETS)
    execution = export_run(roots)
    client = client_for(user)
    html = client.get(page(execution)).content.decode()
    assert f'href="{download(execution)}"' in html
    assert "Download 2026-12-01-120000.csv" in html
    response = client.get(download(execution))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"id,title\n1,Printer jam\n"
    assert response["Content-Disposition"] == (
        'attachment; filename="2026-12-01-120000.csv"'
    )


def test_report_run_downloads_from_the_report_folder(roots, django_user_model):
    user = staff_with(django_user_model, "reader", VIEW_RUNS)
    (roots / "reports" / "weekly").mkdir()
    (roots / "reports" / "weekly" / "summary.html").write_text("<h1>Runs</h1>")
    job = DynamicJobFactory(
        template_type="report_generation", parameters={"kind": "execution_summary"}
    )
    execution = JobExecutionFactory(
        job=job, result={"path": "weekly/summary.html", "summary": "3 runs"}
    )
    response = client_for(user).get(download(execution))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == b"<h1>Runs</h1>"


def test_download_needs_the_view_permission_on_the_exported_table(
    roots, django_user_model
):
    user = staff_with(django_user_model, "runs-only", VIEW_RUNS)
    execution = export_run(roots)
    client = client_for(user)
    assert "Download" not in client.get(page(execution)).content.decode()
    response = client.get(download(execution))
    assert response.status_code == 403


def test_download_needs_the_view_executions_permission(roots, django_user_model):
    user = staff_with(
        django_user_model, "jobs-only", "scheduler_jobs.view_dynamicjob", VIEW_TICKETS
    )
    execution = export_run(roots)
    assert client_for(user).get(download(execution)).status_code == 403


def test_a_pruned_file_answers_404_with_a_plain_message(roots, django_user_model):
    user = staff_with(django_user_model, "reader", VIEW_RUNS, VIEW_TICKETS)
    execution = export_run(roots)
    (roots / "exports" / execution.result["path"]).unlink()
    response = client_for(user).get(download(execution))
    assert response.status_code == 404
    html = response.content.decode()
    assert "is no longer there" in html
    assert "2026-12-01-120000.csv" in html


@pytest.mark.parametrize(
    "name",
    ["../secret.txt", "/etc/passwd", "testapp.ticket/../../secret.txt", "link/x"],
)
def test_a_result_path_outside_the_export_folder_is_never_served(
    roots, django_user_model, name
):
    (roots / "secret.txt").write_text("outside")
    (roots / "exports" / "link").symlink_to(roots)
    user = staff_with(django_user_model, "reader", VIEW_RUNS, VIEW_TICKETS)
    job = DynamicJobFactory(
        template_type="data_export", parameters={"collection": "testapp.Ticket"}
    )
    target = "link/secret.txt" if name == "link/x" else name
    execution = JobExecutionFactory(job=job, result={"path": target})
    response = client_for(user).get(download(execution))
    assert response.status_code == 404
    assert b"outside" not in response.content


def test_a_dry_run_has_no_file_to_download(roots, django_user_model):
    user = staff_with(django_user_model, "reader", VIEW_RUNS, VIEW_TICKETS)
    execution = export_run(roots, dry_run=True)
    client = client_for(user)
    assert "Download" not in client.get(page(execution)).content.decode()
    assert client.get(download(execution)).status_code == 404


def test_other_templates_have_no_download(roots, django_user_model):
    user = staff_with(django_user_model, "reader", VIEW_RUNS)
    execution = JobExecutionFactory(result={"path": "x.csv"})
    assert execution.template_type not in ("data_export", "report_generation")
    assert client_for(user).get(download(execution)).status_code == 404


def test_a_file_name_cannot_add_a_header(roots, django_user_model):
    user = staff_with(django_user_model, "reader", VIEW_RUNS, VIEW_TICKETS)
    execution = export_run(roots, name='t/a"b; x=1 é.csv')
    response = client_for(user).get(download(execution))
    # Refused by the path check (quote and semicolon are not allowed in names).
    assert response.status_code == 404


def test_a_non_ascii_file_name_is_encoded_in_the_header(roots, django_user_model):
    user = staff_with(django_user_model, "reader", VIEW_RUNS, VIEW_TICKETS)
    execution = export_run(roots, name="t/Übersicht 2026.csv")
    response = client_for(user).get(download(execution))
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%C3%9Cbersicht%202026.csv"
    )
