"""The customer's row moved by one statement, and on PostgreSQL the whole of a wallet movement as one statement.

``MOVE`` locks, checks and moves the customer's row: its conditions are that the customer is open, the balance
rule and the columns' limits, so a movement it refuses updates no row. On SQLite, where one writer works at a
time and a statement costs little, ``post`` runs it among the movement's other statements.

On PostgreSQL every statement is a round trip and a start paid while the customer's row is locked,
so ``ONE_STATEMENT`` writes the movement in one: ``MOVE`` as its first part, then, each reading the
row it moved (a refused movement writes nothing), the ids of the ledger row and the journal entry,
the entry posted with its two lines (the books' guards see them together when the statement ends),
the ledger row, its month or a recalculation request, and the accounts' buckets: the same parts
``post`` writes one by one, in the same lock order (the customer, then the accounts).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)

from backoffice.models import Customer, RecalculationReason, RecalculationRequest, TamperedEvidence
from backoffice.models.types import Balance, Money
from backoffice.platform.money import MAX_BALANCE
from backoffice.posting import journal, months, writes
from backoffice.posting.formulas import status_sql

customers = Customer.__table__
requests = RecalculationRequest.__table__

_findings = TamperedEvidence.__table__
_OPEN_FINDING = (_findings.c.customer_id == customers.c.id) & _findings.c.resolution.is_(None)
_SIGNED = bindparam("signed", type_=Money)
# Rounded to cents: SQLite keeps amounts as binary floats, and compares and stores cents, not float noise.
_AFTER = func.round(customers.c.balance + _SIGNED, 2)
_RECHARGED = func.round(customers.c.total_recharged + bindparam("recharged", type_=Money), 2)
_SPENT = func.round(customers.c.total_spent + bindparam("spent", type_=Money), 2)
MOVE = (
    update(customers)
    .where(
        customers.c.id == bindparam("customer"),
        customers.c.closed_at.is_(None),
        # Gas delivered is charged automatically: not while tampered evidence of the customer waits for a review.
        or_(~bindparam("automatic", type_=Boolean), ~select(_findings.c.id).where(_OPEN_FINDING).exists()),
        or_(bindparam("overdraft", type_=Boolean), _SIGNED >= 0, _AFTER >= 0),
        func.abs(_AFTER) <= MAX_BALANCE,
        _RECHARGED <= MAX_BALANCE,
        _SPENT <= MAX_BALANCE,
    )
    .values(
        balance=_AFTER,
        total_recharged=_RECHARGED,
        total_spent=_SPENT,
        balance_last_updated_at=writes.MOMENT,
        status=status_sql(_AFTER, customers.c.suspend_below),
    )
    .returning(customers.c.balance, customers.c.code, customers.c.use_realtime_calculation)
)
"""Bound: ``customer`` (its id), ``signed``, ``overdraft``, ``automatic`` (a charge: refused to a quarantined
customer), ``recharged``, ``spent``, ``moment``."""


def _one_statement():
    """Bound as ``MOVE``, and as ``writes.bound`` names a movement's other columns (``movement_kind``,
    ``movement_value_date``, …), ``moment`` and ``user_id``; the buckets' ``bucket``, ``first_account``,
    ``first_by``, ``second_account``, ``second_by`` (in account order); the month's ``b_customer_id``,
    ``b_year_month``, ``deposits``, ``purchases``, ``volume``, ``net`` and ``in_month`` (whether the movement
    counts in it). Returns the ledger row's and the entry's ids, the customer's balance and whether it is kept in
    real time, and how many buckets moved (fewer than two: one is beyond its column).

    The parameters given must be these and no more: an update in the statement would set a column of a
    parameter's name (``customer_id``, ``created_at``) too."""
    moved = MOVE.cte("moved")
    new = select(
        journal.next_id("balance_transactions").label("row_id"),
        journal.next_id("journal_entries").label("entry_id"),
        moved.c.balance.label("balance_after"),
        moved.c.use_realtime_calculation.label("realtime"),
    ).cte("new")
    movement = writes.bound(new)
    moment, user_id = writes.MOMENT, writes.USER
    in_month = bindparam("in_month", type_=Boolean)
    request = {
        "customer_id": bindparam("customer"),
        "from_date": movement.c.value_date,
        "reason": literal(RecalculationReason.DEFERRED.value),
        "description": movement.c.kind + " #" + cast(movement.c.row_id, String),
        "requested_at": moment,
        "requested_by_id": user_id,
    }
    requested = select(*request.values()).select_from(movement.join(new, true()))
    account, by = bindparam("first_account", type_=Integer), bindparam("first_by", type_=Balance)
    then, then_by = bindparam("second_account", type_=Integer), bindparam("second_by", type_=Balance)
    bucket = bindparam("bucket", type_=Integer)
    moved_buckets = journal.adding_to_buckets(
        "postgresql",
        union_all(select(account, bucket, by).select_from(new), select(then, bucket, then_by).select_from(new)),
    ).cte("buckets")
    parts = [
        *(part.cte(name) for name, part in writes.written(movement, "postgresql").items()),
        months.adding_to_month(
            "postgresql",
            where=new.c.realtime & in_month,
            details=func.json_build_object("balance_transaction_id", new.c.row_id),
        ).cte("month"),
        months.LATER.where(select(new.c.realtime).scalar_subquery(), in_month, bindparam("net", type_=Money) != 0).cte(
            "later"
        ),
        insert(requests).from_select(list(request), requested.where(~new.c.realtime, in_month)).cte("request"),
    ]
    counted = select(func.count()).select_from(moved_buckets).scalar_subquery()
    return select(
        new.c.row_id,
        new.c.entry_id,
        new.c.balance_after.label("balance"),
        new.c.realtime,
        counted.label("buckets"),
    ).add_cte(*parts)


ONE_STATEMENT = _one_statement()
