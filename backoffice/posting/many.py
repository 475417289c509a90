"""``post_many(installation, connection, movements)``: wallet movements posted set-based, row for row as they would
be posted one by one in the order given.

For work that moves thousands of ledger rows in one unit of work (re-pricing two years of a customer's readings,
a tariff change for every customer). The movements are staged in a temporary table (``wallet.STAGED``) with the ids
their ledger rows and journal entries take and their chain (the customer's balance and totals plus running sums, in
the order given); then what the wallet's specification defines is written from it (``wallet.post_staged``), in one
statement. One movement (``post``) is not staged: it is bound as parameters (``wallet.post_one``), the customer's row
moved under the conditions first, by the same parts.

A batch's movements are gas delivered (``allow_overdraft``, and refused while tampered evidence of their customer
waits for a review): the balance rule does not apply; the columns' limits, the value dates' rules (none after
today) and the customers' being open do, checked over all of them before anything is posted. The caller holds the
customers' locks, and recalculates their months from the earliest value date (it changes what else counts in them
too, the readings' volumes).
"""

from __future__ import annotations

from datetime import date
from functools import cache

from sqlalchemy import Select, column, delete, func, insert, literal, select, table
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import cast

from backoffice.models import BalanceTransaction, Customer, JournalEntry
from backoffice.models.types import utcnow
from backoffice.posting.installation import Installation
from backoffice.posting.sql import customer_sql
from backoffice.posting.wallet import MOVED, POSTING, STAGED, Posting, parameters, post_staged

MOVEMENT_COLUMNS = (
    "customer_id",
    "position",
    "kind",
    "signed_amount",
    "value_date",
    "reference_type",
    "reference_id",
    "description",
)
"""The columns of the select of movements :func:`post_many` is given. ``position`` orders each customer's movements
(their ledger rows take ids in that order); the others are a ``Movement``'s, ``kind`` by the sign of its amount."""

customers = Customer.__table__
ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__

_CREATE = CreateTable(STAGED, if_not_exists=True)
_EMPTY = delete(STAGED)


def post_many(
    installation: Installation,
    connection: Connection,
    movements: Select,
    bound: dict | None = None,
    *,
    user=None,
    reason: str | None = None,
    occasion: str | None = None,
) -> dict[int, date]:
    """Post the movements within the caller's unit of work: a select of :data:`MOVEMENT_COLUMNS` (with the values of
    its parameters ``bound``), each with ``reason`` and ``occasion`` (``Movement.reason``, ``Movement.occasion``).
    Returns each customer's earliest value date among them (its months change from that month on)."""
    posting = Posting(utcnow(), user.id if user else None, reason, occasion)
    connection.execute(_CREATE)
    connection.execute(_EMPTY)  # a unit of work may post twice
    staging = _staging().add_cte(movements.cte("movements"))
    connection.execute(staging, (bound or {}) | parameters(posting))
    return post_staged(connection, installation, posting)


_MOVEMENTS = table("movements", *(column(name, STAGED.c[name].type) for name in MOVEMENT_COLUMNS))
"""The movements as the staging statement names them: each posting's own select, as a CTE of that name."""


@cache
def _staging():
    """The movements with their chain (running sums over the customer's balance and totals, in their order), and
    the ids of their ledger rows and entries, taken in that order: built once."""
    movements = _MOVEMENTS.c
    window = {"partition_by": movements.customer_id, "order_by": movements.position, "rows": (None, 0)}
    moves = customer_sql(movements.kind, movements.signed_amount)
    chained = (
        select(
            *(movements[name] for name in MOVEMENT_COLUMNS),
            *(
                func.round(customers.c[name] + func.sum(moves[name]).over(**window), 2).label(f"{name}_after")
                for name in MOVED
            ),
        )
        .join_from(_MOVEMENTS, customers, customers.c.id == movements.customer_id)
        .order_by(movements.customer_id, movements.position)
        .subquery("chained")
    )
    # Taken from the sequences as the ordered rows come out: increasing in each customer's order. The sequence is
    # looked up once for the statement, not once a row.
    ids = [
        func.nextval(select(_sequence(name)).scalar_subquery()) for name in ("balance_transactions", "journal_entries")
    ]
    columns = [*MOVEMENT_COLUMNS, *(f"{name}_after" for name in MOVED)]
    gas_delivered = literal(True)
    return insert(STAGED).from_select(
        [*columns, "reason", "occasion", "allow_overdraft", "automatic", "row_id", "entry_id"],
        select(
            *(chained.c[name] for name in columns),
            POSTING["reason"],
            POSTING["occasion"],
            gas_delivered,
            gas_delivered,
            *ids,
        ),
    )


def _sequence(table: str):
    return cast(func.pg_get_serial_sequence(table, "id"), REGCLASS)
