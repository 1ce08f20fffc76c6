"""Schemathesis against the project's own WSGI app, shared by the API's schema tests
(tests/api/test_schema.py) and the reliability suite's fuzzing
(tests/reliability/test_api_schema_fuzz.py), which differ only in volume.

A test module imports the `staff_token` and `wsgi_app` fixtures from here, builds
its schema with `load_api_schema` at its own number of examples, and runs the
stateful phase with `run_workflows`.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.stateful import run_state_machine_as_test

from tests.api.conftest import JOB_PERMS, grant
from tests.factories import DynamicJobFactory, JobExecutionFactory, UserFactory

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
    # Known countries and regions, one-off or recurring windows, a future resume
    # time, jobs that exist, a calendar no job uses.
    ("POST", "/api/v1/calendars/"),
    ("PUT", "/api/v1/calendars/{id}/"),
    ("PATCH", "/api/v1/calendars/{id}/"),
    ("DELETE", "/api/v1/calendars/{id}/"),
    ("POST", "/api/v1/blackout-windows/"),
    ("PUT", "/api/v1/blackout-windows/{id}/"),
    ("PATCH", "/api/v1/blackout-windows/{id}/"),
    ("POST", "/api/v1/maintenance-pause/"),
    ("POST", "/api/v1/simulate/"),
]
# Besides the jobs': calendars, blackout windows and the pause, to write.
TIME_PLAN_PERMS = (
    *(
        f"scheduler_jobs.{verb}_{model}"
        for model in ("calendar", "blackoutwindow")
        for verb in ("view", "add", "change", "delete")
    ),
    "scheduler_jobs.pause_scheduler",
)
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


@pytest.fixture
def staff_token(db, settings):
    # Generated requests come fast; the throttles and quotas are tested elsewhere.
    settings.SCHEDULER_THROTTLE_WRITES = "100000/min"
    settings.SCHEDULER_THROTTLE_RUNS = "100000/min"
    settings.SCHEDULER_MAX_JOBS_PER_USER = 100_000
    user = grant(UserFactory(username="schemathesis"), *JOB_PERMS, *TIME_PLAN_PERMS)
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


def load_api_schema(token: str, app, *, max_examples: int):
    """The OpenAPI schema served by `app`, every request authenticated with
    `token`, every schemathesis check on, `max_examples` cases per operation."""
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Token {token}"},
            # The API refuses NUL in text by design (documented); not a finding.
            "generation": {
                "max-examples": max_examples,
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
        app,
        headers={"Authorization": f"Token {token}"},
        config=config,
    )


def run_workflows(api_schema, *, max_examples: int, step_count: int) -> None:
    """The stateful phase: `max_examples` generated sequences of up to `step_count`
    calls, with links between operations inferred from the schema."""

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
            max_examples=max_examples,
            stateful_step_count=step_count,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        ),
    )
