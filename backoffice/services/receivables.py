"""What postpaid customers owe, read from what each invoice still asks (``invoices.outstanding``) and what each
payment leaves unapplied (``payments.unapplied``): the aging of the open invoices as of a date, and a customer's
statement of account over a period.

An invoice or a payment is the customer's whose assignment of its meter covered its date. *As of* a date means the
invoices issued by then, with what they still ask today: the outstanding is stored as it is now, not as it was.
Every figure is summed by the database, the buckets too: the report costs a few statements however many invoices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Select, case, cast, func, literal, null, or_, select, union_all

from backoffice.models import Customer, Invoice, Meter, MeterAssignment, Payment, covers
from backoffice.models.billing import ASKING
from backoffice.models.types import Balance, Money, Rate, days_between
from backoffice.platform import replica
from backoffice.platform.extensions import db
from backoffice.platform.money import ZERO
from backoffice.services import allocations

invoices = Invoice.__table__
payments = Payment.__table__
meters = Meter.__table__
customers = Customer.__table__
assignments = MeterAssignment.__table__

BUCKETS = ("current", "1-30", "31-60", "61-90", "over_90")
"""The aging buckets by days past the due date: not yet due (or due that day), 1–30, 31–60, 61–90, over 90."""
BUCKET_DAYS = (0, 30, 60, 90)
"""The most days past due each bucket but the last takes."""


def days_before(day: date, days: int) -> date:
    """The day ``days`` days before ``day`` (the first day there is, at the earliest)."""
    return date.fromordinal(max(day.toordinal() - days, 1))


def _in_buckets(as_of: date) -> list:
    """Per bucket, the condition on an invoice's due date that puts it there on ``as_of``: the buckets are ranges of
    due dates, compared as they are stored (no arithmetic per row)."""
    earliest = [days_before(as_of, days) for days in BUCKET_DAYS]
    due = invoices.c.due_on
    later = [due >= earliest[0]]
    for newer, older in zip(earliest, earliest[1:], strict=False):
        later.append((due < newer) & (due >= older))
    return [*later, due < earliest[-1]]


def days_overdue_sql(as_of: date):
    """The days from the invoice's due date to ``as_of``; 0 when it is not yet past due."""
    return case((invoices.c.due_on < as_of, days_between(literal(as_of, Date), invoices.c.due_on)), else_=literal(0))


@dataclass(frozen=True)
class Scope:
    """Whose invoices and payments: every one's (those of no customer too), or those of the customers ``where``
    selects (conditions on ``customers``), or of the customers ``ids`` (``None`` among them: no customer's)."""

    where: tuple = ()
    ids: tuple | None = None

    def conditions(self, held) -> list:
        """The conditions on the holder ``held`` (an alias of ``meter_assignments``) that keep the scope's rows."""
        found = []
        if self.where:
            found.append(held.c.customer_id.in_(select(customers.c.id).where(*self.where)))
        if self.ids is not None:
            known = held.c.customer_id.in_([customer_id for customer_id in self.ids if customer_id is not None])
            found.append(or_(known, held.c.customer_id.is_(None)) if None in self.ids else known)
        return found

    @property
    def everyone(self) -> bool:
        return not self.where and self.ids is None


EVERYONE = Scope()


def _held(table, on, scope: Scope, *, meter: bool = True):
    """``table`` with the customer whose assignment of its meter covered the date ``on`` (none if no one's did), and
    its meter; and the conditions that keep the ``scope``'s rows."""
    held = assignments.alias("held")
    joined = table.join(meters, meters.c.id == table.c.meter_id) if meter else table
    joined = joined.outerjoin(held, (held.c.meter_id == table.c.meter_id) & covers(held.c, on)).outerjoin(
        customers, customers.c.id == held.c.customer_id
    )
    return joined, scope.conditions(held)


def _open(as_of: date) -> list:
    return [invoices.c.status.in_(ASKING), invoices.c.issued_on <= as_of]


def _columns(as_of: date) -> list:
    within = _in_buckets(as_of)
    return [
        customers.c.id.label("customer_id"),
        customers.c.code,
        customers.c.name,
        meters.c.serial,
        invoices.c.id,
        invoices.c.number,
        invoices.c.issued_on,
        invoices.c.due_on,
        days_overdue_sql(as_of).label("days_overdue"),
        invoices.c.outstanding,
        case(*zip(within, (literal(name) for name in BUCKETS), strict=True)).label("bucket"),
        *(
            case((condition, invoices.c.outstanding), else_=cast(0, Money)).label(name)
            for condition, name in zip(within, BUCKETS, strict=True)
        ),
    ]


REPORT_ORDER = (customers.c.code.asc().nulls_last(), customers.c.id, meters.c.serial, invoices.c.due_on, invoices.c.id)
"""The report's order: by customer (the invoices of no customer last), meter, due date."""


def open_invoices(as_of: date, scope: Scope = EVERYONE, ids=None) -> Select:
    """Each invoice of the ``scope`` that still asks something, issued on or before ``as_of`` (of ``ids`` only, if
    given), with its customer and meter, the days it is past due on ``as_of``, its bucket, and its outstanding in
    its bucket's column (0 in the others); in the report's order."""
    joined, kept = _held(invoices, invoices.c.issued_on, scope)
    chosen = [invoices.c.id.in_(ids)] if ids is not None else []
    return select(*_columns(as_of)).select_from(joined).where(*_open(as_of), *kept, *chosen).order_by(*REPORT_ORDER)


def open_invoice_ids(as_of: date, scope: Scope = EVERYONE) -> Select:
    """The ids of :func:`open_invoices`, in its order: a page of them is chosen on these alone."""
    joined, kept = _held(invoices, invoices.c.issued_on, scope)
    return select(invoices.c.id).select_from(joined).where(*_open(as_of), *kept).order_by(*REPORT_ORDER)


@dataclass(frozen=True)
class Aging:
    """What is open in each bucket, and in all; how many invoices."""

    buckets: dict[str, Decimal]
    total: Decimal
    invoices: int

    @classmethod
    def of(cls, row) -> Aging:
        mapping = row._mapping
        return cls({name: mapping[name] for name in BUCKETS}, mapping["total"], mapping["invoices"])


def _summed(as_of: date) -> list:
    """The open invoices' outstanding summed per bucket and in all, and counted."""

    def total(value):
        return func.round(func.coalesce(func.sum(value), 0), 2, type_=Balance)

    within = _in_buckets(as_of)
    return [
        *(
            total(case((condition, invoices.c.outstanding), else_=0)).label(name)
            for condition, name in zip(within, BUCKETS, strict=True)
        ),
        total(invoices.c.outstanding).label("total"),
        func.count().label("invoices"),
    ]


def customer_totals(as_of: date, scope: Scope = EVERYONE) -> Select:
    """Each customer's open invoices as of ``as_of`` summed per bucket and in all, by customer code; the invoices of
    no customer last."""
    joined, kept = _held(invoices, invoices.c.issued_on, scope, meter=False)
    return (
        select(customers.c.id.label("customer_id"), customers.c.code, customers.c.name, *_summed(as_of))
        .select_from(joined)
        .where(*_open(as_of), *kept)
        .group_by(customers.c.id, customers.c.code, customers.c.name)
        .order_by(customers.c.code.asc().nulls_last(), customers.c.id)
    )


def totals(as_of: date, scope: Scope = EVERYONE) -> Aging:
    """The open invoices as of ``as_of`` summed per bucket and in all, over the ``scope`` (everyone's: the invoices
    alone are read)."""
    if scope.everyone:
        joined, kept = invoices, []
    else:
        joined, kept = _held(invoices, invoices.c.issued_on, scope, meter=False)
    query = select(*_summed(as_of)).select_from(joined).where(*_open(as_of), *kept)
    return Aging.of(db.session.execute(query).one())


def credits(as_of: date, scope: Scope = EVERYONE) -> list:
    """Per customer and meter, what their payments made on or before ``as_of`` leave unapplied (the meter's credit,
    no invoice takes it), withdrawn ones left out; by customer code and meter."""
    joined, kept = _held(payments, payments.c.paid_on, scope)
    unapplied = func.round(func.sum(payments.c.unapplied), 2, type_=Balance)
    return db.session.execute(
        select(
            customers.c.id.label("customer_id"),
            customers.c.code,
            customers.c.name,
            meters.c.serial,
            func.count().label("payments"),
            unapplied.label("unapplied"),
        )
        .select_from(joined)
        .where(payments.c.withdrawn_at.is_(None), payments.c.unapplied > 0, payments.c.paid_on <= as_of, *kept)
        .group_by(customers.c.id, customers.c.code, customers.c.name, meters.c.serial)
        .order_by(customers.c.code.asc().nulls_last(), customers.c.id, meters.c.serial)
    ).all()


# A customer's statement of account


@dataclass(frozen=True)
class StatementLine:
    kind: str
    """``invoice``, ``payment``, or ``settlement`` (what the system before said was paid of an invoice before the
    move-in)."""
    id: int
    on: date
    number: str
    """The invoice's number; the payment's reference."""
    due_on: date | None
    meter: str
    amount: Decimal
    balance: Decimal
    """The statement's running balance after this line: what the customer owes (negative: has paid ahead)."""
    net: Decimal | None = None
    """An invoice's amount before VAT; none for a payment."""
    vat: Decimal | None = None
    """Of an invoice's amount, the VAT it charges (at ``vat_rate``); none for a payment or an invoice charged none."""
    vat_rate: Decimal | None = None
    paid: list = field(default_factory=list)
    """A payment's live allocations: the invoices it pays and how much of each."""


@dataclass(frozen=True)
class BillingStatement:
    since: date
    until: date
    as_of: date
    """The day the aging of what is open is counted on: the statement's last day, today at the latest."""
    opening: Decimal
    """The customer's invoices less their payments dated before the period."""
    invoiced: Decimal
    paid: Decimal
    closing: Decimal
    lines: list[StatementLine]
    aging: Aging
    open_invoices: list
    credit: Decimal
    """What the customer's payments leave unapplied, on every meter."""


def billing_statement(customer_id: int, since: date, until: date, today: date) -> BillingStatement:
    """The customer's postpaid account from ``since`` to ``until`` (both included): the opening balance, each
    invoice and payment dated in the period (not withdrawn) in date order with a running balance, the closing
    balance, and the aging of what is open as of ``until`` (today at the latest)."""
    opening = _opening(customer_id, since)
    lines = list(_lines(customer_id, since, until, opening))
    invoiced = sum((line.amount for line in lines if line.kind == "invoice"), ZERO)
    paid = -sum((line.amount for line in lines if line.kind != "invoice"), ZERO)
    as_of = min(until, today)
    mine = Scope(ids=(customer_id,))
    return BillingStatement(
        since=since,
        until=until,
        as_of=as_of,
        opening=opening,
        invoiced=invoiced,
        paid=paid,
        closing=opening + invoiced - paid,
        lines=lines,
        aging=totals(as_of, mine),
        open_invoices=db.session.execute(open_invoices(as_of, mine)).all(),
        credit=sum((row.unapplied for row in credits(as_of, mine)), ZERO),
    )


def _dated(table, on, customer_id: int):
    """The rows of ``table`` not withdrawn, dated ``on`` in one of the customer's periods of their meter."""
    held = assignments.alias("held")
    return (
        table.join(meters, meters.c.id == table.c.meter_id).join(
            held, (held.c.meter_id == table.c.meter_id) & covers(held.c, on) & (held.c.customer_id == customer_id)
        ),
        table.c.withdrawn_at.is_(None),
    )


def _opening(customer_id: int, since: date) -> Decimal:
    def before(table, on):
        joined, kept = _dated(table, on, customer_id)
        return (
            select(func.coalesce(func.sum(table.c.amount), 0)).select_from(joined).where(kept, on < since)
        ).scalar_subquery()

    opening = before(invoices, invoices.c.issued_on) - before(payments, payments.c.paid_on)
    return db.session.scalar(select(func.round(opening, 2, type_=Balance)))


def _lines(customer_id: int, since: date, until: date, opening: Decimal) -> Iterator[StatementLine]:
    """The period's invoices and payments by date (an invoice before a payment of the same day), with the running
    balance from ``opening``; each payment with what it pays."""
    invoiced, invoice_kept = _dated(invoices, invoices.c.issued_on, customer_id)
    paid, payment_kept = _dated(payments, payments.c.paid_on, customer_id)
    dated = union_all(
        select(
            literal("invoice").label("kind"),
            invoices.c.id,
            invoices.c.issued_on.label("dated"),
            invoices.c.number,
            invoices.c.due_on,
            meters.c.serial,
            invoices.c.amount,
            Invoice.net.label("net"),
            invoices.c.vat,
            invoices.c.vat_rate,
        )
        .select_from(invoiced)
        .where(invoice_kept, invoices.c.issued_on.between(since, until)),
        select(
            case((payments.c.settled_before.is_(True), literal("settlement")), else_=literal("payment")).label("kind"),
            payments.c.id,
            payments.c.paid_on.label("dated"),
            payments.c.reference.label("number"),
            cast(null(), Date).label("due_on"),
            meters.c.serial,
            (-payments.c.amount).label("amount"),
            cast(null(), Money).label("net"),
            cast(null(), Money).label("vat"),
            cast(null(), Rate).label("vat_rate"),
        )
        .select_from(paid)
        .where(payment_kept, payments.c.paid_on.between(since, until)),
    ).subquery("dated")
    rows = db.session.execute(select(dated).order_by(dated.c.dated, dated.c.kind, dated.c.id)).all()
    paying = allocations.by_payment(replica.connection(), [row.id for row in rows if row.kind != "invoice"])
    balance = opening
    for row in rows:
        balance += row.amount
        yield StatementLine(
            kind=row.kind,
            id=row.id,
            on=row.dated,
            number=row.number,
            due_on=row.due_on,
            meter=row.serial,
            amount=row.amount,
            balance=balance,
            paid=paying.get(row.id, []) if row.kind != "invoice" else [],
            net=row.net,
            vat=row.vat,
            vat_rate=row.vat_rate,
        )
