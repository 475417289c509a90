"""The prepaid wallet's write path: recharge, charge, adjust and reverse.

Each operation is one transaction: lock the customer row (``SELECT … FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), apply the idempotency rule, check the
balance, append the ledger row with its before and after, update the cached fields and the
suspension, commit. Anything that fails rolls all of it back. The web, the CLI and later
modules all come through here.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from backoffice.models import (
    BalanceTransaction,
    Customer,
    RecalculationReason,
    TransactionKind,
    User,
    month_contribution,
    recharged_contribution,
    spent_contribution,
    status_sql,
)
from backoffice.models.types import Balance, Money, local_date_of, utcnow
from backoffice.money import MAX_BALANCE, BeyondLimit, MoneyError, check_amount, shown
from backoffice.services import books, monthly
from backoffice.services.locking import lock_customers

customers = Customer.__table__
ledger = BalanceTransaction.__table__
KEY_LENGTH = ledger.c.idempotency_key.type.length


# The write path's statements, built once: the hot path only binds values.
_INSERT = insert(ledger).returning(ledger.c.id)
_AFTER = bindparam("after", type_=Balance)
_RECHARGED = customers.c.total_recharged + bindparam("recharged", type_=Money)
_SPENT = customers.c.total_spent + bindparam("spent", type_=Money)
# A total the column could not hold updates no row: the movement is then refused.
_MOVE = (
    update(customers)
    .where(customers.c.id == bindparam("customer_id"), _RECHARGED <= MAX_BALANCE, _SPENT <= MAX_BALANCE)
    .values(
        balance=_AFTER,
        total_recharged=_RECHARGED,
        total_spent=_SPENT,
        balance_last_updated_at=bindparam("moved_at"),
        status=status_sql(_AFTER, customers.c.suspend_below),
    )
)


class WalletError(ValueError):
    """An operation the wallet refuses; nothing was written."""


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


@dataclass(frozen=True)
class Reference:
    """What a movement is about, e.g. ``Reference("meter_reading", 42)``."""

    type: str
    id: int


def recharge(
    customer: Customer | int,
    amount: Decimal,
    *,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
) -> BalanceTransaction:
    """Add prepaid money to the customer's wallet."""
    amount = _positive(amount)
    return _post(customer, TransactionKind.RECHARGE, amount, amount, description, reference, idempotency_key, user)


def charge(
    customer: Customer | int,
    amount: Decimal,
    *,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
) -> BalanceTransaction:
    """Take money from the wallet; raises :class:`InsufficientBalance` beyond the balance."""
    amount = _positive(amount)
    return _post(customer, TransactionKind.CHARGE, amount, -amount, description, reference, idempotency_key, user)


def adjust(
    customer: Customer | int,
    signed_amount: Decimal,
    *,
    description: str,
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
) -> BalanceTransaction:
    """Correct the balance up (positive) or down (negative), with the reason in ``description``."""
    if not description.strip():
        raise WalletError("An adjustment needs a description saying why.")
    if not isinstance(signed_amount, Decimal) or not signed_amount.is_finite() or signed_amount == 0:
        raise WalletError("An adjustment is a non-zero amount.")
    amount = _positive(abs(signed_amount))
    signed = amount if signed_amount > 0 else -amount
    return _post(customer, TransactionKind.ADJUSTMENT, amount, signed, description, reference, idempotency_key, user)


def reverse(transaction: BalanceTransaction | int, *, description: str = "", user: User | None = None):
    """Undo a movement by appending its opposite; a movement is reversed at most once.

    A reversed charge or recharge is a ``reversal`` row (it takes back from the spent or
    recharged total); a reversed adjustment is the opposite adjustment.
    """
    with db.engine.connect() as connection:
        row = connection.execute(select(ledger).where(ledger.c.id == _id(transaction))).one_or_none()
    if row is None:
        raise WalletError(f"No ledger movement {_id(transaction)}.")
    original = BalanceTransaction(**row._mapping)
    if original.kind is TransactionKind.REVERSAL:
        raise WalletError("A reversal cannot itself be reversed; post a new movement instead.")
    adjustment = original.kind is TransactionKind.ADJUSTMENT
    return _post(
        original.customer_id,
        TransactionKind.ADJUSTMENT if adjustment else TransactionKind.REVERSAL,
        original.amount,
        -original.signed_amount,
        description or f"Reversal of {original.kind.value} #{original.id}",
        Reference("balance_transaction", original.id),
        f"reversal-of-{original.id}",
        user,
    )


@contextmanager
def own_transaction():
    """A connection and transaction of the write path's own, apart from the caller's session.

    It commits when the block ends and rolls back if it raises. On SQLite it begins with
    ``BEGIN IMMEDIATE``, taking the write lock before anything is read. The caller's session
    must have nothing pending; its read transaction is ended afterwards, so that what it reads
    next includes what was written.
    """
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("Unsaved changes are pending: commit or roll them back before moving money.")
    with db.engine.connect().execution_options(sqlite_begin_immediate=True) as connection, connection.begin():
        yield connection
    session.rollback()


def _post(customer, kind, amount, signed, description, reference, idempotency_key, user) -> BalanceTransaction:
    customer_id = _id(customer)
    if idempotency_key and len(idempotency_key) > KEY_LENGTH:
        raise IdempotencyKeyTooLong()
    try:
        with own_transaction() as connection:
            locked = lock_customers(connection, [customer_id])
            if not locked:
                raise WalletError(f"No customer with id {customer_id}.")
            if idempotency_key and (earlier := _by_key(connection, idempotency_key)) is not None:
                return _same_or_conflict(earlier, customer_id, kind, amount, idempotency_key)
            movement = append(
                connection, locked[0], kind, amount, signed, description, reference, idempotency_key, user
            )
    except IntegrityError:
        # Another customer's movement took the key between our check and our insert.
        if idempotency_key:
            with db.engine.connect() as connection:
                earlier = _by_key(connection, idempotency_key)
            if earlier is not None:
                return _same_or_conflict(earlier, customer_id, kind, amount, idempotency_key)
        raise
    return movement


def append(
    connection, customer, kind, amount, signed, description, reference, key, user, *, allow_overdraft=False
) -> BalanceTransaction:
    """Append a movement, move the cached fields and the month's balance, and post it to the books, in a
    transaction that holds the customer's lock.

    ``customer`` is the row :func:`lock_customers` returned. Gas already delivered is charged
    even beyond the balance (``allow_overdraft``): the customer is then suspended.
    """
    before = customer.balance
    after = before + signed
    if signed < 0 and after < 0 and not allow_overdraft:
        raise InsufficientBalance(customer, amount)
    if abs(after) > MAX_BALANCE:
        raise BeyondLimit(f"The balance of {customer.code}")
    values = {
        "customer_id": customer.id,
        "kind": kind,
        "amount": amount,
        "signed_amount": signed,
        "balance_before": before,
        "balance_after": after,
        "reference_type": reference.type if reference else None,
        "reference_id": reference.id if reference else None,
        "description": description.strip()[:300],
        "idempotency_key": key or None,
        "created_at": utcnow(),
        "created_by_id": user.id if user else None,
    }
    values["id"] = connection.execute(_INSERT, values).scalar_one()
    recharged = recharged_contribution(kind, signed)
    moved = connection.execute(
        _MOVE,
        {
            "customer_id": customer.id,
            "after": after,
            "recharged": recharged,
            "spent": spent_contribution(kind, signed),
            "moved_at": values["created_at"],
        },
    )
    if moved.rowcount == 0:
        raise BeyondLimit(f"The total {'recharged' if recharged else 'spent'} of {customer.code}")
    posted_on = local_date_of(values["created_at"], current_app.config["TIMEZONE"])
    _roll_up(connection, customer, values, posted_on, user)
    books.post(
        connection,
        posted_on,
        f"{kind.value.capitalize()} #{values['id']} of {customer.code}",
        books.wallet_lines(kind, signed),
        source=books.Source("balance_transaction", values["id"]),
        user=user,
        bucket_key=customer.id,
    )
    return BalanceTransaction(**values)


def _roll_up(connection, customer, movement: dict, posted_on, user) -> None:
    """Carry the movement into its month's balance, or leave that to a job for a customer not kept in real time."""
    deposits, purchases = month_contribution(movement["kind"], movement["signed_amount"], movement["reference_type"])
    if not (deposits or purchases):
        return
    if not customer.use_realtime_calculation:
        what = f"{movement['kind'].value} #{movement['id']}"
        monthly.request(connection, customer.id, posted_on, RecalculationReason.DEFERRED, what, user)
        return
    monthly.shift(
        connection,
        customer.id,
        monthly.month_of(posted_on),
        deposits=deposits,
        purchases=purchases,
        details={"balance_transaction_id": movement["id"]},
    )


def _by_key(connection: Connection, idempotency_key: str) -> BalanceTransaction | None:
    row = connection.execute(select(ledger).where(ledger.c.idempotency_key == idempotency_key)).one_or_none()
    return BalanceTransaction(**row._mapping) if row is not None else None


def _same_or_conflict(earlier: BalanceTransaction, customer_id, kind, amount, key) -> BalanceTransaction:
    if (earlier.customer_id, earlier.kind, earlier.amount) != (customer_id, kind, amount):
        raise IdempotencyConflict(key)
    return earlier


def _positive(amount: Decimal) -> Decimal:
    try:
        amount = check_amount(amount)
    except MoneyError as error:
        raise WalletError(str(error)) from None
    if amount == 0:
        raise WalletError("Enter an amount greater than zero.")
    return amount


def _id(entity) -> int:
    return entity if isinstance(entity, int) else entity.id
