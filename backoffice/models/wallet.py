"""The prepaid wallet's ledger: append-only rows, and the rules that turn them into a balance.

Each row's contribution to the customer's cached fields is defined once here, twice
rendered: in Python for the write path, which applies one row, and in SQL for the checks,
which sum them all.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, case, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.customers import Customer
from backoffice.models.types import Balance, Money, str_enum, utcnow
from backoffice.models.users import User
from backoffice.money import ZERO


class TransactionKind(enum.StrEnum):
    """A reversal takes back a charge (positive) or a recharge (negative); never an adjustment."""

    RECHARGE = "recharge"
    CHARGE = "charge"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


class BalanceTransaction(db.Model):
    """One movement of a customer's prepaid balance. Rows are only ever added."""

    __tablename__ = "balance_transactions"
    __table_args__ = (
        Index("ix_balance_transactions_customer_id_id", "customer_id", "id"),
        Index("ix_balance_transactions_reference", "reference_type", "reference_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        # Rounded so that SQLite, which keeps amounts as binary floats, checks cents and not float noise.
        CheckConstraint("balance_after = round(balance_before + signed_amount, 2)", name="after_is_before_plus_signed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[TransactionKind] = mapped_column(str_enum(TransactionKind, "transaction_kind"))
    amount: Mapped[Decimal] = mapped_column(Money)
    signed_amount: Mapped[Decimal] = mapped_column(Money)
    balance_before: Mapped[Decimal] = mapped_column(Balance)
    balance_after: Mapped[Decimal] = mapped_column(Balance)
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[int | None]
    description: Mapped[str] = mapped_column(String(300), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    customer: Mapped[Customer] = relationship()
    created_by: Mapped[User | None] = relationship()


def recharged_contribution(kind: TransactionKind, signed: Decimal) -> Decimal:
    """What a row adds to ``total_recharged``: a recharge, less a reversed recharge."""
    if kind is TransactionKind.RECHARGE or (kind is TransactionKind.REVERSAL and signed < 0):
        return signed
    return ZERO


def spent_contribution(kind: TransactionKind, signed: Decimal) -> Decimal:
    """What a row adds to ``total_spent``: a charge, less a reversed charge."""
    if kind is TransactionKind.CHARGE or (kind is TransactionKind.REVERSAL and signed > 0):
        return -signed
    return ZERO


def spent_sql(ledger=BalanceTransaction.__table__):
    """:func:`spent_contribution` of a ledger row, as SQL."""
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    is_reversal = kind == TransactionKind.REVERSAL.value
    return case((kind == TransactionKind.CHARGE.value, -signed), (is_reversal & (signed > 0), -signed), else_=0)


def ledger_sums(ledger=BalanceTransaction.__table__) -> dict:
    """The same contributions as SQL aggregates over ledger rows, rounded to cents where stored."""
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    is_reversal = kind == TransactionKind.REVERSAL.value
    recharged = case((kind == TransactionKind.RECHARGE.value, signed), (is_reversal & (signed < 0), signed), else_=0)
    spent = spent_sql(ledger)
    return {
        name: func.round(func.coalesce(func.sum(value), 0), 2, type_=Balance)
        for name, value in (("balance", signed), ("total_recharged", recharged), ("total_spent", spent))
    }
