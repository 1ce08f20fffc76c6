"""Shared REST API plumbing: permissions, throttles, pagination, parsing, errors.

Everything here is about HTTP; business rules stay in the apps' services. The
exception handler turns the services' exceptions into the API's documented
responses, so views never translate errors themselves.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    FieldDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import (
    Cursor,
    CursorPagination,
    PageNumberPagination,
)
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

DATABASE_RETRY_AFTER_SECONDS = 5
# The largest id a bigint column holds; larger ones in a query are a 400.
MAX_ID = 2**63 - 1

# --- Permissions ----------------------------------------------------------------


class IsStaff(BasePermission):
    """The seed's authorisation step: only staff use the API.

    An anonymous request is refused with 401 by DRF before this (the first
    authentication class sends WWW-Authenticate), so this answers 403 only for a
    logged-in user who is not staff.
    """

    message = "Only staff users may use the API."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class ModelPermissions(DjangoModelPermissions):
    """Django model permissions, with `view` required for reads too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        # A method the view does not offer is a 405, not a missing permission.
        if getattr(view, request.method.lower(), None) is None:
            return True
        return super().has_permission(request, view)


# --- Strict JSON fields --------------------------------------------------------------
# DRF's fields accept "60" for an integer, 12 for a string and "yes" for a boolean.
# The API documents JSON types and holds to them, so a client's type mistake is a
# 400 naming the field instead of a silent conversion.


class StrictCharField(serializers.CharField):
    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"not_an_integer": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data):
        if data is None and self.allow_null:
            return None
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class RefuseUnknownFieldsMixin:
    """A serializer that names the fields it does not know instead of ignoring
    them, so a typo ("enabeld") is a 400, not a silent no-op. Read-only fields
    are known: a client may send back what it read."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown field."] for key in unknown}
                )
        return super().to_internal_value(data)


# --- Parsing ---------------------------------------------------------------------


class StrictJSONParser(JSONParser):
    """JSON that the database can store and the services can compute with.

    Refused with 400: numbers too large for a float (Python reads 1e400 as
    infinity), lone UTF-16 surrogates (no database can store them), NUL
    characters (PostgreSQL text and jsonb cannot hold them) and nesting deep
    enough to exhaust the parser's recursion.
    """

    max_depth = 32

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(
                "JSON parse error - nested too deeply."
            ) from exc
        problem = _json_problem(data, depth=0, max_depth=self.max_depth)
        if problem:
            raise exceptions.ParseError(f"JSON parse error - {problem}")
        return data


def _json_problem(value: Any, *, depth: int, max_depth: int) -> str | None:
    if depth > max_depth:
        return f"nested more than {max_depth} levels deep."
    if isinstance(value, float) and not math.isfinite(value):
        return "a number is too large."
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _text_problem(key) or _json_problem(
                item, depth=depth + 1, max_depth=max_depth
            )
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _json_problem(item, depth=depth + 1, max_depth=max_depth)
            if problem:
                return problem
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text contains a NUL character."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text contains an unpaired UTF-16 surrogate."
    return None


class SafeSearchFilter(SearchFilter):
    """`?search=` refusing NUL, which PostgreSQL rejects in any query."""

    def get_search_terms(self, request):
        if "\x00" in request.query_params.get(self.search_param, ""):
            raise exceptions.ValidationError(
                {self.search_param: ["Must not contain NUL characters."]}
            )
        return super().get_search_terms(request)


def _is_unique(model, ordering_field: str) -> bool:
    name = ordering_field.lstrip("-")
    if name in ("id", "pk"):
        return True
    try:
        return bool(model._meta.get_field(name).unique)
    except FieldDoesNotExist:
        return False


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=` with a 400 for an unknown field (DRF ignores it silently), and
    `id` appended as a tie-breaker so pages never repeat or skip a row."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw:
            fields = [part.strip() for part in raw.split(",")]
            allowed = self.allowed_fields(view)
            unknown = [f for f in fields if f.lstrip("-") not in allowed]
            if unknown:
                raise exceptions.ValidationError(
                    {
                        self.ordering_param: [
                            f"Unknown field {unknown[0]!r}. One of: "
                            f"{', '.join(sorted(allowed))} (prefix - to reverse)."
                        ]
                    }
                )
            ordering = fields
        else:
            ordering = list(self.get_default_ordering(view) or [])
        # A unique field already orders every row; adding `id` after it would
        # stop the database using that field's index (a sort of the whole table).
        if not any(_is_unique(queryset.model, f) for f in ordering):
            ordering.append("id")
        return ordering

    @staticmethod
    def allowed_fields(view) -> set[str]:
        return set(getattr(view, "ordering_fields", ()))

    def get_schema_operation_parameters(self, view):
        names = "|".join(sorted(self.allowed_fields(view)))
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Comma-separated fields, - to reverse: "
                f"{', '.join(sorted(self.allowed_fields(view)))}.",
                "schema": {
                    "type": "string",
                    "pattern": f"^-?({names})(,-?({names}))*$",
                },
            }
        ]


# --- Throttling ------------------------------------------------------------------


class SettingRateThrottle(SimpleRateThrottle):
    """A per-user throttle whose rate is read from settings at each request.

    Not through DRF's DEFAULT_THROTTLE_RATES, which is read once at import: tests
    and operators change SCHEDULER_THROTTLE_* without a restart of the module.
    """

    setting_name = ""

    def get_rate(self) -> str | None:
        rate = getattr(settings, self.setting_name, None)
        return rate or None

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class WriteThrottle(SettingRateThrottle):
    scope = "writes"
    setting_name = "SCHEDULER_THROTTLE_WRITES"


class RunThrottle(SettingRateThrottle):
    scope = "runs"
    setting_name = "SCHEDULER_THROTTLE_RUNS"


def check_throttle(request, view, throttle_class: type[SettingRateThrottle]) -> None:
    """Apply one scoped throttle now; raises Throttled (429 with Retry-After).

    Views call this after the request validated, which is the seed's order:
    template, schema and sanitisation come before the rate limit, so a refused
    request does not use up the user's allowance.
    """
    throttle = throttle_class()
    if not throttle.allow_request(request, view):
        wait = throttle.wait()
        raise exceptions.Throttled(wait=max(1, math.ceil(wait or 0)))


# --- Pagination ------------------------------------------------------------------


class StrictPageSizeMixin:
    """`page_size` out of range or not a number is a 400, not silently ignored."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return size

    def get_page_size_schema(self) -> dict[str, Any]:
        return {
            "name": self.page_size_query_param,
            "required": False,
            "in": "query",
            "description": f"Results per page (1-{self.max_page_size}, default "
            f"{self.page_size}).",
            "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
        }


class CountedPagination(StrictPageSizeMixin, PageNumberPagination):
    """`count`, `next`, `previous`, `results`: for the (small) job list."""

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1.",
                "schema": {"type": "integer", "minimum": 1},
            },
            self.get_page_size_schema(),
        ]


class NewestFirstCursorPagination(StrictPageSizeMixin, CursorPagination):
    """`next`, `previous`, `results`, newest first by id; no COUNT.

    Execution tables grow to millions of rows: a cursor on the (job, -id) and
    (status, -id) indexes stays fast on any page, where OFFSET and COUNT do not.
    """

    ordering = "-id"

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # DRF passes the position straight into a filter on the ordering field;
        # a forged non-numeric one would fail there with a 500.
        if cursor is not None and cursor.position is not None:
            digits = cursor.position.lstrip("-")
            if not (digits.isascii() and digits.isdigit()):
                raise exceptions.NotFound(self.invalid_cursor_message)
            cursor = Cursor(
                offset=cursor.offset,
                reverse=cursor.reverse,
                position=str(int(cursor.position)),
            )
        return cursor

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The opaque cursor from a previous page's next or "
                "previous link.",
                "schema": {"type": "string"},
            },
            self.get_page_size_schema(),
        ]


# --- Errors ----------------------------------------------------------------------


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
    # Imported here: DRF imports this module (its settings name the classes
    # above) before the apps are ready, and rest_framework.views imports it too.
    from rest_framework.views import exception_handler as drf_exception_handler

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


def permission(*perms: str) -> type[BasePermission]:
    """A permission class requiring these Django permissions (403 naming them)."""

    class HasPermissions(BasePermission):
        message = f"You need the permission {', '.join(perms)} for this."

        def has_permission(self, request, view) -> bool:
            return request.user.has_perms(perms)

    HasPermissions.__name__ = f"HasPermissions({', '.join(perms)})"
    return HasPermissions


# --- OpenAPI -----------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "required": ["detail"],
    "additionalProperties": True,
}
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": "Messages per field; nested objects for nested fields, e.g. "
    '{"parameters": {"recipients": ["..."]}}; "detail" for malformed JSON.',
    "additionalProperties": True,
}
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _json(description: str, ref: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ref}}},
    }
    if headers:
        response["headers"] = headers
    return response


def schema_postprocessing_hook(result, generator, request, public):
    """Document the error responses every operation can give, and fill values
    known only at run time (registered template types, the minimum interval)."""
    from job_templates.registry import registry

    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["FieldErrors"] = FIELD_ERRORS_SCHEMA
    error, field_errors = (
        "#/components/schemas/Error",
        "#/components/schemas/FieldErrors",
    )

    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            has_input = "requestBody" in operation or any(
                p.get("in") == "query" for p in operation.get("parameters", [])
            )
            if has_input or method in {"put", "patch"}:
                responses.setdefault(
                    "400", _json("Invalid input, by field.", field_errors)
                )
            if "requestBody" in operation:
                responses.setdefault("413", _json("Request body too large.", error))
                responses.setdefault("415", _json("Unsupported media type.", error))
            responses.setdefault(
                "401", _json("Not authenticated (no or bad credentials).", error)
            )
            responses.setdefault(
                "403",
                _json(
                    "Not staff, a permission missing, or a quota reached "
                    '(code "quota_exceeded").',
                    error,
                ),
            )
            if "{" in path or any(
                p.get("name") in {"page", "cursor"}
                for p in operation.get("parameters", [])
            ):
                responses.setdefault("404", _json("Not found.", error))
            if method in WRITE_METHODS:
                responses.setdefault(
                    "409",
                    _json(
                        "Conflict: a stale version (with current_version), an "
                        "execution that already ended, or a concurrent change.",
                        error,
                    ),
                )
            if method in WRITE_METHODS:
                responses.setdefault(
                    "429",
                    _json("Rate limit reached.", error, headers=RETRY_AFTER_HEADER),
                )
            responses.setdefault(
                "503",
                _json(
                    "The database is unavailable.", error, headers=RETRY_AFTER_HEADER
                ),
            )

            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                # Every filter treats an empty value as absent (django-filter's
                # rule, and what HTML filter forms send).
                parameter["allowEmptyValue"] = True
                if parameter["name"] in ID_QUERY_PARAMETERS:
                    parameter["schema"].update({"minimum": 1, "maximum": MAX_ID})

    types = registry.types()
    for name, component in schemas.items():
        props = component.get("properties", {})
        if name.startswith(("DynamicJob", "PatchedDynamicJob")) and "template_type" in (
            props
        ):
            props["template_type"]["enum"] = types
    if "Schedule" in schemas:
        schemas["Schedule"] = _schedule_schema()
    for name, component in schemas.items():
        # Unknown fields in a body are refused by name (a typo is not ignored).
        if name.endswith("Request"):
            component["additionalProperties"] = False
    if "PatchedDynamicJobUpdateRequest" in schemas:
        schemas["PatchedDynamicJobUpdateRequest"]["required"] = ["version"]
        for item in result.get("paths", {}).values():
            if "patch" in item and "requestBody" in item["patch"]:
                item["patch"]["requestBody"]["required"] = True
    schemas.pop("ScheduleTypeEnum", None)
    return result


ID_QUERY_PARAMETERS = {"job"}


def _schedule_schema() -> dict[str, Any]:
    """The schedule's oneOf, built here: drf-spectacular's enum hook merges the
    two "type" enums (cron, interval) into one component and loses one."""
    import copy

    from scheduler_jobs.serializers import (
        CRON_SCHEDULE_SCHEMA,
        INTERVAL_SCHEDULE_SCHEMA,
    )

    interval = copy.deepcopy(INTERVAL_SCHEDULE_SCHEMA)
    interval["properties"]["every_seconds"].update(
        {"minimum": settings.SCHEDULER_MIN_INTERVAL_SECONDS, "maximum": 366 * 86400}
    )
    return {"oneOf": [copy.deepcopy(CRON_SCHEDULE_SCHEMA), interval]}


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """JSON 404 for any unknown path under the API prefix."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
