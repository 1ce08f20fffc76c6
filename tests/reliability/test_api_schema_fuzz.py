"""Item 12 (API half): schemathesis, every check, 500 examples per operation,
plus the stateful phase, against the real WSGI app and database.

The fixtures and the list of semantically validated operations come from the
API's own schema tests (tests/api/test_schema.py); this module only turns the
volume up to the reliability suite's level.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.db import transaction
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.stateful import run_state_machine_as_test

from tests.api.test_schema import (  # noqa: F401 (fixtures)
    POSITIVE_STATUSES,
    SEMANTIC_VALIDATION,
    staff_token,
    wsgi_app,
)

pytestmark = pytest.mark.reliability

MAX_EXAMPLES = 500
STATEFUL_EXAMPLES = 100


@pytest.fixture
def heavy_schema(staff_token, wsgi_app):  # noqa: F811
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Token {staff_token}"},
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


schema = schemathesis.pytest.from_fixture("heavy_schema")


@schema.parametrize()
def test_every_operation_holds_for_500_generated_requests(case, figures):
    figures["API requests generated"] += 1
    case.call_and_validate()


@pytest.mark.django_db
def test_generated_workflows_hold_in_the_stateful_phase(heavy_schema, figures):
    class Workflow(heavy_schema.as_state_machine()):
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
            stateful_step_count=10,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        ),
    )
    figures["API workflows generated"] += STATEFUL_EXAMPLES
