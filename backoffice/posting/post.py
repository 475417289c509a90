"""``post(connection, movement)``: the one write path for money, inside the caller's unit of work.

A wallet movement, in this order: the idempotency rule (a retry returns the first result);
its journal entry's lines, written as a draft before any shared row is locked; the customer
row, locked and moved by one ``UPDATE … RETURNING`` whose conditions are the balance rule and
the columns' limits; the ledger row with its balance before and after (its id taken once the
customer is locked, so that a customer's rows are in the order their balances chain); its
month (or, for a customer not kept in real time, a recalculation request); the entry posted,
naming the row; the accounts last. An invoice or a
payment has its entry and moves the accounts; the billing service writes its row and the
meter's and customers' totals in the same unit of work. A manual entry is its lines.

Locks are taken in one order everywhere: customers, meters, accounts (see services/locking.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import Boolean, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from backoffice.config import local_today
from backoffice.models import BalanceTransaction, Customer, RecalculationReason, TransactionKind, status_sql
from backoffice.models.types import Money, utcnow
from backoffice.money import MAX_BALANCE, BeyondLimit, shown
from backoffice.posting.movement import Movement
from backoffice.posting.rules import Kind, counts, rule_of
from backoffice.services import books, monthly, periods

customers = Customer.__table__
ledger = BalanceTransaction.__table__
KEY_LENGTH = ledger.c.idempotency_key.type.length


class WalletError(ValueError):
    """A movement refused; nothing was written."""


class InsufficientBalance(WalletError):
    def __init__(self, customer, amount: Decimal) -> None:
        super().__init__(
            f"Insufficient balance: {customer.code} has {shown(customer.balance)} available, {shown(amount)} is needed."
        )
        self.available = customer.balance
        self.amount = amount


class IdempotencyKeyTooLong(WalletError):
    def __init__(self) -> None:
        super().__init__(f"An idempotency key has at most {KEY_LENGTH} characters.")


class IdempotencyConflict(WalletError):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency key {key!r} was already used for a different operation; use a new key for a new operation."
        )


class DatedAfterToday(WalletError):
    def __init__(self, today: date) -> None:
        zone = current_app.config["TIMEZONE"]
        super().__init__(f"A movement cannot be dated after today ({today:%Y-%m-%d} in {zone}).")


@dataclass(frozen=True)
class Posted:
    entry_id: int
    source_id: int | None
    """The id of what the entry records: the new wallet row, or the invoice or payment to be written with it."""
    transaction: BalanceTransaction | None = None


def _new(table: str):
    return select(books.next_id(table).label("id")).subquery()


_SOURCE_TABLES = {"invoice": "invoices", "payment": "payments"}
_NEW_SOURCE_ENTRY = {
    kind: books.entry_statement(new_row, source_id=new_row.c.id)
    for kind, new_row in ((kind, _new(table)) for kind, table in _SOURCE_TABLES.items())
}
_INSERT = insert(ledger).returning(ledger.c.id)

_SIGNED = bindparam("signed", type_=Money)
# Rounded to cents: SQLite keeps amounts as binary floats, and compares and stores cents, not float noise.
_AFTER = func.round(customers.c.balance + _SIGNED, 2)
_RECHARGED = func.round(customers.c.total_recharged + bindparam("recharged", type_=Money), 2)
_SPENT = func.round(customers.c.total_spent + bindparam("spent", type_=Money), 2)
# The customer's row is locked, checked and moved by one statement; a movement it refuses updates no row.
_MOVE = (
    update(customers)
    .where(
        customers.c.id == bindparam("customer_id"),
        or_(bindparam("overdraft", type_=Boolean), _SIGNED >= 0, _AFTER >= 0),
        func.abs(_AFTER) <= MAX_BALANCE,
        _RECHARGED <= MAX_BALANCE,
        _SPENT <= MAX_BALANCE,
    )
    .values(
        balance=_AFTER,
        total_recharged=_RECHARGED,
        total_spent=_SPENT,
        balance_last_updated_at=bindparam("moved_at"),
        status=status_sql(_AFTER, customers.c.suspend_below),
    )
    .returning(customers.c.balance, customers.c.code, customers.c.use_realtime_calculation)
)


def post(connection: Connection, movement: Movement) -> Posted:
    """Post the movement within the caller's unit of work (which commits or rolls back all of it).

    Refused: a value date after today, or in a closed month (``periods.PeriodClosed``; the database refuses it too).
    """
    on = value_date(movement.value_date)
    if on != local_today():  # a month closes once it has ended: today is always open
        periods.refuse_if_closed(connection, on)
    if movement.kind is Kind.MANUAL:
        entry_id = books.post(
            connection,
            on,
            movement.description,
            list(movement.lines),
            user=movement.user,
            reverses_id=movement.reverses_id,
        )
        return Posted(entry_id, None)
    rule = rule_of(movement.kind, movement.amount)
    if rule.wallet:
        return _post_wallet(connection, movement, rule, on)
    reference = movement.reference
    statement = books.ENTRY if reference.id is not None else _NEW_SOURCE_ENTRY[reference.type]
    recorded = books.record(
        connection,
        statement,
        on,
        books.rule_lines(rule, movement.amount),
        description=movement.description,
        source_type=reference.type,
        **({"source_id": reference.id} if reference.id is not None else {}),
    )
    books.settle(connection, recorded, movement.user)
    books.move(connection, recorded, movement.customer_id)
    return Posted(recorded.entry_id, recorded.source_id)


def value_date(given: date | None) -> date:
    """A movement's business date: today in the installation's time zone unless given; never after today."""
    today = local_today()
    if given is None:
        return today
    if given > today:
        raise DatedAfterToday(today)
    return given


def _post_wallet(connection: Connection, movement: Movement, rule, on: date) -> Posted:
    key = movement.idempotency_key or None
    if key and len(key) > KEY_LENGTH:
        raise IdempotencyKeyTooLong()
    if key and (earlier := by_key(connection, key)) is not None:
        return Posted(earlier.entry_id, earlier.id, same_or_conflict(earlier, movement))
    signed = movement.amount
    recorded = books.record(
        connection, books.ENTRY, on, books.rule_lines(rule, signed), source_type="balance_transaction"
    )
    moved = counts(rule, signed)
    now = utcnow()
    row = connection.execute(
        _MOVE,
        {
            "customer_id": movement.customer_id,
            "signed": signed,
            "overdraft": movement.allow_overdraft,
            "recharged": moved["total_recharged"],
            "spent": moved["total_spent"],
            "moved_at": now,
        },
    ).one_or_none()
    if row is None:
        _refused(connection, movement, rule)
    values = {
        "customer_id": movement.customer_id,
        "kind": TransactionKind(rule.kind.value),
        "amount": abs(signed),
        "signed_amount": signed,
        "balance_before": row.balance - signed,
        "balance_after": row.balance,
        "value_date": on,
        "reference_type": movement.reference.type if movement.reference else None,
        "reference_id": movement.reference.id if movement.reference else None,
        "description": movement.description.strip()[:300],
        "reason": movement.reason,
        "reverses_id": movement.reverses_id,
        "idempotency_key": key,
        "entry_id": recorded.entry_id,
        "created_at": now,
        "created_by_id": movement.user.id if movement.user else None,
    }
    values["id"] = connection.execute(_INSERT, values).scalar_one()
    if moved["total_deposits"] or moved["total_purchases"]:
        _roll_up(connection, movement, row.use_realtime_calculation, values, moved)
    heading = f"{rule.kind.value.capitalize()} #{values['id']} of {row.code}"
    books.settle(connection, recorded, movement.user, source_id=values["id"], description=heading)
    books.move(connection, recorded, movement.customer_id)
    return Posted(recorded.entry_id, values["id"], BalanceTransaction(**values))


def _roll_up(connection, movement: Movement, realtime: bool, values: dict, moved: dict) -> None:
    """Carry the movement into its month's balance, or leave that to a job for a customer not kept in real time."""
    if not realtime:
        what = f"{values['kind']} #{values['id']}"
        monthly.request(
            connection, movement.customer_id, values["value_date"], RecalculationReason.DEFERRED, what, movement.user
        )
        return
    monthly.shift(
        connection,
        movement.customer_id,
        monthly.month_of(values["value_date"]),
        deposits=moved["total_deposits"],
        purchases=moved["total_purchases"],
        details={"balance_transaction_id": values["id"]},
    )


def _refused(connection, movement: Movement, rule) -> None:
    """Say why the customer's row refused the movement."""
    customer = connection.execute(
        select(customers.c.code, customers.c.balance).where(customers.c.id == movement.customer_id)
    ).one_or_none()
    if customer is None:
        raise WalletError(f"No customer with id {movement.customer_id}.")
    after = customer.balance + movement.amount
    if movement.amount < 0 and after < 0 and not movement.allow_overdraft:
        raise InsufficientBalance(customer, -movement.amount)
    if abs(after) > MAX_BALANCE:
        raise BeyondLimit(f"The balance of {customer.code}")
    total = "recharged" if rule.total == "total_recharged" else "spent"
    raise BeyondLimit(f"The total {total} of {customer.code}")


def by_key(connection: Connection, idempotency_key: str) -> BalanceTransaction | None:
    row = connection.execute(select(ledger).where(ledger.c.idempotency_key == idempotency_key)).one_or_none()
    return BalanceTransaction(**row._mapping) if row is not None else None


def same_or_conflict(earlier: BalanceTransaction, movement: Movement) -> BalanceTransaction:
    asked = (movement.customer_id, Kind(movement.kind).value, abs(movement.amount))
    if (earlier.customer_id, earlier.kind.value, earlier.amount) != asked:
        raise IdempotencyConflict(movement.idempotency_key)
    return earlier
