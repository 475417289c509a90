"""Corrections of metering's source data that give money back wait, above the approval limit, for a second admin.

A reading edited or deleted, or a pricing or tariff changed, can give money back to wallets. When what a customer gets
back, with the money moved by hand for them today by whoever moved it, is above the limit (``by_hand.beyond``), the
correction is saved as a pending request. Approving applies it through the same service, and only while it still
gives back the same. Money taken never waits.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.models import ApprovalKind, ApprovalRequest, ApprovalStatus, BalanceTransaction, User
from backoffice.platform.extensions import db
from backoffice.platform.money import shown
from backoffice.services import by_hand, notices
from backoffice.services.metering.values import MeteringError

ledger = BalanceTransaction.__table__


class NeedsApproval(MeteringError):
    """A correction held with no user to ask for it in the name of: nothing was written."""

    def __init__(self, credits: dict[int, Decimal], where: str) -> None:
        super().__init__(
            _(
                "It gives back %(amount)s to a customer's wallet, which with the money moved by hand today without "
                "approval is above the approval limit (%(limit)s): it applies only once a second admin approves it. "
                "Ask for it on %(where)s.",
                amount=shown(max(credits.values())),
                limit=shown(by_hand.limit()),
                where=where,
            )
        )


class ChangedSinceAsked(MeteringError):
    """Approving found the source changed since the request was asked: nothing was changed."""

    def __init__(self, request: ApprovalRequest, what: str) -> None:
        """``what`` names what changed ("reading #12"), in the reader's language."""
        super().__init__(
            _(
                "Request #%(id)s: %(what)s changed after it was asked for, so approving it would not do what was "
                "asked; nothing was changed. Reject it, and ask again for the correction as it is now.",
                id=request.id,
                what=what,
            )
        )


def beyond_the_limit(credits: dict[int, Decimal]) -> bool:
    """Whether giving back these credits (customer id to amount) takes a second admin; decided under the
    customers' locks, which the caller holds."""
    given = {customer_id: credit for customer_id, credit in credits.items() if credit > 0}
    return by_hand.beyond(db.session.connection(), given, maker_id=None, everyone=True) is not None


def ask(
    kind: ApprovalKind,
    correction: dict,
    credits: dict[int, Decimal],
    *,
    user: User | None,
    description: str,
    where: str,
    customer_id: int | None = None,
) -> ApprovalRequest:
    """Save the correction as a pending request in the caller's transaction, in ``user``'s name; without a user,
    raise :class:`NeedsApproval` (``where``: the screen it is asked for on)."""
    given_back = {customer: credit for customer, credit in credits.items() if credit > 0}
    if user is None:
        raise NeedsApproval(given_back, where)
    total = sum(given_back.values(), Decimal(0))
    request = ApprovalRequest(
        kind=kind,
        amount=total,
        signed_amount=total if customer_id is not None else None,
        customer_id=customer_id,
        description=description[:300],
        reason=description[:300],
        correction=correction
        | {"credits": {str(customer): f"{credit:.2f}" for customer, credit in given_back.items()}},
        requested_by_id=user.id,
    )
    db.session.add(request)
    notices.request_waiting(request)
    return request


def as_asked(request: ApprovalRequest, credits: dict[int, Decimal]) -> None:
    """Refuse, with :class:`ChangedSinceAsked`, to approve a correction that no longer gives back what it did."""
    if asked_credits(request) != {customer: credit for customer, credit in credits.items() if credit > 0}:
        raise ChangedSinceAsked(request, _("what it gives back to the wallets"))


def asked_credits(request: ApprovalRequest) -> dict[int, Decimal]:
    """What the request gives back, customer id to amount, as the approver is shown it."""
    return {int(customer): Decimal(credit) for customer, credit in (request.correction or {})["credits"].items()}


def pending_for_reading(reading_id: int) -> ApprovalRequest | None:
    """The pending request to correct or delete the reading, if any."""
    pending = db.session.scalars(
        select(ApprovalRequest).where(
            ApprovalRequest.kind == ApprovalKind.READING_CORRECTION, ApprovalRequest.status == ApprovalStatus.PENDING
        )
    )
    return next((request for request in pending if request.correction["reading_id"] == reading_id), None)
