"""A cell read as what its column holds, by the parsers the forms use: each refusal a :class:`Refused` with the
message a clerk reads beside the cell's line and column."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.imports import written as file_writes
from backoffice.imports.files import excel_date
from backoffice.platform.clock import local_today
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import NotOneLine, one_line, writable
from backoffice.platform.money import MoneyError, check_amount, parse_amount, parse_number, unit_places

FORMULA_STARTS = ("=",)
"""What a text cell may not start with: a spreadsheet would read it as a formula when the file is opened again."""


A_CELL = _l("A cell")


class Refused(ValueError):
    """A cell that cannot be read as its column asks; ``str()`` is the message."""


def text(value: object, longest: int, *, lines: bool = False) -> str:
    """A text cell, stripped: one line (a number, a code, a name), unless it may hold ``lines`` (an address, a
    note); one a spreadsheet would run as a formula is refused."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    written = str(value).strip() if value is not None else ""
    if written.startswith(FORMULA_STARTS):
        raise Refused(_("A cell may not start with '=': a spreadsheet would run it as a formula."))
    if len(written) > longest:
        raise Refused(_("At most %(count)s characters.", count=longest))
    try:
        return written if lines and writable(written) else one_line(written, A_CELL)
    except NotOneLine as refusal:
        raise Refused(str(refusal)) from None


def amount(value: object, *, signed: bool = False) -> Decimal:
    """An amount as the file writes it (its decimal mark: :mod:`~backoffice.imports.written`), else as the
    installation does (its locale, its currency), or as a workbook's number; negative only where ``signed``."""
    if isinstance(value, bool):
        raise Refused(_("Not an amount."))
    negative = False
    try:
        if isinstance(value, Decimal | int):
            number = Decimal(value)
        else:
            written = text(value, 60)
            negative = signed and written.startswith("-")
            number = parse_amount(
                written.removeprefix("-") if negative else written, _number_locale(), _currency(), unit_places()
            )
        if number < 0 and signed:
            negative, number = True, -number
        checked = check_amount(number)
    except (MoneyError, InvalidOperation) as error:
        raise Refused(str(error)) from None
    return -checked if negative else checked


def number(value: object, places: int) -> Decimal:
    """A quantity (a volume, a factor) with at most ``places`` decimal places; its range is its column's."""
    if isinstance(value, bool):
        raise Refused(_("Not a number."))
    try:
        found = (
            Decimal(value)
            if isinstance(value, Decimal | int)
            else parse_number(text(value, 60), _number_locale(), "number")
        )
    except (MoneyError, InvalidOperation) as error:
        raise Refused(str(error)) from None
    try:
        exact = found.is_finite() and found == found.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:  # more digits than a quantity holds
        raise Refused(_("Not a number.")) from None
    if not exact:
        raise Refused(_("Use at most %(count)s decimal places.", count=places))
    return found


def day(value: object, *, not_after_today: bool = True) -> date:
    """A date: a workbook's date, an Excel serial number, ``YYYY-MM-DD``, or the day first (``dd/mm/yyyy``) where the
    installation writes it so; a date after today is refused where ``not_after_today``."""
    found = excel_date(value)
    if found is None:
        found = _written_date(text(value, 40))
    if not_after_today and found > local_today():
        raise Refused(_("The date %(date)s is after today.", date=named_date(found)))
    return found


def yes_no(value: object) -> bool:
    if isinstance(value, bool):
        return value
    written = text(value, 10).lower()
    if written in YES:
        return True
    if written in NO:
        return False
    raise Refused(_("Write yes or no."))


YES = {"yes", "y", "1", "true", "ya", "có", "co"}
NO = {"no", "n", "0", "false", "tidak", "không", "khong", ""}


def _written_date(written: str) -> date:
    try:
        return date.fromisoformat(written)
    except ValueError:
        pass
    order = _date_order()
    if order != "ymd":
        for separator in "/.-":
            parts = written.split(separator)
            if len(parts) == 3 and all(part.isdigit() for part in parts) and len(parts[2]) == 4:
                day, month = (parts[0], parts[1]) if order == "dmy" else (parts[1], parts[0])
                try:
                    return date(int(parts[2]), int(month), int(day))
                except ValueError:
                    break
    raise Refused(_("%(text)s is not a date: write it as %(form)s.", text=repr(written), form=written_form()))


def written_form() -> str:
    """How a file writes a date besides ``YYYY-MM-DD``, in the reader's words: as the file does where it says so,
    else the installation's day first (``dd/mm/yyyy``, "hh/bb/tttt" in Indonesian) where it writes it so, else
    ``YYYY-MM-DD``."""
    return {"dmy": _("dd/mm/yyyy"), "mdy": _("mm/dd/yyyy")}.get(_date_order(), "YYYY-MM-DD")


def as_written(written: file_writes.Written) -> file_writes.Written:
    """How a file is read, each of its choices made: as it writes, else as the installation does."""
    installation = Locale.parse(_locale()).number_symbols["latn"]["decimal"]
    return file_writes.Written(written.decimal or installation, written.dates or ("dmy" if _day_first() else "ymd"))


def _date_order() -> str:
    """The order of a date's parts in the file being read: as it writes them, else as the installation does."""
    return file_writes.now().dates or ("dmy" if _day_first() else "ymd")


A_DECIMAL_POINT, A_DECIMAL_COMMA = "en_US", "id_ID"
"""The locales an amount is read by in a file writing a decimal point (``1,282,050.00``) or comma (``1.282.050,00``)
unlike its installation."""


def _number_locale() -> str:
    """The locale the file's amounts are read by: the installation's, unless the file writes another decimal mark."""
    return _number_locale_of(_locale(), file_writes.now().decimal)


@lru_cache(maxsize=64)
def _number_locale_of(installation: str, mark: str | None) -> str:
    if mark is None or Locale.parse(installation).number_symbols["latn"]["decimal"] == mark:
        return installation
    return A_DECIMAL_POINT if mark == "." else A_DECIMAL_COMMA


def _locale() -> str:
    return current_app.config["LOCALE"]


def _currency() -> str:
    return current_app.config["CURRENCY"]


def _day_first() -> bool:
    """The installation's country writes the day before the month (its locale's short date form says so)."""
    return _day_first_in(_locale())


@lru_cache(maxsize=64)
def _day_first_in(locale: str) -> bool:
    return Locale.parse(locale).date_formats["short"].pattern.lower().lstrip("'").startswith("d")
