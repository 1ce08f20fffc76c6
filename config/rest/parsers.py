"""The request body parser: JSON the database can store."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


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
