"""What the exports share: cells a spreadsheet never runs, plain decimals, text sent in chunks, workbooks a
spreadsheet loads whole."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.services import workbooks
from backoffice.services.exports import chunked, plain, text_cell
from backoffice.services.workbooks import CELL_TEXT, CUT, copied_xlsx, xlsx_chunks
from tests.workbooks import sheets, strictly_read


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


# Workbooks: what a spreadsheet loads whole

UNFIT = "\uffff\ufffe\x01\x08\x0b\x0c\x0e\x1f"
"""Characters XML 1.0 cannot hold that a database's text can (a lone surrogate and NUL only Python's can)."""


def workbook_rows(header: list[str], rows: list[list]) -> list[list[list[tuple]]]:
    """Each sheet's rows of the workbook of ``rows`` (a strict reader and openpyxl reading them alike), as Python
    writes it, and as PostgreSQL does (its rows selected from VALUES, in order)."""
    columns = [sa.column("place", sa.Integer)] + [sa.column(name, sa.Text) for name in header]
    given = [(place, *row) for place, row in enumerate(rows)] or [(0, *[None] * len(header))]
    values = sa.values(*columns, name="given").data(given)
    selected = sa.select(*values.c[1:]).where(values.c.place < len(rows)).order_by(values.c.place)
    books = [xlsx_chunks(header, rows), copied_xlsx(header, selected)]
    return [sheets(b"".join(book)) for book in books]


def test_a_workbook_leaves_out_of_its_text_what_xml_cannot_hold(app):
    texts = [f"Hotel{UNFIT} Cempaka", f"{UNFIT} spaced {UNFIT}", f"tab\tand two\r\nlines & <tags>{UNFIT}", "plain"]
    for (rows,) in workbook_rows(["description"], [[text] for text in texts]):
        assert [row[0] for row in rows] == [
            "description",
            "Hotel Cempaka",
            " spaced ",
            "tab\tand two\r\nlines & <tags>",
            "plain",
        ]


def test_python_leaves_a_lone_surrogate_and_nul_out_of_a_workbook(app):
    halves = "a lone \ud800 half and \udfff the other\x00"
    (rows,) = sheets(b"".join(xlsx_chunks([f"heading{UNFIT}\ud801"], [[halves], [f"{UNFIT}\udbff\x00"]])))
    assert rows == [("heading",), ("a lone  half and  the other",), ("",)]


def test_a_text_longer_than_a_cell_holds_is_cut_to_fit_and_says_so(app):
    texts = ["x" * 40_000, "&" * (CELL_TEXT + 1), "é" * CELL_TEXT, "y" * CELL_TEXT + UNFIT]
    kept = CELL_TEXT - len(str(CUT))
    for (rows,) in workbook_rows(["description"], [[text] for text in texts]):
        cells = [row[0] for row in rows[1:]]
        assert cells == ["x" * kept + str(CUT), "&" * kept + str(CUT), "é" * CELL_TEXT, "y" * CELL_TEXT]
        assert max(map(len, cells)) == CELL_TEXT


@pytest.mark.parametrize(("count", "sheeted"), [(0, [0]), (1, [1]), (2, [2]), (4, [2, 2]), (5, [2, 2, 1])])
def test_rows_past_a_sheet_s_go_on_to_the_next_under_the_same_header(app, monkeypatch, count, sheeted):
    monkeypatch.setattr(workbooks, "SHEET_ROWS", 3)
    rows = [[f"SO-{n}", Decimal(n)] for n in range(count)]
    for book in workbook_rows(["number", "amount"], rows):
        assert [len(sheet) - 1 for sheet in book] == sheeted
        assert all(sheet[0] == ("number", "amount") for sheet in book)
        assert [row[0] for sheet in book for row in sheet[1:]] == [f"SO-{n}" for n in range(count)]
    data = b"".join(xlsx_chunks(["number", "amount"], rows))
    names = ["Sheet1", "Sheet1 (2)", "Sheet1 (3)"][: len(sheeted)]
    assert strictly_read(data) == [(name, rows + 1) for name, rows in zip(names, sheeted, strict=True)]
