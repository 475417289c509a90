"""Monthly customer balances: the wallet's movements and the readings' purchases, rolled up by month.

For each customer and ``YYYY-MM``: deposits (recharges and adjustments, net of reversals),
purchases (the calculations of the readings dated in the month, and other charges net of
reversals), the Sm³ volume, and the chain ``closing = opening + deposits − purchases`` with
``opening`` the previous month's closing. A reading counts in its reading's month; any other
movement in the month it was posted, in the installation's time zone. A month in which
nothing moved has no row, so the latest month's closing equals the wallet balance.

Each source's contribution is defined here once, in Python for the write path (which applies
one movement) and in SQL for the check and the rebuild (which sum them all).
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
    union_all,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.customers import Customer
from backoffice.models.metering import READING, TransactionCalculation, Volume
from backoffice.models.types import Balance, local_month, str_enum, utcnow
from backoffice.models.users import User
from backoffice.models.wallet import BalanceTransaction, TransactionKind, spent_contribution, spent_sql
from backoffice.money import ZERO


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


class RecalculationRequest(db.Model):
    """Work on a customer's readings and months, from a date, that a job will do (durable: survives Redis)."""

    __tablename__ = "recalculation_requests"
    __table_args__ = (Index("ix_recalculation_requests_customer_done", "customer_id", "done_at"),)

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


def month_contribution(kind: TransactionKind, signed: Decimal, reference_type: str | None) -> tuple[Decimal, Decimal]:
    """``(deposits, purchases)`` a ledger row adds to the month it was posted in.

    A movement for a reading adds nothing: the reading's calculation counts, in its own month.
    """
    if reference_type == READING:
        return ZERO, ZERO
    purchases = spent_contribution(kind, signed)
    return signed + purchases, purchases


def expected_months(zone: str, customer_ids=None):
    """Every customer month as the sources make it: a subquery with the stored table's column names,
    and ``is_latest`` for the customer's last month.

    ``customer_ids`` narrows the sources to those customers (the write path's recalculation).
    """
    ledger = BalanceTransaction.__table__
    calculations = TransactionCalculation.__table__
    spent = spent_sql(ledger)
    movements = select(
        ledger.c.customer_id,
        local_month(ledger.c.created_at, literal(zone)).label("year_month"),
        (ledger.c.signed_amount + spent).label("deposits"),
        spent.label("purchases"),
        literal(0, Volume).label("volume"),
    ).where(or_(ledger.c.reference_type.is_(None), ledger.c.reference_type != READING))
    readings = select(
        calculations.c.customer_id,
        calculations.c.year_month,
        literal(0, Balance),
        calculations.c.total_price,
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
