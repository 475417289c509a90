"""What every export shares: CSV text one line at a time, cells a spreadsheet reads as data, plain decimals.

An export is streamed from one query (``yield_per``), so its size costs no memory: each row becomes one line
of text, handed to the response as it is made.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l

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
    "customer_code": _l("customer_code"),
    "customer_name": _l("customer_name"),
    "date": _l("date"),
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
    "issued_on": _l("issued_on"),
    "kind": _l("kind"),
    "line_description": _l("line_description"),
    "meter": _l("meter"),
    "movement": _l("movement"),
    "name": _l("name"),
    "number": _l("number"),
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


def chunked(pieces: Iterable[str], size: int = CHUNK) -> Iterator[str]:
    """Lines of text joined into chunks of about ``size`` characters: the server writes a chunk at a time, not a
    line at a time, and holds one chunk."""
    parts: list[str] = []
    length = 0
    for piece in pieces:
        parts.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(parts)
            parts, length = [], 0
    if parts:
        yield "".join(parts)


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


def iso(day: date | None) -> str:
    return day.isoformat() if day else ""
