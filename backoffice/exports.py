"""What every export shares: CSV text one line at a time, cells a spreadsheet reads as data, plain decimals.

An export is streamed from one query, so its size costs no memory. Python writes it a line at a time from rows
fetched ``yield_per`` at a time; or, on PostgreSQL, the database writes it (:func:`copied_csv`): the query selects
each cell as its text, and ``COPY … TO STDOUT`` hands the lines over as it makes them, the same bytes with no Python
per row.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, AnyStr

import xlsxwriter
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, literal

from backoffice.extensions import db

HEADINGS = {
    "account_code": _l("account_code"),
    "account_manager": _l("account_manager"),
    "account_name": _l("account_name"),
    "additions": _l("additions"),
    "amount": _l("amount"),
    "balance": _l("balance"),
    "balance_after": _l("balance_after"),
    "balance_before": _l("balance_before"),
    "check": _l("check"),
    "closing_date": _l("closing_date"),
    "code": _l("code"),
    "contact_person": _l("contact_person"),
    "credit": _l("credit"),
    "current": _l("current"),
    "customer_code": _l("customer_code"),
    "customer_name": _l("customer_name"),
    "date": _l("date"),
    "days_overdue": _l("days_overdue"),
    "debit": _l("debit"),
    "description": _l("description"),
    "difference": _l("difference"),
    "due_on": _l("due_on"),
    "email": _l("email"),
    "entity_id": _l("entity_id"),
    "entity_key": _l("entity_key"),
    "entity_name": _l("entity_name"),
    "entity_type": _l("entity_type"),
    "entry": _l("entry"),
    "expected": _l("expected"),
    "field": _l("field"),
    "field_label": _l("field_label"),
    "fixed": _l("fixed"),
    "fixed_at": _l("fixed_at"),
    "grand_total": _l("grand_total"),
    "id": _l("id"),
    "invoice": _l("invoice"),
    "issued_on": _l("issued_on"),
    "kind": _l("kind"),
    "line_description": _l("line_description"),
    "meter": _l("meter"),
    "movement": _l("movement"),
    "name": _l("name"),
    "number": _l("number"),
    "outstanding": _l("outstanding"),
    "over_90": _l("over_90"),
    "paid_on": _l("paid_on"),
    "period": _l("period"),
    "phone": _l("phone"),
    "promo": _l("promo"),
    "reason": _l("reason"),
    "reductions": _l("reductions"),
    "reference": _l("reference"),
    "reverses": _l("reverses"),
    "run_id": _l("run_id"),
    "source_id": _l("source_id"),
    "source_type": _l("source_type"),
    "status": _l("status"),
    "stored": _l("stored"),
    "total_price": _l("total_price"),
    "total_recharged": _l("total_recharged"),
    "total_spent": _l("total_spent"),
    "value_date": _l("value_date"),
}
"""Each export column's heading in the reader's language. In English it is the column's code name, which scripts
read; the commands' exports (outside a request) are English, and so is a download asked for in English."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula in a text cell."""
CHUNK = 64 * 1024
"""About how much text a streamed response sends at a time."""


def chunked(pieces: Iterable[AnyStr], size: int = CHUNK, empty: AnyStr = "") -> Iterator[AnyStr]:
    """Lines of text (or of bytes, ``empty`` being ``b""``) joined into chunks of about ``size`` characters: the
    server writes a chunk at a time, not a line at a time, and holds one chunk."""
    parts: list[AnyStr] = []
    length = 0
    for piece in pieces:
        parts.append(piece)
        length += len(piece)
        if length >= size:
            yield empty.join(parts)
            parts, length = [], 0
    if parts:
        yield empty.join(parts)


def csv_chunks(header: Sequence[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV of ``rows`` (their cells as the export writes them) after ``header`` (column codes, see
    :func:`headings`), a chunk at a time."""
    csv = CsvLines()

    def lines() -> Iterator[str]:
        yield csv.line(headings(header))
        for values in rows:
            yield csv.line(values)

    return chunked(lines())


def database_writes_csv() -> bool:
    """Whether the database writes an export itself (:func:`copied_csv`): PostgreSQL does."""
    return db.session.get_bind().dialect.name == "postgresql"


def copied_csv(header: Sequence[str], cells: Select) -> Iterator[bytes]:
    """The CSV of the rows ``cells`` selects after ``header`` (see :func:`csv_chunks`), written by PostgreSQL
    (``COPY … TO STDOUT``) and sent as it comes, a chunk at a time, in the request's transaction: the bytes
    :func:`csv_chunks` writes for the same rows.

    ``cells`` selects each cell as its text: typed text through :func:`guarded`, other text through :func:`as_is`,
    dates and amounts as they are stored (PostgreSQL writes a date in ISO, the date style set here, as :func:`iso`
    does, and a ``NUMERIC(15,2)`` as a plain decimal with its cents, as :func:`plain` does); an empty cell is NULL,
    which ``COPY`` leaves unquoted as Python's writer does an empty string."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    yield CsvLines().line(headings(header)).encode()
    # COPY takes no bound parameters: psycopg merges them into the statement, from its named placeholders.
    compiled = cells.compile(
        dialect=PGDialect_psycopg(paramstyle="pyformat"), compile_kwargs={"render_postcompile": True}
    )
    connection = db.session.connection().connection.driver_connection
    connection.execute("SET LOCAL datestyle = 'ISO'")
    with connection.cursor().copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params) as copy:
        for chunk in chunked(copy, empty=b""):
            yield _as_python_writes(chunk) if b"\r" in chunk else chunk


def guarded(column):
    """:func:`text_cell` in SQL: typed text as a cell a spreadsheet never runs, NULL when empty. (The code of the
    first character is compared: cheaper than its text, which is a copy.)"""
    starts = [ord(start) for start in FORMULA_STARTS]
    return case((func.ascii(column).in_(starts), literal("'") + column), else_=as_is(column))


def as_is(column):
    """Text as its cell, NULL when empty (``COPY`` quotes an empty string, which Python's writer leaves bare)."""
    return func.nullif(column, "")


class CsvLines:
    """Makes CSV lines one at a time: ``line(values)`` returns the text of one row."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def line(self, values: Iterable) -> str:
        self._writer.writerow(values)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def headings(columns) -> list[str]:
    """An export's header row, in the reader's language (see :data:`HEADINGS`)."""
    return [str(HEADINGS[column]) if column in HEADINGS else column for column in columns]


def text_cell(value: str | None) -> str:
    """Text someone typed, as a cell a spreadsheet never runs: a leading ``=``, ``+``, ``-``, ``@``, tab or
    carriage return is prefixed with ``'``."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def plain(value: Decimal | None) -> str:
    """An amount as a plain decimal with its cents: no currency, no grouping, no exponent (``-1234.50``)."""
    if value is None:
        return ""
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def csv_cell(value) -> str | int:
    """A value as a CSV cell: an amount plain, a date ISO, text as a cell a spreadsheet never runs, nothing empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, date):
        return iso(value)
    if isinstance(value, str):
        return text_cell(value)
    return value


def iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _as_python_writes(chunk: bytes) -> bytes:
    """Whole CSV lines that ``COPY`` wrote, as :class:`CsvLines` writes the same cells: ``COPY`` quotes a cell that
    holds a carriage return, which Python's writer (its lines ending in ``\\n``) leaves bare."""
    csv_lines = CsvLines()
    rows = csv.reader(io.StringIO(chunk.decode(), newline=""))
    return "".join(csv_lines.line(row) for row in rows).encode()


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_file(header: Sequence[str], rows: Iterable[Iterable]) -> IO[bytes]:
    """A workbook of one sheet, the header row then a row per row, in a temporary file read from its start:
    amounts as numbers with two decimals (the spreadsheet shows them as its reader's country writes them), dates as
    dates, text as text (never a formula). Written a row at a time (XlsxWriter's ``constant_memory``), so its size
    costs no memory."""
    file = tempfile.TemporaryFile()
    workbook = xlsxwriter.Workbook(file, {"constant_memory": True, "strings_to_formulas": False})
    sheet = workbook.add_worksheet()
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "#,##0.00"})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, list(header), bold)
    sheet.freeze_panes(1, 0)
    for number, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                sheet.write_boolean(number, column, value)
            elif isinstance(value, Decimal):
                sheet.write_number(number, column, value, money)
            elif isinstance(value, int | float):
                sheet.write_number(number, column, value)
            elif isinstance(value, datetime):
                sheet.write_datetime(number, column, value.replace(tzinfo=None), moment)
            elif isinstance(value, date):
                sheet.write_datetime(number, column, value, day)
            else:
                sheet.write_string(number, column, str(value))
    workbook.close()
    file.seek(0)
    return file


def file_chunks(file: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    """The file's bytes a chunk at a time; the file is closed (and, a temporary one, removed) at the end."""
    with file:
        while chunk := file.read(size):
            yield chunk
