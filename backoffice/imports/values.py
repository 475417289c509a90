"""A cell read as what its column holds, by the parsers the forms use: each refusal a :class:`Refused` with the
message a clerk reads beside the cell's line and column."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from babel import Locale
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
    """An amount as the installation writes it (its locale, its currency) or as a workbook's number; negative
    only where ``signed``."""
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
                written.removeprefix("-") if negative else written, _locale(), _currency(), unit_places()
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
            Decimal(value) if isinstance(value, Decimal | int) else parse_number(text(value, 60), _locale(), "number")
        )
    except (MoneyError, InvalidOperation) as error:
        raise Refused(str(error)) from None
    if not found.is_finite() or found != found.quantize(Decimal(1).scaleb(-places)):
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
    if _day_first():
        for separator in "/.-":
            parts = written.split(separator)
            if len(parts) == 3 and all(part.isdigit() for part in parts) and len(parts[2]) == 4:
                try:
                    return date(int(parts[2]), int(parts[1]), int(parts[0]))
                except ValueError:
                    break
    raise Refused(_("%(text)s is not a date: write it as %(form)s.", text=repr(written), form=written_form()))


def written_form() -> str:
    """How a file writes a date besides ``YYYY-MM-DD``, in the reader's words: the installation's day first
    (``dd/mm/yyyy``, "hh/bb/tttt" in Indonesian) where it writes it so, else ``YYYY-MM-DD``."""
    return _("dd/mm/yyyy") if _day_first() else "YYYY-MM-DD"


def _locale() -> str:
    return current_app.config["LOCALE"]


def _currency() -> str:
    return current_app.config["CURRENCY"]


def _day_first() -> bool:
    """The installation's country writes the day before the month (its locale's short date form says so)."""
    return Locale.parse(_locale()).date_formats["short"].pattern.lower().lstrip("'").startswith("d")
