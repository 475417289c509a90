"""A customer's statement: the prepaid balance at the start of a period, every wallet movement dated in it (by
value date) with its description, and the balance at its end.

Its running balance is the statement's own, in value-date order, while the ledger's before/after chain stays in
posting order. Its figures agree with the monthly balances', which sum the same rows by value date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import case, func, select

from backoffice.models import BalanceTransaction, Customer
from backoffice.models.metering import READING
from backoffice.models.types import Balance, Month
from backoffice.platform.extensions import db
from backoffice.posting.sql import counted
from backoffice.services.descriptions import movement_words
from backoffice.services.exports import CsvLines, csv_cell, headings, worded

STREAMED_ROWS = 1000
"""Rows fetched at a time while a statement's lines are read: its length costs no memory."""
CSV_COLUMNS = ["date", "movement", "kind", "description", "reference", "amount", "balance"]


@dataclass(frozen=True)
class Period:
    """The days a statement covers, both included; ``month`` when they are one whole month."""

    since: date
    until: date
    month: Month | None = None

    @classmethod
    def of_month(cls, month: Month) -> Period:
        return cls(month.first_day, month.next().first_day - timedelta(days=1), month)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def slug(self) -> str:
        """The period in a file name: ``2026-11`` or ``2026-10-15_2026-11-14``."""
        return str(self.month) if self.month else f"{self.since.isoformat()}_{self.until.isoformat()}"


@dataclass(frozen=True)
class Summary:
    opening: Decimal
    """The balance at the start of the period: every movement dated before it."""
    deposits: Decimal
    """As the months count them: recharges and adjustments, net of reversed recharges."""
    purchases: Decimal
    """As the months count them: charges (gas, by reading date), net of reversed charges."""
    closing: Decimal
    movements: int


@dataclass(frozen=True)
class Line:
    id: int
    value_date: date
    kind: str
    description: str
    reference: str
    """What the movement refers to, e.g. ``reading #12``; a reversal names what it reverses."""
    amount: Decimal
    """Signed as the wallet sees it: positive adds to the balance."""
    balance: Decimal
    """The statement's running balance after this line."""


def summary(customer_id: int, period: Period) -> Summary:
    """Opening, deposits, purchases and closing of the period, in one pass over the customer's rows up to its end."""
    ledger = BalanceTransaction.__table__
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    within = ledger.c.value_date >= period.since

    def total(value):
        return func.round(func.coalesce(func.sum(value), 0), 2, type_=Balance)

    row = db.session.execute(
        select(
            total(case((within, 0), else_=signed)).label("opening"),
            total(case((within, counted("total_deposits", kind, signed)), else_=0)).label("deposits"),
            total(case((within, counted("total_purchases", kind, signed)), else_=0)).label("purchases"),
            total(case((within, signed), else_=0)).label("moved"),
            func.count(case((within, 1))).label("movements"),
        ).where(ledger.c.customer_id == customer_id, ledger.c.value_date <= period.until)
    ).one()
    return Summary(row.opening, row.deposits, row.purchases, row.opening + row.moved, row.movements)


def lines(customer_id: int, period: Period, opening: Decimal) -> Iterator[Line]:
    """The period's movements in value-date order with the running balance from ``opening``, streamed from one
    query."""
    ledger = BalanceTransaction.__table__
    query = (
        select(
            ledger.c.id,
            ledger.c.value_date,
            ledger.c.kind,
            ledger.c.description,
            ledger.c.reference_type,
            ledger.c.reference_id,
            ledger.c.reverses_id,
            ledger.c.reason,
            ledger.c.occasion,
            ledger.c.signed_amount,
        )
        .where(
            ledger.c.customer_id == customer_id,
            ledger.c.value_date >= period.since,
            ledger.c.value_date <= period.until,
        )
        .order_by(ledger.c.value_date, ledger.c.id)
    )
    balance = opening
    for row in db.session.execute(query, execution_options={"yield_per": STREAMED_ROWS}):
        balance += row.signed_amount
        yield Line(
            id=row.id,
            value_date=row.value_date,
            kind=row.kind,
            description=movement_words(row),
            reference=_reference(row),
            amount=row.signed_amount,
            balance=balance,
        )


def rows(customer_id: int, period: Period) -> Iterator[list]:
    """The statement's rows, each value as its type: an opening row, the movements, a closing row (amounts signed:
    positive adds to the balance)."""
    found = summary(customer_id, period)
    yield [period.since, None, "opening", _("Opening balance"), None, None, found.opening]
    for line in lines(customer_id, period, found.opening):
        yield [line.value_date, line.id, line.kind, line.description, line.reference, line.amount, line.balance]
    yield [period.until, None, "closing", _("Closing balance"), None, None, found.closing]


def csv_lines(customer_id: int, period: Period, words: Mapping[str, str] | None = None) -> Iterator[str]:
    """The statement as CSV text, one line at a time: plain decimals, ISO dates (see :func:`rows`), kinds as ``words``
    say them (see :func:`backoffice.services.exports.worded`)."""
    csv = CsvLines()
    yield csv.line(headings(CSV_COLUMNS))
    for row in worded(CSV_COLUMNS, rows(customer_id, period), words):
        yield csv.line([csv_cell(value) for value in row])


def csv_filename(customer: Customer, period: Period, extension: str = "csv") -> str:
    """``statement-C0001-2026-11.csv``; what a file name should not hold in the code is left out."""
    code = re.sub(r"[^A-Za-z0-9._-]", "", customer.code) or str(customer.id)
    return f"statement-{code}-{period.slug}.{extension}"


def _reference(row) -> str:
    if row.reverses_id is not None:
        return _("reverses movement #%(id)s", id=row.reverses_id)
    if row.reference_type == READING:
        return _("reading #%(id)s", id=row.reference_id)
    if row.reference_type:
        return f"{row.reference_type.replace('_', ' ')} #{row.reference_id}"
    return ""
