"""VAT as the installation charges it: the rates in force from their dates, and the VAT of each invoice.

An invoice's amount as a clerk types or imports it is its net; its VAT is charged at the rate in force on its issue
date (none for a customer the tax office treats as exempt or zero-rated: rate 0), rounded once to the currency's
unit by ``formulas.vat_sql``, the formula the nightly's ``invoice_tax`` check reads too; what the customer owes is
the sum. A rate is saved on the Issuer page from a day on and never changes afterwards; a rate that would change what
an invoice already issued was charged is refused. Writers of invoices hold :data:`RATES_LOCK` shared while they read
the rate, a new rate holds it alone: neither commits over the other's reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Boolean, Date, Integer, Numeric, Select, case, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from backoffice.models import Account, AccountType, Customer, Invoice, MeterAssignment, TaxStatus, User, VatRate, covers
from backoffice.models.formulas import charged_vat_sql, vat_rate_sql, vat_sql
from backoffice.models.types import Money, next_month_start, upsert
from backoffice.platform.databases import advisory_key
from backoffice.platform.i18n import named_date
from backoffice.posting.rules import ACCOUNT_NAMES, VAT_PAYABLE

rates_table = VatRate.__table__
customers = Customer.__table__
invoices = Invoice.__table__
accounts = Account.__table__

RATES_LOCK = advisory_key("vat rates", 8)
"""The advisory lock between the rates and the invoices that read them."""
UNTAXED = (TaxStatus.EXEMPT.value, TaxStatus.ZERO_RATED.value)


class TaxError(ValueError):
    """A rate that cannot be saved as given; nothing was written. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Taxed:
    """An invoice's VAT and the rate it was charged at, in per cent; both ``None`` when it is charged none (no rate in
    force, or a customer not taxed), as every invoice was before VAT was kept."""

    vat: Decimal | None
    rate: Decimal | None


def taxed(connection: Connection, invoices_: Sequence[tuple[Decimal, date, int, bool]]) -> list[Taxed]:
    """The VAT of new invoices, each ``(amount, issued_on, customer_id, included)``: on the amount, its net, or, where
    ``included``, held in the amount, its total (``formulas.charged_vat_sql``); at the rate in force on its day, none
    for a customer not taxed or at a rate of 0; read in one statement, holding :data:`RATES_LOCK` shared until the
    unit of work ends."""
    if not invoices_:
        return []
    connection.execute(select(func.pg_advisory_xact_lock_shared(RATES_LOCK)))
    amounts, days, ids, included = zip(*invoices_, strict=True)
    given = (
        func.unnest(
            literal(list(amounts), ARRAY(Numeric(15, 2))),
            literal(list(days), ARRAY(Date)),
            literal(list(ids), ARRAY(Integer)),
            literal(list(included), ARRAY(Boolean)),
        )
        .table_valued("amount", "day", "customer_id", "included", with_ordinality="place")
        .render_derived("given")
    )
    status = select(customers.c.tax_status).where(customers.c.id == given.c.customer_id).scalar_subquery()
    rate = case((status.in_(UNTAXED), literal(Decimal(0))), else_=vat_rate_sql(given.c.day))
    rated = select(given.c.place, given.c.amount, given.c.included, rate.label("rate")).subquery("rated")
    vat = charged_vat_sql(rated.c.amount, rated.c.rate, rated.c.included)
    rows = connection.execute(select(vat.label("vat"), rated.c.rate).order_by(rated.c.place))
    return [Taxed(Decimal(row.vat), Decimal(row.rate)) if row.rate else Taxed(None, None) for row in rows]


def vat_at(connection: Connection, net: Decimal, rate: Decimal) -> Decimal:
    """The VAT on ``net`` at an invoice's own ``rate`` (a corrected net keeps the rate of its issue date)."""
    return Decimal(connection.scalar(select(vat_sql(literal(net, Money), literal(rate, Numeric(5, 2))))))


def rates(session) -> list[VatRate]:
    """Every rate saved, the latest first: the history of rates."""
    return list(session.scalars(select(VatRate).order_by(VatRate.applies_from.desc(), VatRate.id.desc())))


def in_force(session, today: date) -> VatRate | None:
    """The rate saved that is in force on ``today``, if any."""
    return session.scalar(
        select(VatRate)
        .where(VatRate.applies_from <= today)
        .order_by(VatRate.applies_from.desc(), VatRate.id.desc())
        .limit(1)
    )


def lock_rates(connection: Connection) -> None:
    """Hold :data:`RATES_LOCK` alone until the unit of work ends: no invoice reads a rate meanwhile."""
    connection.execute(select(func.pg_advisory_xact_lock(RATES_LOCK)))


def latest_id(session) -> int:
    """The id of the rate saved last (0: none), which a form loaded before another rate was saved does not hold."""
    return session.scalar(select(func.coalesce(func.max(rates_table.c.id), 0)))


def checked_rate(text: str | Decimal | None) -> Decimal:
    """A rate as it is kept: a number of per cent from 0 to under 100, at most two decimal places."""
    try:
        rate = text if isinstance(text, Decimal) else Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not 0 <= rate < 100 or rate != rate.quantize(Decimal("0.01")):
        raise TaxError(_("A VAT rate is a per cent from 0 to under 100, e.g. 11 or 7.5."), "vat_rate")
    return rate.quantize(Decimal("0.01"))


def save_rate(connection: Connection, rate: Decimal, applies_from: date, user: User | None) -> bool:
    """Keep ``rate`` from ``applies_from`` on, within the caller's unit of work; whether a rate was written (none when
    it is already the one in force from that day). The first rate adds VAT payable to the chart of accounts.
    Refused (:class:`TaxError`) when an invoice was issued from that day on, before a later rate: it keeps what it was
    charged."""
    rate = checked_rate(rate)
    lock_rates(connection)
    if Decimal(connection.scalar(select(vat_rate_sql(literal(applies_from, Date))))) == rate:
        return False
    later = connection.scalar(
        select(func.min(rates_table.c.applies_from)).where(rates_table.c.applies_from > applies_from)
    )
    issued = (
        select(invoices.c.number, invoices.c.issued_on)
        .where(invoices.c.issued_on >= applies_from)
        .order_by(invoices.c.issued_on.desc(), invoices.c.id.desc())
        .limit(1)
    )
    if later is not None:
        issued = issued.where(invoices.c.issued_on < later)
    if (last := connection.execute(issued).first()) is not None:
        raise TaxError(
            _(
                "Invoice %(number)s was issued on %(date)s at the rate then in force, which it keeps: a new rate "
                "applies from %(after)s at the earliest.",
                number=last.number,
                date=named_date(last.issued_on),
                after=named_date(date.fromordinal(last.issued_on.toordinal() + 1)),
            ),
            "vat_rate_from",
        )
    connection.execute(
        rates_table.insert().values(applies_from=applies_from, rate=rate, created_by_id=user.id if user else None)
    )
    connection.execute(
        upsert(accounts)
        .values(code=VAT_PAYABLE, name=ACCOUNT_NAMES[VAT_PAYABLE], type=AccountType.LIABILITY.value)
        .on_conflict_do_nothing(index_elements=[accounts.c.code])
    )
    return True


REGISTER_COLUMNS = [
    "issued_on",
    "number",
    "customer_code",
    "customer_name",
    "tax_number",
    "tax_status",
    "net",
    "vat_rate",
    "vat",
    "total",
    "withdrawn_on",
]
"""The tax register's columns, in its downloads' order."""


def register(month: date) -> Select:
    """The month's invoices, in the order they were issued, each with the customer who owed it (who held its meter on
    its issue date), their tax number and status, its net, rate, VAT and total, and the day it was withdrawn."""
    assignments = MeterAssignment.__table__
    held = assignments.c.meter_id == invoices.c.meter_id
    return (
        select(
            invoices.c.id,
            invoices.c.issued_on,
            invoices.c.number,
            customers.c.code.label("customer_code"),
            customers.c.name.label("customer_name"),
            customers.c.tax_number,
            func.coalesce(customers.c.tax_status, TaxStatus.TAXED.value).label("tax_status"),
            Invoice.net.label("net"),
            func.coalesce(invoices.c.vat_rate, 0).label("vat_rate"),
            func.coalesce(invoices.c.vat, 0).label("vat"),
            invoices.c.amount.label("total"),
            func.date(func.timezone(current_app.config["TIMEZONE"], invoices.c.withdrawn_at)).label("withdrawn_on"),
        )
        .select_from(
            invoices.join(assignments, held & covers(assignments.c, invoices.c.issued_on)).join(
                customers, customers.c.id == assignments.c.customer_id
            )
        )
        .where(invoices.c.issued_on >= month, invoices.c.issued_on < next_month_start(month))
        .order_by(invoices.c.issued_on, invoices.c.number)
    )


@dataclass(frozen=True)
class RegisterTotals:
    """What a month's invoices standing (not withdrawn) charged, and how many were issued in all."""

    issued: int
    standing: int
    net: Decimal
    vat: Decimal
    total: Decimal


def register_totals(month: date, session) -> RegisterTotals:
    """The month's tax register counted and summed: its invoices, those standing, and their net, VAT and total."""
    rows = register(month).order_by(None).subquery()
    standing = rows.c.withdrawn_on.is_(None)
    found = session.execute(
        select(
            func.count(),
            func.count().filter(standing),
            func.coalesce(func.sum(rows.c.net).filter(standing), 0),
            func.coalesce(func.sum(rows.c.vat).filter(standing), 0),
            func.coalesce(func.sum(rows.c.total).filter(standing), 0),
        )
    ).one()
    return RegisterTotals(*found)
