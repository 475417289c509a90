"""Monthly customer balances: the wallet's movements and the readings' purchases, rolled up by month.

For each customer and ``YYYY-MM``: deposits, purchases, the Sm³ delivered, and ``closing = opening + deposits −
purchases``, ``opening`` being the previous month's closing. A movement counts in the month of its value date. A month
in which nothing moved has no row, so the latest month's closing equals the wallet balance.
"""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.customers import Customer
from backoffice.models.metering import Volume
from backoffice.models.types import Balance, str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH


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
        Index("ix_recalculation_requests_waiting", "requested_at", postgresql_where=WAITING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    from_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[RecalculationReason] = mapped_column(str_enum(RecalculationReason, "recalculation_reason"))
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    customer: Mapped[Customer] = relationship()
    requested_by: Mapped[User | None] = relationship()
