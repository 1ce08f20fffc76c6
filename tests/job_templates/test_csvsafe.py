import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from job_templates.csvsafe import FORMULA_PREFIXES, cell, escape_cell, unescape_cell


@pytest.mark.parametrize(
    "dangerous",
    ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "'=1"],
)
def test_formula_like_cells_are_escaped(dangerous):
    escaped = escape_cell(dangerous)
    assert escaped.startswith("'")
    assert escaped.lstrip("'")[:1] in FORMULA_PREFIXES


@pytest.mark.parametrize("plain", ["hello", "", "'tis", "1-2", "a=b", "'"])
def test_plain_cells_are_unchanged(plain):
    assert escape_cell(plain) == plain


def test_numbers_and_none_are_written_as_values():
    assert cell(-5) == "-5"
    assert cell(None) == ""
    assert cell(True) == "true"
    assert cell("-5") == "'-5"


@given(st.lists(st.lists(st.text(), min_size=3, max_size=3), max_size=5))
def test_escaped_cells_round_trip_through_the_csv_module(rows):
    escaped = [[escape_cell(value) for value in row] for row in rows]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(escaped)
    buffer.seek(0)
    read = list(csv.reader(buffer))
    assert read == escaped
    assert [[unescape_cell(value) for value in row] for row in read] == rows
    for row in read:
        for value in row:
            assert value[:1] not in FORMULA_PREFIXES


@pytest.mark.parametrize(
    "payload",
    [
        "=cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        '+HYPERLINK("http://x")',
        "-1+cmd|' /C calc'!A0",
    ],
)
def test_dde_payloads_are_escaped_and_round_trip_unchanged(payload):
    """The pipe of a DDE payload is left as it is: the leading apostrophe alone
    makes the cell text, and the original value can still be read back."""
    escaped = escape_cell(payload)
    assert escaped == "'" + payload
    assert unescape_cell(escaped) == payload
