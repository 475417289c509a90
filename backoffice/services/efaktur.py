"""Indonesia's rules for a tax invoice (faktur pajak) as Coretax takes it, in one place: the tax register
(:mod:`backoffice.services.tax`) and the month's e-Faktur XML (:mod:`backoffice.services.coretax`) read them here.

- **The transaction code** (kode transaksi), from the customer's tax status: a customer taxed is ``04`` where its
  invoice is charged the effective 11 % from 2025 on (the 2025 rule: PPN 12 % on the *other base*, DPP nilai lain,
  11/12 of the price; the VAT is the same 11 % of the price), else ``01`` (12 % on the price, or any rate before
  2025); zero-rated is ``07`` (PPN tidak dipungut), exempt ``08`` (dibebaskan). The installation needs no setting
  for it: the rate it charges says which.
- **The other base** (DPP nilai lain): the base × 11/12, rounded once to the currency's unit, where the code is
  ``04``; else the base.
- **The buyer's TIN** as the tax office writes it: an NPWP written with dots and dashes is its digits; of 15 digits
  (the old NPWP) it is prefixed with ``0``; of 16 it is kept, a NIK (16 digits) as well, which the tax office takes
  as the TIN of an individual. Anything else is no TIN: refused where it is typed on the customer's form,
  reported by the register and refusing the XML where it came otherwise (a command, an import).
- **NITKU** (the buyer's place of business): the customer's own, if set; else its TIN's 16 digits and ``000000``,
  the head office; ``000000`` for a buyer without TIN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import Locale
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Date, and_, case, func, literal
from sqlalchemy.sql import ColumnElement

from backoffice.models import TaxStatus

TAXED = "01"
OTHER_BASE = "04"
ZERO_RATED = "07"
EXEMPT = "08"
CODES = (TAXED, OTHER_BASE, ZERO_RATED, EXEMPT)

OTHER_BASE_FROM = date(2025, 1, 1)
"""From this day on, a taxed invoice charged :data:`EFFECTIVE_RATE` is written with :data:`OTHER_BASE`."""
EFFECTIVE_RATE = Decimal("11")
"""The rate the 2025 rule charges in effect: 12 % of 11/12 of the price."""
CORETAX_RATE = Decimal("12")
"""The rate Coretax writes of an invoice coded :data:`OTHER_BASE`."""
OTHER_BASE_SHARE = (Decimal(11), Decimal(12))
"""The other base's share of the base: 11/12."""

NO_TIN = "0" * 16
"""Coretax's TIN of a buyer without one."""
HEAD_OFFICE = "000000"
"""The place of business a NITKU names when none is given: the head office (and a buyer without TIN's)."""
SEPARATORS = re.compile(r"[\s.\-/]")
NITKU_DIGITS = 22


def applies() -> bool:
    """Whether the installation is Indonesia's (its locale's territory): elsewhere these rules say nothing."""
    return Locale.parse(current_app.config["LOCALE"]).territory == "ID"


class TinError(ValueError):
    """A tax number that is no Indonesian TIN (nor a NIK): ``field`` the one at fault."""

    def __init__(self, message: str, field: str = "tax_number") -> None:
        super().__init__(message)
        self.field = field


def tin(text: str | None) -> str | None:
    """The TIN of a tax number as typed, as the tax office writes it (16 digits); none where none is typed;
    :class:`TinError` where it is no NPWP (15 or 16 digits) nor NIK (16 digits)."""
    written = (text or "").strip()
    if not written:
        return None
    digits = SEPARATORS.sub("", written)
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (15, 16):
        raise TinError(
            _(
                "%(number)s is no NPWP (15 or 16 digits, e.g. 01.234.567.8-901.000) nor NIK (16 digits).",
                number=written,
            )
        )
    return digits.rjust(16, "0")


def readable_tin(text: str | None) -> str | None:
    """:func:`tin`, none where the tax number cannot be read as one (the downloads report it)."""
    try:
        return tin(text)
    except TinError:
        return None


def checked_nitku(text: str | None) -> str | None:
    """A NITKU as it is kept: its 22 digits (dots, dashes and spaces dropped); none where blank."""
    digits = SEPARATORS.sub("", text or "")
    if not digits:
        return None
    if not digits.isascii() or not digits.isdigit() or len(digits) != NITKU_DIGITS:
        raise TinError(_("A NITKU has 22 digits: the NPWP's 16 and the place of business's 6."), "nitku")
    return digits


def nitku(own: str | None, buyer_tin: str | None) -> str:
    """The buyer's NITKU: its own, else its TIN and :data:`HEAD_OFFICE`; :data:`HEAD_OFFICE` without TIN."""
    if own:
        return SEPARATORS.sub("", own)
    return f"{buyer_tin}{HEAD_OFFICE}" if buyer_tin else HEAD_OFFICE


def trx_code(status: str | None, issued_on: date, rates: set[Decimal]) -> str:
    """The transaction code of an invoice issued on ``issued_on`` to a customer of ``status`` whose lines are charged
    ``rates`` (see the module's rules)."""
    if status == TaxStatus.ZERO_RATED.value:
        return ZERO_RATED
    if status == TaxStatus.EXEMPT.value:
        return EXEMPT
    return OTHER_BASE if issued_on >= OTHER_BASE_FROM and rates == {EFFECTIVE_RATE} else TAXED


def trx_code_sql(status, issued_on, every_line_effective) -> ColumnElement[str]:
    """:func:`trx_code` in SQL: ``every_line_effective`` whether each of the invoice's lines is charged
    :data:`EFFECTIVE_RATE`."""
    return case(
        (status == TaxStatus.ZERO_RATED.value, literal(ZERO_RATED)),
        (status == TaxStatus.EXEMPT.value, literal(EXEMPT)),
        (and_(issued_on >= literal(OTHER_BASE_FROM, Date), every_line_effective), literal(OTHER_BASE)),
        else_=literal(TAXED),
    )


def other_base(base: Decimal, code: str, places: int) -> Decimal:
    """The other base (DPP nilai lain) of ``base`` in an invoice of ``code``, rounded once to ``places``."""
    if code != OTHER_BASE:
        return base
    share, whole = OTHER_BASE_SHARE
    return (base * share / whole).quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP")


def other_base_sql(base, code) -> ColumnElement[Decimal]:
    """:func:`other_base` in SQL, rounded to the currency's unit (``currency_places_v1()``)."""
    share, whole = OTHER_BASE_SHARE
    return case(
        (code == literal(OTHER_BASE), func.round(base * int(share) / int(whole), func.currency_places_v1())),
        else_=base,
    )


@dataclass(frozen=True)
class Buyer:
    """A buyer as Coretax names them: TIN (:data:`NO_TIN` without), the document that identifies them and its
    number, and NITKU."""

    tin: str
    document: str
    document_number: str
    idtku: str


def buyer(tax_number: str | None, own_nitku: str | None) -> Buyer:
    """The buyer of a customer's tax number and NITKU; :class:`TinError` where the tax number is no TIN."""
    found = tin(tax_number)
    if found is None:
        return Buyer(NO_TIN, "Other", "-", HEAD_OFFICE)
    return Buyer(found, "TIN", "-", nitku(own_nitku, found))
