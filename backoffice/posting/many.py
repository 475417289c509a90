"""``post_many(installation, connection, movements)``: wallet movements posted set-based, row for row as they would
be posted one by one in the order given.

For work that moves thousands of ledger rows in one unit of work (re-pricing two years of a customer's readings,
a tariff change for every customer). The movements are staged in a temporary table (``STAGED``) with the ids
their ledger rows and journal entries take and their chain (the customer's balance and totals plus running sums, in
the order given); then what the wallet's specification defines is written from it (:func:`post_staged`), in one
statement. One movement (``post``) is not staged: it is posted by its SQL function (``wallet.post_one``).

A batch's movements are gas delivered (``allow_overdraft``, and refused while tampered evidence of their customer
waits for a review): the balance rule does not apply; the columns' limits, the value dates' rules (none after
today) and the customers' being open do, checked over all of them before anything is posted. The caller holds the
customers' locks, and recalculates their months from the earliest value date (it changes what else counts in them
too, the readings' volumes).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Numeric,
    Select,
    Table,
    and_,
    case,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import cast

from backoffice.evidence import sealing
from backoffice.models import BalanceTransaction, Customer, JournalEntry
from backoffice.models.types import Balance, utcnow
from backoffice.posting import journal
from backoffice.posting.installation import Installation
from backoffice.posting.sql import account_sql, customer_sql
from backoffice.posting.wallet import (
    MOVED,
    POSTING,
    Posting,
    buckets_moved,
    conditions,
    customers_moved,
    movement_columns,
    parameters,
    refusal,
    why,
    written,
)

customers = Customer.__table__
ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__

STAGED = Table(
    "posting_batch",
    MetaData(),
    *movement_columns(),
    Column("position", Integer, nullable=False),
    Column("row_id", Integer, nullable=False),
    Column("entry_id", Integer, nullable=False),
    # Unbounded, so that a balance or total beyond its column is found and refused with a message.
    *(Column(f"{column}_after", Numeric(), nullable=False) for column in MOVED),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
"""A batch's movements staged (``posting.many``), each with its place in its customer's order (``position``), the ids
its ledger row and entry take, and its customer's :data:`MOVED` columns after it: a temporary table, its
transaction's own, dropped when it ends (a pooler in transaction mode hands the server's connection, with what
it keeps, to another client next, perhaps of another version of the app)."""

_STAGED_AFTER = {column: STAGED.c[f"{column}_after"] for column in MOVED}
_STAGED_CUSTOMERS = STAGED.join(customers, customers.c.id == STAGED.c.customer_id)


_STAGED_VERDICTS = and_(*conditions(STAGED.c, _STAGED_AFTER).values())

_CHECKED = select(func.max(STAGED.c.value_date), func.max(case((~_STAGED_VERDICTS, 1), else_=0))).select_from(
    _STAGED_CUSTOMERS
)
"""The latest value date of the batch, and whether a customer's row would refuse one of its movements."""

_WHY_STAGED = (
    why(STAGED.c, _STAGED_AFTER)
    .select_from(_STAGED_CUSTOMERS)
    .where(~_STAGED_VERDICTS)
    .order_by(STAGED.c.customer_id, STAGED.c.position)
    .limit(1)
)
"""The first movement, in the order given, that its customer's row would refuse."""


def _customers_summed():
    """Each customer moved by the sum of its movements: what the last one leaves."""
    sums = customer_sql(STAGED.c.kind, STAGED.c.signed_amount)
    by = (
        select(STAGED.c.customer_id, *(func.sum(value).label(name) for name, value in sums.items()))
        .group_by(STAGED.c.customer_id)
        .subquery("sums")
    )
    return customers_moved(by.c)


_STAGED_STATEMENT = _customers_summed().add_cte(*(part.cte(name) for name, part in written(STAGED).items()))
"""The one statement for a batch: the entries written posted with their lines, the ledger rows, the customers
(the books' guards run when it ends, over all its rows, each entry with its lines by then)."""

_debit = account_sql("debit", STAGED.c.kind, STAGED.c.signed_amount)
_credit = account_sql("credit", STAGED.c.kind, STAGED.c.signed_amount)
_SUMMED = (
    select(
        STAGED.c.customer_id,
        _debit,
        _credit,
        func.round(func.sum(func.abs(STAGED.c.signed_amount)), 2, type_=Balance),
        func.min(STAGED.c.value_date),
    )
    .group_by(STAGED.c.customer_id, _debit, _credit)
    .order_by(STAGED.c.customer_id)
)
"""What the movements debit and credit, summed by customer and accounts, with each group's earliest value date."""


def post_staged(connection: Connection, installation: Installation, posting: Posting) -> dict[int, date]:
    """Write the batch staged in :data:`STAGED`, the customers' locks held by the caller; returns each customer's
    earliest value date among its movements. Refused before anything is written: a movement dated after today,
    then the first movement its customer's row would refuse (:func:`conditions`, over the chain)."""
    latest, refused = connection.execute(_CHECKED).one()
    if latest is not None:
        installation.value_date(latest)
    if refused:
        raise refusal(connection.execute(_WHY_STAGED).one())
    connection.execute(_STAGED_STATEMENT, parameters(posting))
    sealing.seal(
        connection,
        [
            ("journal_entries", entries.c.id.in_(select(STAGED.c.entry_id))),
            ("balance_transactions", ledger.c.id.in_(select(STAGED.c.row_id))),
        ],
    )
    first_dates: dict[int, date] = {}
    lines: dict[int, list[journal.Line]] = defaultdict(list)
    for customer_id, debited, credited, amount, first in connection.execute(_SUMMED):
        lines[customer_id] += [journal.Line(debited, debit=amount), journal.Line(credited, credit=amount)]
        first_dates[customer_id] = min(first, first_dates.get(customer_id, first))
    journal.move_buckets(connection, buckets_moved(installation, connection, lines))
    return first_dates


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
    staging = _STAGING.add_cte(movements.cte("movements"))
    connection.execute(staging, (bound or {}) | parameters(posting))
    return post_staged(connection, installation, posting)


_MOVEMENTS = table("movements", *(column(name, STAGED.c[name].type) for name in MOVEMENT_COLUMNS))
"""The movements as the staging statement names them: each posting's own select, as a CTE of that name."""


def _sequence(table: str):
    return cast(func.pg_get_serial_sequence(table, "id"), REGCLASS)


def _staging():
    """The movements with their chain (running sums over the customer's balance and totals, in their order), and
    the ids of their ledger rows and entries, taken in that order."""
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


_STAGING = _staging()
