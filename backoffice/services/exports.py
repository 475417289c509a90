"""What every export shares: CSV text one line at a time, cells a spreadsheet reads as data, plain decimals, coded
cells in the reader's words, and the database's ``COPY`` a download streams from.

An export is streamed, so its size costs no memory. A CSV is written by the database (``COPY``) from a query's
cells, or by Python a line at a time; a workbook is written by :mod:`backoffice.services.workbooks`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import AnyStr

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    case,
    cast,
    func,
    literal,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from backoffice.platform import replica

HEADINGS = {
    "account_code": _l("account_code"),
    "account_manager": _l("account_manager"),
    "account_name": _l("account_name"),
    "achieved_amount": _l("achieved_amount"),
    "active": _l("active"),
    "additions": _l("additions"),
    "address": _l("address"),
    "amount": _l("amount"),
    "assigned_on": _l("assigned_on"),
    "authority_number": _l("authority_number"),
    "balance": _l("balance"),
    "balance_after": _l("balance_after"),
    "balance_before": _l("balance_before"),
    "buyer_tin": _l("buyer_tin"),
    "check": _l("check"),
    "city": _l("city"),
    "closing_balance": _l("closing_balance"),
    "closing_date": _l("closing_date"),
    "code": _l("code"),
    "contact_person": _l("contact_person"),
    "credit": _l("credit"),
    "current": _l("current"),
    "customer_code": _l("customer_code"),
    "customer_name": _l("customer_name"),
    "customers": _l("customers"),
    "date": _l("date"),
    "days_overdue": _l("days_overdue"),
    "debit": _l("debit"),
    "decided_at": _l("decided_at"),
    "decided_by": _l("decided_by"),
    "deposits": _l("deposits"),
    "description": _l("description"),
    "difference": _l("difference"),
    "document": _l("document"),
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
    "file": _l("file"),
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
    "net": _l("net"),
    "nitku": _l("nitku"),
    "number": _l("number"),
    "opening_balance": _l("opening_balance"),
    "other_base": _l("other_base"),
    "outcome": _l("outcome"),
    "outstanding": _l("outstanding"),
    "over_90": _l("over_90"),
    "overpayment": _l("overpayment"),
    "paid_on": _l("paid_on"),
    "period": _l("period"),
    "phone": _l("phone"),
    "promo": _l("promo"),
    "purchases": _l("purchases"),
    "reason": _l("reason"),
    "reductions": _l("reductions"),
    "reference": _l("reference"),
    "rejection_reason": _l("rejection_reason"),
    "requested_at": _l("requested_at"),
    "requested_by": _l("requested_by"),
    "retired_on": _l("retired_on"),
    "route": _l("route"),
    "route_stop": _l("route_stop"),
    "reverses": _l("reverses"),
    "run_id": _l("run_id"),
    "sent_to": _l("sent_to"),
    "serial": _l("serial"),
    "source_id": _l("source_id"),
    "source_type": _l("source_type"),
    "status": _l("status"),
    "stored": _l("stored"),
    "target_amount": _l("target_amount"),
    "tax_number": _l("tax_number"),
    "tax_status": _l("tax_status"),
    "total": _l("total"),
    "total_price": _l("total_price"),
    "total_recharged": _l("total_recharged"),
    "total_spent": _l("total_spent"),
    "trx_code": _l("trx_code"),
    "value_date": _l("value_date"),
    "vat": _l("vat"),
    "vat_rate": _l("vat_rate"),
    "volume_sm3": _l("volume_sm3"),
    "withdrawn_on": _l("withdrawn_on"),
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


def csv_chunks(
    header: Sequence[str], rows: Iterable[Iterable], words: Mapping[str, str] | None = None
) -> Iterator[str]:
    """The CSV of ``rows`` (their cells as the export writes them) after ``header`` (column codes, see
    :func:`headings`), a chunk at a time; coded cells as ``words`` say them (see :func:`worded`)."""
    csv = CsvLines()

    def lines() -> Iterator[str]:
        yield csv.line(headings(header))
        for values in worded(header, rows, words):
            yield csv.line(values)

    return chunked(lines())


def copied_csv(header: Sequence[str], cells: Select, words: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """The CSV of the rows ``cells`` selects after ``header`` (see :func:`csv_chunks`), written by PostgreSQL
    (``COPY … TO STDOUT``) and sent as it comes, a chunk at a time, in the request's transaction: the bytes
    :func:`csv_chunks` writes for the same rows (and their coded cells in ``words``, see :func:`worded_cells`).

    ``cells`` selects each cell as its text: typed text through :func:`guarded`, other text through :func:`as_is`,
    dates and amounts as they are stored (PostgreSQL writes a date in ISO, the date style set here, as :func:`iso`
    does, and a ``NUMERIC(15,2)`` as a plain decimal with its cents, as :func:`plain` does); an empty cell is NULL,
    which ``COPY`` leaves unquoted as Python's writer does an empty string."""
    yield CsvLines().line(headings(header)).encode()
    with copied_lines(worded_cells(header, cells, words), "FORMAT csv") as copy:
        for chunk in chunked(copy, empty=b""):
            yield _as_python_writes(chunk) if b"\r" in chunk else chunk


@contextmanager
def copied_lines(query: Select, options: str):
    """``COPY (query) TO STDOUT (options)`` in the request's transaction (on the read replica, when it serves a
    download), its dates in ISO: its lines as they come."""
    # COPY takes no bound parameters: psycopg merges them into the statement, from its named placeholders.
    compiled = query.compile(
        dialect=PGDialect_psycopg(paramstyle="pyformat"), compile_kwargs={"render_postcompile": True}
    )
    connection = replica.connection().connection.driver_connection
    connection.execute("SET LOCAL datestyle = 'ISO'")
    with connection.cursor().copy(f"COPY ({compiled}) TO STDOUT ({options})", compiled.params) as copy:
        yield copy


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
    """The day as ISO 8601, or an empty cell."""
    return day.isoformat() if day else ""


def _as_python_writes(chunk: bytes) -> bytes:
    """Whole CSV lines that ``COPY`` wrote, as :class:`CsvLines` writes the same cells: ``COPY`` quotes a cell that
    holds a carriage return, which Python's writer (its lines ending in ``\\n``) leaves bare."""
    csv_lines = CsvLines()
    rows = csv.reader(io.StringIO(chunk.decode(), newline=""))
    return "".join(csv_lines.line(row) for row in rows).encode()


CODED = frozenset({"active", "fixed", "kind", "reason", "source_type", "status", "tax_status"})
"""The export columns whose cells are code names (``charge``, ``overdue``, ``yes``): a download in a language other
than English writes them as its words (see :func:`worded`); in English they stay codes, which scripts read."""


def worded(header: Sequence[str], rows: Iterable[Sequence], words: Mapping[str, str] | None) -> Iterable[Sequence]:
    """``rows`` with the cells of their coded columns (see :data:`CODED`) as ``words`` say them; as they are without
    words (English)."""
    coded = [index for index, column in enumerate(header) if column in CODED] if words else []
    if not coded:
        return rows

    def say(values: Sequence) -> list:
        said = list(values)
        for index in coded:
            said[index] = words.get(said[index], said[index])
        return said

    return map(say, rows)


def worded_cells(header: Sequence[str], cells: Select, words: Mapping[str, str] | None) -> Select:
    """:func:`worded` in SQL: ``cells`` (as :func:`copied_csv` takes them) with their coded columns' codes as
    ``words`` say them, looked up in one JSON object the database reads once."""
    if not words or not CODED.intersection(header):
        return cells
    said = [
        said_in(column, words) if name in CODED else column
        for name, column in zip(header, cells.selected_columns, strict=True)
    ]
    return cells.with_only_columns(*said, maintain_column_froms=True)


def said_in(column, words: Mapping[str, str]) -> ColumnElement:
    """A coded column's code as ``words`` say it (an unknown code as it is)."""
    code = cast(column, Text)
    return func.coalesce(literal(json.dumps(dict(words)), Text).cast(JSONB).op("->>")(code), code)
