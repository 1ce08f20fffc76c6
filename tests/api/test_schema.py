"""The OpenAPI document: valid, and true to the API (schemathesis, all checks)."""

import os

import jsonschema
import pytest
import schemathesis
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from config.rest.filters import MAX_ID
from tests.api.schema_support import (  # noqa: F401 (fixtures)
    load_api_schema,
    run_workflows,
    staff_token,
    wsgi_app,
)
from tests.factories import DynamicJobFactory, JobExecutionFactory

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


def _schema_document(api) -> dict:
    response = api.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _resolve(document: dict, schema: dict) -> dict:
    """A response schema with its component reference followed."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    return document["components"]["schemas"][name]


@pytest.mark.django_db
def test_conflict_bodies_are_described_by_the_409_schema(api):
    """A client reads current_version (stale PUT/PATCH) and status (cancelling an
    execution that ended) from the 409 body; the schema must name both."""
    job = DynamicJobFactory()
    execution = JobExecutionFactory(status="completed")
    stale = api.patch(
        f"/api/v1/scheduler-jobs/{job.pk}/", {"version": 99}, format="json"
    )
    ended = api.post(f"/api/v1/executions/{execution.pk}/cancel/", format="json")
    assert (stale.status_code, ended.status_code) == (409, 409)
    document = _schema_document(api)
    job_item = document["paths"]["/api/v1/scheduler-jobs/{id}/"]
    cancel = document["paths"]["/api/v1/executions/{id}/cancel/"]["post"]

    for operation, body, key in [
        (job_item["patch"], stale.json(), "current_version"),
        (job_item["put"], stale.json(), "current_version"),
        (cancel, ended.json(), "status"),
    ]:
        media = operation["responses"]["409"]["content"]["application/json"]
        schema = _resolve(document, media["schema"])
        assert key in schema["properties"], schema
        assert set(body) <= set(schema["properties"]), (body, schema)
        jsonschema.validate(body, schema)
    assert stale.json()["current_version"] == 1
    assert ended.json()["status"] == "completed"


@pytest.mark.django_db
def test_every_id_path_parameter_is_an_integer(api):
    """Ids are integers in bodies; a path id typed as a string breaks clients
    generated from the schema and schemathesis' links between operations."""
    document = _schema_document(api)
    id_parameters = [
        (path, method, parameter)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["name"] == "id"
    ]

    assert len(id_parameters) >= 8
    for path, method, parameter in id_parameters:
        assert parameter["schema"]["type"] == "integer", (path, method, parameter)
        assert parameter["schema"]["minimum"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, MAX_ID, MAX_ID + 1, 10**30])
@pytest.mark.parametrize(
    "path",
    ["/api/v1/scheduler-jobs/{}/", "/api/v1/executions/{}/", "/api/v1/audit/{}/"],
)
def test_a_path_id_outside_the_schemas_range_is_a_json_404(api, path, value):
    """Schemathesis sends ids just outside minimum and maximum; they name no row,
    and must not reach the database as an overflow (a 500)."""
    response = api.get(path.format(value))

    assert response.status_code == 404
    assert response.json()["detail"]
