"""Monthly customer balances: the wallet's movements and the readings' purchases, rolled up by month.

For each customer and ``YYYY-MM``: deposits and purchases (each wallet movement in the column
the posting core's rule table gives it), the Sm³ volume of the readings' calculations, and the
chain ``closing = opening + deposits − purchases`` with ``opening`` the previous month's closing.
A movement counts in the month of its value date (a reading's charge is dated on the reading);
a calculation in its reading's month. A month in which nothing moved has no row, so the latest
month's closing equals the wallet balance.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.customers import Customer
from backoffice.models.metering import TransactionCalculation, Volume
from backoffice.models.types import Balance, month_of_date, str_enum, utcnow
from backoffice.models.users import User
from backoffice.models.wallet import BalanceTransaction
from backoffice.posting.sql import contribution_sql


class MonthlyCustomerBalance(db.Model):
    __tablename__ = "monthly_customer_balances"
    __table_args__ = (UniqueConstraint("customer_id", "year_month", name="uq_monthly_customer_balances_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    year_month: Mapped[str] = mapped_column(String(7))
    opening_balance: Mapped[Decimal] = mapped_column(Balance)
    total_deposits: Mapped[Decimal] = mapped_column(Balance)
    total_purchases: Mapped[Decimal] = mapped_column(Balance)
    closing_balance: Mapped[Decimal] = mapped_column(Balance)
    total_volume_sm3: Mapped[Decimal] = mapped_column(Volume)
    calculation_details: Mapped[dict] = mapped_column(JSON, default=dict)
    """How the row was last calculated: by which movement or reading, or by a recalculation."""
    last_calculated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecalculationReason(enum.StrEnum):
    PRICING_CHANGE = "pricing_change"
    DEFERRED = "deferred"
    """The customer is not calculated in real time: a reading or movement waits for a job."""


WAITING = text("done_at IS NULL")


class RecalculationRequest(db.Model):
    """Work on a customer's readings and months, from a date, that a job will do (durable: survives Redis)."""

    __tablename__ = "recalculation_requests"
    __table_args__ = (
        Index("ix_recalculation_requests_customer_done", "customer_id", "done_at"),
        # The requests still waiting, however many were done before them.
        Index("ix_recalculation_requests_waiting", "requested_at", postgresql_where=WAITING, sqlite_where=WAITING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    from_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[RecalculationReason] = mapped_column(str_enum(RecalculationReason, "recalculation_reason"))
    description: Mapped[str] = mapped_column(String(300), default="")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    customer: Mapped[Customer] = relationship()
    requested_by: Mapped[User | None] = relationship()


def expected_months(customer_ids=None):
    """Every customer month as the sources make it: a subquery with the stored table's column names,
    and ``is_latest`` for the customer's last month.

    ``customer_ids`` narrows the sources to those customers (the write path's recalculation).
    """
    ledger = BalanceTransaction.__table__
    calculations = TransactionCalculation.__table__
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    movements = select(
        ledger.c.customer_id,
        month_of_date(ledger.c.value_date).label("year_month"),
        contribution_sql("total_deposits", kind, signed).label("deposits"),
        contribution_sql("total_purchases", kind, signed).label("purchases"),
        literal(0, Volume).label("volume"),
    )
    readings = select(
        calculations.c.customer_id,
        calculations.c.year_month,
        literal(0, Balance),
        literal(0, Balance),
        calculations.c.volume_sm3,
    )
    if customer_ids is not None:
        movements = movements.where(ledger.c.customer_id.in_(customer_ids))
        readings = readings.where(calculations.c.customer_id.in_(customer_ids))
    sources = union_all(movements, readings).subquery("sources")
    sums = {
        "total_deposits": func.round(func.sum(sources.c.deposits), 2, type_=Balance),
        "total_purchases": func.round(func.sum(sources.c.purchases), 2, type_=Balance),
        "total_volume_sm3": func.round(func.sum(sources.c.volume), 4, type_=Volume),
    }
    months = (
        select(sources.c.customer_id, sources.c.year_month, *(value.label(name) for name, value in sums.items()))
        .group_by(sources.c.customer_id, sources.c.year_month)
        .having(or_(*(value != 0 for value in sums.values())))
        .subquery("months")
    )
    net = months.c.total_deposits - months.c.total_purchases
    closing = func.round(
        func.sum(net).over(partition_by=months.c.customer_id, order_by=months.c.year_month), 2, type_=Balance
    )
    latest = func.row_number().over(partition_by=months.c.customer_id, order_by=months.c.year_month.desc())
    return select(
        months.c.customer_id,
        months.c.year_month,
        func.round(closing - net, 2, type_=Balance).label("opening_balance"),
        months.c.total_deposits,
        months.c.total_purchases,
        closing.label("closing_balance"),
        months.c.total_volume_sm3,
        (latest == 1).label("is_latest"),
    ).subquery("expected_months")
