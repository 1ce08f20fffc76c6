"""The OpenAPI document's post-processing (drf-spectacular's hook)."""

from __future__ import annotations

import copy
from typing import Any

from config.rest.filters import MAX_ID

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "required": ["detail"],
    "additionalProperties": True,
}
# Every 409 body. One component, not one per cause: a PUT/PATCH can meet a stale
# version or a concurrent change, so a client branches on the keys present.
CONFLICT_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {
            "type": "string",
            "description": '"conflict" when another change made at the same time won.',
        },
        "current_version": {
            "type": "integer",
            "description": "The job's version now, when the request named an older "
            "one: read the job again and resend the change with this version.",
        },
        "status": {
            "type": "string",
            "description": "The execution's status, when cancelling one that "
            "already ended.",
        },
        "conflicts": {
            "type": "array",
            "description": "A PATCH made on an older version: the fields someone "
            "else changed since to another value. Nothing was saved; resend with "
            "current_version and the values to keep. Secrets read only "
            '"changed", "set", "cleared" or "not set".',
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "example": "retry_policy.backoff"},
                    "label": {"type": "string"},
                    "yours": {},
                    "theirs": {},
                },
                "required": ["field", "label", "yours", "theirs"],
            },
        },
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
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    _add_error_components(schemas)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            _add_error_responses(path, method, operation)
            _describe_parameters(operation)
    _fill_runtime_values(schemas)
    _close_request_bodies(result, schemas)
    return result


ERROR_REF = "#/components/schemas/Error"
FIELD_ERRORS_REF = "#/components/schemas/FieldErrors"
CONFLICT_REF = "#/components/schemas/Conflict"


def _add_error_components(schemas: dict[str, Any]) -> None:
    """The error bodies as shared components, so every response can point at one
    definition; the execution statuses are known only once the apps are loaded."""
    from executions.models import JobExecution

    schemas["Error"] = ERROR_SCHEMA
    schemas["FieldErrors"] = FIELD_ERRORS_SCHEMA
    schemas["Conflict"] = copy.deepcopy(CONFLICT_SCHEMA)
    schemas["Conflict"]["properties"]["status"]["enum"] = list(
        JobExecution.Status.values
    )


def _add_error_responses(path: str, method: str, operation: dict[str, Any]) -> None:
    """The errors the middleware, permissions and exception handler can answer
    with, which drf-spectacular cannot see from the views; a response a view
    documents itself is kept."""
    responses = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    has_input = "requestBody" in operation or any(
        p.get("in") == "query" for p in parameters
    )
    if has_input or method in {"put", "patch"}:
        responses.setdefault("400", _json("Invalid input, by field.", FIELD_ERRORS_REF))
    if "requestBody" in operation:
        responses.setdefault("413", _json("Request body too large.", ERROR_REF))
        responses.setdefault("415", _json("Unsupported media type.", ERROR_REF))
    responses.setdefault(
        "401", _json("Not authenticated (no or bad credentials).", ERROR_REF)
    )
    responses.setdefault(
        "403",
        _json(
            "Not staff, a permission missing, or a quota reached "
            '(code "quota_exceeded").',
            ERROR_REF,
        ),
    )
    if "{" in path or any(p.get("name") in {"page", "cursor"} for p in parameters):
        responses.setdefault("404", _json("Not found.", ERROR_REF))
    if method in WRITE_METHODS:
        responses.setdefault(
            "409",
            _json(
                "Conflict: a stale version (with current_version), an "
                "execution that already ended (with status), or a "
                "concurrent change.",
                CONFLICT_REF,
            ),
        )
        responses.setdefault(
            "429",
            _json("Rate limit reached.", ERROR_REF, headers=RETRY_AFTER_HEADER),
        )
    responses.setdefault(
        "503",
        _json("The database is unavailable.", ERROR_REF, headers=RETRY_AFTER_HEADER),
    )


def _describe_parameters(operation: dict[str, Any]) -> None:
    """Path ids and id filters bounded like the ids they name, and every filter
    marked as accepting an empty value."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            _integer_id(parameter)
        if parameter.get("in") != "query":
            continue
        # Every filter treats an empty value as absent (django-filter's
        # rule, and what HTML filter forms send).
        parameter["allowEmptyValue"] = True
        if parameter["name"] in ID_QUERY_PARAMETERS:
            parameter["schema"].update({"minimum": 1, "maximum": MAX_ID})


def _fill_runtime_values(schemas: dict[str, Any]) -> None:
    """Values that depend on the running deployment: the registered template
    types and the schedule's minimum interval."""
    from job_templates.registry import registry

    types = registry.types()
    for name, component in schemas.items():
        props = component.get("properties", {})
        if name.startswith(("DynamicJob", "PatchedDynamicJob")) and "template_type" in (
            props
        ):
            props["template_type"]["enum"] = types
    if "Schedule" in schemas:
        schemas["Schedule"] = _schedule_schema()
    schemas.pop("ScheduleTypeEnum", None)


def _close_request_bodies(result: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Request bodies as strict as the serializers: unknown fields are refused by
    name (a typo is not ignored), and a PATCH must carry the version it edits."""
    for name, component in schemas.items():
        if name.endswith("Request"):
            component["additionalProperties"] = False
    if "PatchedDynamicJobUpdateRequest" in schemas:
        schemas["PatchedDynamicJobUpdateRequest"]["required"] = ["version"]
        for item in result.get("paths", {}).values():
            if "patch" in item and "requestBody" in item["patch"]:
                item["patch"]["requestBody"]["required"] = True


ID_QUERY_PARAMETERS = {"job"}
# drf-spectacular's rendering of a viewset's lookup_value_regex = r"[0-9]+".
DIGITS_PATTERN = "^[0-9]+$"


def _integer_id(parameter: dict[str, Any]) -> None:
    """A path id as the integer it is, like the ids in bodies and filters.

    drf-spectacular types a path parameter from the URL regex, so a digits-only
    lookup comes out as a string; clients generated from the schema would then
    take ids as strings, and schemathesis could not link an id in a response to
    the id in a path.
    """
    schema = parameter.get("schema", {})
    if schema.get("type") == "string" and schema.get("pattern") == DIGITS_PATTERN:
        parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _schedule_schema() -> dict[str, Any]:
    """The schedule's oneOf, built here: drf-spectacular's enum hook merges the
    two "type" enums (cron, interval) into one component and loses one."""
    from scheduler_jobs.serializers import (
        CRON_SCHEDULE_SCHEMA,
        INTERVAL_SCHEDULE_SCHEMA,
    )
    from scheduler_jobs.spec import interval_bounds

    shortest, longest = interval_bounds()
    interval = copy.deepcopy(INTERVAL_SCHEDULE_SCHEMA)
    interval["properties"]["every_seconds"].update(
        {"minimum": shortest, "maximum": longest}
    )
    return {"oneOf": [copy.deepcopy(CRON_SCHEDULE_SCHEMA), interval]}
