"""Meters and postpaid billing: invoices and payments per meter, and the balances they give.

A meter's balance is what its invoices ask beyond its payments, its overpayment what its
payments exceed them by. A customer owes the sum of the balances of the meters actively
assigned to them, and is owed the sum of their overpayments. Each formula is defined here
once, as SQL, for the write-path hooks and the checks alike.
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

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[MeterStatus] = mapped_column(str_enum(MeterStatus, "meter_status"), default=MeterStatus.ACTIVE)
    balance: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    overpayment: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def __str__(self) -> str:
        return self.serial


class MeterAssignment(db.Model):
    """A meter at a customer's site; only active assignments count towards the customer's totals."""

    __tablename__ = "meter_assignments"
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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    is_active: Mapped[bool] = mapped_column(default=True, active_history=True)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)

    customer: Mapped[Customer] = relationship()
    meter: Mapped[Meter] = relationship()


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"), Index("ix_invoices_meter_id", "meter_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), active_history=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money, active_history=True)  # a change is posted to the books
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(server_default=text("1"))

    meter: Mapped[Meter] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"), Index("ix_payments_meter_id", "meter_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), active_history=True)
    amount: Mapped[Decimal] = mapped_column(Money, active_history=True)  # a change is posted to the books
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100), default="")

    meter: Mapped[Meter] = relationship()


def meter_net_sql(meters=Meter.__table__):
    """Invoices less payments of each meter row, as a correlated SQL expression."""
    invoices, payments = Invoice.__table__, Payment.__table__
    invoiced = select(func.coalesce(func.sum(invoices.c.amount), 0)).where(invoices.c.meter_id == meters.c.id)
    paid = select(func.coalesce(func.sum(payments.c.amount), 0)).where(payments.c.meter_id == meters.c.id)
    return invoiced.scalar_subquery() - paid.scalar_subquery()


def meter_balance_sql(meters=Meter.__table__):
    net = meter_net_sql(meters)
    return func.round(case((net > 0, net), else_=0), 2, type_=Balance)


def meter_overpayment_sql(meters=Meter.__table__):
    net = meter_net_sql(meters)
    return func.round(case((net < 0, -net), else_=0), 2, type_=Balance)


def customer_meter_sums_sql(customers=Customer.__table__) -> dict:
    """The customer's ``amount_due`` and ``overpayment``: sums over the meters actively assigned to them."""
    meters, assignments = Meter.__table__, MeterAssignment.__table__
    active = (assignments.c.customer_id == customers.c.id) & assignments.c.is_active
    return {
        name: func.round(
            func.coalesce(
                select(func.sum(column))
                .select_from(assignments.join(meters, meters.c.id == assignments.c.meter_id))
                .where(active)
                .scalar_subquery(),
                0,
            ),
            2,
            type_=Balance,
        )
        for name, column in (("amount_due", meters.c.balance), ("overpayment", meters.c.overpayment))
    }
