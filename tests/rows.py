"""What the database holds, as a new transaction sees it: what a test reads before and after a door is tried, to
show that a refusal wrote nothing and that a write wrote once."""

from __future__ import annotations

import sqlalchemy as sa

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
