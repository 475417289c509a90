"""``post_many(connection, movements)``: many wallet movements posted set-based, row for row as ``post`` would
post them one by one in the order given.

For work that moves thousands of ledger rows in one unit of work (re-pricing two years of a customer's readings,
a tariff change for every customer), where one ``post`` per movement is six statements each. The movements are
staged in a temporary table with the ids their ledger rows and journal entries take and their before/after chain
(the customer's balance plus a running sum, in the order given). On PostgreSQL one statement then writes the
journal entries already posted with their lines, the ledger rows and the customers' totals and status: the books'
guards run when it ends, over all its rows (migration 0019), so no entry is written as a draft and posted after.
SQLite, whose guards run row by row, takes a statement each: the entries as drafts, their lines, the entries
posted, the ledger rows, the customers. The accounts last. What each kind and sign does is the rule table's, as
SQL (``posting.sql``). The statements are built once; each posting binds its own movements and moment.

The movements are gas delivered (``allow_overdraft``): the balance rule does not apply; the columns' limits, the
value dates' rules (none after today) and the customers' being open do, checked over all of them before anything is
posted.
The caller holds the customers' locks, and recalculates their months from the earliest value date (it changes
what else counts in them too, the readings' volumes).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from functools import cache

from flask_babel import gettext as _
from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from backoffice.evidence import sealing
from backoffice.evidence.quarantine import refuse_if_quarantined
from backoffice.models import Account, BalanceTransaction, Customer, JournalEntry, JournalLine
from backoffice.models.types import Money, utcnow
from backoffice.platform.money import MAX_BALANCE, BeyondLimit, round_money
from backoffice.posting import journal, writes
from backoffice.posting.formulas import status_sql
from backoffice.posting.post import refuse_if_closed, value_date
from backoffice.posting.sql import account_sql, contribution_sql

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
lines = JournalLine.__table__
accounts = Account.__table__

staged = Table(
    "posting_batch",
    MetaData(),
    Column("customer_id", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("signed_amount", Money, nullable=False),
    Column("value_date", Date, nullable=False),
    Column("reference_type", String(40)),
    Column("reference_id", Integer),
    Column("description", String(300), nullable=False),
    Column("reason", String(40)),
    Column("occasion", String(40)),
    Column("reverses_id", Integer),
    Column("idempotency_key", String(100)),
    Column("code", String(32), nullable=False),
    Column("row_id", Integer, nullable=False),
    Column("entry_id", Integer, nullable=False),
    # Unbounded, so that a balance or total beyond its column is found and refused with a message.
    Column("balance_after", Numeric(), nullable=False),
    Column("recharged_after", Numeric(), nullable=False),
    Column("spent_after", Numeric(), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
"""Each connection's own (a temporary table), emptied when its transaction commits on PostgreSQL."""

_CREATE = CreateTable(staged, if_not_exists=True)
_EMPTY = delete(staged)


def post_many(
    connection: Connection,
    movements: Select,
    bound: dict | None = None,
    *,
    user=None,
    reason: str | None = None,
    occasion: str | None = None,
) -> dict[int, date]:
    """Post the movements (a select of :data:`MOVEMENT_COLUMNS`, with the values of its parameters ``bound``)
    within the caller's unit of work, each with ``reason`` and ``occasion`` (``Movement.reason``,
    ``Movement.occasion``); returns each customer's earliest value date among them (its months change from that
    month on)."""
    connection.execute(_CREATE)
    connection.execute(_EMPTY)  # a unit of work may post twice; SQLite keeps the table's rows
    staging = _staging(connection.dialect.name).add_cte(movements.cte("movements"))
    connection.execute(staging, (bound or {}) | {"posting_reason": reason, "posting_occasion": occasion})
    refuse_if_closed(connection, select(staged.c.customer_id))
    refuse_if_quarantined(connection, select(staged.c.customer_id))
    _refuse(connection)
    values = {"moment": utcnow(), "user_id": user.id if user else None}
    for statement in _AT_ONCE if connection.dialect.name == "postgresql" else _STEP_BY_STEP:
        connection.execute(statement, values)
    sealing.seal(
        connection,
        [
            ("journal_entries", entries.c.id.in_(select(staged.c.entry_id))),
            ("balance_transactions", ledger.c.id.in_(select(staged.c.row_id))),
        ],
    )
    first_dates: dict[int, date] = {}
    moved: dict[int, list[journal.Line]] = defaultdict(list)
    for customer_id, debited, credited, amount, first in connection.execute(_MOVED):
        amount = round_money(Decimal(str(amount)))
        moved[customer_id] += [journal.Line(debited, debit=amount), journal.Line(credited, credit=amount)]
        first_dates[customer_id] = min(first, first_dates.get(customer_id, first))
    journal.move_many(connection, moved)
    return first_dates


_MOVEMENTS = table("movements", *(column(name, staged.c[name].type) for name in MOVEMENT_COLUMNS))
"""The movements as the staging statement names them: each posting's own select, as a CTE of that name."""


@cache
def _staging(dialect: str):
    """The movements with their chain (running sums over the customer's balance and totals, in their order), and
    the ids of their ledger rows and entries, taken in that order: built once per dialect."""
    movements = _MOVEMENTS.c
    window = {"partition_by": movements.customer_id, "order_by": movements.position, "rows": (None, 0)}
    kind, signed = movements.kind, movements.signed_amount

    def running(start, value):
        return func.round(start + func.sum(value).over(**window), 2)

    chained = (
        select(
            *(movements[name] for name in MOVEMENT_COLUMNS),
            running(customers.c.balance, signed).label("balance_after"),
            running(customers.c.total_recharged, contribution_sql("total_recharged", kind, signed)).label(
                "recharged_after"
            ),
            running(customers.c.total_spent, contribution_sql("total_spent", kind, signed)).label("spent_after"),
            customers.c.code,
        )
        .join_from(_MOVEMENTS, customers, customers.c.id == movements.customer_id)
        .order_by(movements.customer_id, movements.position)
        .subquery("chained")
    )
    if dialect == "postgresql":
        # Taken from the sequences as the ordered rows come out: increasing in each customer's order. The
        # sequence is looked up once for the statement, not once a row.
        ids = [
            func.nextval(select(_sequence(name)).scalar_subquery())
            for name in ("balance_transactions", "journal_entries")
        ]
    else:
        # SQLite has one writer at a time (a unit of work begins IMMEDIATE): the next ids follow the largest.
        order = func.row_number().over(order_by=(chained.c.customer_id, chained.c.position))
        ids = [select(func.coalesce(func.max(t.c.id), 0)).scalar_subquery() + order for t in (ledger, entries)]
    columns = [*MOVEMENT_COLUMNS, "balance_after", "recharged_after", "spent_after", "code"]
    reason = bindparam("posting_reason", type_=String)
    occasion = bindparam("posting_occasion", type_=String)
    return insert(staged).from_select(
        [*columns, "reason", "occasion", "row_id", "entry_id"],
        select(*(chained.c[name] for name in columns), reason, occasion, *ids),
    )


def _sequence(table: str):
    return cast(func.pg_get_serial_sequence(table, "id"), REGCLASS)


_BEYOND = or_(
    func.abs(staged.c.balance_after) > MAX_BALANCE,
    staged.c.recharged_after > MAX_BALANCE,
    staged.c.spent_after > MAX_BALANCE,
)
_CHECKED = select(func.max(staged.c.value_date), func.max(case((_BEYOND, 1), else_=0)))


def _refuse(connection: Connection) -> None:
    """Refuse, as ``post`` does, a movement dated after today (a value date's rules apply to all of them at once),
    then one after which a balance or total would not fit its column."""
    latest, beyond = connection.execute(_CHECKED).one()
    if latest is not None:
        value_date(latest)
    if beyond:
        _refuse_beyond_limits(connection)


def _refuse_beyond_limits(connection: Connection) -> None:
    """Name the first movement, in the order given, after which a balance or total would not fit its column."""
    code, balance, recharged = connection.execute(
        select(staged.c.code, func.abs(staged.c.balance_after) > MAX_BALANCE, staged.c.recharged_after > MAX_BALANCE)
        .where(_BEYOND)
        .order_by(staged.c.customer_id, staged.c.position)
        .limit(1)
    ).one()
    if balance:
        raise BeyondLimit(_("The balance of %(code)s", code=code))
    if recharged:
        raise BeyondLimit(_("The total recharged of %(code)s", code=code))
    raise BeyondLimit(_("The total spent of %(code)s", code=code))


def _customers():
    """Each customer's balance, totals and status moved by the sum of its movements: what the last one leaves."""
    kind, signed = staged.c.kind, staged.c.signed_amount
    sums = (
        select(
            staged.c.customer_id,
            func.sum(signed).label("net"),
            func.sum(contribution_sql("total_recharged", kind, signed)).label("recharged"),
            func.sum(contribution_sql("total_spent", kind, signed)).label("spent"),
        )
        .group_by(staged.c.customer_id)
        .subquery("sums")
    )
    after = func.round(customers.c.balance + sums.c.net, 2)
    return (
        update(customers)
        .where(customers.c.id == sums.c.customer_id)
        .values(
            balance=after,
            total_recharged=func.round(customers.c.total_recharged + sums.c.recharged, 2),
            total_spent=func.round(customers.c.total_spent + sums.c.spent, 2),
            balance_last_updated_at=writes.MOMENT,
            status=status_sql(after, customers.c.suspend_below),
        )
    )


_STEP_BY_STEP = [*writes.written(staged, "sqlite").values(), _customers()]
"""SQLite's statements: what ``writes`` defines (the entries as drafts, their lines, the entries posted, the
ledger rows), then the customers."""

_AT_ONCE = [
    _customers().add_cte(*(part.cte(f"new_{name}") for name, part in writes.written(staged, "postgresql").items()))
]
"""PostgreSQL's one statement: what ``writes`` defines (the entries written posted with their lines, the ledger
rows), and the customers. The books' guards run when it ends, over all its rows, each entry with its lines by
then."""

_DEBIT = account_sql("debit", staged.c.kind, staged.c.signed_amount)
_CREDIT = account_sql("credit", staged.c.kind, staged.c.signed_amount)
_MOVED = (
    select(
        staged.c.customer_id,
        _DEBIT,
        _CREDIT,
        func.round(func.sum(func.abs(staged.c.signed_amount)), 2),
        func.min(staged.c.value_date),
    )
    .group_by(staged.c.customer_id, _DEBIT, _CREDIT)
    .order_by(staged.c.customer_id)
)
"""What the movements debit and credit, summed by customer and account, with each group's earliest value date."""
