"""What postpaid customers owe, read from what each invoice still asks (``invoices.outstanding``) and what each
payment leaves unapplied (``payments.unapplied``): the aging of the open invoices as of a date.

An invoice or a payment is the customer's whose assignment of its meter covered its date. *As of* a date means the
invoices issued by then, with what they still ask today: the outstanding is stored as it is now, not as it was.
Every figure is summed by the database, the buckets too: the report costs a few statements however many invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Select, case, cast, func, literal, or_, select

from backoffice.extensions import db
from backoffice.models import Customer, Invoice, InvoiceStatus, Meter, MeterAssignment, Payment, covers
from backoffice.models.types import Balance, Money, days_between

invoices = Invoice.__table__
payments = Payment.__table__
meters = Meter.__table__
customers = Customer.__table__
assignments = MeterAssignment.__table__

BUCKETS = ("current", "1-30", "31-60", "61-90", "over_90")
"""The aging buckets by days past the due date: not yet due (or due that day), 1–30, 31–60, 61–90, over 90."""
BUCKET_DAYS = (0, 30, 60, 90)
"""The most days past due each bucket but the last takes."""
ASKING = (InvoiceStatus.OPEN.value, InvoiceStatus.PARTLY_PAID.value)
"""The statuses of an invoice that still asks something: outstanding above 0 and not withdrawn."""


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
