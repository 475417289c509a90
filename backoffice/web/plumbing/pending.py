"""What a form says once what it asked for was saved as a pending request, waiting for a second admin or, asked by a
clerk, for an admin (or was found decided already, for a double submit)."""

from __future__ import annotations

from flask_babel import gettext as _

from backoffice.models import ApprovalRequest, ApprovalStatus
from backoffice.web.plumbing.filters import money


def pending_notice(request: ApprovalRequest) -> str:
    """What a form says once it saved a request as pending (or found it already decided, for a double submit)."""
    if request.status is ApprovalStatus.PENDING:
        return _(
            "This amount needs a second admin's approval: request #%(id)s is pending; nothing is posted until "
            "another admin approves it.",
            id=request.id,
        )
    return _already(request)


def reversal_asked(request: ApprovalRequest) -> str:
    """What the movement's page says once a clerk asked for its reversal (or found the request already decided)."""
    if request.status is ApprovalStatus.PENDING:
        return _(
            "Its reversal is asked for as request #%(id)s: nothing is posted until an admin approves it.", id=request.id
        )
    return _already(request)


def waits(request: ApprovalRequest) -> str:
    """What a form says once a correction it asked for was saved as a pending request (or found already asked)."""
    if request.status is ApprovalStatus.PENDING:
        return _(
            "it gives back %(amount)s, above the approval limit, so it waits for approval by a second admin as "
            "request #%(id)s; nothing is changed until another admin approves it.",
            amount=money(request.amount),
            id=request.id,
        )
    return _already(request)


def _already(request: ApprovalRequest) -> str:
    """A request found decided already, for a double submit."""
    if request.status is ApprovalStatus.APPROVED:
        return _("Request #%(id)s was already approved.", id=request.id)
    return _("Request #%(id)s was already rejected.", id=request.id)


def debt_said(customer, debt) -> str:
    """What a reversal the wallet no longer holds would leave, said where it is asked and decided."""
    return _(
        "The wallet of %(code)s no longer holds it: approved, %(code)s owes %(debt)s and is suspended until it pays.",
        code=customer.code,
        debt=money(debt),
    )
