"""The OpenAPI document: valid, and true to the API (schemathesis, all checks)."""

import os

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.stateful import run_state_machine_as_test

from tests.api.conftest import JOB_PERMS, grant
from tests.factories import DynamicJobFactory, JobExecutionFactory, UserFactory

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
def staff_token(db, settings):
    # Generated requests come fast; the throttles and quotas are tested elsewhere.
    settings.SCHEDULER_THROTTLE_WRITES = "100000/min"
    settings.SCHEDULER_THROTTLE_RUNS = "100000/min"
    settings.SCHEDULER_MAX_JOBS_PER_USER = 100_000
    user = grant(UserFactory(username="schemathesis"), *JOB_PERMS)
    # Something to read, run and cancel at low ids, where generated ids land.
    for i in range(3):
        job = DynamicJobFactory(created_by=user)
        JobExecutionFactory(job=job, status="queued" if i else "completed")
    return Token.objects.create(user=user).key


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, keeping the test's database connection open.

    Django's handler closes connections at each request's start and end; in a
    test that would end the transaction holding the fixtures (Django's own
    test client disconnects the same handler).
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Requests the schema allows but the API may still refuse with 400, for rules no
# JSON Schema expresses: cron syntax, unique job names, the chosen template's own
# parameters schema, names made only of whitespace. Every other status (and every
# other check) holds for them as for the rest.
SEMANTIC_VALIDATION = [
    ("POST", "/api/v1/scheduler-jobs/"),
    ("PUT", "/api/v1/scheduler-jobs/{id}/"),
    ("PATCH", "/api/v1/scheduler-jobs/{id}/"),
    ("POST", "/api/v1/scheduler-jobs/{id}/run/"),
    ("POST", "/api/v1/schedule-preview/"),
]
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


@pytest.fixture
def api_schema(staff_token, wsgi_app):
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Token {staff_token}"},
            # The API refuses NUL in text by design (documented); not a finding.
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "database": "none",
                "allow-x00": False,
            },
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*POSITIVE_STATUSES, "400"]
                        }
                    },
                }
                for method, path in SEMANTIC_VALIDATION
            ],
        }
    )
    return schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json",
        wsgi_app,
        headers={"Authorization": f"Token {staff_token}"},
        config=config,
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_matches_its_schema(case):
    # No `checks` argument: every check schemathesis has, as configured above.
    case.call_and_validate()


@pytest.mark.django_db
def test_api_workflows_match_the_schema(api_schema):
    """Stateful: create, read, change, run, cancel and delete in generated orders,
    with links between operations inferred from the schema."""

    class Workflow(api_schema.as_state_machine()):
        # Each generated scenario starts from the same data: hypothesis replays
        # scenarios and needs the API to answer them the same way.
        def setup(self):
            self._scenario = transaction.atomic()
            self._scenario.__enter__()
            super().setup()

        def teardown(self):
            try:
                super().teardown()
            finally:
                transaction.set_rollback(True)
                self._scenario.__exit__(None, None, None)

    run_state_machine_as_test(
        Workflow,
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        ),
    )
