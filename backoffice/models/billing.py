"""Meters and postpaid billing: invoices and payments per meter, and the balances they give.

Only what is not withdrawn counts. A meter's balance is what its invoices ask beyond its
payments, its overpayment what its payments exceed them by. An invoice or a payment belongs to
the customer whose assignment of the meter covered its date (the customer who held the meter
then, not the one holding it now).
A customer owes, per meter they have held, what that meter's invoices dated in their periods
ask beyond its payments dated in their periods, summed over those meters; their overpayment
likewise. Each formula is defined here once, as SQL, for the write-path hooks and the checks alike.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, String, case, func, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.customers import Customer
from backoffice.models.types import Balance, Money, str_enum, utcnow
from backoffice.money import ZERO


class MeterStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class Meter(db.Model):
    __tablename__ = "meters"
    __versioned__ = {"exclude": ["balance", "overpayment"]}

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[MeterStatus] = mapped_column(str_enum(MeterStatus, "meter_status"), default=MeterStatus.ACTIVE)
    balance: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    overpayment: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A retired meter takes no new reading or assignment; what was dated at its customers stays theirs.
    retired_on: Mapped[date | None] = mapped_column(Date)
    retired_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __str__(self) -> str:
        return self.serial

    @property
    def retired(self) -> bool:
        return self.status is MeterStatus.RETIRED


class MeterAssignment(db.Model):
    """A meter at a customer's site over a period: from ``started_on`` up to, not including, ``ended_on``.

    A move on 2025-06-01 ends the old period and starts the new one that day, so what is dated
    2025-06-01 is the new holder's. The period of the active assignment is open (no ``ended_on``).
    """

    __tablename__ = "meter_assignments"
    __versioned__: dict = {}
    __table_args__ = (
        # A meter is at one customer at a time.
        Index(
            "uq_meter_assignments_active_meter",
            "meter_id",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
        Index("ix_meter_assignments_customer_id", "customer_id"),
        # Who held a meter on a date: its periods in order.
        Index("ix_meter_assignments_meter_period", "meter_id", "started_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    is_active: Mapped[bool] = mapped_column(default=True, active_history=True)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)

    customer: Mapped[Customer] = relationship()
    meter: Mapped[Meter] = relationship()


class Withdrawable:
    """An invoice or a payment is withdrawn, never deleted: the withdrawal is recorded, with why, and posted."""

    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(300))
    withdrawal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    """Its journal entry, written with it by the billing service: a row without one was not posted."""

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


def _withdrawal_posted() -> CheckConstraint:
    return CheckConstraint("(withdrawn_at IS NULL) = (withdrawal_entry_id IS NULL)", name="withdrawal_posted")


class Invoice(Withdrawable, db.Model):
    __tablename__ = "invoices"
    __versioned__ = {"exclude": ["version"]}
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        _withdrawal_posted(),
        Index("ix_invoices_meter_id", "meter_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(server_default=text("1"))

    meter: Mapped[Meter] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Payment(Withdrawable, db.Model):
    __tablename__ = "payments"
    __versioned__: dict = {}
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        _withdrawal_posted(),
        Index("ix_payments_meter_id", "meter_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100), default="")

    meter: Mapped[Meter] = relationship()


def meter_net_sql(meters=Meter.__table__):
    """Invoices less payments of each meter row, as a correlated SQL expression."""
    invoices, payments = Invoice.__table__, Payment.__table__
    invoiced = select(func.coalesce(func.sum(invoices.c.amount), 0)).where(
        invoices.c.meter_id == meters.c.id, invoices.c.withdrawn_at.is_(None)
    )
    paid = select(func.coalesce(func.sum(payments.c.amount), 0)).where(
        payments.c.meter_id == meters.c.id, payments.c.withdrawn_at.is_(None)
    )
    return invoiced.scalar_subquery() - paid.scalar_subquery()


def receivables_sql():
    """All invoices less all payments, neither withdrawn: what account 1100 Receivables must hold, one SQL scalar."""
    invoices, payments = Invoice.__table__, Payment.__table__
    invoiced = select(func.coalesce(func.sum(invoices.c.amount), 0)).where(invoices.c.withdrawn_at.is_(None))
    paid = select(func.coalesce(func.sum(payments.c.amount), 0)).where(payments.c.withdrawn_at.is_(None))
    return func.round(invoiced.scalar_subquery() - paid.scalar_subquery(), 2, type_=Balance)


def due_sql(net):
    """What is due of a net (invoices less payments): ``max(net, 0)``."""
    return case((net > 0, net), else_=0)


def overpaid_sql(net):
    """What was overpaid of a net (invoices less payments): ``max(-net, 0)``."""
    return case((net < 0, -net), else_=0)


def meter_balance_sql(meters=Meter.__table__):
    return func.round(due_sql(meter_net_sql(meters)), 2, type_=Balance)


def meter_overpayment_sql(meters=Meter.__table__):
    return func.round(overpaid_sql(meter_net_sql(meters)), 2, type_=Balance)


def covers(period, on):
    """The one boundary rule: a period covers the days from its start up to, not including, its end.

    ``period`` is :class:`MeterAssignment` or the columns of an alias of its table; ``on`` a date or a column.
    """
    return (period.started_on <= on) & (period.ended_on.is_(None) | (on < period.ended_on))


def meter_customer_net_sql(meter_id, customer_id):
    """What the customer owes on the meter (negative: was overpaid): its invoices less its payments, of those
    dated in the customer's periods of the meter. Values or correlated columns."""
    held = MeterAssignment.__table__.alias("held")

    def dated_in_periods(table, on):
        return (
            select(func.coalesce(func.sum(table.c.amount), 0))
            .select_from(table.join(held, (held.c.meter_id == table.c.meter_id) & covers(held.c, on)))
            .where(table.c.meter_id == meter_id, held.c.customer_id == customer_id, table.c.withdrawn_at.is_(None))
            .scalar_subquery()
        )

    invoices, payments = Invoice.__table__, Payment.__table__
    return dated_in_periods(invoices, invoices.c.issued_on) - dated_in_periods(payments, payments.c.paid_on)


def customer_meter_sums_sql(customers=Customer.__table__) -> dict:
    """The customer's ``amount_due`` and ``overpayment``: per meter they have held, :func:`due_sql` and
    :func:`overpaid_sql` of :func:`meter_customer_net_sql`, summed over those meters."""
    pair, period = MeterAssignment.__table__.alias("pair"), MeterAssignment.__table__.alias("period")
    # One row per (customer, meter), however many times the meter came back to the customer.
    first_period = (
        select(func.min(period.c.id))
        .where(period.c.customer_id == pair.c.customer_id, period.c.meter_id == pair.c.meter_id)
        .scalar_subquery()
    )
    net = meter_customer_net_sql(pair.c.meter_id, pair.c.customer_id)

    def summed(value):
        per_pair = select(func.sum(value)).where(pair.c.customer_id == customers.c.id, pair.c.id == first_period)
        return func.round(func.coalesce(per_pair.scalar_subquery(), 0), 2, type_=Balance)

    return {"amount_due": summed(due_sql(net)), "overpayment": summed(overpaid_sql(net))}
