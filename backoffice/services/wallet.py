"""The prepaid wallet: recharge, charge, adjust and reverse, each one unit of work around the posting core.

The web, the CLI and the jobs come through here; the posting core (``backoffice.posting``)
does the writing: the balance rule, the ledger row, the customer's totals and status, the
month, the journal entry and the accounts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.evidence import verifying
from backoffice.models import (
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    Kind,
    User,
)
from backoffice.models.metering import READING
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.money import MoneyError, check_amount
from backoffice.platform.reasons import AdjustmentReason
from backoffice.posting.keys import clerk_key, own_key, refuse_unless_theirs
from backoffice.posting.locking import lock_customers
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import Posted, by_key, post, same_or_conflict
from backoffice.posting.refusals import (
    KEY_LENGTH,
    DatedAfterToday,
    IdempotencyConflict,
    IdempotencyKeyReserved,
    IdempotencyKeyTooLong,
    InsufficientBalance,
    WalletError,
)
from backoffice.services import by_hand, installation, transaction
from backoffice.services.by_hand import NeedsApproval

__all__ = [
    "KEY_LENGTH",
    "DatedAfterToday",
    "IdempotencyConflict",
    "IdempotencyKeyReserved",
    "IdempotencyKeyTooLong",
    "InsufficientBalance",
    "NeedsApproval",
    "Reference",
    "WalletError",
]

ledger = BalanceTransaction.__table__


class DatedBeforeReversed(WalletError):
    def __init__(self, original: BalanceTransaction) -> None:
        super().__init__(
            _(
                "A reversal cannot be dated before the movement it reverses (%(date)s).",
                date=named_date(original.value_date),
            )
        )


class NoReason(WalletError):
    """A reversal asked for without saying why: every reversal states its reason, whoever posts it."""

    def __init__(self) -> None:
        super().__init__(_("Say why the movement is reversed: every reversal states its reason."))


class AlreadyReversed(WalletError):
    def __init__(self, original_id: int, reversal: BalanceTransaction) -> None:
        super().__init__(
            _("Movement #%(id)s was already reversed by #%(reversal)s.", id=original_id, reversal=reversal.id)
        )
        self.reversal = reversal


class ReversalWaits(WalletError):
    """The movement's reversal is asked for and waits for an admin's decision: it is decided there, not posted
    beside it."""

    def __init__(self, original_id: int, request_id: int) -> None:
        super().__init__(
            _(
                "The reversal of movement #%(id)s waits for an admin's decision: request #%(request)s. Approve or "
                "reject it on the Approvals page.",
                id=original_id,
                request=request_id,
            )
        )


def recharge(
    customer: Customer | int,
    amount: Decimal,
    *,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
    value_date: date | None = None,
    by_hand: bool | None = None,
) -> BalanceTransaction:
    """Add prepaid money to the customer's wallet, received on ``value_date`` (default: today). Typed by a person
    (``by_hand``: by default, when a ``user`` posts it), it is money moved by hand: above the approval limit it
    raises :class:`NeedsApproval`, and a second admin approves it (``services.approvals.ask_recharge``)."""
    movement = recharge_of(
        customer,
        amount,
        description=description,
        reference=reference,
        idempotency_key=idempotency_key,
        user=user,
        value_date=value_date,
    )
    return _post(movement, by_hand=user is not None if by_hand is None else by_hand).transaction


def recharge_of(customer: Customer | int, amount: Decimal, **given) -> Movement:
    """The recharge :func:`recharge` posts, not posted: what a request for it asks (:func:`needs_approval`)."""
    return _asked(Kind.RECHARGE, customer, _positive(amount), **given)


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
    movement = charge_of(
        customer,
        amount,
        description=description,
        reference=reference,
        idempotency_key=idempotency_key,
        user=user,
        value_date=value_date,
    )
    return _post(movement).transaction


def charge_once(
    customer: Customer | int,
    amount: Decimal,
    *,
    description: str,
    reference: Reference,
    idempotency_key: str,
    client_id: int,
) -> Posted:
    """:func:`charge` under a key the client ``client_id`` sent (kept in its namespace, ``keys.clerk_key``), answered
    with whether this call posted it: ``repeated``, the same charge sent again, answered with what its first call
    posted; the key with another charge is refused (:class:`IdempotencyConflict`)."""
    movement = charge_of(
        customer,
        amount,
        description=description,
        reference=reference,
        idempotency_key=idempotency_key,
        client_id=client_id,
    )
    return _post(movement)


def charge_of(customer: Customer | int, amount: Decimal, **given) -> Movement:
    """The charge :func:`charge` posts, not posted."""
    return _asked(Kind.CHARGE, customer, -_positive(amount), **given)


def _asked(
    kind: Kind,
    customer: Customer | int,
    signed: Decimal,
    *,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
    value_date: date | None = None,
    client_id: int | None = None,
) -> Movement:
    """A movement a clerk, a command or the client ``client_id`` asks for, its key checked as theirs
    (``keys.clerk_key``)."""
    return Movement(
        kind=kind,
        amount=signed,
        customer_id=_id(customer),
        value_date=value_date,
        reference=reference,
        description=description,
        idempotency_key=clerk_key(idempotency_key, client_id=client_id),
        user=user,
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
    """Correct the balance up (positive) or down (negative), for a reason; ``other`` says why in ``description``.
    Above the approval limit it raises :class:`NeedsApproval`: a second admin approves it (``services.approvals``)."""
    return post_movement(
        adjustment(
            customer,
            signed_amount,
            reason=reason,
            description=description,
            reference=reference,
            idempotency_key=idempotency_key,
            user=user,
            value_date=value_date,
        )
    )


def adjustment(
    customer: Customer | int,
    signed_amount: Decimal,
    *,
    reason: AdjustmentReason | str = AdjustmentReason.OTHER,
    description: str = "",
    reference: Reference | None = None,
    idempotency_key: str | None = None,
    user: User | None = None,
    value_date: date | None = None,
) -> Movement:
    """The movement :func:`adjust` posts, checked; raises :class:`WalletError`."""
    try:
        reason = AdjustmentReason(reason)
    except ValueError:
        choices = ", ".join(r.value for r in AdjustmentReason)
        raise WalletError(_("An adjustment's reason is one of: %(choices)s.", choices=choices)) from None
    if reason is AdjustmentReason.OTHER and not description.strip():
        raise WalletError(_("An adjustment needs a description saying why."))
    if not isinstance(signed_amount, Decimal) or not signed_amount.is_finite() or signed_amount == 0:
        raise WalletError(_("An adjustment is a non-zero amount."))
    amount = _positive(abs(signed_amount))
    return Movement(
        kind=Kind.ADJUSTMENT,
        amount=amount if signed_amount > 0 else -amount,
        customer_id=_id(customer),
        value_date=value_date,
        reference=reference,
        description=description,
        reason=reason.value,
        idempotency_key=clerk_key(idempotency_key),
        user=user,
    )


def reverse(
    transaction_: BalanceTransaction | int,
    *,
    description: str,
    user: User | None = None,
    value_date: date | None = None,
    refuse_again: bool = False,
) -> BalanceTransaction:
    """Undo a movement whole by appending its opposite; a movement is reversed at most once (a retry returns the
    first reversal, or with ``refuse_again`` raises :class:`AlreadyReversed`, for a clerk who must be told), and never
    while a request for its reversal waits (:class:`ReversalWaits`: the request is decided instead), whichever door.

    A reversed charge or recharge is a ``reversal`` row, with the original's accounts swapped (a
    wrong deposit goes back to cash, a wrong charge back out of revenue); a reversed adjustment
    is the opposite adjustment. A reversal is dated on or after what it reverses, and its ``description`` says why
    (:class:`NoReason` when blank).
    """
    original = movement_by_id(_id(transaction_))
    if (waiting := reversal_asked(original.id)) is not None:
        raise ReversalWaits(original.id, waiting.id)
    movement = reversal(original, description=description, user=user, value_date=value_date)
    if refuse_again:
        return _post(movement, earlier=lambda found: AlreadyReversed(original.id, found), by_hand=True).transaction
    return _post(movement, by_hand=True).transaction


def reversal_asked(movement_id: int) -> ApprovalRequest | None:
    """The request about the movement (its reversal asked for) that waits for a decision, if one does."""
    return db.session.scalar(
        select(ApprovalRequest).where(
            ApprovalRequest.movement_id == movement_id, ApprovalRequest.status == ApprovalStatus.PENDING
        )
    )


def reversal(
    original: BalanceTransaction,
    *,
    description: str,
    user: User | None = None,
    value_date: date | None = None,
    leaves_debt: bool = False,
) -> Movement:
    """The movement :func:`reverse` posts, checked; raises :class:`WalletError`, also for a movement no valid seal
    vouches for (written past the application: reversing it would turn it into money). ``leaves_debt``: admins
    decided it (a request approved), so it is posted even where the wallet no longer holds what it takes, leaving a
    debt that suspends the customer as a low balance does."""
    if (refused := not_reversible(original)) is not None:
        raise WalletError(refused)
    if verifying.untrusted(db.session.connection(), "balance_transactions", ledger.c.id == original.id):
        raise WalletError(
            _(
                "Movement #%(id)s carries no valid seal: it was not written through the application, so it is not "
                "reversed. The evidence check reports it for an admin's review.",
                id=original.id,
            )
        )
    if value_date is not None and value_date < original.value_date:
        raise DatedBeforeReversed(original)
    if not description.strip():
        raise NoReason()
    return Movement(
        kind=reversal_kind(original),
        amount=-original.signed_amount,
        customer_id=original.customer_id,
        value_date=value_date,
        reference=Reference("balance_transaction", original.id),
        description=description.strip(),
        reason=original.reason,
        reverses_id=original.id,
        idempotency_key=own_key(installation(), "reversal", original.id),
        user=user,
        allow_overdraft=leaves_debt,
    )


def reversal_debt(original: BalanceTransaction) -> Decimal | None:
    """What the customer would owe once the movement is reversed, where their wallet no longer holds what the
    reversal takes (``None``: it holds it)."""
    balance = db.session.scalar(select(Customer.balance).where(Customer.id == original.customer_id))
    after = balance - original.signed_amount
    return -after if after < 0 else None


def not_reversible(original: BalanceTransaction) -> str | None:
    """Why the movement cannot be reversed, if it cannot: it is a reversal itself, or a reading's (the reading is
    corrected or deleted instead, which keeps what it was charged equal to what it cost)."""
    if original.kind is Kind.REVERSAL or (original.kind is Kind.ADJUSTMENT and original.reverses_id is not None):
        return _("A reversal cannot itself be reversed; post a new movement instead.")
    if original.kind is Kind.OPENING:
        return _("An opening balance brought from the system before is corrected by an adjustment, not reversed.")
    if original.reference_type == READING:
        return _(
            "Movement #%(id)s is what reading #%(reading)s cost: correct or delete the reading instead.",
            id=original.id,
            reading=original.reference_id,
        )
    return None


def reversal_kind(original: BalanceTransaction) -> Kind:
    """What reversing the movement posts: the opposite adjustment for an adjustment, a ``reversal`` otherwise."""
    return Kind.ADJUSTMENT if original.kind is Kind.ADJUSTMENT else Kind.REVERSAL


def movement_by_id(movement_id: int) -> BalanceTransaction:
    """The ledger movement with this id; :class:`WalletError` if none."""
    found = db.session.get(BalanceTransaction, movement_id)
    if found is None:
        raise WalletError(_("No ledger movement %(id)s.", id=movement_id))
    return found


def reversal_of(movement_id: int) -> BalanceTransaction | None:
    """The movement that reversed this one, if any."""
    return db.session.scalar(select(BalanceTransaction).where(BalanceTransaction.reverses_id == movement_id))


def post_movement(movement: Movement) -> BalanceTransaction:
    """Post a movement built by :func:`adjustment` or :func:`reversal`, in a unit of work of its own; above the
    approval limit it raises :class:`NeedsApproval` instead, whoever calls."""
    return _post(movement, by_hand=True).transaction


def needs_approval(movement: Movement, *, everyone: bool = False) -> bool:
    """Whether the movement (an adjustment, a reversal, a recharge typed by a person) takes a second admin now: with
    what its maker moved by hand for the customer today (``everyone``: whoever moved it), it would pass the approval
    limit (``by_hand.beyond``)."""
    maker_id = movement.user.id if movement.user is not None else None
    moved = {movement.customer_id: movement.amount}
    return by_hand.beyond(db.session.connection(), moved, maker_id=maker_id, everyone=everyone) is not None


def reversal_needs_approval(original: BalanceTransaction, maker: User | None, *, everyone: bool = False) -> bool:
    """Whether reversing the movement now takes a second admin, reversed by ``maker`` (:func:`needs_approval`)."""
    reversing = Movement(
        kind=reversal_kind(original), amount=-original.signed_amount, customer_id=original.customer_id, user=maker
    )
    return needs_approval(reversing, everyone=everyone)


def _post(movement: Movement, *, earlier=None, by_hand: bool = False) -> Posted:
    """Post in a unit of work of its own. ``earlier``: the error to raise, given what was already posted for the
    movement (under its key, which ``post`` looks up; for a reversal, its movement's reversal under any key), instead
    of returning that. ``by_hand``: money moved by hand, which one person posts only within the approval limit."""
    try:
        with transaction() as session:
            connection = session.connection()
            if by_hand:  # what was posted before and the maker's money moved today, read under the customer's lock
                lock_customers(connection, [movement.customer_id])
            if (found := _reversal_posted(connection, movement)) is not None:
                posted = Posted(found.entry_id, found.id, same_or_conflict(found, movement), repeated=True)
            else:
                limit = partial(_refuse_beyond_the_approval_limit, connection, movement) if by_hand else None
                posted = post(installation(), connection, movement, first_time=limit)
            if posted.repeated and earlier is not None:
                raise earlier(posted.transaction)
            return posted
    except IntegrityError:
        # Another movement took the key (or reversed the movement) between our check and our insert.
        with db.engine.connect() as connection:
            found = _first(connection, movement)
        if found is None:
            raise
        if earlier is not None:
            raise earlier(found) from None
        return Posted(found.entry_id, found.id, same_or_conflict(found, movement), repeated=True)


def _refuse_beyond_the_approval_limit(connection, movement: Movement) -> None:
    """The limit's rule for money moved by hand (``by_hand.refuse_beyond``), decided under the customer's lock."""
    maker_id = movement.user.id if movement.user is not None else None
    moved = {movement.customer_id: movement.amount}
    by_hand.refuse_beyond(connection, moved, maker_id=maker_id, kind=movement.kind.value)


def _first(connection, movement: Movement) -> BalanceTransaction | None:
    """What was posted for the movement: under its idempotency key, or as its movement's reversal
    (:func:`_reversal_posted`). A key another maker sent, or one that wrote something else, is refused
    (``keys.refuse_unless_theirs``)."""
    maker_id = movement.user.id if movement.user is not None else None
    refuse_unless_theirs(connection, movement.idempotency_key, maker_id=maker_id, writes="balance_transactions")
    if movement.idempotency_key and (found := by_key(connection, movement.idempotency_key)) is not None:
        return found
    return _reversal_posted(connection, movement)


def _reversal_posted(connection, movement: Movement) -> BalanceTransaction | None:
    """For a reversal, the movement's reversal under any key (one posted under ``reversal-of-<id>``, as before, or
    under another ``SECRET_KEY``): a movement is reversed once, as the unique ``reverses_id`` says."""
    if movement.reverses_id is None:
        return None
    row = connection.execute(select(ledger).where(ledger.c.reverses_id == movement.reverses_id)).one_or_none()
    return BalanceTransaction(**row._mapping) if row is not None else None


def _positive(amount: Decimal) -> Decimal:
    try:
        amount = check_amount(amount)
    except MoneyError as error:
        raise WalletError(str(error)) from None
    if amount == 0:
        raise WalletError(_("Enter an amount greater than zero."))
    return amount


def _id(entity) -> int:
    return entity if isinstance(entity, int) else entity.id
