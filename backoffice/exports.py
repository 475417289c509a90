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
