"""An account's posted lines over a period, each with the balance after it (in the account's normal direction).

The running balance is a window sum over the period's lines in date order (then entry, then line) added to the
opening: the posted lines dated before the period. Over all of them it ends on what the account's buckets hold,
``Account.balance``, which the ``account_balance`` check proves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from backoffice.models import Account, EntryStatus, JournalEntry, JournalLine, normal_amount
from backoffice.models.types import Balance
from backoffice.platform.extensions import db
from backoffice.services.descriptions import entry_words

entries, lines = JournalEntry.__table__, JournalLine.__table__
CSV_COLUMNS = [
    "date",
    "entry",
    "description",
    "line_description",
    "source_type",
    "source_id",
    "debit",
    "credit",
    "balance",
]
STREAMED_ROWS = 2000
"""Lines fetched at a time by an export."""


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
    """How many posted lines of the account fall between ``since`` and ``until``."""
    return db.session.scalar(
        select(func.count())
        .select_from(lines.join(entries, entries.c.id == lines.c.entry_id))
        .where(*_posted(account), *_within(since, until))
    )


def lines_of(account: Account, since: date | None, until: date | None, opening_balance: Decimal) -> Select:
    """The period's lines, in date order, each with ``balance``: the account's balance after it."""
    order = (entries.c.entry_date, entries.c.id, lines.c.id)
    moved = func.sum(_normal(account)).over(order_by=order)
    words, join = entry_words(entries)
    return (
        select(
            lines.c.id,
            entries.c.id.label("entry_id"),
            entries.c.number,
            entries.c.entry_date,
            entries.c.description,
            entries.c.source_type,
            entries.c.source_id,
            entries.c.reverses_id,
            lines.c.description.label("line_description"),
            lines.c.debit,
            lines.c.credit,
            func.round(moved + opening_balance, 2, type_=Balance).label("balance"),
            words,
        )
        .select_from(join(lines.join(entries, entries.c.id == lines.c.entry_id)))
        .where(*_posted(account), *_within(since, until))
        .order_by(*order)
    )


def rows(account: Account, since: date | None, until: date | None) -> Iterator[list]:
    """The period's lines as an export's rows of :data:`CSV_COLUMNS`, each value as its type, after an opening row
    (the balance before the period), streamed from one query."""
    balance = opening(account, since)
    yield [since, None, _("Opening balance"), None, None, None, None, None, balance]
    found = db.session.execute(lines_of(account, since, until, balance), execution_options={"yield_per": STREAMED_ROWS})
    for row in found:
        yield [
            row.entry_date,
            row.number,
            row.words,
            row.line_description,
            row.source_type or "manual",
            row.source_id,
            row.debit or None,
            row.credit or None,
            row.balance,
        ]


def _normal(account: Account):
    """What a line adds to the account's balance."""
    return normal_amount(account.type, lines.c.debit, lines.c.credit)


def _posted(account: Account) -> list:
    return [lines.c.account_id == account.id, entries.c.status == EntryStatus.POSTED.value]


def _within(since: date | None, until: date | None) -> list:
    return [
        *([entries.c.entry_date >= since] if since else []),
        *([entries.c.entry_date <= until] if until else []),
    ]
