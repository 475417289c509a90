"""The prepaid wallet's ledger: append-only rows, written by the posting core only (``backoffice.posting``).

What each row adds to the customer's totals and months is the posting core's rule table.
"""

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.customers import Customer
from backoffice.models.types import Balance, Money, str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH


class Kind(enum.StrEnum):
    """What a movement is, the key of its rule (``backoffice.posting.rules``): the first five are a customer's wallet
    movements (:data:`WALLET_KINDS`); a reversal takes back a charge (positive) or a recharge (negative), never an
    adjustment."""

    RECHARGE = "recharge"
    CHARGE = "charge"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    OPENING = "opening"
    """A customer's balance brought from the system before, value-dated on the day it was cut over."""
    INVOICE = "invoice"
    PAYMENT = "payment"
    SETTLEMENT = "settlement"
    """What the system before said was paid of an invoice before the move-in: settled there, never cash here."""
    MANUAL = "manual"
    """A journal entry an accountant writes: its lines say what it debits and credits."""


WALLET_KINDS = (Kind.RECHARGE, Kind.CHARGE, Kind.ADJUSTMENT, Kind.REVERSAL, Kind.OPENING)
"""The kinds a customer's wallet ledger holds."""


class Occasion(enum.StrEnum):
    """Why the system wrote a movement whose kind and reference do not say it: a reading's charge, its correction,
    its deletion, a re-pricing, its move to the meter's holder; a review of tampered evidence. Its words are rendered
    from it (``backoffice.services.descriptions``)."""

    FIRST_CHARGE = "first_charge"
    CORRECTION = "correction"
    DELETION = "deletion"
    REPRICING = "repricing"
    HOLDER_MOVE = "holder_move"
    EVIDENCE_REVERSAL = "evidence_reversal"
    """A reviewed movement's reversal: its description is the admin's reason."""
    EVIDENCE_ACCEPTANCE = "evidence_acceptance"
    """A reviewed movement's money posted again (its reference): its description is the admin's reason."""


class BalanceTransaction(db.Model):
    """One movement of a customer's prepaid balance. Rows are only ever added."""

    __tablename__ = "balance_transactions"
    __table_args__ = (
        Index("ix_balance_transactions_customer_id_id", "customer_id", "id"),
        Index("ix_balance_transactions_reference", "reference_type", "reference_id"),
        Index("ix_balance_transactions_customer_value_date", "customer_id", "value_date"),
        Index("uq_balance_transactions_reverses_id", "reverses_id", unique=True),  # a movement is reversed once
        # A customer's opening balance is set once; a correction of it is an adjustment.
        Index(
            "uq_balance_transactions_opening",
            "customer_id",
            unique=True,
            postgresql_where=text("kind = 'opening' AND id > 0"),
        ),
        # The movements list's usual order, newest value date first: its first page is read off the index.
        Index("ix_balance_transactions_value_date_id", "value_date", "id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        # As migration 0004 made it: the sum of two amounts in cents is in cents, so ``round`` leaves it as it is.
        CheckConstraint("balance_after = round(balance_before + signed_amount, 2)", name="after_is_before_plus_signed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "transaction_kind"))
    amount: Mapped[Decimal] = mapped_column(Money)
    signed_amount: Mapped[Decimal] = mapped_column(Money)
    balance_before: Mapped[Decimal] = mapped_column(Balance)
    balance_after: Mapped[Decimal] = mapped_column(Balance)
    value_date: Mapped[date] = mapped_column(Date)
    """The business date: the month it counts in, its journal entry's date. The before/after chain is in posting
    order (what the customer could spend at that moment), whatever the value date."""
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[int | None]
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")
    reason: Mapped[str | None] = mapped_column(String(40))
    """An adjustment's :class:`AdjustmentReason`."""
    occasion: Mapped[str | None] = mapped_column(String(40))
    """Why the system wrote it (an :class:`Occasion`); ``None`` for a clerk's movement and for rows written before
    (migration 0044), whose words say it."""
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("balance_transactions.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    """Its journal entry, written with it: a row without one was not posted."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    customer: Mapped[Customer] = relationship()
    created_by: Mapped[User | None] = relationship()
