"""What the exports share: cells a spreadsheet never runs, plain decimals, text sent in chunks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backoffice.services.exports import chunked, plain, text_cell


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_that_a_spreadsheet_would_run_is_prefixed(start):
    assert text_cell(f"{start}SUM(A1:A9)") == f"'{start}SUM(A1:A9)"


def test_other_text_is_left_as_it_is():
    assert [text_cell(t) for t in ("Deposit", "", None, "1 = 1")] == ["Deposit", "", "", "1 = 1"]


def test_amounts_are_plain_decimals_with_cents():
    assert [plain(v) for v in (Decimal("1234567.5"), Decimal("-0.1"), Decimal("1E+3"), None)] == [
        "1234567.50",
        "-0.10",
        "1000.00",
        "",
    ]


def test_lines_go_out_in_chunks_of_about_the_size_asked():
    lines = [f"line {n}\n" for n in range(1000)]
    chunks = list(chunked(lines, size=100))
    assert "".join(chunks) == "".join(lines)
    assert all(len(chunk) >= 100 for chunk in chunks[:-1]) and all(len(chunk) < 110 for chunk in chunks)
    assert list(chunked([])) == []
