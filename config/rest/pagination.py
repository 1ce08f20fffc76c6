"""Pagination: page numbers with a count for jobs, cursors for the big tables."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import (
    Cursor,
    CursorPagination,
    PageNumberPagination,
)


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
