"""What the database holds, as a new transaction sees it: what a test reads before and after a door is tried, to
show that a refusal wrote nothing and that a write wrote once; and a statement sent past the application, as an
insider would, to show what the database itself refuses."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import (
    Account,
    BalanceTransaction,
    Customer,
    JobRecord,
    JournalEntry,
    TransactionCalculation,
)
from backoffice.platform.extensions import db


def written(*what) -> tuple:
    """Each of ``what`` read in a new transaction, in order: a model's rows counted, a select of one value read, a
    select of rows read whole."""
    db.session.rollback()
    return tuple(_read(item) for item in what)


def _read(item):
    if isinstance(item, sa.Select):
        return db.session.scalar(item) if len(item.selected_columns) == 1 else db.session.execute(item).all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(item))


def money() -> tuple:
    """Every table a door writes money to: what a refused amount must leave as it was."""
    from backoffice.models import (
        BalanceTransaction,
        CustomerPricing,
        Invoice,
        JournalEntry,
        MeterReading,
        Order,
        Payment,
    )

    return (BalanceTransaction, Order, Invoice, Payment, CustomerPricing, MeterReading, JournalEntry)


def posted_entries() -> sa.Select:
    from backoffice.models import EntryStatus, JournalEntry

    return sa.select(sa.func.count(JournalEntry.id)).where(JournalEntry.status == EntryStatus.POSTED)


def balance_of(code: str) -> sa.Select:
    from backoffice.models import Customer

    return sa.select(Customer.balance).where(Customer.code == code)


def count(model) -> int:
    """How many rows of ``model`` there are."""
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def entries() -> int:
    """How many journal entries there are."""
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(JournalEntry.id)))


def movements() -> int:
    """How many wallet movements there are."""
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(BalanceTransaction.id)))


def newest() -> BalanceTransaction:
    """The wallet movement written last."""
    db.session.rollback()
    return db.session.scalar(sa.select(BalanceTransaction).order_by(BalanceTransaction.id.desc()).limit(1))


def balances() -> dict[str, Decimal]:
    """Each account's stored balance, by its code."""
    db.session.rollback()
    return dict(db.session.execute(sa.select(Account.code, Account.balance)).all())


def account_id(code: str) -> int:
    """The id of the account of ``code`` (read in the session's transaction as it is)."""
    return db.session.scalar(sa.select(Account.id).where(Account.code == code))


def customer(code: str) -> Customer:
    """The customer of ``code``."""
    db.session.rollback()
    return db.session.scalar(sa.select(Customer).where(Customer.code == code))


def balance(customer_id: int) -> Decimal:
    """The customer's stored balance, by the customer's id."""
    db.session.rollback()
    return db.session.get(Customer, customer_id).balance


def balance_by_code(code: str = "HOTEL") -> Decimal:
    """The customer's stored balance, by the customer's code."""
    db.session.rollback()
    return db.session.scalar(sa.select(Customer.balance).where(Customer.code == code))


def cost(customer_id: int) -> Decimal:
    """What the customer's consumption cost, added up over its calculations."""
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.sum(TransactionCalculation.total_price)).where(
            TransactionCalculation.customer_id == customer_id
        )
    )


def job_row(job_id: str) -> JobRecord:
    """The job's record, read anew."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(JobRecord, job_id)


def raw(statement: str, **values) -> None:
    """A statement by SQL, past the application, in a transaction of its own."""
    db.session.rollback()
    with db.engine.begin() as connection:
        connection.execute(sa.text(statement), values)


def refused(statement: str, **values) -> str:
    """What the database says when it refuses :func:`raw` ``statement``."""
    with pytest.raises(sa.exc.DatabaseError) as refusal:
        raw(statement, **values)
    return str(refusal.value.orig)
