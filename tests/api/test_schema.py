"""The OpenAPI document: valid, and true to the API (schemathesis, all checks)."""

import os

import pytest
import schemathesis
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from tests.api.schema_support import (  # noqa: F401 (fixtures)
    load_api_schema,
    run_workflows,
    staff_token,
    wsgi_app,
)

# Modest by default so the suite stays fast; API_SCHEMATHESIS_EXAMPLES=500 for a
# longer hunt.
MAX_EXAMPLES = int(os.environ.get("API_SCHEMATHESIS_EXAMPLES", "50"))
STATEFUL_EXAMPLES = max(25, MAX_EXAMPLES // 2)


@pytest.mark.django_db
def test_openapi_document_validates(api):
    response = api.get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    document = response.json()
    validate_schema(document)
    assert document["openapi"].startswith("3.")
    assert {
        "/api/v1/scheduler-jobs/",
        "/api/v1/scheduler-jobs/{id}/",
        "/api/v1/scheduler-jobs/{id}/run/",
        "/api/v1/scheduler-jobs/{id}/executions/",
        "/api/v1/executions/",
        "/api/v1/executions/{id}/",
        "/api/v1/executions/{id}/cancel/",
        "/api/v1/job-templates/",
        "/api/v1/job-templates/{type}/",
        "/api/v1/schedule-preview/",
        "/api/v1/metrics/",
        "/api/v1/audit/",
    } <= set(document["paths"])
    create = document["paths"]["/api/v1/scheduler-jobs/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "429"} <= set(create)


@pytest.mark.django_db
def test_schema_generation_has_no_warnings(tmp_path):
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "s.yaml"),
    )

    assert "/api/v1/scheduler-jobs/" in (tmp_path / "s.yaml").read_text()


@pytest.mark.django_db
def test_swagger_ui_sends_visitors_to_the_admin_login(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=%2Fapi%2Fv1%2Fdocs%2F"


@pytest.mark.django_db
def test_swagger_ui_is_served_to_staff(api):
    response = api.get("/api/v1/docs/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content


@pytest.fixture
def api_schema(staff_token, wsgi_app):  # noqa: F811 (the imported fixtures)
    return load_api_schema(staff_token, wsgi_app, max_examples=MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_matches_its_schema(case):
    # No `checks` argument: every check schemathesis has, as configured in
    # tests/api/schema_support.py.
    case.call_and_validate()


@pytest.mark.django_db
def test_api_workflows_match_the_schema(api_schema):
    """Stateful: create, read, change, run, cancel and delete in generated orders,
    with links between operations inferred from the schema."""
    run_workflows(api_schema, max_examples=STATEFUL_EXAMPLES, step_count=8)
