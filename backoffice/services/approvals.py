"""Four eyes on money moved by hand: above ``APPROVAL_ABOVE`` an adjustment, a manual entry, a reversal, or a
correction of metering's data that gives money back is asked for, and applied only once a second admin approves it.

Approving locks the request and posts through the posting core in one transaction, so it posts once however many
admins approve at once. A request without a valid seal was written past the application: it is :class:`Tampered`,
and is neither approved nor rejected.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy_continuum.utils import version_class

from backoffice.evidence import seals, verifying
from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    EntryStatus,
    HistoryTransaction,
    JournalEntry,
    JournalLine,
    Role,
    User,
)
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.platform.lines import described
from backoffice.platform.money import BeyondLimit
from backoffice.posting import journal
from backoffice.posting.closed_months import PeriodClosed, refuse_if_closed
from backoffice.posting.keys import clerk_key, keyed_digest, own_key
from backoffice.posting.locking import lock_customers
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.refusals import KeySentByAnother, WalletError
from backoffice.posting.rules import Kind
from backoffice.services import (
    ChangedMeanwhile,
    billing,
    by_hand,
    installation,
    joined,
    meter_payments,
    metering,
    notices,
    transaction,
    wallet,
)

REFUSALS = (WalletError, journal.BooksError, PeriodClosed, BeyondLimit, metering.MeteringError, billing.BillingError)
"""What posting may refuse, each with a message for the clerk: asking and approving refuse with the same."""


class ApprovalError(ValueError):
    """A request or a decision refused; nothing was written."""


class AlreadyDecided(ApprovalError):
    def __init__(self, request: ApprovalRequest) -> None:
        who = request.decided_by.email if request.decided_by else _("someone")
        if request.status is ApprovalStatus.APPROVED:
            refusal = _("Request #%(id)s was already approved by %(who)s; nothing was changed.")
        else:
            refusal = _("Request #%(id)s was already rejected by %(who)s; nothing was changed.")
        super().__init__(refusal % {"id": request.id, "who": who})


class NoSuchRequest(ApprovalError):
    def __init__(self, request_id: int) -> None:
        super().__init__(_("No approval request #%(id)s.", id=request_id))


class ChangedSinceAsked(ApprovalError):
    def __init__(self, request: ApprovalRequest, message: str | None = None) -> None:
        super().__init__(
            message
            or _(
                "Request #%(id)s's entry was changed after it was asked for: it is not what was asked, so nothing was "
                "posted. Reject it, and ask again for the entry as it is now.",
                id=request.id,
            )
        )


class OwnRequest(ApprovalError):
    """The requester deciding their own request: a second admin approves or rejects it, never the first."""

    def __init__(self, request: ApprovalRequest, decision: str = "approves") -> None:
        if decision == "approves":
            refusal = _("You asked for request #%(id)s: another admin approves it.")
        else:
            refusal = _("You asked for request #%(id)s: another admin rejects it.")
        super().__init__(refusal % {"id": request.id})


class ApprovedFirst(ApprovalError):
    """The admin who approved a request first approving it again: its second approval is another admin's."""

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__(
            _("You approved request #%(id)s first: a second admin approves it; nothing was changed.", id=request.id)
        )


class Tampered(ApprovalError):
    """A request without a valid seal: not asked through the application, so no one approves or rejects it."""

    def __init__(self, request_id: int) -> None:
        super().__init__(
            _(
                "Request #%(id)s carries no valid seal: it was not asked through the application, so it is neither "
                "approved nor rejected. Nothing was changed; the evidence check reports it for an admin's review.",
                id=request_id,
            )
        )


limit = by_hand.limit


def needs_approval(amount: Decimal) -> bool:
    """Whether ``amount`` alone is above the approval limit."""
    return abs(amount) > limit()


def pending_count() -> int:
    """The requests waiting for a decision, those without a valid seal left out (:func:`tampered`)."""
    waiting = db.session.scalar(
        select(func.count(ApprovalRequest.id)).where(ApprovalRequest.status == ApprovalStatus.PENDING)
    )
    return waiting - len(tampered()) if waiting else 0


def tampered(request_id: int | None = None) -> set[int]:
    """The ids of the pending requests (or of request ``request_id``) whose seal, or whose first approval's, is
    missing or does not match them: written past the application, never asked (or approved) through it."""
    where = seals.requests.c.status == ApprovalStatus.PENDING.value
    if request_id is not None:
        where = seals.requests.c.id == request_id
    connection, known = db.session.connection(), seals.kinds()
    return {
        finding.row_id
        for kind in ("approval_requests", "approval_first_approvals")
        for finding in verifying.verify(connection, known[kind], where=where).findings
    }


def ask_adjustment(movement: Movement, *, user: User, reason: str) -> ApprovalRequest:
    """Ask for the adjustment ``wallet.adjustment`` built; its idempotency key makes a double submit ask once."""
    request = adjustment_request(movement, user=user, reason=reason)
    request.idempotency_key = clerk_key(movement.idempotency_key)
    return _ask(movement, request, user=user, reason=reason)


def ask_import(import_id: int, facts: dict, *, total: Decimal, user: User, reason: str) -> ApprovalRequest:
    """Ask for an import whose rows move money by hand beyond the limit, once however often it is run: ``facts``
    (its file, rows and largest row) are what the approver is shown; ``total`` what its rows move."""
    key = own_key(installation(), "import", import_id)
    if (earlier := _by_key(key)) is not None:
        return earlier
    request = ApprovalRequest(
        kind=ApprovalKind.IMPORT,
        amount=total,
        description=str(facts.get("file", ""))[:300],
        idempotency_key=key,
        correction={"import": import_id, **facts},
    )
    return _ask(None, request, user=user, reason=reason)


def ask_recharge(movement: Movement, *, user: User, reason: str) -> ApprovalRequest:
    """Ask for a recharge typed beyond the limit (``movement``, as ``wallet.recharge`` would post it); its
    idempotency key makes a double submit ask once."""
    request = ApprovalRequest(
        kind=ApprovalKind.RECHARGE,
        amount=movement.amount,
        signed_amount=movement.amount,
        customer_id=movement.customer_id,
        description=movement.description,
        value_date=movement.value_date,
        idempotency_key=clerk_key(movement.idempotency_key),
    )
    return _ask(movement, request, user=user, reason=reason)


def ask_payment(payment: meter_payments.NewPayment, holder_id: int, *, user: User, reason: str) -> ApprovalRequest:
    """Ask for a payment recorded by hand beyond the limit (``payment``, for ``holder_id``, as
    ``meter_payments.add_payment`` would record it); approving records it, in the approver's transaction."""
    request = ApprovalRequest(
        kind=ApprovalKind.PAYMENT,
        amount=payment.amount,
        signed_amount=payment.amount,
        customer_id=holder_id,
        description=described(payment.reference),
        value_date=payment.paid_on,
        correction={
            "meter": payment.meter_id,
            "amount": str(payment.amount),
            "paid_on": payment.paid_on.isoformat(),
            "reference": payment.reference,
            "invoices": list(payment.invoice_ids),
            "holder": holder_id,
        },
    )
    return _ask(None, request, user=user, reason=reason)


def import_request(import_id: int) -> ApprovalRequest | None:
    """The request an import asked, if it did (:func:`ask_import`)."""
    return _by_key(own_key(installation(), "import", import_id))


def adjustment_request(movement: Movement, *, user: User, reason: str) -> ApprovalRequest:
    """The request for the adjustment ``wallet.adjustment`` built, asked by ``user``, not saved yet: the caller's
    unit of work saves it (an acceptance of tampered evidence above the limit, with its decision). The movement's
    occasion and reference, which its words are rendered from, are kept as its ``correction``: approving posts them
    (:func:`_movement`)."""
    return ApprovalRequest(
        kind=ApprovalKind.ADJUSTMENT,
        amount=abs(movement.amount),
        signed_amount=movement.amount,
        customer_id=movement.customer_id,
        adjustment_reason=movement.reason,
        description=movement.description,
        value_date=movement.value_date,
        requested_by_id=user.id,
        reason=described(reason),
        correction=_occasion_of(movement),
    )


def _occasion_of(movement: Movement) -> dict | None:
    """A system's adjustment's occasion and reference, as its request keeps them; ``None`` for a clerk's."""
    if movement.occasion is None:
        return None
    reference = movement.reference
    return {
        "occasion": str(movement.occasion),
        "reference": [reference.type, reference.id] if reference is not None else None,
    }


def ask_wallet_reversal(
    original: BalanceTransaction, *, description: str, value_date: date | None, user: User
) -> ApprovalRequest:
    """Ask to reverse a wallet movement, its description saying why; a movement has one pending request at most. Where
    the wallet no longer holds what the reversal takes, it is asked all the same: approved, it leaves the customer a
    debt (:func:`wallet.reversal_debt` says how much)."""
    if (earlier := wallet.reversal_of(original.id)) is not None:
        raise wallet.AlreadyReversed(original.id, earlier)
    movement = wallet.reversal(original, description=description, user=user, value_date=value_date, leaves_debt=True)
    return _ask(
        movement,
        ApprovalRequest(
            kind=ApprovalKind.WALLET_REVERSAL,
            amount=original.amount,
            signed_amount=movement.amount,
            customer_id=original.customer_id,
            movement_id=original.id,
            description=movement.description,
            value_date=value_date,
        ),
        user=user,
        reason=description,
    )


def ask_entry(
    entry_date: date, description: str, lines: list[journal.Line], *, user: User, idempotency_key: str | None = None
) -> ApprovalRequest:
    """Ask to post a manual entry: it is kept as a draft until approved; its description says why. The form's
    ``idempotency_key`` makes a double submit ask once."""
    idempotency_key = clerk_key(idempotency_key)
    try:
        if idempotency_key and (earlier := _by_key(idempotency_key, user)) is not None:
            return earlier
    except KeySentByAnother as refused:
        raise journal.BooksError(str(refused)) from None
    movement = Movement(kind=Kind.MANUAL, value_date=entry_date, description=description, lines=tuple(lines))
    try:
        with transaction() as session:
            _would_post(session, movement)
            draft = journal.save_draft(installation(), session.connection(), entry_date, description, lines)
            request = _request(ApprovalKind.JOURNAL_ENTRY, draft, user=user, reason=description)
            request.idempotency_key = idempotency_key
            session.add(request)
            notices.request_waiting(request)
    except IntegrityError:
        if idempotency_key and (earlier := _by_key(idempotency_key)) is not None:
            return earlier
        raise
    return request


def ask_draft(entry_id: int, *, user: User) -> ApprovalRequest:
    """Ask to post a draft; its description says why."""
    entry = _entry(entry_id)
    if (earlier := _pending_for(entry_id=entry_id)) is not None:
        return earlier
    with transaction() as session:
        _would_post(session, Movement(kind=Kind.MANUAL, draft_id=entry_id))
        request = _request(ApprovalKind.JOURNAL_ENTRY, entry_id, user=user, reason=entry.description)
        session.add(request)
        notices.request_waiting(request)
    return request


def ask_entry_reversal(entry_id: int, *, user: User, reason: str) -> ApprovalRequest:
    """Ask to post a manual entry's reversing entry, dated the day it is approved."""
    if (earlier := _pending_for(entry_id=entry_id)) is not None:
        return earlier
    with transaction() as session:
        _would_post(session, Movement(kind=Kind.MANUAL, reverses_id=entry_id))
        request = _request(ApprovalKind.ENTRY_REVERSAL, entry_id, user=user, reason=reason)
        session.add(request)
        notices.request_waiting(request)
    return request


def pending_for_entry(entry_id: int) -> ApprovalRequest | None:
    """The request about the journal entry that waits for a decision, if one does."""
    return _pending_for(entry_id=entry_id)


def entry_amount(entry_id: int) -> Decimal:
    """How much an entry moves: its debits."""
    return db.session.scalar(
        select(func.coalesce(func.sum(JournalLine.debit), 0)).where(JournalLine.entry_id == entry_id)
    )


def approve(request_id: int, user: User) -> ApprovalRequest:
    """Post what was asked and mark the request approved, in one transaction; raises :class:`ApprovalError` or
    what posting refuses (``REFUSALS``), the request then staying pending. The first of two admins' approvals
    (:func:`first_of_two`) posts nothing: checked as posting would be, it is recorded, and the request stays
    pending. An import's approval posts nothing either: whoever approves starts the import (:func:`approved_import`),
    which writes its rows through the posting core."""
    with transaction() as session:
        request = _locked(request_id)
        if request.requested_by_id == user.id:
            raise OwnRequest(request)
        _refuse_tampered(request)
        if request.first_approved_by_id == user.id:
            raise ApprovedFirst(request)
        if request.kind.corrects_source or request.kind in (ApprovalKind.IMPORT, ApprovalKind.PAYMENT):
            if request.kind.corrects_source:
                _apply(session, request, user)
            if request.kind is ApprovalKind.PAYMENT:
                _record_payment(request, user)
            request.decided_by_id, request.decided_at = user.id, utcnow()
            request.status = ApprovalStatus.APPROVED
            notices.request_decided(request)
            return request
        as_asked = request.entry_seal is None or seals.same(request.entry_seal, _seal(request.entry_id))
        connection = session.connection()
        if request.kind is ApprovalKind.JOURNAL_ENTRY:
            refuse_if_closed(connection, request.entry.entry_date)
        movement = _movement(request, user)
        if request.kind is ApprovalKind.WALLET_REVERSAL and request.customer_id is not None:
            lock_customers(connection, [request.customer_id])  # the day's money moved by hand, read under it
        if first_of_two(request, user):
            _would_post(session, movement)
            request.first_approved_by_id, request.first_approved_at = user.id, utcnow()
            return request
        if _one_admin_s(request):  # the admin moves it by hand as much as a reversal they posted themselves
            moved = {request.customer_id: movement.amount}
            by_hand.refuse_beyond(connection, moved, maker_id=user.id, kind=movement.kind.value)
        posted = post(installation(), connection, movement)
        if not as_asked:
            # Refused after posting's own refusals, which name the line at fault; the transaction undoes the post.
            raise ChangedSinceAsked(request)
        movement_id = posted.transaction.id if posted.transaction is not None else None
        # The decision is one UPDATE, which the database lets through once: from pending, saying who and when.
        request.decided_by_id, request.decided_at = user.id, utcnow()
        request.result_entry_id, request.result_movement_id = posted.entry_id, movement_id
        request.status = ApprovalStatus.APPROVED
        notices.request_decided(request)
    return request


def approved_import(request: ApprovalRequest) -> int | None:
    """The import an approved request lets run, if it is an import's."""
    if request.kind is not ApprovalKind.IMPORT or request.status is not ApprovalStatus.APPROVED:
        return None
    return (request.correction or {}).get("import")


def first_of_two(request: ApprovalRequest, user: User | None = None) -> bool:
    """Whether ``user`` approving the pending request now is the first of two admins' approvals, which posts nothing:
    a wallet reversal a clerk asked for, not approved by an admin yet, that moves, with the money ``user`` moved by
    hand for the customer today (none: whoever moved it), more than the approval limit (as the admin's own reversal
    would wait for a second admin)."""
    return _one_admin_s(request) and wallet.reversal_needs_approval(request.movement, user, everyone=user is None)


def _one_admin_s(request: ApprovalRequest) -> bool:
    """Whether one admin approving the request posts it, as money that admin moves by hand: a clerk's wallet
    reversal no admin approved yet, within the limit with what that admin moved for the customer today."""
    if request.kind is not ApprovalKind.WALLET_REVERSAL or request.first_approved_by_id is not None:
        return False
    return not _asked_as_admin(request)


def _asked_as_admin(request: ApprovalRequest) -> bool:
    """Whether whoever asked was an admin when they asked, as the users' history says: a clerk made an admin since
    still asked as a clerk (the maker never counts as an approver). No version from then, or one whose seal does not
    hold (a version inserted by SQL to pass a clerk for an admin): asked as a clerk."""
    versions = version_class(User).__table__
    found = db.session.execute(
        select(versions.c.role, versions.c.transaction_id)
        .join(HistoryTransaction, HistoryTransaction.id == versions.c.transaction_id)
        .where(versions.c.id == request.requested_by_id, HistoryTransaction.issued_at <= request.requested_at)
        .order_by(versions.c.transaction_id.desc())
        .limit(1)
    ).first()
    if found is None or Role(found.role) is not Role.ADMIN:
        return False
    that = (versions.c.id == request.requested_by_id) & (versions.c.transaction_id == found.transaction_id)
    return not verifying.verify(db.session.connection(), seals.kinds()[versions.name], where=that).findings


def _record_payment(request: ApprovalRequest, user: User) -> None:
    """Record the payment asked for, as asked, in the approving transaction: a second admin saw it, so it is not
    money moved by hand by either."""
    kept = request.correction
    payment = meter_payments.NewPayment(
        kept["meter"],
        Decimal(kept["amount"]),
        date.fromisoformat(kept["paid_on"]),
        kept["reference"],
        tuple(kept["invoices"]),
        kept["holder"],
    )
    with joined():
        meter_payments.add_payments([payment], user=user)


def _apply(session, request: ApprovalRequest, user: User) -> None:
    """Apply the source correction asked for, through its metering service, in the approving transaction."""
    try:
        metering.apply_request(session.connection(), request, user)
    except metering.ChangedSinceAsked as error:
        raise ChangedSinceAsked(request, str(error)) from None
    except ChangedMeanwhile:
        raise ChangedSinceAsked(
            request, _("Request #%(id)s: the source changed after it was asked.", id=request.id)
        ) from None


def reject(request_id: int, user: User, reason: str) -> ApprovalRequest:
    """Decline the request, saying why; nothing is posted (a draft asked for stays a draft). Raises
    :class:`ApprovalError`: the requester cannot reject their own request, as they cannot approve it."""
    if not reason.strip():
        raise ApprovalError(_("Say why the request is rejected."))
    decided_by = user.id
    with transaction():
        request = _locked(request_id)
        if request.requested_by_id == decided_by:
            raise OwnRequest(request, "rejects")
        _refuse_tampered(request)
        request.decided_by_id, request.decided_at = decided_by, utcnow()
        request.rejection_reason = described(reason)
        request.status = ApprovalStatus.REJECTED
        notices.request_decided(request)
    return request


def _refuse_tampered(request: ApprovalRequest) -> None:
    """Raise :class:`Tampered` for a request whose seal does not vouch for it, read under its lock."""
    if tampered(request.id):
        raise Tampered(request.id)


def waits_because(asked: list[ApprovalRequest]) -> dict[int, str]:
    """Why each pending request for money moved by hand waits, in the reader's language (``by_hand.waited``): its
    amount, with what its maker had moved by hand for the customer that day, is above the approval limit. A held
    correction of source data says its own (``metering.said_request``); an import its facts."""
    moved = [
        r
        for r in asked
        if r.status is ApprovalStatus.PENDING and not r.kind.corrects_source and r.kind is not ApprovalKind.IMPORT
    ]
    return {request_id: waited.why() for request_id, waited in by_hand.waited(db.session.connection(), moved).items()}


def _ask(movement: Movement | None, request: ApprovalRequest, *, user: User, reason: str) -> ApprovalRequest:
    if not reason.strip():
        raise ApprovalError(_("Say why: the approver reads it."))
    key = request.idempotency_key
    if key and (earlier := _by_key(key, user)) is not None:
        return earlier
    if request.movement_id and (earlier := wallet.reversal_asked(request.movement_id)) is not None:
        return earlier
    request.requested_by_id, request.reason = user.id, described(reason)
    try:
        with transaction() as session:
            if movement is not None:
                _would_post(session, movement)
            session.add(request)
            notices.request_waiting(request)
    except IntegrityError:
        # Another submit of the same request was saved between our look-up and our insert.
        earlier = _by_key(key, user) if key else wallet.reversal_asked(request.movement_id)
        if earlier is None:
            raise
        return earlier
    return request


def _would_post(session, movement: Movement) -> None:
    """Raise what posting the movement now would raise; write nothing."""
    installation().value_date(movement.value_date)
    savepoint = session.begin_nested()
    try:
        post(installation(), session.connection(), movement)
    finally:
        savepoint.rollback()


def _movement(request: ApprovalRequest, user: User) -> Movement:
    """What approving the request posts, by ``user``."""
    if request.kind is ApprovalKind.ADJUSTMENT:
        kept = request.correction or {}
        asked = wallet.adjustment(
            request.customer_id,
            request.signed_amount,
            reason=request.adjustment_reason,
            description=request.description,
            reference=Reference(*kept["reference"]) if kept.get("reference") else None,
            user=user,
            value_date=request.value_date,
        )
        return replace(
            asked, idempotency_key=own_key(installation(), "approval", request.id), occasion=kept.get("occasion")
        )
    if request.kind is ApprovalKind.RECHARGE:
        return Movement(
            kind=Kind.RECHARGE,
            amount=request.amount,
            customer_id=request.customer_id,
            value_date=request.value_date,
            description=request.description,
            idempotency_key=own_key(installation(), "approval", request.id),
            user=user,
        )
    if request.kind is ApprovalKind.WALLET_REVERSAL:
        if (earlier := wallet.reversal_of(request.movement_id)) is not None:
            raise wallet.AlreadyReversed(request.movement_id, earlier)
        return wallet.reversal(
            request.movement,
            description=request.description,
            user=user,
            value_date=request.value_date,
            leaves_debt=True,
        )
    if request.kind is ApprovalKind.JOURNAL_ENTRY:
        return Movement(kind=Kind.MANUAL, draft_id=request.entry_id, user=user)
    return Movement(kind=Kind.MANUAL, reverses_id=request.entry_id, user=user)


def _request(kind: ApprovalKind, entry_id: int, *, user: User, reason: str) -> ApprovalRequest:
    entry = db.session.get(JournalEntry, entry_id)
    return ApprovalRequest(
        entry_seal=_seal(entry_id),
        kind=kind,
        amount=entry_amount(entry_id),
        entry_id=entry_id,
        description=entry.description,
        value_date=entry.entry_date if kind is ApprovalKind.JOURNAL_ENTRY else None,
        reason=described(reason) or entry.description,
        requested_by_id=user.id,
    )


def _seal(entry_id: int) -> str:
    """The entry as the approver is shown it (date, description, lines), sealed with the installation's secret key:
    a line added or changed by any path after it was asked for no longer matches, and no one without the key can
    make a request's seal match another entry."""
    entry = db.session.execute(
        select(JournalEntry.entry_date, JournalEntry.description).where(JournalEntry.id == entry_id)
    ).one()
    lines = db.session.execute(
        select(JournalLine.account_id, JournalLine.debit, JournalLine.credit)
        .where(JournalLine.entry_id == entry_id)
        .order_by(JournalLine.id)
    ).all()
    content = json.dumps(
        [entry_id, entry.entry_date.isoformat(), entry.description, [[a, f"{d:.2f}", f"{c:.2f}"] for a, d, c in lines]]
    )
    return keyed_digest(installation(), f"approval-entry:{content}")


def _locked(request_id: int) -> ApprovalRequest:
    """The request, locked until the transaction ends, if it is still pending."""
    request = db.session.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if request is None:
        raise NoSuchRequest(request_id)
    if request.status is not ApprovalStatus.PENDING:
        raise AlreadyDecided(request)
    return request


def _entry(entry_id: int) -> JournalEntry:
    entry = db.session.get(JournalEntry, entry_id)
    if entry is None or entry.status is not EntryStatus.DRAFT:
        raise journal.BooksError(_("No draft entry %(id)s.", id=entry_id))
    return entry


def _by_key(key: str, user: User | None = None) -> ApprovalRequest | None:
    """The request asked under ``key``: ``user``'s, or refused (:class:`KeySentByAnother`) when another user asked
    it; the application's own keys are anyone's."""
    earlier = db.session.scalar(select(ApprovalRequest).where(ApprovalRequest.idempotency_key == key))
    if earlier is not None and user is not None and earlier.requested_by_id != user.id:
        raise KeySentByAnother(key, "approval_requests")
    return earlier


def _pending_for(**column) -> ApprovalRequest | None:
    (name, value), *_ = column.items()
    return db.session.scalar(
        select(ApprovalRequest).where(
            getattr(ApprovalRequest, name) == value, ApprovalRequest.status == ApprovalStatus.PENDING
        )
    )
