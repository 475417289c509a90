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
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Date, Integer, Numeric, Select, String, case, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from backoffice.models import (
    Account,
    AccountType,
    Customer,
    Invoice,
    InvoiceLine,
    LineKind,
    MeterAssignment,
    TaxStatus,
    User,
    VatRate,
    covers,
)
from backoffice.models.formulas import charged_vat_sql, line_vat_sql, rate_in_force_sql, vat_rate_sql, vat_sql
from backoffice.models.types import Money, next_month_start, upsert
from backoffice.platform.databases import advisory_key
from backoffice.platform.i18n import named_date, number_locale
from backoffice.platform.money import format_number
from backoffice.posting.rules import ACCOUNT_NAMES, VAT_PAYABLE
from backoffice.services import authority, efaktur

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
class Charged:
    """A line as charged: the rate in force for its kind on its invoice's day (0 for a customer not taxed; none where
    no rate was in force) and its share of the invoice's VAT."""

    rate: Decimal | None
    vat: Decimal | None


@dataclass(frozen=True)
class Taxed:
    """An invoice's VAT, the one rate of its lines (none where they have several), in per cent, and its lines as
    charged; the VAT and rate ``None`` where it is charged none (no rate in force, or a customer not taxed), as every
    invoice was before VAT was kept."""

    vat: Decimal | None
    rate: Decimal | None
    lines: tuple[Charged, ...] = ()


@dataclass(frozen=True)
class Asked:
    """An invoice to charge: its lines ``(kind, base)``, its issue date and customer; where ``total`` is given, an old
    system's total that holds its VAT, never charged VAT again (charged the rate of its lines' kind)."""

    lines: Sequence[tuple[str, Decimal]]
    issued_on: date
    customer_id: int
    total: Decimal | None = None


def taxed(connection: Connection, asked: Sequence[Asked]) -> list[Taxed]:
    """The VAT of new invoices, line by line: each line at the rate in force for its kind on the invoice's day (0 for
    a customer not taxed), its share of the VAT the invoice charges at that rate (``formulas.line_vat_sql``: on the
    sum of its lines at the rate, or, for an old system's ``total``, held in it); read in one statement, holding
    :data:`RATES_LOCK` shared until the unit of work ends."""
    if not asked:
        return []
    connection.execute(select(func.pg_advisory_xact_lock_shared(RATES_LOCK)))
    given_lines = [
        (place, position, kind, base, invoice.issued_on, invoice.customer_id, invoice.total)
        for place, invoice in enumerate(asked)
        for position, (kind, base) in enumerate(invoice.lines, 1)
    ]
    places, positions, kinds, bases, days, ids, totals = zip(*given_lines, strict=True)
    given = (
        func.unnest(
            literal(list(places), ARRAY(Integer)),
            literal(list(positions), ARRAY(Integer)),
            literal(list(kinds), ARRAY(String)),
            literal(list(bases), ARRAY(Numeric(15, 2))),
            literal(list(days), ARRAY(Date)),
            literal(list(ids), ARRAY(Integer)),
            literal(list(totals), ARRAY(Numeric(15, 2))),
        )
        .table_valued("place", "position", "kind", "base", "day", "customer_id", "total")
        .render_derived("given")
    )
    status = select(customers.c.tax_status).where(customers.c.id == given.c.customer_id).scalar_subquery()
    in_force = rate_in_force_sql(given.c.day, given.c.kind)
    rate = case((in_force.is_(None), None), (status.in_(UNTAXED), literal(Decimal(0))), else_=in_force)
    rated = select(given, rate.label("rate")).subquery("rated")
    held = case((rated.c.total.is_not(None), charged_vat_sql(rated.c.total, rated.c.rate, literal(True))))
    vat = line_vat_sql(rated.c.place, rated.c.position, rated.c.base, rated.c.rate, held)
    rows = connection.execute(
        select(rated.c.place, rated.c.rate, vat.label("vat")).order_by(rated.c.place, rated.c.position)
    )
    charged: list[list[Charged]] = [[] for _ in asked]
    for row in rows:
        charged[row.place].append(Charged(row.rate, None if row.vat is None else Decimal(row.vat)))
    return [invoice_taxed(tuple(lines)) for lines in charged]


def invoice_taxed(lines: tuple[Charged, ...]) -> Taxed:
    """An invoice's VAT, the sum of its lines', and its one rate: none where no line is charged a rate above 0."""
    rates = {line.rate for line in lines}
    if not any(rates - {None, Decimal(0)}):
        return Taxed(None, None, lines)
    vat = sum((line.vat or Decimal(0) for line in lines), Decimal(0))
    return Taxed(vat, rates.pop() if len(rates) == 1 else None, lines)


def vat_at(connection: Connection, net: Decimal, rate: Decimal) -> Decimal:
    """The VAT on ``net`` at an invoice's own ``rate`` (a corrected net keeps the rate of its issue date)."""
    return Decimal(connection.scalar(select(vat_sql(literal(net, Money), literal(rate, Numeric(5, 2))))))


@dataclass(frozen=True)
class RateSaved:
    """A rate as an admin saved it: from a day, for the kinds of line it was saved for at once."""

    applies_from: date
    rate: Decimal
    kinds: tuple[LineKind, ...]
    created_at: object
    created_by_id: int | None
    created_by: User | None

    @property
    def every_kind(self) -> bool:
        return len(self.kinds) == len(LineKind)


def rates(session) -> list[RateSaved]:
    """Every rate saved, the latest first, the kinds of line it was saved for at once together: the history."""
    saved: dict[tuple, RateSaved] = {}
    for row in session.scalars(select(VatRate).order_by(VatRate.applies_from.desc(), VatRate.id.desc())):
        key = (row.applies_from, row.rate, row.created_at, row.created_by_id)
        kinds = (*saved[key].kinds, LineKind(row.kind)) if key in saved else (LineKind(row.kind),)
        saved[key] = RateSaved(row.applies_from, row.rate, kinds, row.created_at, row.created_by_id, row.created_by)
    return [replace(entry, kinds=tuple(kind for kind in LineKind if kind in entry.kinds)) for entry in saved.values()]


def in_force(session, today: date, kind: str = LineKind.GAS.value) -> VatRate | None:
    """The rate saved for ``kind`` that is in force on ``today``, if any."""
    return session.scalar(
        select(VatRate)
        .where(VatRate.kind == kind, VatRate.applies_from <= today)
        .order_by(VatRate.applies_from.desc(), VatRate.id.desc())
        .limit(1)
    )


def in_force_by_kind(session, today: date) -> dict[LineKind, VatRate | None]:
    """The rate in force on ``today`` for each kind of line."""
    return {kind: in_force(session, today, kind.value) for kind in LineKind}


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


def save_rate(
    connection: Connection, rate: Decimal, applies_from: date, user: User | None, kind: str | None = None
) -> bool:
    """Keep ``rate`` for lines of ``kind`` (none: of every kind) from ``applies_from`` on, within the caller's unit of
    work; whether a rate was written (none when it is already the one in force from that day). The first rate adds
    VAT payable to the chart of accounts. Refused (:class:`TaxError`) when an invoice with a line of that kind was
    issued from that day on, before a later rate: it keeps what it was charged."""
    rate = checked_rate(rate)
    lock_rates(connection)
    kinds = [kind.value for kind in LineKind] if kind is None else [LineKind(kind).value]
    changed = [
        kind
        for kind in kinds
        if Decimal(connection.scalar(select(vat_rate_sql(literal(applies_from, Date), kind)))) != rate
    ]
    for kind in changed:
        _refuse_if_issued(connection, applies_from, kind)
    if not changed:
        return False
    connection.execute(
        rates_table.insert(),
        [
            {"applies_from": applies_from, "rate": rate, "kind": kind, "created_by_id": user.id if user else None}
            for kind in changed
        ],
    )
    connection.execute(
        upsert(accounts)
        .values(code=VAT_PAYABLE, name=ACCOUNT_NAMES[VAT_PAYABLE], type=AccountType.LIABILITY.value)
        .on_conflict_do_nothing(index_elements=[accounts.c.code])
    )
    return True


def _refuse_if_issued(connection: Connection, applies_from: date, kind: str) -> None:
    """Refuse a rate for ``kind`` from ``applies_from`` when an invoice with a line of that kind was issued from
    that day on, before that kind's next rate."""
    later = connection.scalar(
        select(func.min(rates_table.c.applies_from)).where(
            rates_table.c.kind == kind, rates_table.c.applies_from > applies_from
        )
    )
    lines = InvoiceLine.__table__
    issued = (
        select(invoices.c.number, invoices.c.issued_on)
        .where(
            invoices.c.issued_on >= applies_from,
            select(lines.c.id).where(lines.c.invoice_id == invoices.c.id, lines.c.kind == kind).exists(),
        )
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
    "trx_code",
    "buyer_tin",
    "nitku",
    "address",
    "other_base",
    "authority_number",
]
"""The tax register's columns, in its downloads' order: a row per invoice and rate, its base (``net``) at that rate,
and what a tax accountant files of it (Indonesia's transaction code, the buyer's TIN and NITKU, its other base; the
tax office's number)."""
REGISTER_TOTALS = ("net", "other_base", "vat", "total")
"""The register's columns a totals row sums."""


def register(month: date) -> Select:
    """The month's invoices, in the order they were issued, a row for each rate their lines are charged: the customer
    who owed it (who held its meter on its issue date), their tax number, status and address, the base, other base,
    rate, VAT and total of its lines at that rate, its transaction code, the number the tax office gave it, and the
    day it was withdrawn (:mod:`~backoffice.services.efaktur`'s rules; the buyer's TIN and NITKU are read by
    :func:`registered`)."""
    assignments = MeterAssignment.__table__
    lines = InvoiceLine.__table__
    held = assignments.c.meter_id == invoices.c.meter_id
    rate = func.coalesce(lines.c.vat_rate, 0)
    by_rate = (
        select(
            lines.c.invoice_id,
            rate.label("vat_rate"),
            func.sum(lines.c.amount).label("net"),
            func.sum(func.coalesce(lines.c.vat, 0)).label("vat"),
            func.bool_and(rate == efaktur.EFFECTIVE_RATE).over(partition_by=lines.c.invoice_id).label("effective"),
        )
        .group_by(lines.c.invoice_id, rate)
        .subquery("by_rate")
    )
    status = func.coalesce(customers.c.tax_status, TaxStatus.TAXED.value)
    code = efaktur.trx_code_sql(status, invoices.c.issued_on, by_rate.c.effective)
    address = func.concat_ws(", ", func.nullif(customers.c.address, ""), func.nullif(customers.c.city, ""))
    return (
        select(
            invoices.c.id,
            invoices.c.issued_on,
            invoices.c.number,
            customers.c.code.label("customer_code"),
            customers.c.name.label("customer_name"),
            customers.c.tax_number,
            status.label("tax_status"),
            by_rate.c.net,
            by_rate.c.vat_rate,
            by_rate.c.vat,
            (by_rate.c.net + by_rate.c.vat).label("total"),
            func.date(func.timezone(current_app.config["TIMEZONE"], invoices.c.withdrawn_at)).label("withdrawn_on"),
            code.label("trx_code"),
            customers.c.nitku.label("own_nitku"),
            func.nullif(address, "").label("address"),
            efaktur.other_base_sql(by_rate.c.net, code).label("other_base"),
            invoices.c.authority_number,
            authority.action_sql(invoices.c).label("tax_office_action"),
        )
        .select_from(
            invoices.join(by_rate, by_rate.c.invoice_id == invoices.c.id)
            .join(assignments, held & covers(assignments.c, invoices.c.issued_on))
            .join(customers, customers.c.id == assignments.c.customer_id)
        )
        .where(invoices.c.issued_on >= month, invoices.c.issued_on < next_month_start(month))
        .order_by(invoices.c.issued_on, invoices.c.number, by_rate.c.vat_rate)
    )


@dataclass(frozen=True)
class Registered:
    """A row of the register as it is shown and downloaded: the query's (:func:`register`), with the buyer's TIN in
    the tax office's form and their NITKU (none and blank where the tax number is no TIN: ``tin_unread``)."""

    row: object
    buyer_tin: str | None
    nitku: str | None
    tin_unread: bool

    def __getattr__(self, name: str):
        return getattr(self.row, name)

    def cells(self) -> list:
        """Its cells in :data:`REGISTER_COLUMNS`' order."""
        mapping = self.row._mapping
        return [
            getattr(self, column) if column in ("buyer_tin", "nitku") else mapping[column]
            for column in REGISTER_COLUMNS
        ]


def registered(row) -> Registered:
    """A row of :func:`register` with its buyer's TIN and NITKU read (:mod:`~backoffice.services.efaktur`)."""
    if not efaktur.applies():
        return Registered(row, (row.tax_number or "").strip() or None, None, False)
    buyer_tin = efaktur.readable_tin(row.tax_number)
    unread = buyer_tin is None and bool((row.tax_number or "").strip())
    return Registered(row, buyer_tin, None if unread else efaktur.nitku(row.own_nitku, buyer_tin), unread)


@dataclass(frozen=True)
class RateTotal:
    """What the month's invoices standing charged at one rate (``rate`` none: every rate, the grand total)."""

    rate: Decimal | None
    net: Decimal
    other_base: Decimal
    vat: Decimal
    total: Decimal


@dataclass(frozen=True)
class RegisterTotals:
    """What a month's invoices standing (not withdrawn) charged, and how many were issued in all; its rows (an
    invoice's each rate), and its totals by rate."""

    issued: int
    standing: int
    net: Decimal
    vat: Decimal
    total: Decimal
    rows: int = 0
    other_base: Decimal = Decimal(0)
    by_rate: tuple[RateTotal, ...] = ()

    @property
    def grand(self) -> RateTotal:
        return RateTotal(None, self.net, self.other_base, self.vat, self.total)


def register_totals(month: date, session) -> RegisterTotals:
    """The month's tax register counted and summed: its invoices, those standing, and their base, other base, VAT and
    total, in all and by rate."""
    rows = register(month).order_by(None).subquery()
    standing = rows.c.withdrawn_on.is_(None)
    sums = [
        func.coalesce(func.sum(rows.c[column]).filter(standing), 0) for column in ("net", "other_base", "vat", "total")
    ]
    found = session.execute(
        select(
            func.count(func.distinct(rows.c.id)),
            func.count(func.distinct(rows.c.id)).filter(standing),
            func.count(),
            *sums,
        )
    ).one()
    issued, standing_count, count, net, other, vat, total = found
    by_rate = tuple(
        RateTotal(*row)
        for row in session.execute(
            select(rows.c.vat_rate, *sums).where(standing).group_by(rows.c.vat_rate).order_by(rows.c.vat_rate)
        )
    )
    return RegisterTotals(issued, standing_count, net, vat, total, count, other, by_rate)


def totals_rows(totals: RegisterTotals) -> list[list]:
    """The register's totals rows as its downloads write them, after its rows: one per rate, then the grand total,
    each labelled in its first cell so that a reader sees it is one, its sums under their columns."""
    rows = []
    for entry in (*totals.by_rate, totals.grand):
        label = (
            _("Total")
            if entry.rate is None
            else _("Total at %(rate)s", rate=format_number(entry.rate, number_locale(), "#,##0.##") + " %")
        )
        cells = {"issued_on": label, "vat_rate": entry.rate}
        cells |= {column: getattr(entry, column) for column in REGISTER_TOTALS}
        rows.append([cells.get(column) for column in REGISTER_COLUMNS])
    return rows


def unread_tax_numbers(month: date, session) -> list[tuple[str, str]]:
    """The customers of the month's register whose tax number is no TIN, each ``(code, tax number)``: the
    downloads' report of what the tax office would refuse."""
    rows = register(month).order_by(None).subquery()
    found = session.execute(
        select(rows.c.customer_code, rows.c.tax_number)
        .where(func.coalesce(func.btrim(rows.c.tax_number), "") != "")
        .distinct()
        .order_by(rows.c.customer_code)
    )
    if not efaktur.applies():
        return []
    return [(code, number) for code, number in found if efaktur.readable_tin(number) is None]
