"""Money moved by hand above a limit waits for a second admin: one row per request, pending until decided.

What was asked is kept whole (a wallet adjustment, a wallet reversal, a manual entry kept as a
draft, an entry's reversal, a correction of metering's source data: a reading edited or deleted, a
customer's pricing or a tariff changed), so approving posts exactly it, through the posting core or
the metering service that was asked, in the same transaction that marks the request approved.
"""

import enum
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Date, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from backoffice.models.books import JournalEntry
from backoffice.models.customers import Customer
from backoffice.models.types import Balance, Money, str_enum, utcnow
from backoffice.models.users import User
from backoffice.models.wallet import BalanceTransaction
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH

PENDING_ONLY = text("status = 'pending'")


class ApprovalKind(enum.StrEnum):
    ADJUSTMENT = "adjustment"
    """A customer's balance corrected up or down."""
    WALLET_REVERSAL = "wallet_reversal"
    """A wallet movement undone (``movement_id``)."""
    JOURNAL_ENTRY = "journal_entry"
    """A manual entry, kept as a draft (``entry_id``) until approved."""
    ENTRY_REVERSAL = "entry_reversal"
    """A manual entry's reversing entry (``entry_id``: the entry reversed)."""
    READING_CORRECTION = "reading_correction"
    """A reading edited or deleted (``correction``) that gives money back to the customer's wallet."""
    PRICING_CHANGE = "pricing_change"
    """A customer's pricing row from a date (``correction``) whose re-pricing gives money back."""
    TARIFF_CHANGE = "tariff_change"
    """A tariff change (``correction``) whose re-pricing gives money back to one customer or more."""
    RECHARGE = "recharge"
    """A recharge typed by a person (a clerk at the counter, an admin's command) beyond the limit."""
    PAYMENT = "payment"
    """A payment recorded by hand beyond the limit (``correction``: its meter, amount, date, reference, invoices and
    holder); approving records it."""
    IMPORT = "import"
    """An import whose rows move money by hand (opening balances) beyond the limit, one row or in total
    (``correction``: the import, its file, its rows and the largest); approving starts it."""

    @property
    def corrects_source(self) -> bool:
        """A correction of metering's source data: approving applies it through the metering service."""
        return self in SOURCE_CORRECTIONS

    @property
    def label(self) -> str:
        """The kind in the reader's language (English outside a request)."""
        return {
            ApprovalKind.ADJUSTMENT: _l("Balance adjustment"),
            ApprovalKind.WALLET_REVERSAL: _l("Wallet reversal"),
            ApprovalKind.JOURNAL_ENTRY: _l("Manual journal entry"),
            ApprovalKind.ENTRY_REVERSAL: _l("Journal entry reversal"),
            ApprovalKind.READING_CORRECTION: _l("Reading correction"),
            ApprovalKind.PRICING_CHANGE: _l("Pricing change"),
            ApprovalKind.TARIFF_CHANGE: _l("Tariff change"),
            ApprovalKind.RECHARGE: _l("Recharge"),
            ApprovalKind.PAYMENT: _l("Payment"),
            ApprovalKind.IMPORT: _l("Import"),
        }[self]


SOURCE_CORRECTIONS = frozenset(
    {ApprovalKind.READING_CORRECTION, ApprovalKind.PRICING_CHANGE, ApprovalKind.TARIFF_CHANGE}
)


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalRequest(db.Model):
    """One request and its decision. Its history (``approval_requests_history``) keeps who asked and who decided;
    the database refuses any change to what was asked, a second decision, and a deletion (migration 0035)."""

    __tablename__ = "approval_requests"
    __versioned__: dict = {}
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_given"),
        CheckConstraint("status = 'pending' OR decided_by_id IS NOT NULL", name="decided_by_someone"),
        CheckConstraint("status <> 'rejected' OR length(trim(rejection_reason)) > 0", name="rejection_has_reason"),
        Index("ix_approval_requests_status_id", "status", "id"),
        Index("ix_approval_requests_requested_by_id_id", "requested_by_id", "id"),  # a user's own, newest first
        Index("ix_approval_requests_decided_at_id", "decided_at", "id"),  # the latest decided
        # One pending request per movement or entry: a second submit finds the first.
        Index(
            "uq_approval_requests_pending_movement",
            "movement_id",
            unique=True,
            postgresql_where=PENDING_ONLY,
        ),
        Index(
            "uq_approval_requests_pending_entry",
            "entry_id",
            unique=True,
            postgresql_where=PENDING_ONLY,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ApprovalKind] = mapped_column(str_enum(ApprovalKind, "approval_kind"))
    status: Mapped[ApprovalStatus] = mapped_column(
        str_enum(ApprovalStatus, "approval_status"), default=ApprovalStatus.PENDING
    )
    amount: Mapped[Decimal] = mapped_column(Balance)
    """How much money moves: an adjustment's or a reversal's size, an entry's debits (up to 50 lines of the largest
    amount: a balance's width). Compared with the limit."""
    signed_amount: Mapped[Decimal | None] = mapped_column(Money)
    """An adjustment's direction: positive adds to the balance."""
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    movement_id: Mapped[int | None]
    """The wallet movement a reversal undoes. Like ``result_movement_id``, no foreign key: the ledger refuses
    ``TRUNCATE`` with its own message, which a key to it would pre-empt with PostgreSQL's."""
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    adjustment_reason: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")
    value_date: Mapped[date | None] = mapped_column(Date)
    """The value date asked for; none: the day it is approved."""
    reason: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH))
    """Why the maker asks: what the approver reads."""
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    entry_seal: Mapped[str | None] = mapped_column(String(64))
    """A journal entry's request: the keyed digest of the entry as asked (``services.approvals``); approving posts
    it only while the entry still matches. None for the wallet's requests, and for those asked before seals."""
    correction: Mapped[dict | None] = mapped_column(JSON)
    """A source correction's request: what was asked, as the metering service takes it (the reading and its new
    values or its deletion and the reading's version; the pricing row; the tariff), and ``credits``: what it gives
    back to each customer's wallet (customer id to amount), as the approver is shown it. Approving applies it only
    while it still gives back exactly that (``services.metering.held``). An adjustment the system asks for (an
    acceptance of tampered evidence): its ``occasion`` and ``reference``, which approving posts with it."""
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejection_reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    result_movement_id: Mapped[int | None]
    """The wallet movement approving posted."""
    result_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    """The journal entry approving posted."""
    first_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """A clerk's request above the approval limit: the admin who approved it first. It stays pending until a second
    admin approves it (``services.approvals``); the database lets the first approval be written once (migration
    0042)."""
    first_approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    customer: Mapped[Customer | None] = relationship()
    movement: Mapped[BalanceTransaction | None] = relationship(
        primaryjoin=lambda: foreign(ApprovalRequest.movement_id) == BalanceTransaction.id, viewonly=True
    )
    entry: Mapped[JournalEntry | None] = relationship(foreign_keys=[entry_id])
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    first_approved_by: Mapped[User | None] = relationship(foreign_keys=[first_approved_by_id])


class HandMove(db.Model):
    """Money one maker moved by hand for one customer, on the installation's day it was moved: a clerk's recharge, an
    adjustment, a reversal, an opening, a payment recorded by hand or by import (``services.by_hand``). The maker's
    sum of a customer's day is what the approval limit is compared with, whichever door and however sliced. Rows are
    only added: the database refuses to change, delete or truncate them."""

    __tablename__ = "hand_moves"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_hand_moves_customer_id_moved_on", "customer_id", "moved_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    maker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """Who moved it; none for a command run without a user, one maker of its own."""
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    moved_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(String(20))
    """What moved it: ``recharge``, ``adjustment``, ``reversal``, ``opening`` or ``payment``."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))
