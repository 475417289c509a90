"""How a file writes its amounts and dates, which may not be how the installation does: ERPNext writes
``1282050.00`` on an Indonesian installation, where a clerk writes ``1.282.050,00``; a spreadsheet from the United
States writes ``10/31/2026``. Read from the file's own cells where they say it and only one way, else as its user
chose (on the page, or ``--decimal`` and ``--dates`` on the command), else as the installation writes; kept with the
import, so that its check and its write read every cell alike."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

DECIMAL_MARKS = (".", ",")
DATE_ORDERS = ("dmy", "mdy", "ymd")

_POINT = re.compile(r"[-+]?(\d+\.(\d{1,2}|\d{4,})|\d{1,3}(,\d{3}){2,}(\.\d+)?|\d{1,3}(,\d{3})+\.\d+)")
"""An amount only a decimal point reads: ``1282050.00``, ``1,282,050``, ``1,282.5`` (``1,282`` may be either)."""
_COMMA = re.compile(r"[-+]?(\d+,(\d{1,2}|\d{4,})|\d{1,3}(\.\d{3}){2,}(,\d+)?|\d{1,3}(\.\d{3})+,\d+)")
"""An amount only a decimal comma reads: ``1282050,00``, ``1.282.050``, ``1.282,5`` (``1.282`` may be either)."""
_NOT_OF_A_NUMBER = re.compile(r"[^\d.,+-]")
"""What a cell writes beside its number (a currency, spaces), left out of it when telling how it is written."""
_DAY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-]\d{4}")


@dataclass(frozen=True)
class Written:
    """A file's decimal mark (``.`` or ``,``) and its dates' order (``dmy``, ``mdy``, ``ymd``); None: as the
    installation writes."""

    decimal: str | None = None
    dates: str | None = None

    def kept(self) -> dict:
        """As an import's row keeps it."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def of(cls, kept: dict | None) -> Written:
        kept = kept or {}
        decimal, dates = kept.get("decimal"), kept.get("dates")
        return cls(decimal if decimal in DECIMAL_MARKS else None, dates if dates in DATE_ORDERS else None)

    def over(self, found: Written) -> Written:
        """What the user chose, else what the file's cells say."""
        return Written(self.decimal or found.decimal, self.dates or found.dates)


def found_in(rows: Iterable[dict], numbers: list[str], dates: list[str]) -> Written:
    """How the cells of the columns ``numbers`` and ``dates`` write them, where they say it one way only: an amount
    that only a decimal point (or only a comma) reads, a date whose first (or second) part is past 12. A file whose
    cells say both ways, or neither, is read as the installation writes (its user may choose)."""
    marks: set[str] = set()
    orders: set[str] = set()
    for values in rows:
        for name in numbers:
            cell = values.get(name)
            if isinstance(cell, str) and cell:
                written = _NOT_OF_A_NUMBER.sub("", cell)
                if _POINT.fullmatch(written):
                    marks.add(".")
                elif _COMMA.fullmatch(written):
                    marks.add(",")
        for name in dates:
            cell = values.get(name)
            if isinstance(cell, str) and (day := _DAY.fullmatch(cell.strip())):
                first, second = int(day.group(1)), int(day.group(2))
                if first > 12 >= second:
                    orders.add("dmy")
                elif second > 12 >= first:
                    orders.add("mdy")
    return Written(marks.pop() if len(marks) == 1 else None, orders.pop() if len(orders) == 1 else None)


AS_THE_INSTALLATION = Written()
_READING: ContextVar[Written | None] = ContextVar("written", default=None)


@contextmanager
def reading(written: Written) -> Iterator[None]:
    """Read the cells within as ``written`` says (:func:`now`)."""
    token = _READING.set(written)
    try:
        yield
    finally:
        _READING.reset(token)


def now() -> Written:
    """How the file being read writes its amounts and dates."""
    return _READING.get() or AS_THE_INSTALLATION
