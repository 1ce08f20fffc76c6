"""Shared REST API plumbing: permissions, throttles, pagination, parsing, errors.

Everything here is about HTTP; business rules stay in the apps' services. The
exception handler turns the services' exceptions into the API's documented
responses, so views never translate errors themselves.

The names are re-exported here because settings (REST_FRAMEWORK,
SPECTACULAR_SETTINGS) and the apps refer to them as config.rest.<name>.

- permissions: staff only, model permissions, `permission(...)`
- fields, parsers: strict JSON types in bodies
- filters: `?search=` and `?ordering=`
- throttling: write and run rate limits
- pagination: page numbers for jobs, cursors for the big tables
- errors: the exception handler and the JSON 404
- openapi: the schema post-processing hook
"""

from config.rest.errors import (
    api_not_found,
    django_validation_error_data,
    exception_handler,
    nest_errors,
)
from config.rest.fields import (
    RefuseUnknownFieldsMixin,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from config.rest.filters import MAX_ID, SafeSearchFilter, StrictOrderingFilter
from config.rest.openapi import (
    schema_postprocessing_hook,
)
from config.rest.pagination import (
    CountedPagination,
    NewestFirstCursorPagination,
)
from config.rest.parsers import StrictJSONParser
from config.rest.permissions import IsStaff, ModelPermissions, permission
from config.rest.throttling import (
    RunThrottle,
    WriteThrottle,
    check_throttle,
)

__all__ = [
    "MAX_ID",
    "CountedPagination",
    "IsStaff",
    "ModelPermissions",
    "NewestFirstCursorPagination",
    "RefuseUnknownFieldsMixin",
    "RunThrottle",
    "SafeSearchFilter",
    "StrictBooleanField",
    "StrictCharField",
    "StrictChoiceField",
    "StrictIntegerField",
    "StrictJSONParser",
    "StrictOrderingFilter",
    "WriteThrottle",
    "api_not_found",
    "check_throttle",
    "django_validation_error_data",
    "exception_handler",
    "nest_errors",
    "permission",
    "schema_postprocessing_hook",
]
