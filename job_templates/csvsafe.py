"""CSV cells that spreadsheets will not run as formulas (CSV/formula injection).

A cell starting with = + - @, a tab or a carriage return may be read as a
formula by Excel, LibreOffice or Google Sheets. Such cells get a leading
apostrophe, the OWASP-recommended escape, which spreadsheets hide. Cells that
already start with apostrophes before one of those characters get one more, so
`unescape_cell(escape_cell(v)) == v` for every string: the escape is lossless.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _needs_escape(text: str) -> bool:
    first = text.lstrip("'")[:1]
    return bool(first) and first in FORMULA_PREFIXES


def escape_cell(text: str) -> str:
    """`text` made safe to open in a spreadsheet."""
    return "'" + text if _needs_escape(text) else text


def unescape_cell(text: str) -> str:
    """The original value of an escaped cell."""
    return text[1:] if text[:1] == "'" and _needs_escape(text) else text


def cell(value: Any) -> str:
    """A database value as a CSV cell: numbers as they are, text escaped."""
    kind = type(value)
    if kind is str:
        return escape_cell(value)
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta | UUID):
        return str(value)
    if isinstance(value, dict | list):
        return escape_cell(json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False))
    if isinstance(value, bytes | memoryview):
        return escape_cell(bytes(value).hex())
    return escape_cell(str(value))
