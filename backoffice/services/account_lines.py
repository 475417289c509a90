"""An account's posted lines over a period, each with the balance after it (in the account's normal direction).

The running balance is a window sum over the period's lines in date order (then entry, then line) added to the
opening: the posted lines dated before the period. Over all of them it ends on what the account's buckets hold,
``Account.balance``, which the ``account_balance`` check proves.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, select

from backoffice.extensions import db
from backoffice.models import Account, EntryStatus, JournalEntry, JournalLine
from backoffice.models.types import Balance

entries, lines = JournalEntry.__table__, JournalLine.__table__


def opening(account: Account, since: date | None) -> Decimal:
    """The account's balance before ``since`` (nothing before no date)."""
    if since is None:
        return Decimal("0.00")
    return db.session.scalar(
        select(func.round(func.coalesce(func.sum(_normal(account)), 0), 2, type_=Balance))
        .select_from(lines.join(entries, entries.c.id == lines.c.entry_id))
        .where(*_posted(account), entries.c.entry_date < since)
    )


def count(account: Account, since: date | None, until: date | None) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(lines.join(entries, entries.c.id == lines.c.entry_id))
        .where(*_posted(account), *_within(since, until))
    )


def lines_of(account: Account, since: date | None, until: date | None, opening_balance: Decimal) -> Select:
    """The period's lines, in date order, each with ``balance``: the account's balance after it."""
    order = (entries.c.entry_date, entries.c.id, lines.c.id)
    moved = func.sum(_normal(account)).over(order_by=order)
    return (
        select(
            lines.c.id,
            entries.c.id.label("entry_id"),
            entries.c.number,
            entries.c.entry_date,
            entries.c.description,
            entries.c.source_type,
            entries.c.source_id,
            lines.c.description.label("line_description"),
            lines.c.debit,
            lines.c.credit,
            func.round(moved + opening_balance, 2, type_=Balance).label("balance"),
        )
        .select_from(lines.join(entries, entries.c.id == lines.c.entry_id))
        .where(*_posted(account), *_within(since, until))
        .order_by(*order)
    )


def _normal(account: Account):
    """What a line adds to the account's balance."""
    return lines.c.debit - lines.c.credit if account.type.debit_normal else lines.c.credit - lines.c.debit


def _posted(account: Account) -> list:
    return [lines.c.account_id == account.id, entries.c.status == EntryStatus.POSTED.value]


def _within(since: date | None, until: date | None) -> list:
    return [
        *([entries.c.entry_date >= since] if since else []),
        *([entries.c.entry_date <= until] if until else []),
    ]
