"""The prepaid wallet: recharge, charge, adjust and reverse, each one unit of work around the posting core.

The web, the CLI and the jobs come through here; the posting core (``backoffice.posting``)
does the writing: the balance rule, the ledger row, the customer's totals and status, the
month, the journal entry and the accounts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from backoffice.evidence import seals, verifying
from backoffice.models import (
    AdjustmentReason,
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    Kind,
    Role,
    TamperedEvidence,
    User,
)
from backoffice.models.metering import READING
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.money import MoneyError, check_amount, shown
from backoffice.posting.keys import clerk_key, own_key
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
from backoffice.services import installation, transaction

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


class NeedsApproval(WalletError):
    """Money moved by hand above ``APPROVAL_ABOVE``: only an approved request posts it (``services.approvals``)."""

    def __init__(self, amount: Decimal, limit: Decimal, today: Decimal) -> None:
        values = {"amount": shown(abs(amount)), "today": shown(today), "limit": shown(limit)}
        if today:
            refusal = _(
                "%(amount)s, with the %(today)s adjusted today without approval, is above the approval limit "
                "(%(limit)s): it posts only once a second admin approves it. Ask for it on the customer's ledger tab."
            )
        else:
            refusal = _(
                "%(amount)s is above the approval limit (%(limit)s): it posts only once a second admin approves it. "
                "Ask for it on the customer's ledger tab."
            )
        super().__init__(refusal % values)


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
    customer: Customer | int, amount: Decimal, *, description: str, reference: Reference, idempotency_key: str
) -> Posted:
    """:func:`charge` under a key a client sent, answered with whether this call posted it: ``repeated``, the same
    charge sent again, answered with what its first call posted; the key with another charge is refused
    (:class:`IdempotencyConflict`)."""
    movement = charge_of(
        customer, amount, description=description, reference=reference, idempotency_key=idempotency_key
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
) -> Movement:
    """A movement a clerk or a client asks for, its key checked as theirs (``keys.clerk_key``)."""
    return Movement(
        kind=kind,
        amount=signed,
        customer_id=_id(customer),
        value_date=value_date,
        reference=reference,
        description=description,
        idempotency_key=clerk_key(idempotency_key),
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


def approval_limit() -> Decimal:
    """The amount above which money moved by hand waits for a second admin (``BACKOFFICE_APPROVAL_ABOVE``)."""
    return current_app.config["APPROVAL_ABOVE"]


APPROVED = "approved"
"""The ``reason`` of the movements a source correction posts when its request is approved: a second admin saw them,
so they do not count as money moved by hand today without one."""


def needs_approval(movement: Movement) -> bool:
    """Whether the movement (an adjustment, a reversal, a recharge typed by a person) takes a second admin: it moves
    more than the approval
    limit, counted with the customer's other money moved by hand today that no second admin approved
    (:func:`_adjusted_today`), so that several each just at the limit do not pass one by one."""
    return abs(movement.amount) + _adjusted_today(movement) > approval_limit()


def reversal_needs_approval(original: BalanceTransaction) -> bool:
    """Whether reversing the movement now takes a second admin (:func:`needs_approval` of its reversal)."""
    reversing = Movement(kind=reversal_kind(original), amount=-original.signed_amount, customer_id=original.customer_id)
    return needs_approval(reversing)


def correction_needs_approval(customer_id: int, credit: Decimal) -> bool:
    """Whether a correction of metering's source data (a reading edited or deleted, a price changed) that gives
    ``credit`` back to the customer's wallet takes a second admin: the rule of :func:`needs_approval`, the credit
    counted as the adjustment it amounts to. Money taken (a credit of zero or less) never waits."""
    return credit > 0 and needs_approval(Movement(kind=Kind.ADJUSTMENT, amount=credit, customer_id=customer_id))


def _refuse_beyond_the_approval_limit(movement: Movement) -> None:
    """:func:`needs_approval`, decided under the customer's lock (two adjustments at once count each other)."""
    today = _adjusted_today(movement)
    if abs(movement.amount) + today > approval_limit():
        raise NeedsApproval(movement.amount, approval_limit(), today)


BY_HAND = (Kind.ADJUSTMENT, Kind.REVERSAL)
"""The movements a person moves money with: counted together against the approval limit, per customer and day."""


def _adjusted_today(movement: Movement) -> Decimal:
    """What the customer's money moved by hand today (the installation's day) without an approval moved: its
    adjustments and reversals, and what corrections of its readings' source data gave back (for each reading, what
    the day's movements for it returned net, when that is money given back; a reading recorded and deleted the same
    day gives back nothing), the movements posted by approving a request left out, but for a clerk's request one
    admin approved alone (:func:`_approved_by_one_admin`). So are the rows no valid seal vouches for
    (:func:`_forged`): money nobody moved through the application never counts toward a limit."""
    if movement.kind not in (Kind.ADJUSTMENT, Kind.REVERSAL):
        return Decimal(0)
    day_began = datetime.combine(local_today(), time.min, ZoneInfo(current_app.config["TIMEZONE"])).astimezone(UTC)
    approved = select(ApprovalRequest.result_movement_id).where(
        ApprovalRequest.result_movement_id.is_not(None), ~_approved_by_one_admin()
    )
    forged = _forged(movement.customer_id, day_began)
    moved = db.session.scalar(
        select(func.coalesce(func.sum(BalanceTransaction.amount), 0)).where(
            BalanceTransaction.customer_id == movement.customer_id,
            BalanceTransaction.kind.in_(BY_HAND),
            BalanceTransaction.created_at >= day_began,
            BalanceTransaction.id.not_in(approved),
            BalanceTransaction.id.not_in(forged),
        )
    )
    per_reading = (
        select(func.sum(BalanceTransaction.signed_amount).label("net"))
        .where(
            BalanceTransaction.customer_id == movement.customer_id,
            BalanceTransaction.reference_type == READING,
            BalanceTransaction.created_at >= day_began,
            BalanceTransaction.reason.is_distinct_from(APPROVED),
            BalanceTransaction.id.not_in(forged),
        )
        .group_by(BalanceTransaction.reference_id)
        .subquery("per_reading")
    )
    given_back = db.session.scalar(select(func.coalesce(func.sum(per_reading.c.net), 0)).where(per_reading.c.net > 0))
    return Decimal(moved) + Decimal(given_back)


def _approved_by_one_admin():
    """The requests one admin approved alone: a clerk's wallet reversal within the limit, which that admin moved by
    hand as much as one they posted themselves."""
    clerks = select(User.id).where(User.role != Role.ADMIN)
    return and_(
        ApprovalRequest.kind == ApprovalKind.WALLET_REVERSAL,
        ApprovalRequest.first_approved_by_id.is_(None),
        ApprovalRequest.requested_by_id.in_(clerks),
    )


def _forged(customer_id: int, day_began: datetime) -> list[int]:
    """The customer's movements of the day that no valid seal vouches for, those found as tampered evidence (open
    or reviewed), and the reversals a review of tampered evidence posted for them."""
    connection = db.session.connection()
    today = (ledger.c.customer_id == customer_id) & (ledger.c.created_at >= day_began)
    unsealed = verifying.verify(connection, seals.kinds()["balance_transactions"], where=today).findings
    found = select(TamperedEvidence.row_id).where(
        TamperedEvidence.kind == "balance_transactions", TamperedEvidence.customer_id == customer_id
    )
    reviewed = connection.execute(
        select(ledger.c.id).where(today, ledger.c.id.in_(found) | ledger.c.reverses_id.in_(found))
    ).scalars()
    return sorted({finding.row_id for finding in unsealed} | set(reviewed))


def _post(movement: Movement, *, earlier=None, by_hand: bool = False) -> Posted:
    """Post in a unit of work of its own. ``earlier``: the error to raise, given what was already posted for the
    movement (under its key, which ``post`` looks up; for a reversal, its movement's reversal under any key), instead
    of returning that. ``by_hand``: money moved by hand, which one person posts only within the approval limit."""
    try:
        with transaction() as session:
            connection = session.connection()
            if by_hand:  # what was posted before and the day's adjustments, read under the customer's lock
                lock_customers(connection, [movement.customer_id])
            if (found := _reversal_posted(connection, movement)) is not None:
                posted = Posted(found.entry_id, found.id, same_or_conflict(found, movement), repeated=True)
            else:
                limit = partial(_refuse_beyond_the_approval_limit, movement) if by_hand else None
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


def _first(connection, movement: Movement) -> BalanceTransaction | None:
    """What was posted for the movement: under its idempotency key, or as its movement's reversal
    (:func:`_reversal_posted`)."""
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
