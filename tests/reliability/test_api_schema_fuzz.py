"""Item 12 (API half): schemathesis, every check, 500 examples per operation,
plus the stateful phase, against the real WSGI app and database.

The fixtures, the schemathesis configuration and the stateful runner are the
API's own schema tests' (tests/api/schema_support.py); this module only turns
the volume up to the reliability suite's level.
"""

from __future__ import annotations

import pytest
import schemathesis

from tests.api.schema_support import (  # noqa: F401 (fixtures)
    load_api_schema,
    run_workflows,
    staff_token,
    wsgi_app,
)

pytestmark = pytest.mark.reliability

MAX_EXAMPLES = 500
STATEFUL_EXAMPLES = 100


@pytest.fixture
def heavy_schema(staff_token, wsgi_app):  # noqa: F811 (the imported fixtures)
    return load_api_schema(staff_token, wsgi_app, max_examples=MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("heavy_schema")


@schema.parametrize()
def test_every_operation_holds_for_500_generated_requests(case, figures):
    figures["API requests generated"] += 1
    case.call_and_validate()


@pytest.mark.django_db
def test_generated_workflows_hold_in_the_stateful_phase(heavy_schema, figures):
    run_workflows(heavy_schema, max_examples=STATEFUL_EXAMPLES, step_count=10)
    figures["API workflows generated"] += STATEFUL_EXAMPLES
