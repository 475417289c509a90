"""The prepaid wallet: recharge, charge, adjust and reverse, each one unit of work around the posting core.

The web, the CLI and the jobs come through here; the posting core (``backoffice.posting``)
does the writing: the balance rule, the ledger row, the customer's totals and status, the
month, the journal entry and the accounts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from backoffice.models import AdjustmentReason, BalanceTransaction, Customer, TransactionKind, User
from backoffice.money import MoneyError, check_amount
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import (
    KEY_LENGTH,
    DatedAfterToday,
    IdempotencyConflict,
    IdempotencyKeyTooLong,
    InsufficientBalance,
    WalletError,
    by_key,
    post,
    same_or_conflict,
)
from backoffice.posting.rules import Kind
from backoffice.services import transaction

__all__ = [
    "KEY_LENGTH",
    "DatedAfterToday",
    "IdempotencyConflict",
    "IdempotencyKeyTooLong",
    "InsufficientBalance",
    "Reference",
    "WalletError",
]

ledger = BalanceTransaction.__table__


def recharge(
    customer: Customer | int,
    amount: Decimal,
    *,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
    value_date: date | None = None,
) -> BalanceTransaction:
    """Add prepaid money to the customer's wallet, received on ``value_date`` (default: today)."""
    return _post(
        Movement(
            kind=Kind.RECHARGE,
            amount=_positive(amount),
            customer_id=_id(customer),
            value_date=value_date,
            reference=reference,
            description=description,
            idempotency_key=idempotency_key,
            user=user,
        )
    )


def charge(
    customer: Customer | int,
    amount: Decimal,
    *,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
    value_date: date | None = None,
) -> BalanceTransaction:
    """Take money from the wallet; raises :class:`InsufficientBalance` beyond the balance."""
    return _post(
        Movement(
            kind=Kind.CHARGE,
            amount=-_positive(amount),
            customer_id=_id(customer),
            value_date=value_date,
            reference=reference,
            description=description,
            idempotency_key=idempotency_key,
            user=user,
        )
    )


def adjust(
    customer: Customer | int,
    signed_amount: Decimal,
    *,
    reason: AdjustmentReason | str = AdjustmentReason.OTHER,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
    value_date: date | None = None,
) -> BalanceTransaction:
    """Correct the balance up (positive) or down (negative), for a reason; ``other`` says why in ``description``."""
    try:
        reason = AdjustmentReason(reason)
    except ValueError:
        choices = ", ".join(r.value for r in AdjustmentReason)
        raise WalletError(f"An adjustment's reason is one of: {choices}.") from None
    if reason is AdjustmentReason.OTHER and not description.strip():
        raise WalletError("An adjustment needs a description saying why.")
    if not isinstance(signed_amount, Decimal) or not signed_amount.is_finite() or signed_amount == 0:
        raise WalletError("An adjustment is a non-zero amount.")
    amount = _positive(abs(signed_amount))
    return _post(
        Movement(
            kind=Kind.ADJUSTMENT,
            amount=amount if signed_amount > 0 else -amount,
            customer_id=_id(customer),
            value_date=value_date,
            reference=reference,
            description=description or reason.label,
            reason=reason.value,
            idempotency_key=idempotency_key,
            user=user,
        )
    )


def reverse(
    transaction_: BalanceTransaction | int,
    *,
    description: str = "",
    user: User | None = None,
    value_date: date | None = None,
) -> BalanceTransaction:
    """Undo a movement whole by appending its opposite; a movement is reversed at most once (a retry returns the
    first reversal).

    A reversed charge or recharge is a ``reversal`` row, with the original's accounts swapped (a
    wrong deposit goes back to cash, a wrong charge back out of revenue); a reversed adjustment
    is the opposite adjustment.
    """
    original = movement_by_id(_id(transaction_))
    if original.kind is TransactionKind.REVERSAL or (
        original.kind is TransactionKind.ADJUSTMENT and original.reverses_id is not None
    ):
        raise WalletError("A reversal cannot itself be reversed; post a new movement instead.")
    adjustment = original.kind is TransactionKind.ADJUSTMENT
    return _post(
        Movement(
            kind=Kind.ADJUSTMENT if adjustment else Kind.REVERSAL,
            amount=-original.signed_amount,
            customer_id=original.customer_id,
            value_date=value_date,
            reference=Reference("balance_transaction", original.id),
            description=description or f"Reversal of {original.kind.value} #{original.id}",
            reason=original.reason,
            reverses_id=original.id,
            idempotency_key=f"reversal-of-{original.id}",
            user=user,
        )
    )


def movement_by_id(movement_id: int) -> BalanceTransaction:
    found = db.session.get(BalanceTransaction, movement_id)
    if found is None:
        raise WalletError(f"No ledger movement {movement_id}.")
    return found


def reversal_of(movement_id: int) -> BalanceTransaction | None:
    """The movement that reversed this one, if any."""
    return db.session.scalar(select(BalanceTransaction).where(BalanceTransaction.reverses_id == movement_id))


def _post(movement: Movement) -> BalanceTransaction:
    try:
        with transaction() as session:
            return post(session.connection(), movement).transaction
    except IntegrityError:
        # Another customer's movement took the key between our check and our insert.
        if movement.idempotency_key:
            with db.engine.connect() as connection:
                earlier = by_key(connection, movement.idempotency_key)
            if earlier is not None:
                return same_or_conflict(earlier, movement)
        raise


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
