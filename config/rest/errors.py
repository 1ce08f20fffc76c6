"""The API's error bodies: the services' exceptions and an unreachable database
as documented JSON responses, so views never translate errors themselves."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

DATABASE_RETRY_AFTER_SECONDS = 5


def nest_errors(errors: dict[str, list[str]]) -> dict[str, Any]:
    """Dotted error keys as nested JSON.

    {"parameters.recipients": [...]} -> {"parameters": {"recipients": [...]}};
    an error on a whole object that also has errors inside goes under
    "non_field_errors" of that object.
    """
    nested: dict[str, Any] = {}
    for key in sorted(errors, key=lambda k: k.count(".")):
        messages = list(errors[key])
        parts = [p for p in key.split(".") if p] or ["non_field_errors"]
        if parts == ["__all__"]:
            parts = ["non_field_errors"]
        node = nested
        for part in parts[:-1]:
            child = node.get(part)
            if isinstance(child, list):
                child = {"non_field_errors": child}
                node[part] = child
            elif child is None:
                child = node[part] = {}
            node = child
        leaf = parts[-1]
        existing = node.get(leaf)
        if isinstance(existing, dict):
            existing.setdefault("non_field_errors", []).extend(messages)
        elif isinstance(existing, list):
            existing.extend(messages)
        else:
            node[leaf] = messages
    return nested


def django_validation_error_data(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        return nest_errors(exc.message_dict)
    return {"non_field_errors": exc.messages}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler plus the services' exceptions and an unreachable database.

    Every error body is JSON naming the field or the reason.
    """
    # Imported here: DRF imports config.rest (its settings name the classes
    # there) before the apps are ready, and rest_framework.views imports it too.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = _service_error_response(exc)
    if response is None:
        response = _request_error_response(exc)
    if response is None:
        response = _database_error_response(exc)
    if response is not None:
        return response
    if isinstance(exc, Http404 | DjangoPermissionDenied):
        return drf_exception_handler(exc, context)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.Throttled):
        response.data = {
            "detail": response.data.get("detail", "Request was throttled."),
            "code": "throttled",
            "retry_after": exc.wait,
        }
    return response


def _service_error_response(exc: Exception) -> Response | None:
    """The services' own refusals, with the fields a client needs to recover
    (the current version, the quota code, the execution's status)."""
    # Imported here for the same reason as DRF's handler: the apps load later.
    from executions.services import NotCancellable
    from scheduler_jobs.services import QuotaExceeded, VersionConflict

    if isinstance(exc, VersionConflict):
        return Response(
            {"detail": str(exc), "current_version": exc.current_version},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, QuotaExceeded):
        return Response(
            {"code": QuotaExceeded.code, "detail": str(exc)},
            status=status.HTTP_403_FORBIDDEN,
        )
    if isinstance(exc, NotCancellable):
        return Response(
            {"detail": str(exc), "status": exc.status}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, DjangoValidationError):
        return Response(
            django_validation_error_data(exc), status=status.HTTP_400_BAD_REQUEST
        )
    return None


def _request_error_response(exc: Exception) -> Response | None:
    """Requests Django refuses before a view runs, which would otherwise get
    Django's HTML error page."""
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {
                "detail": "The request body is larger than "
                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                "(DATA_UPLOAD_MAX_MEMORY_SIZE).",
                "code": "too_large",
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        # Too many query fields, a bad multipart boundary: Django's HTML 400 else.
        return Response(
            {"detail": "The request is malformed.", "code": "bad_request"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return None


def _database_error_response(exc: Exception) -> Response | None:
    """Database errors as a conflict, a bad value or a retryable outage instead
    of a 500."""
    if isinstance(exc, IntegrityError):
        # The services turn the conflicts they expect into errors of their own;
        # this is the net under a race they did not foresee.
        return Response(
            {
                "detail": "The change conflicts with another one made at the same "
                "time. Reload and try again.",
                "code": "conflict",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        return Response(
            {"detail": "A value does not fit the database.", "code": "invalid_value"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        return Response(
            {
                "detail": "The database is unavailable. Try again shortly.",
                "code": "database_unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    return None


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """JSON 404 for any unknown path under the API prefix."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
