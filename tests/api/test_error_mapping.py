"""The exception handler's mapping of service and database errors."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError

from config.rest import exception_handler, nest_errors
from executions.services import NotCancellable
from scheduler_jobs.services import QuotaExceeded, VersionConflict


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (VersionConflict(7), 409, {"current_version": 7}),
        (QuotaExceeded("full"), 403, {"code": "quota_exceeded", "detail": "full"}),
        (NotCancellable("completed"), 409, {"status": "completed"}),
        (OperationalError("down"), 503, {"code": "database_unavailable"}),
        (InterfaceError("closed"), 503, {"code": "database_unavailable"}),
        (IntegrityError("dup"), 409, {"code": "conflict"}),
        (DataError("too long"), 400, {"code": "invalid_value"}),
        (
            ValidationError({"parameters.recipients.2": ["bad"]}),
            400,
            {"parameters": {"recipients": {"2": ["bad"]}}},
        ),
        (ValidationError("whole"), 400, {"non_field_errors": ["whole"]}),
    ],
)
def test_service_and_database_errors_map_to_json_responses(exc, status, body):
    response = exception_handler(exc, {})

    assert response.status_code == status
    assert body.items() <= response.data.items()
    assert "detail" in response.data or status == 400


def test_database_errors_do_not_leak_their_message():
    response = exception_handler(OperationalError("password for user x"), {})

    assert "password" not in str(response.data)


def test_nest_errors_keeps_errors_on_a_whole_object_and_inside_it():
    nested = nest_errors(
        {
            "parameters": ["Must be an object."],
            "parameters.recipients": ["Required."],
            "schedule.cron": ["bad"],
            "__all__": ["general"],
        }
    )

    assert nested == {
        "parameters": {
            "non_field_errors": ["Must be an object."],
            "recipients": ["Required."],
        },
        "schedule": {"cron": ["bad"]},
        "non_field_errors": ["general"],
    }
