"""What a wallet movement writes, defined once: its journal entry, the entry's two lines and its ledger row.

Each is an insert from a *source of movements*: a select whose columns are named as :data:`SOURCE_COLUMNS`, one
row per movement. ``post`` gives one movement bound as parameters (:func:`bound`); ``post_many`` gives a batch
staged in a table. The rule table says which accounts the lines debit and credit (``posting.sql``), the entry is
numbered ``JE-`` and its id and records the ledger row (its words, "Charge #12 of C0001", are rendered from that:
``backoffice.services.descriptions``), the ledger row chains the balance before and after:
the same SQL for one movement and for thousands, so that the two cannot write differently.

:func:`written` renders them for a database: on PostgreSQL the entries are written posted, their lines beside
them in the same statement (the books' guards run when the statement ends, over all its rows); on SQLite, whose
guards run row by row, the entries are written as drafts, then their lines, then posted. ``post`` and
``post_many`` add them to one statement on PostgreSQL and run them one after another on SQLite. Each binds
``moment`` (when the movements are written) and ``user_id`` (who posts them).

The customer's row and the month are each body's own: one movement moves its customer under the balance rule
(``statement.MOVE``) and its month; a batch moves each customer by the sum of its movements, and its caller
recalculates the months.
"""

from __future__ import annotations

from sqlalchemy import Date, Integer, Numeric, String, bindparam, cast, func, literal, select, union_all, update

from backoffice.models import Account, BalanceTransaction, EntryStatus, JournalEntry, JournalLine
from backoffice.models.types import Balance, Money
from backoffice.posting.sql import account_sql

ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
accounts = Account.__table__

SOURCE_COLUMNS = (
    "customer_id",
    "kind",
    "signed_amount",
    "value_date",
    "reference_type",
    "reference_id",
    "description",
    "reason",
    "occasion",
    "reverses_id",
    "idempotency_key",
    "row_id",
    "entry_id",
    "balance_after",
)
"""A source's columns: a ``Movement``'s (``kind`` a rule's kind, ``signed_amount`` signed as the wallet sees it),
the ids its ledger row and journal entry take, and the customer's balance after it."""

MOMENT = bindparam("moment", type_=entries.c.created_at.type)
USER = bindparam("user_id", type_=Integer)


def bound(new=None):
    """One movement as a source, bound as parameters: ``customer`` and ``signed`` (as ``statement.MOVE`` binds
    them) and ``movement_`` and the name of each other column; its ``row_id``, ``entry_id`` and ``balance_after``
    taken from ``new`` (a one-row select naming them) when given.

    Parameters are named apart from every column, so that no update run with them sets a column of their name."""
    types = {
        "kind": String,
        "value_date": Date,
        "reference_type": String,
        "reference_id": Integer,
        "description": String,
        "reason": String,
        "occasion": String,
        "reverses_id": Integer,
        "idempotency_key": String,
        "row_id": Integer,
        "entry_id": Integer,
        "balance_after": Numeric,
    }
    columns = {
        "customer_id": bindparam("customer", type_=Integer),
        "signed_amount": bindparam("signed", type_=Money),
        **{name: bindparam(f"movement_{name}", type_=type_) for name, type_ in types.items()},
    }
    if new is not None:
        columns |= {name: new.c[name] for name in ("row_id", "entry_id", "balance_after")}
    query = select(*(columns[name].label(name) for name in SOURCE_COLUMNS))
    return (query if new is None else query.select_from(new)).subquery("movement")


def written(source, dialect: str) -> dict:
    """The statements writing the source's entries, their lines and its ledger rows, by name, in order."""
    if dialect == "postgresql":
        return {"entries": _entries(source, posted=True), "lines": _lines(source), "rows": _ledger_rows(source)}
    return {
        "draft_entries": _entries(source, posted=False),
        "lines": _lines(source),
        "entries": _posted(source),
        "rows": _ledger_rows(source),
    }


def _entries(source, *, posted: bool):
    """Each movement's journal entry, dated on its value date, recording its ledger row (which its words are rendered
    from)."""
    status = {"status": literal(EntryStatus.DRAFT.value)}
    if posted:
        status = {"status": literal(EntryStatus.POSTED.value), "posted_at": MOMENT, "posted_by_id": USER}
    values = {
        "id": source.c.entry_id,
        "number": literal("JE-") + cast(source.c.entry_id, String),
        "entry_date": source.c.value_date,
        "description": literal(""),
        **status,
        "source_type": literal("balance_transaction"),
        "source_id": source.c.row_id,
        "created_at": MOMENT,
    }
    return entries.insert().from_select(list(values), select(*values.values()).order_by(source.c.entry_id))


def _lines(source):
    """Each entry's two lines by its rule, the debit first."""
    amount = func.abs(source.c.signed_amount)
    sides = []
    for number, side in enumerate(("debit", "credit")):
        code = account_sql(side, source.c.kind, source.c.signed_amount)
        sides.append(
            select(
                source.c.entry_id,
                accounts.c.id.label("account_id"),
                (amount if side == "debit" else literal(0, Balance)).label("debit"),
                (amount if side == "credit" else literal(0, Balance)).label("credit"),
                literal(number).label("side"),
            ).join_from(source, accounts, accounts.c.code == code)
        )
    both = union_all(*sides).subquery("sides")
    return lines.insert().from_select(
        ["entry_id", "account_id", "debit", "credit", "description"],
        select(both.c.entry_id, both.c.account_id, both.c.debit, both.c.credit, literal("")).order_by(
            both.c.entry_id, both.c.side
        ),
    )


def _posted(source):
    return (
        update(entries)
        .where(entries.c.id.in_(select(source.c.entry_id)))
        .values(status=EntryStatus.POSTED, posted_at=MOMENT, posted_by_id=USER)
    )


def _ledger_rows(source):
    """Each movement's ledger row, its balance before and after."""
    signed = source.c.signed_amount
    values = {
        "id": source.c.row_id,
        "customer_id": source.c.customer_id,
        "kind": source.c.kind,
        "amount": func.abs(signed),
        "signed_amount": signed,
        "balance_before": func.round(source.c.balance_after - signed, 2),
        "balance_after": source.c.balance_after,
        "value_date": source.c.value_date,
        "reference_type": source.c.reference_type,
        "reference_id": source.c.reference_id,
        "description": source.c.description,
        "reason": source.c.reason,
        "occasion": source.c.occasion,
        "reverses_id": source.c.reverses_id,
        "idempotency_key": source.c.idempotency_key,
        "entry_id": source.c.entry_id,
        "created_at": MOMENT,
        "created_by_id": USER,
    }
    return ledger.insert().from_select(list(values), select(*values.values()).order_by(source.c.row_id))
