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
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerStatus,
    TransactionKind,
    User,
    recharged_contribution,
    spent_contribution,
)
from backoffice.models.types import utcnow
from backoffice.money import MoneyError, check_amount, format_money


class WalletError(ValueError):
    """An operation the wallet refuses; nothing was written."""


class InsufficientBalance(WalletError):
    def __init__(self, customer: Customer, amount: Decimal) -> None:
        super().__init__(
            f"Insufficient balance: {customer.code} has {_money(customer.balance)} available, "
            f"{_money(amount)} is needed."
        )
        self.available = customer.balance
        self.amount = amount


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
    original = db.session.get(BalanceTransaction, _id(transaction))
    if original is None:
        raise WalletError(f"No ledger movement {_id(transaction)}.")
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


def lock_customers(ids: list[int]) -> list[Customer]:
    """Lock customer rows for the rest of the transaction, in id order (no deadlock between lockers)."""
    return db.session.scalars(
        select(Customer)
        .where(Customer.id.in_(ids))
        .order_by(Customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


@contextmanager
def locking_transaction():
    """A transaction of its own that can lock rows: ``BEGIN IMMEDIATE`` on SQLite, row locks on PostgreSQL."""
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("Unsaved changes are pending: commit or roll them back before moving money.")
    session.rollback()
    session.connection(execution_options={"sqlite_begin_immediate": True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _post(customer, kind, amount, signed, description, reference, idempotency_key, user) -> BalanceTransaction:
    customer_id = _id(customer)
    try:
        with locking_transaction() as session:
            locked = lock_customers([customer_id])
            if not locked:
                raise WalletError(f"No customer with id {customer_id}.")
            (target,) = locked
            if idempotency_key:
                earlier = session.scalar(
                    select(BalanceTransaction).where(BalanceTransaction.idempotency_key == idempotency_key)
                )
                if earlier is not None:
                    return _same_or_conflict(earlier, customer_id, kind, amount, idempotency_key)
            movement = _append(target, kind, amount, signed, description, reference, idempotency_key, user)
    except IntegrityError:
        # Another customer's movement took the key between our check and our insert.
        earlier = db.session.scalar(
            select(BalanceTransaction).where(BalanceTransaction.idempotency_key == idempotency_key)
        )
        if idempotency_key and earlier is not None:
            return _same_or_conflict(earlier, customer_id, kind, amount, idempotency_key)
        raise
    return movement


def _append(customer: Customer, kind, amount, signed, description, reference, idempotency_key, user):
    before = customer.balance
    after = before + signed
    if signed < 0 and after < 0:
        raise InsufficientBalance(customer, amount)
    movement = BalanceTransaction(
        customer_id=customer.id,
        kind=kind,
        amount=amount,
        signed_amount=signed,
        balance_before=before,
        balance_after=after,
        reference_type=reference.type if reference else None,
        reference_id=reference.id if reference else None,
        description=description.strip()[:300],
        idempotency_key=idempotency_key or None,
        created_at=utcnow(),
        created_by_id=user.id if user else None,
    )
    customer.balance = after
    customer.total_recharged += recharged_contribution(kind, signed)
    customer.total_spent += spent_contribution(kind, signed)
    customer.balance_last_updated_at = movement.created_at
    if after < customer.suspend_below:
        customer.status = CustomerStatus.SUSPENDED
    elif customer.status is CustomerStatus.SUSPENDED and signed > 0:
        customer.status = CustomerStatus.ACTIVE
    db.session.add(movement)
    db.session.flush()
    return movement


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


def _money(value: Decimal) -> str:
    return format_money(value, current_app.config["LOCALE"], current_app.config["CURRENCY"])
