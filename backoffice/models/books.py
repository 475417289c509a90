"""The general ledger: accounts, journal entries and their debit and credit lines.

An account's balance is the sum of its posted lines in its normal direction. Only a balanced entry is posted, and a
posted entry is never changed: a correction is a reversing entry. The balance is stored split over :data:`BUCKETS`
rows per account, so that money events of unrelated customers write different rows and none waits for another.
"""

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    case,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from backoffice.models.types import Balance, str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import ZERO


class AccountType(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[AccountType] = mapped_column(str_enum(AccountType, "account_type"))
    controlled_by: Mapped[str | None] = mapped_column(String(80))
    """The sub-ledger whose movements alone move a control account ("the customers' wallets"): a manual entry's
    line on it would set it apart from its sub-ledger, so posting refuses one. None for any other account."""

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


BUCKETS = 64
"""How many rows an account's balance is split over. A posting moves bucket ``key % BUCKETS`` of each of its
accounts, the key being the customer (or meter) whose money moved: two customers in different buckets never
wait for each other's commit. Changing it needs a migration (see the check constraint)."""


class AccountBalanceBucket(db.Model):
    """A part of an account's balance; the balance is the sum of the account's buckets."""

    __tablename__ = "account_balance_buckets"
    __table_args__ = (CheckConstraint(f"bucket >= 0 AND bucket < {BUCKETS}", name="bucket_in_range"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    balance: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))


def account_balance_sql(account_id):
    """An account's balance, the sum of its buckets: a SQL expression correlated to ``account_id``.

    Rounded to the cent, so that an account without buckets has a balance of ``0.00`` as the others have theirs.
    """
    buckets = AccountBalanceBucket.__table__
    return (
        select(func.round(func.coalesce(func.sum(buckets.c.balance), 0), 2, type_=Balance))
        .where(buckets.c.account_id == account_id)
        .correlate_except(buckets)
        .scalar_subquery()
    )


Account.balance = column_property(account_balance_sql(Account.__table__.c.id))


class PostingRule(db.Model):
    """A row of the rule table as the database holds it, read by the journal's and the wallet's posting functions:
    written by every upgrade from ``posting.rules.RULES``, where the table is written once; the runtime role only
    reads it."""

    __tablename__ = "posting_rules"
    __table_args__ = (
        CheckConstraint("sign IN (-1, 1)", name="sign"),
        CheckConstraint("(taxed_account IS NULL) = (vat_account IS NULL)", name="vat_split"),
    )

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    sign: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    wallet: Mapped[bool]
    debit_account: Mapped[str] = mapped_column(String(20))
    credit_account: Mapped[str] = mapped_column(String(20))
    taxed_account: Mapped[str | None] = mapped_column(String(20))
    """The account whose line the VAT is split off, to ``vat_account`` on the same side."""
    vat_account: Mapped[str | None] = mapped_column(String(20))
    total_recharged: Mapped[int] = mapped_column(SmallInteger)
    """What a movement adds to the column, by unit of its signed amount (1, -1 or 0); so the three after it."""
    total_spent: Mapped[int] = mapped_column(SmallInteger)
    total_deposits: Mapped[int] = mapped_column(SmallInteger)
    total_purchases: Mapped[int] = mapped_column(SmallInteger)
    meaning: Mapped[str] = mapped_column(String(80))


class EntryStatus(enum.StrEnum):
    DRAFT = "draft"
    POSTED = "posted"
    VOID = "void"


class JournalEntry(db.Model):
    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_entry_date", "entry_date"),
        Index("ix_journal_entries_source", "source_type", "source_id"),
        Index("uq_journal_entries_reverses_id", "reverses_id", unique=True),  # an entry is reversed once
        Index("uq_journal_entries_idempotency_key", "idempotency_key", unique=True),  # a form writes its entry once
        # Posting a draft updates it in place (a heap-only update) when its page has room: half of each is kept free.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    entry_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")
    status: Mapped[EntryStatus] = mapped_column(str_enum(EntryStatus, "entry_status"), default=EntryStatus.DRAFT)
    source_type: Mapped[str | None] = mapped_column(String(40))
    source_id: Mapped[int | None]
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    """A manual entry's: the key of the form that wrote it, so that a double submit writes it once."""

    lines: Mapped[list["JournalLine"]] = relationship(back_populates="entry", order_by="JournalLine.id")
    posted_by: Mapped[User | None] = relationship()


class JournalLine(db.Model):
    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint("debit >= 0 AND credit >= 0", name="not_negative"),
        CheckConstraint("(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)", name="one_side"),
        Index("ix_journal_lines_entry_id", "entry_id"),
        Index("ix_journal_lines_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    debit: Mapped[Decimal] = mapped_column(Balance, default=ZERO)
    credit: Mapped[Decimal] = mapped_column(Balance, default=ZERO)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")
    account: Mapped[Account] = relationship()


def normal_amount(account_type, debit, credit):
    """What a line adds to its account's balance, in the account's normal direction: of amounts, or of a statement's
    columns (the account's type a column too)."""
    if isinstance(account_type, AccountType):
        return debit - credit if account_type.debit_normal else credit - debit
    debit_normal = account_type.in_([kind.value for kind in AccountType if kind.debit_normal])
    return case((debit_normal, debit - credit), else_=credit - debit)
