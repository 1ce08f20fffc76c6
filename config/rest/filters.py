"""`?search=` and `?ordering=` with a 400 for what DRF would silently ignore."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from rest_framework import exceptions
from rest_framework.filters import OrderingFilter, SearchFilter

# The largest id a bigint column holds; larger ones in a query are a 400.
MAX_ID = 2**63 - 1


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
